"""Configuration from the environment (the MPLINK_* variables of DESIGN.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from mplink.domain.errors import InvalidValue

DEFAULT_DATABASE_URL = "sqlite:///./mplink.db"
#: AWS Marketplace's legacy subscription and entitlement topics, for any product
DEFAULT_SNS_TOPICS = (
    "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-*",
    "arn:aws:sns:us-east-1:287250355862:aws-mp-entitlement-notification-*",
)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str
    aws_endpoint_url: str | None
    events_queue_url: str | None
    eventbridge_secret: str | None
    secret_key: str | None
    catalog: str | None
    #: where the buyer finds the product (links on the wizard); the sandbox console in the demo
    marketplace_url: str | None = None
    #: public base URL of the seller app; https here makes session cookies Secure
    public_url: str | None = None
    #: SNS topics accepted at /events/sns (fnmatch patterns, comma-separated)
    sns_topic_arns: tuple[str, ...] = DEFAULT_SNS_TOPICS
    #: certificate URL prefixes trusted besides AWS's own SNS hosts (the sandbox's)
    sns_trusted_cert_prefixes: tuple[str, ...] = ()
    #: BatchMeterUsage calls a second, shared by every worker on the database (the seller's quota)
    metering_rate: float = 10.0
    #: request body limits in bytes, checked before a body is read (413 above them): every route by default,
    #: POST /api/v1/usage (batches of usage events), and the event intake routes (AWS events are at most 256 KB;
    #: the SNS envelope around one adds its own fields and escapes the message)
    max_body_bytes: int = 1024 * 1024
    max_usage_body_bytes: int = 4 * 1024 * 1024
    max_event_body_bytes: int = 512 * 1024
    #: how deeply a JSON body may nest (objects and arrays); deeper is refused with 400
    max_json_depth: int = 32

    def with_database(self, url: str) -> Settings:
        return replace(self, database_url=url)

    @classmethod
    def from_env(cls) -> Settings:
        def get(name: str) -> str | None:
            value = os.environ.get(name, "").strip()
            return value or None

        return cls(
            database_url=get("MPLINK_DATABASE_URL") or DEFAULT_DATABASE_URL,
            aws_endpoint_url=get("MPLINK_AWS_ENDPOINT_URL"),
            events_queue_url=get("MPLINK_EVENTS_QUEUE_URL"),
            eventbridge_secret=get("MPLINK_EVENTBRIDGE_SECRET"),
            secret_key=get("MPLINK_SECRET_KEY"),
            catalog=get("MPLINK_CATALOG"),
            marketplace_url=get("MPLINK_MARKETPLACE_URL"),
            public_url=get("MPLINK_PUBLIC_URL"),
            sns_topic_arns=_split(get("MPLINK_SNS_TOPIC_ARNS")) or DEFAULT_SNS_TOPICS,
            sns_trusted_cert_prefixes=_split(get("MPLINK_SNS_TRUSTED_CERT_PREFIXES")),
            metering_rate=_rate(get("MPLINK_METERING_RATE")),
            max_body_bytes=_positive("MPLINK_MAX_BODY_BYTES", get("MPLINK_MAX_BODY_BYTES"), 1024 * 1024),
            max_usage_body_bytes=_positive(
                "MPLINK_MAX_USAGE_BODY_BYTES", get("MPLINK_MAX_USAGE_BODY_BYTES"), 4 * 1024 * 1024
            ),
            max_event_body_bytes=_positive(
                "MPLINK_MAX_EVENT_BODY_BYTES", get("MPLINK_MAX_EVENT_BODY_BYTES"), 512 * 1024
            ),
            max_json_depth=_positive("MPLINK_MAX_JSON_DEPTH", get("MPLINK_MAX_JSON_DEPTH"), 32),
        )


def _positive(name: str, value: str | None, default: int) -> int:
    """A positive whole number (bytes, levels) from the environment, or the default when unset."""
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise InvalidValue(f"{name} must be a positive whole number, not {value!r}")
    return number


def _rate(value: str | None) -> float:
    """MPLINK_METERING_RATE: a positive number of calls a second (default 10, AWS's documented quota)."""
    if value is None:
        return 10.0
    try:
        rate = float(value)
    except ValueError:
        rate = 0.0
    if not 0 < rate < 1e6:
        raise InvalidValue(f"MPLINK_METERING_RATE must be a positive number of calls a second, not {value!r}")
    return rate
