"""A local AWS Marketplace: seller and buyer APIs on their real wire protocols, a buyer console,
EventBridge event delivery and fault injection, so unmodified boto3 can be tested against it."""
