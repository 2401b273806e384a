"""Usage intake's idempotency look-up stays on the unique index, so its cost does not grow with the number of
events stored (issue 10: at 1M stored rows a look-up by key alone could not use the (tenant, key) index)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from mplink.adapters.store.uow import Store
from mplink.services.tenants import create_tenant


def test_stored_keys_are_found_per_tenant(store: Store) -> None:
    first = create_tenant(store.uow(), "First", "a@example.com", "correct horse battery")
    second = create_tenant(store.uow(), "Second", "b@example.com", "correct horse battery")
    now = datetime.now(UTC)
    row = {"dimension": "d", "quantity": 1, "occurred_at": now, "hour": now, "agreement_id": None, "received_at": now}
    with store.uow() as uow:
        uow.metering.add_usage([{**row, "tenant_id": first, "idempotency_key": "k1"}])
        uow.commit()
    with store.uow() as uow:
        found = uow.metering.known_usage_keys([(first, "k1"), (second, "k1"), (first, "k2")])
    assert found == {(first, "k1")}  # the same key of another tenant is another event


def test_the_look_up_is_an_index_condition_on_tenant_and_key(store: Store) -> None:
    """EXPLAIN on PostgreSQL with 5,000 events of the tenant stored: both columns of ``uq_usage_events_idempotency``
    are in the index condition (a look-up by key alone would read the whole index and filter it)."""
    if store.url.startswith("sqlite"):
        pytest.skip("the plan is PostgreSQL's")
    tenant = create_tenant(store.uow(), "First", "a@example.com", "correct horse battery")
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "usage_events" in statement:
            seen.append((statement, parameters))

    now = datetime.now(UTC)
    row = {"dimension": "d", "quantity": 1, "occurred_at": now, "hour": now, "agreement_id": None, "received_at": now}
    with store.uow() as uow:  # enough stored events for the planner to weigh the index by its columns
        uow.metering.add_usage([{**row, "tenant_id": tenant, "idempotency_key": f"key-{i}"} for i in range(5000)])
        uow.commit()
    with store.uow() as uow:
        uow.session.connection().exec_driver_sql("ANALYZE usage_events")
        engine = uow.session.get_bind()
        event.listen(engine, "before_cursor_execute", capture)
        try:
            uow.metering.known_usage_keys([(tenant, "k1"), (tenant, "k2")])
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        statement, parameters = seen[0]
        connection = uow.session.connection()
        plan = "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "uq_usage_events_idempotency" in plan, plan
    cond = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "tenant_id" in cond and "idempotency_key" in cond, plan
