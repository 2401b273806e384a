"""Configuration from the environment (the MPLINK_* variables of DESIGN.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///./mplink.db"


@dataclass(frozen=True)
class Settings:
    database_url: str
    aws_endpoint_url: str | None
    events_queue_url: str | None
    eventbridge_secret: str | None
    secret_key: str | None
    catalog: str | None

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
        )
