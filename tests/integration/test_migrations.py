"""The schema: created by the migrations on SQLite and PostgreSQL, idempotent, and matching the models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, inspect, select, text

from mplink.adapters.store import tables as t
from mplink.adapters.store.engine import make_engine
from mplink.adapters.store.migrate import current_revision, head_revision, upgrade
from mplink.domain.billing import ChangeState
from mplink.domain.clock import HOUR
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


def test_0004_renames_completed_changes_to_done(database_url: str) -> None:
    """Changes stored as 'completed' before 0004 read as 'done', in their state and in their history."""
    upgrade(database_url, "0003")
    engine = make_engine(database_url)
    history = [
        {"from": "started", "to": "destination_linked", "at": "2026-11-01T09:01:00+00:00"},
        {"from": "destination_linked", "to": "completed", "at": "2026-11-01T09:30:00+00:00"},
    ]
    when = datetime(2026, 11, 1, 9, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(insert(t.tenants).values(id="t1", name="T", created_at=when))
            for cid, steps in (("c1", history), ("c2", [])):
                # only the columns 0003 has: the insert names them one by one
                conn.execute(
                    insert(t.account_changes).values(
                        id=cid, tenant_id="t1", state="started", started_at=when, updated_at=when, history=steps
                    )
                )
            # a state the models no longer know, so written as SQL
            conn.execute(text("UPDATE account_changes SET state = 'completed' WHERE id = 'c1'"))
        upgrade(database_url)
        with engine.connect() as conn:
            c = t.account_changes.c
            rows = {r.id: r for r in conn.execute(select(c.id, c.state, c.history, c.destination_account_id))}
        assert (rows["c1"].state, rows["c1"].history) == (ChangeState.DONE, [history[0], {**history[1], "to": "done"}])
        assert (rows["c2"].state, rows["c2"].history) == (ChangeState.STARTED, [])
        assert {r.destination_account_id for r in rows.values()} == {None}
    finally:
        engine.dispose()


def test_0005_keeps_the_point_the_worker_had_reached_and_the_usage_already_billed(database_url: str) -> None:
    """Before 0005 the worker kept its metered-through point in memory: the last hour with records is where
    it had got to, and usage already in a record is billed in its own hour; the rest is left to meter."""
    upgrade(database_url, "0004")
    engine = make_engine(database_url)
    hour = datetime(2026, 11, 1, 9, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(insert(t.tenants).values(id="t1", name="T", created_at=hour))
            conn.execute(
                insert(t.agreements).values(
                    agreement_id="a1",
                    free_trial=False,
                    marketplace_status="ACTIVE",
                    entitlements_stale=False,
                    stamps={},
                )
            )
            for key, at in (("billed", hour), ("not-yet", hour + HOUR)):
                conn.execute(
                    insert(t.usage_events).values(
                        tenant_id="t1", idempotency_key=key, dimension="d", quantity=1, occurred_at=at, hour=at,
                        agreement_id="a1", received_at=at,
                    )
                )  # fmt: skip
            conn.execute(
                insert(t.metering_records).values(
                    id="r1", agreement_id="a1", product_code="p", aws_account_id="111111111111", dimension="d",
                    hour=hour, quantity=1, status="sent",
                )
            )  # fmt: skip
        upgrade(database_url)
        with engine.connect() as conn:
            ue = t.usage_events.c
            rows = {
                r.idempotency_key: r.metered_hour for r in conn.execute(select(ue.idempotency_key, ue.metered_hour))
            }
            through = conn.execute(select(t.metering_state.c.metered_through)).scalar_one()
        assert rows == {"billed": hour, "not-yet": None} and through == hour
    finally:
        engine.dispose()
