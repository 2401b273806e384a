"""The schema: created by the migrations on SQLite and PostgreSQL, idempotent, and matching the models."""

from __future__ import annotations

from sqlalchemy import inspect

from mplink.adapters.store.engine import make_engine
from mplink.adapters.store.migrate import current_revision, head_revision, upgrade
from tests.support.schema import schema_differences


def test_upgrade_creates_schema_and_is_idempotent(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # running it twice is harmless
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"tenants", "agreements", "billing_links", "inbox_events", "metering_records"} <= tables
        assert current_revision(engine) == head_revision(database_url)
    finally:
        engine.dispose()


def test_migrations_match_models(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_drift_check_notices_a_difference(database_url: str) -> None:
    """The autogenerate check is not vacuous: a schema that differs from the models is reported."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_inbox_events_status")
        diffs = schema_differences(engine)
        assert any(d[0] == "add_index" and d[1].name == "ix_inbox_events_status" for d in diffs)
    finally:
        engine.dispose()
