"""The hour bookkeeping on the SQL store (SQLite and PostgreSQL) through the worker, against the sandbox:
after an outage every hour is metered once, the month-end rule, and late usage billed in the next hour.

AWS's rules the sandbox enforces here, from BatchMeterUsage's API reference: "Usage records aren't accepted
24 hours or more after an event", and "We accept usage records for the previous billing month until 06:00
UTC on the first day of the next month"."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from mplink.adapters.aws import SellerMarketplace
from mplink.adapters.store import tables as t
from mplink.adapters.store.uow import Store
from mplink.domain.agreement import Agreement
from mplink.domain.clock import HOUR, hour_of
from mplink.domain.usage import HourRefusal, MeteringRecord, UsageEvent, active_during
from mplink.services.metering import catch_up, ingest_usage, meter_hour, metering_status
from mplink.services.ports import UsageIssue
from mplink.worker import Worker
from tests.support.buyer import subscribe
from tests.support.journey import link, token_for, usage
from tests.support.metering_load import Buyer, link_buyers
from tests.support.sandbox_fixtures import PRIVATE_OFFER, PRODUCT_CODE, SRC, RunningSandbox
from tests.support.seller_fixtures import World

DIMENSIONS = 6  # the seed's product meters six dimensions
DIMENSION = "conformity_accounts"
TENANT = "tenant-1"


def sandbox_now(sb: RunningSandbox) -> datetime:
    return datetime.fromisoformat(sb.control("GET", "clock")["now"])


def move_sandbox_to(sb: RunningSandbox, when: datetime) -> datetime:
    """Move the sandbox's clock forward to ``when``; the worker is told the same instant."""
    seconds = (when - sandbox_now(sb)).total_seconds()
    assert seconds >= 0
    sb.control("POST", "clock", json={"advance_seconds": seconds})
    return when


def accepted(sb: RunningSandbox) -> Counter[tuple[str, str]]:
    """How many records AWS took per (hour, dimension) for the source account."""
    records = sb.control("GET", "metering", params={"product_code": PRODUCT_CODE})
    return Counter((r["hour"], r["dimension"]) for r in records if r["account_id"] == SRC)


def quantities(sb: RunningSandbox) -> dict[tuple[str, str], Any]:
    records = sb.control("GET", "metering", params={"product_code": PRODUCT_CODE})
    return {(r["hour"], r["dimension"]): r["quantity"] for r in records if r["account_id"] == SRC}


def subscribed(world: World) -> datetime:
    seller, sb = world.seller, world.sandbox
    link(seller, token_for(sb, SRC, subscribe(sb, SRC, PRIVATE_OFFER)))
    time.sleep(0.05)
    return datetime.now(UTC)


def worker(world: World) -> Worker:
    """A new worker process as far as metering goes: it knows only what the database keeps."""
    return Worker(world.seller.store.uow, SellerMarketplace(world.sandbox.url), meter=True)


def test_after_a_five_hour_outage_every_hour_is_metered_once(world: World) -> None:
    sb = world.sandbox
    start = subscribed(world)
    assert usage(world.seller, "k1", 3, start)["unbillable"] == 0
    first = hour_of(start)
    now = move_sandbox_to(sb, first + HOUR + timedelta(minutes=6))
    assert worker(world).metering_round(now=now)["sent"] == DIMENSIONS
    now = move_sandbox_to(sb, first + 6 * HOUR + timedelta(minutes=6))  # down for five hours
    result = worker(world).metering_round(now=now)
    assert result["hours_metered"] == 5 and result["hours_missed"] == 0 and result["sent"] == 5 * DIMENSIONS
    taken = accepted(sb)
    hours = {h for h, _ in taken}
    assert hours == {(first + i * HOUR).isoformat() for i in range(6)}
    assert set(taken.values()) == {1} and len(taken) == 6 * DIMENSIONS  # every hour and dimension, once
    assert quantities(sb)[(first.isoformat(), DIMENSION)] == 3


def _month_end(world: World) -> datetime:
    """Metered through 22:00 on the last day of this month; returns the 1st of the next month."""
    subscribed(world)
    now = sandbox_now(world.sandbox)
    next_month = (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)
    at = move_sandbox_to(world.sandbox, next_month - timedelta(minutes=54))
    worker(world).metering_round(now=at)
    with world.seller.store.uow() as uow:
        assert uow.metering.metered_through() == next_month - 2 * HOUR
    return next_month


def test_at_05_00_on_the_1st_last_months_last_hour_is_sent(world: World) -> None:
    first_of_month = _month_end(world)
    now = move_sandbox_to(world.sandbox, first_of_month + 5 * HOUR)
    result = worker(world).metering_round(now=now)
    assert result["hours_missed"] == 0
    last_hour = (first_of_month - HOUR).isoformat()
    assert [n for (h, _), n in accepted(world.sandbox).items() if h == last_hour] == [1] * DIMENSIONS


def test_at_07_00_on_the_1st_last_months_last_hour_is_reported(world: World) -> None:
    first_of_month = _month_end(world)
    now = move_sandbox_to(world.sandbox, first_of_month + 7 * HOUR)
    result = worker(world).metering_round(now=now)
    assert result["hours_missed"] == 1
    status = metering_status(world.seller.store.uow())
    (missed,) = status.missed_hours
    assert (missed.hour, missed.reason) == (first_of_month - HOUR, HourRefusal.MONTH_CLOSED.value)
    hours = {h for h, _ in accepted(world.sandbox)}
    assert (first_of_month - HOUR).isoformat() not in hours
    assert {(first_of_month + i * HOUR).isoformat() for i in range(6)} <= hours


def test_late_usage_is_billed_in_the_next_hour_and_shown_to_operators(world: World) -> None:
    sb = world.sandbox
    start = subscribed(world)
    first = hour_of(start)
    usage(world.seller, "on-time", 2, start)
    now = move_sandbox_to(sb, first + HOUR + timedelta(minutes=6))
    worker(world).metering_round(now=now)
    usage(world.seller, "late", 5, start)  # its hour is already sent
    now = move_sandbox_to(sb, first + 2 * HOUR + timedelta(minutes=6))
    worker(world).metering_round(now=now)
    billed = quantities(sb)
    assert (billed[(first.isoformat(), DIMENSION)], billed[((first + HOUR).isoformat(), DIMENSION)]) == (2, 5)
    issues = metering_status(world.seller.store.uow()).usage_issues
    assert issues == [UsageIssue(world.seller.tenant_id, "late_billed", 1, 5)]


def test_the_bulk_sql_writes_records_for_exactly_the_agreements_the_domain_says_ran(store: Store) -> None:
    """adapters.store.metering_hours states domain.usage.active_during in SQL: both pick the same agreements
    over a grid of start, end and deprovisioning times around the hour, each with a record per dimension."""
    hour = datetime(2026, 11, 20, 10, tzinfo=UTC)
    begins = [None, hour - HOUR, hour + timedelta(minutes=30), hour + HOUR]
    ends = [None, hour - timedelta(minutes=1), hour, hour + timedelta(minutes=20)]
    deprovisions = [None, hour, hour + timedelta(minutes=40)]
    grid = [
        Agreement(
            f"agmt-{i}",
            product_code=PRODUCT_CODE,
            aws_account_id=SRC,
            license_arn=f"arn:aws:license-manager::294406891311:license:l-{i}",
            accepted_at=begin,
            ended_at=end,
            deprovisioned_at=gone,
        )
        for i, (begin, end, gone) in enumerate(itertools.product(begins, ends, deprovisions))
    ]
    with store.uow() as uow:
        uow.session.add_all(grid)
        uow.commit()
    assert meter_hour(store.uow, hour) == DIMENSIONS * sum(active_during(a, hour) for a in grid)
    with store.uow() as uow:
        written = Counter(r.agreement_id for r in uow.session.scalars(select(MeteringRecord)))
    assert written == {a.agreement_id: DIMENSIONS for a in grid if active_during(a, hour)}


def _store_with_usage(store: Store, rows: list[tuple[str, datetime, int]]) -> str:
    """One tenant paying through agmt-1 (linked long before), and its usage stored through the intake."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    link_buyers(store.engine, [Buyer(TENANT, "agmt-1", SRC, f"arn:aws:license-manager::{SRC}:license:l-1")], start)
    add_usage(store, TENANT, rows)
    return TENANT


def add_usage(store: Store, tenant: str, rows: list[tuple[str, datetime, int]]) -> None:
    """POST /api/v1/usage's use case: the events are routed and stored, on time ones marked with their hour."""
    events = [UsageEvent(tenant, DIMENSION, qty, at, key) for key, at, qty in rows]
    assert ingest_usage(store.uow(), events).accepted == len(rows)


def marked(store: Store) -> dict[str, datetime | None]:
    """Each stored event's idempotency key and the hour whose record bills it (None: not settled yet)."""
    ue = t.usage_events.c
    with store.engine.connect() as c:
        return {r.idempotency_key: r.metered_hour for r in c.execute(select(ue.idempotency_key, ue.metered_hour))}


def billed(store: Store, hour: datetime) -> int:
    mr = t.metering_records.c
    with store.engine.connect() as c:
        quantity = c.execute(
            select(mr.quantity).where(mr.hour == hour, mr.agreement_id == "agmt-1", mr.dimension == DIMENSION)
        ).scalar_one()
    return int(quantity)


def test_usage_on_time_is_marked_with_its_hour_at_intake_and_late_usage_when_an_hour_is_written(
    store: Store,
) -> None:
    """The hour's writing touches only late usage: usage that came before its hour was written carries the
    hour from intake; usage that came after is marked by the next hour written, and billed there."""
    hour = datetime(2026, 11, 20, 10, tzinfo=UTC)
    _store_with_usage(store, [("a", hour + timedelta(minutes=5), 2), ("b", hour + timedelta(minutes=50), 3)])
    assert marked(store) == {"a": hour, "b": hour}
    catch_up(store.uow, now=hour + HOUR + timedelta(minutes=6))
    add_usage(store, TENANT, [("late", hour + timedelta(minutes=20), 7), ("next", hour + HOUR, 1)])
    assert marked(store) == {"a": hour, "b": hour, "late": None, "next": hour + HOUR}
    catch_up(store.uow, now=hour + 2 * HOUR + timedelta(minutes=6))
    assert marked(store)["late"] == hour + HOUR
    assert (billed(store, hour), billed(store, hour + HOUR)) == (5, 7 + 1)
    assert metering_status(store.uow()).usage_issues == [UsageIssue(TENANT, "late_billed", 1, 7)]


def test_usage_marked_at_intake_whose_agreement_did_not_run_in_its_hour_is_settled_like_late_usage(
    store: Store,
) -> None:
    """Marked with its hour at intake, but by the time the hour is written AWS no longer knows the buyer (the
    agreement has no account): no record bills it, so the mark is taken back and the usage is reported."""
    hour = datetime(2026, 11, 20, 10, tzinfo=UTC)
    _store_with_usage(store, [("a", hour + timedelta(minutes=5), 2)])
    with store.engine.begin() as c:
        c.execute(update(t.agreements).where(t.agreements.c.agreement_id == "agmt-1").values(aws_account_id=None))
    catch_up(store.uow, now=hour + HOUR + timedelta(minutes=6))
    assert marked(store) == {"a": None}
    catch_up(store.uow, now=hour + 2 * HOUR + timedelta(minutes=6))
    assert metering_status(store.uow()).usage_issues == [UsageIssue(TENANT, "not_metered", 1, 2)]


def test_an_hour_is_not_written_while_usage_of_it_is_being_stored(store: Store) -> None:
    """Intake holds the metered-through point while it stores: a worker writing the hour waits for it, then
    bills the usage stored meanwhile (without the hold, the usage would carry an hour already written)."""
    hour = datetime(2026, 11, 20, 10, tzinfo=UTC)
    _store_with_usage(store, [("a", hour + timedelta(minutes=5), 2)])
    catch_up(store.uow, now=hour + timedelta(minutes=6))  # metered through the hour before
    row = {"tenant_id": TENANT, "idempotency_key": "held", "dimension": DIMENSION, "quantity": 4,
           "occurred_at": hour + timedelta(minutes=9), "hour": hour, "agreement_id": "agmt-1",
           "received_at": hour + timedelta(minutes=59)}  # fmt: skip
    with store.uow() as uow:
        through = uow.metering.hold_metered_through()
        assert through == hour - HOUR
        worker = threading.Thread(target=meter_hour, args=(store.uow, hour))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive(), "the hour was written while usage of it was being stored"
        uow.metering.add_usage([{**row, "metered_hour": hour}])
        uow.commit()
    worker.join(60)
    assert not worker.is_alive()
    assert billed(store, hour) == 2 + 4


def test_late_usage_of_an_agreement_that_ended_is_kept_unbilled_with_the_reason(store: Store) -> None:
    hour = datetime(2026, 11, 20, 10, tzinfo=UTC)
    tenant = _store_with_usage(store, [("on-time", hour + timedelta(minutes=5), 2)])
    catch_up(store.uow, now=hour + HOUR + timedelta(minutes=6))
    add_usage(store, tenant, [("late", hour + timedelta(minutes=10), 5)])
    with store.uow() as uow:
        agreement = uow.session.get(Agreement, "agmt-1")
        assert agreement is not None
        agreement.ended_at = hour + timedelta(minutes=30)
        uow.commit()
    catch_up(store.uow, now=hour + 2 * HOUR + timedelta(minutes=6))
    status = metering_status(store.uow())
    assert status.usage_issues == [UsageIssue(tenant, "agreement_ended", 1, 5)]
    assert status.metered_through == hour + HOUR


def test_an_hour_too_old_for_aws_is_reported_with_its_usage(store: Store) -> None:
    hour = datetime(2026, 11, 20, 10, tzinfo=UTC)
    tenant = _store_with_usage(store, [("k1", hour + timedelta(minutes=5), 4), ("k2", hour + HOUR, 1)])
    catch_up(store.uow, now=hour + timedelta(minutes=6))  # metered through the hour before
    result = catch_up(store.uow, now=hour + 24 * HOUR + timedelta(minutes=30))
    assert [(m.hour, m.reason, m.usage_events, m.quantity) for m in result.missed] == [
        (hour, HourRefusal.TOO_OLD.value, 1, 4)
    ]
    status = metering_status(store.uow())
    assert [m.hour for m in status.missed_hours] == [hour]
    assert status.usage_issues == [UsageIssue(tenant, "hour_missed", 1, 4)]
    assert status.pending.usage == 1  # the next hour, still taken, went into a record
