"""Engines for SQLite (default) and PostgreSQL (``postgresql+psycopg://``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from mplink.domain.errors import InvalidValue


def normalize_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` too, and use the psycopg 3 driver for them."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidValue(f"MPLINK_DATABASE_URL is not a database URL: {url!r}") from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidValue(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql+psycopg://"
        )
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)
