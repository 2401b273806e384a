"""Usage intake skips resent events on the store's (tenant_id, idempotency_key) unique index itself (INSERT ...
ON CONFLICT DO NOTHING), so it costs the same however many events are stored (issue 10: a look-up by key
alone slowed intake as usage accumulated)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select, update

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store import tables as t
from mplink.adapters.store.uow import Store
from mplink.domain.usage import BillingPeriod
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.tenants import create_tenant
from tests.support.metering_load import link_buyers, seller_only_buyers


def test_stored_events_are_skipped_and_the_new_ones_named(store: Store) -> None:
    first = create_tenant(store.uow(), "First", "a@example.com", "correct horse battery")
    second = create_tenant(store.uow(), "Second", "b@example.com", "correct horse battery")
    now = datetime.now(UTC)
    row = {"dimension": "d", "quantity": 1, "occurred_at": now, "hour": now, "agreement_id": None, "received_at": now}
    with store.uow() as uow:
        assert uow.metering.add_usage([{**row, "tenant_id": first, "idempotency_key": "k1"}]) == {(first, "k1")}
        uow.commit()
    with store.uow() as uow:
        stored = uow.metering.add_usage(
            [
                {**row, "tenant_id": first, "idempotency_key": "k1", "quantity": 99},  # resent: skipped
                {**row, "tenant_id": second, "idempotency_key": "k1"},  # another tenant's key: another event
                {**row, "tenant_id": first, "idempotency_key": "k2"},
            ]
        )
        uow.commit()
    assert stored == {(second, "k1"), (first, "k2")}
    with store.engine.connect() as conn:
        quantities = sorted(r.quantity for r in conn.exec_driver_sql("SELECT quantity FROM usage_events"))
    assert quantities == [1, 1, 1]  # the first write of k1 kept


def test_stored_rows_keep_every_value_as_given(store: Store) -> None:
    """The rows reach the table as given (PostgreSQL sends them as one JSON document): instants to the microsecond
    and in UTC whatever offset they came with, no agreement as NULL, keys with quotes and non-ASCII text."""
    tenant = create_tenant(store.uow(), "First", "a@example.com", "correct horse battery")
    at = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=9)))
    row = {
        "tenant_id": tenant,
        "idempotency_key": 'clé "1" \\ 使用量',
        "dimension": "requests",
        "quantity": 2_147_483_647,
        "occurred_at": at,
        "hour": datetime(2026, 3, 1, 0, tzinfo=UTC),
        "agreement_id": None,
        "received_at": datetime(2026, 3, 1, 0, 31, tzinfo=UTC),
    }
    with store.uow() as uow:
        assert uow.metering.add_usage([row]) == {(tenant, row["idempotency_key"])}
        uow.commit()
    ue = t.usage_events.c
    with store.engine.connect() as conn:
        stored = conn.execute(select(*(ue[c] for c in row))).one()._asdict()
    assert stored == {**row, "occurred_at": at.astimezone(UTC)}


def test_a_naive_instant_is_refused_and_nothing_is_stored(store: Store) -> None:
    """Without an offset the database would read the instant in its own time zone: refused, as UTCDateTime does."""
    tenant = create_tenant(store.uow(), "First", "a@example.com", "correct horse battery")
    naive = datetime(2026, 3, 1, 9, 30)
    now = datetime.now(UTC)
    row = {"tenant_id": tenant, "idempotency_key": "k", "dimension": "d", "quantity": 1, "occurred_at": naive,
           "hour": now, "agreement_id": None, "received_at": now}  # fmt: skip
    with store.uow() as uow, pytest.raises(Exception, match="naive datetime"):
        uow.metering.add_usage([row])
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM usage_events").scalar() == 0


def test_the_metered_dimensions_are_the_catalogs(store: Store) -> None:
    """Intake checks dimensions against one query instead of loading the whole catalog: the same keys, and None
    (intake refused) while no catalog is loaded."""
    catalog = load_catalog()
    store_catalog(store.uow(), catalog)
    with store.uow() as uow:
        dimensions = uow.metering.metered_dimensions()
    assert dimensions == frozenset(d for p in catalog.products for d in p.dimension_keys())
    assert dimensions
    with store.engine.begin() as conn:
        conn.execute(delete(t.catalog_meta))
    with store.uow() as uow:
        assert uow.metering.metered_dimensions() is None


def test_billing_periods_end_when_their_agreement_ends(store: Store) -> None:
    """R5 routing reads each tenant's links with its agreement's end: the earlier of ended and deprovisioned,
    none while it runs; a tenant never linked is there with no period, an unknown one is left out."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    ended, deprovisioned = start + timedelta(hours=5), start + timedelta(hours=3)
    running, stopped, gone = seller_only_buyers(3)
    link_buyers(store.engine, [running, stopped, gone], start)
    lonely = create_tenant(store.uow(), "Lonely", "l@example.com", "correct horse battery")
    ag = t.agreements.c
    with store.engine.begin() as conn:
        conn.execute(update(t.agreements).where(ag.agreement_id == stopped.agreement_id).values(ended_at=ended))
        conn.execute(
            update(t.agreements)
            .where(ag.agreement_id == gone.agreement_id)
            .values(ended_at=ended, deprovisioned_at=deprovisioned)
        )
    with store.uow() as uow:
        periods = uow.metering.billing_periods([running.tenant_id, stopped.tenant_id, gone.tenant_id, lonely, "nobody"])
    assert periods.keys() == {running.tenant_id, stopped.tenant_id, gone.tenant_id, lonely}
    assert periods[lonely] == []
    assert periods[running.tenant_id] == [BillingPeriod(running.tenant_id, running.agreement_id, start, None, None)]
    assert periods[stopped.tenant_id] == [BillingPeriod(stopped.tenant_id, stopped.agreement_id, start, None, ended)]
    assert periods[gone.tenant_id] == [BillingPeriod(gone.tenant_id, gone.agreement_id, start, None, deprovisioned)]
