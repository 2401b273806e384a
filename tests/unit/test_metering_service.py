"""Usage intake and hourly metering as use cases, on the in-memory unit of work and a scripted
BatchMeterUsage (R5-R7). AWS's rules used here come from botocore's BatchMeterUsage documentation (1.44):
at most 25 records per call, one product, records up to 24 hours old, per-record Success,
CustomerNotSubscribed or DuplicateRecord, and UnprocessedRecords to send again."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mplink.domain.clock import HOUR, hour_of, now_utc
from mplink.domain.errors import InvalidValue, NotAuthorized, NotFound, UnknownDimension
from mplink.domain.usage import RecordStatus, UsageEvent
from mplink.services.metering import ingest_usage, meter_hour, send_metering
from mplink.services.metering_send import SendOptions
from mplink.services.ports import MeterStatus
from tests.support.factories import DST, SRC
from tests.support.world import World

DIMENSIONS = 6  # the seed's product meters one dimension per service but account management


@pytest.fixture
def hour() -> datetime:
    return hour_of(now_utc()) - 2 * HOUR


@pytest.fixture
def w() -> World:
    world = World()
    world.tenant("t1", "u1")
    world.subscribe("tok-src", "agmt-src", SRC)
    world.link("tok-src", at=hour_of(now_utc()) - 10 * HOUR)
    return world


def dimension(w: World, i: int = 0) -> str:
    catalog = w.uow.committed.catalog
    assert catalog is not None
    return sorted(catalog.products[0].dimension_keys())[i]


def usage(w: World, when: datetime, qty: int = 3, key: str = "k1", tenant: str = "t1", i: int = 0) -> UsageEvent:
    return UsageEvent(tenant, dimension(w, i), qty, when, key)


def test_usage_is_stored_against_the_agreement_paying_at_that_instant(w: World, hour: datetime) -> None:
    receipt = ingest_usage(w.uow, [usage(w, hour + timedelta(minutes=5))])
    assert (receipt.accepted, receipt.duplicates, receipt.unbillable) == (1, 0, 0)
    (row,) = w.uow.committed.usage
    assert row["agreement_id"] == "agmt-src" and row["hour"] == hour


def test_a_resent_idempotency_key_is_a_duplicate(w: World, hour: datetime) -> None:
    ingest_usage(w.uow, [usage(w, hour)])
    receipt = ingest_usage(w.uow, [usage(w, hour), usage(w, hour, key="k2")])
    assert (receipt.accepted, receipt.duplicates) == (1, 1) and len(w.uow.committed.usage) == 2


def test_the_same_key_twice_in_one_request_counts_once(w: World, hour: datetime) -> None:
    receipt = ingest_usage(w.uow, [usage(w, hour), usage(w, hour)])
    assert (receipt.accepted, receipt.duplicates) == (1, 1)


def test_r5_usage_with_no_link_is_kept_as_unbillable(w: World, hour: datetime) -> None:
    w.tenant("t2", "u2")
    receipt = ingest_usage(w.uow, [usage(w, hour, tenant="t2")])
    assert receipt.unbillable == 1 and w.uow.committed.usage[0]["agreement_id"] is None


@pytest.mark.parametrize(
    ("events", "error"),
    [([], InvalidValue), ("too many", InvalidValue), ("unknown tenant", NotFound), ("future", InvalidValue)],
)
def test_a_bad_request_stores_nothing(w: World, hour: datetime, events: object, error: type[Exception]) -> None:
    if events == "too many":
        events = [usage(w, hour, key=f"k{i}") for i in range(1001)]
    elif events == "unknown tenant":
        events = [usage(w, hour), usage(w, hour, key="k2", tenant="ghost")]
    elif events == "future":
        events = [usage(w, hour), usage(w, now_utc() + HOUR, key="k2")]
    with pytest.raises(error):
        ingest_usage(w.uow, events)  # type: ignore[arg-type]
    assert w.uow.committed.usage == []


def test_an_unknown_dimension_refuses_the_whole_request(w: World, hour: datetime) -> None:
    bad = UsageEvent("t1", "no-such-dimension", 1, hour, "k2")
    with pytest.raises(UnknownDimension):
        ingest_usage(w.uow, [usage(w, hour), bad])
    assert w.uow.committed.usage == []


def test_a_tenant_key_reports_only_for_its_tenant(w: World, hour: datetime) -> None:
    w.tenant("t2", "u2")
    with pytest.raises(NotAuthorized):
        ingest_usage(w.uow, [usage(w, hour, tenant="t2")], allowed_tenant="t1")


@pytest.mark.parametrize("qty", [-1, 2_147_483_648])
def test_quantities_outside_aws_range_are_refused(w: World, hour: datetime, qty: int) -> None:
    with pytest.raises(InvalidValue):
        usage(w, hour, qty=qty)


def test_r7_every_dimension_gets_a_record_zero_when_unused(w: World, hour: datetime) -> None:
    ingest_usage(w.uow, [usage(w, hour + timedelta(minutes=1), qty=4), usage(w, hour, qty=1, key="k2")])
    assert meter_hour(w.uow, hour) == DIMENSIONS
    quantities = sorted(r.quantity for r in w.uow.committed.records.values())
    assert quantities == [0] * (DIMENSIONS - 1) + [5]


def test_metering_an_hour_twice_writes_nothing_new(w: World, hour: datetime) -> None:
    meter_hour(w.uow, hour)
    assert meter_hour(w.uow, hour + timedelta(minutes=30)) == 0
    assert len(w.uow.committed.records) == DIMENSIONS


def test_r5_in_the_hour_of_the_change_both_agreements_get_records(w: World, hour: datetime) -> None:
    w.subscribe("tok-dst", "agmt-dst", DST, at=hour)
    w.link("tok-dst", at=hour + timedelta(minutes=20))
    assert meter_hour(w.uow, hour) == 2 * DIMENSIONS
    assert {r.agreement_id for r in w.uow.committed.records.values()} == {"agmt-src", "agmt-dst"}


def test_sent_records_are_marked_with_aws_record_ids(w: World, hour: datetime) -> None:
    meter_hour(w.uow, hour)
    counts = send_metering(w.uow, w.market)
    assert counts["sent"] == DIMENSIONS
    assert {r.status for r in w.uow.committed.records.values()} == {RecordStatus.SENT}
    assert all((r.detail or "").startswith("mr-") for r in w.uow.committed.records.values())


@pytest.mark.parametrize(
    ("status", "end", "key"),
    [
        (MeterStatus.DUPLICATE, RecordStatus.DUPLICATE, "duplicate"),
        (MeterStatus.NOT_SUBSCRIBED, RecordStatus.REJECTED, "rejected"),
        (MeterStatus.UNPROCESSED, RecordStatus.PENDING, "unprocessed"),
    ],
)
def test_every_result_has_a_defined_end(
    w: World, hour: datetime, status: MeterStatus, end: RecordStatus, key: str
) -> None:
    meter_hour(w.uow, hour)
    w.market.meter_status = lambda _r: status
    assert send_metering(w.uow, w.market)[key] == DIMENSIONS
    assert {r.status for r in w.uow.committed.records.values()} == {end}


def test_unprocessed_records_are_sent_again_next_round(w: World, hour: datetime) -> None:
    meter_hour(w.uow, hour)
    w.market.meter_status = lambda _r: MeterStatus.UNPROCESSED
    assert send_metering(w.uow, w.market)["unprocessed"] == DIMENSIONS  # tried once, then left for a second
    w.market.meter_status = lambda _r: MeterStatus.SUCCESS
    later = now_utc() + SendOptions().retry_after * 2
    assert send_metering(w.uow, w.market, now=later)["sent"] == DIMENSIONS


def test_marketplace_down_keeps_records_pending(w: World, hour: datetime) -> None:
    meter_hour(w.uow, hour)
    w.market.down = True
    assert send_metering(w.uow, w.market)["sent"] == 0
    assert {r.status for r in w.uow.committed.records.values()} == {RecordStatus.PENDING}


def test_batches_hold_at_most_25_records_of_one_product(w: World, hour: datetime) -> None:
    for i in range(4):
        w.subscribe(f"tok-{i}", f"agmt-{i}", DST)
        w.tenant(f"t{i + 10}", f"u{i + 10}")
        w.link(f"tok-{i}", f"t{i + 10}", f"u{i + 10}", at=hour - HOUR)
    meter_hour(w.uow, hour)
    send_metering(w.uow, w.market)
    sizes = [len(ids) for ids in w.market.called("BatchMeterUsage")]
    assert sum(sizes) == 5 * DIMENSIONS and max(sizes) == 25


def test_records_older_than_24_hours_expire_and_are_kept(w: World) -> None:
    old = hour_of(now_utc()) - 25 * HOUR
    w.subscribe("tok-old", "agmt-old", DST, at=old - HOUR)
    w.tenant("t2", "u2")
    w.link("tok-old", "t2", "u2", at=old - HOUR)
    meter_hour(w.uow, old)
    counts = send_metering(w.uow, w.market)
    assert counts["expired"] == 2 * DIMENSIONS and w.market.called("BatchMeterUsage") == []
    assert {r.status for r in w.uow.committed.records.values()} == {RecordStatus.EXPIRED}
