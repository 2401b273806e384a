"""mplink: change the AWS account that pays for an AWS Marketplace SaaS subscription, safely."""

__version__ = "0.1.0"
