"""Every hour metered exactly once, late usage under its policy, and what operators see: the hour bookkeeping
as use cases on the in-memory unit of work (the SQL store's bulk statements are held to the same answers in
tests/integration/test_metering_hours.py).

AWS's rules used here, from BatchMeterUsage's API reference: "Usage records aren't accepted 24 hours or more
after an event", and "We accept usage records for the previous billing month until 06:00 UTC on the first
day of the next month" (the record's Timestamp is its hour's start)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from mplink.domain.clock import HOUR, hour_of, now_utc
from mplink.domain.usage import (
    HourRefusal,
    RoutedUsage,
    UnbilledReason,
    UsageEvent,
    billed_in_own_hour,
    hour_refusal,
    hours_to_meter,
)
from mplink.services.metering import catch_up, ingest_usage, meter_hour, metering_status
from mplink.services.ports import UsageIssue
from mplink.worker import Worker
from tests.support.factories import DST, SRC
from tests.support.world import World

DIMENSIONS = 6  # the seed's product meters six dimensions


@pytest.fixture
def w() -> World:
    world = World()
    world.tenant("t1", "u1")
    world.subscribe("tok-src", "agmt-src", SRC)
    world.link("tok-src", at=hour_of(now_utc()) - 60 * HOUR)
    return world


def dimension(w: World) -> str:
    catalog = w.uow.committed.catalog
    assert catalog is not None
    return sorted(catalog.products[0].dimension_keys())[0]


def records_per_hour(w: World, agreement: str = "agmt-src") -> Counter[datetime]:
    """How many records each hour has, counting every (dimension, hour) once per record written."""
    return Counter(r.hour for r in w.uow.committed.records.values() if r.agreement_id == agreement)


def quantity(w: World, hour: datetime, agreement: str = "agmt-src") -> int:
    return sum(r.quantity for r in w.uow.committed.records.values() if r.hour == hour and r.agreement_id == agreement)


# -- AWS's window, as the domain states it ------------------------------------------------------------------------
def test_an_hour_is_taken_until_24_hours_after_its_start() -> None:
    hour = datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert hour_refusal(hour, hour + timedelta(hours=24) - timedelta(seconds=1)) is None
    assert hour_refusal(hour, hour + timedelta(hours=24)) is HourRefusal.TOO_OLD


def test_last_months_hours_are_taken_until_06_00_utc_on_the_1st() -> None:
    last_hour = datetime(2026, 11, 30, 23, tzinfo=UTC)
    assert hour_refusal(last_hour, datetime(2026, 12, 1, 5, 59, 59, tzinfo=UTC)) is None
    assert hour_refusal(last_hour, datetime(2026, 12, 1, 6, tzinfo=UTC)) is HourRefusal.MONTH_CLOSED
    assert hour_refusal(datetime(2026, 12, 1, 0, tzinfo=UTC), datetime(2026, 12, 1, 7, tzinfo=UTC)) is None


def test_the_hours_to_meter_start_after_the_point_and_include_those_too_late() -> None:
    now = datetime(2026, 11, 20, 10, 6, tzinfo=UTC)
    through = now - timedelta(hours=30)
    hours = hours_to_meter(hour_of(through), hour_of(now) - HOUR, now)
    assert hours[0] == hour_of(through) + HOUR and hours[-1] == hour_of(now) - HOUR and len(hours) == 29
    fresh = hours_to_meter(None, hour_of(now) - HOUR, now)
    assert fresh[0] == hour_of(now) - 23 * HOUR  # nothing metered yet: the hours AWS still takes


# -- every hour, exactly once -------------------------------------------------------------------------------------
def test_after_a_five_hour_outage_a_restarted_worker_meters_every_hour_once(w: World) -> None:
    base = hour_of(now_utc()) - 8 * HOUR
    Worker(w.uow, w.market).metering_round(now=base + timedelta(minutes=6))
    assert w.uow.committed.metered_through == base - HOUR
    # the worker is down for five hours; a new process knows only what the database keeps
    result = Worker(w.uow, w.market).metering_round(now=base + 5 * HOUR + timedelta(minutes=6))
    assert result["hours_metered"] == 5 and result["hours_missed"] == 0
    per_hour = records_per_hour(w)
    assert [per_hour[base + i * HOUR] for i in range(5)] == [DIMENSIONS] * 5
    assert set(per_hour.values()) == {DIMENSIONS}  # no hour written twice
    assert w.uow.committed.metered_through == base + 4 * HOUR
    again = Worker(w.uow, w.market).metering_round(now=base + 5 * HOUR + timedelta(minutes=30))
    assert again["written"] == 0 and again["hours_metered"] == 0


def test_an_hour_already_metered_is_not_written_again_by_another_worker(w: World) -> None:
    hour = hour_of(now_utc()) - 3 * HOUR
    assert meter_hour(w.uow, hour) == DIMENSIONS
    assert meter_hour(w.uow, hour) == 0 and meter_hour(w.uow, hour - HOUR) == 0  # at or before the point


def test_hours_aws_no_longer_takes_are_reported_with_their_usage(w: World) -> None:
    base = hour_of(now_utc()) - 48 * HOUR
    catch_up(w.uow, now=base + timedelta(minutes=6))
    ingest_usage(w.uow, [UsageEvent("t1", dimension(w), 7, base + 2 * HOUR + timedelta(minutes=10), "k1")])
    result = catch_up(w.uow, now=now_utc())
    missed = {m.hour: m for m in result.missed}
    assert min(missed) == base and all(h + 24 * HOUR <= now_utc() for h in missed)
    assert {m.reason for m in missed.values()} == {HourRefusal.TOO_OLD.value}
    assert (missed[base + 2 * HOUR].usage_events, missed[base + 2 * HOUR].quantity) == (1, 7)
    assert records_per_hour(w)[base + 2 * HOUR] == 0  # nothing AWS would refuse is written
    status = metering_status(w.uow)
    assert status.missed_hours[0].hour == max(missed) and len(status.missed_hours) == len(missed)
    assert UsageIssue("t1", UnbilledReason.HOUR_MISSED.value, 1, 7) in status.usage_issues


@pytest.fixture
def month_end(w: World) -> World:
    """Metered through 22:00 on the month's last day; then the worker stops."""
    catch_up(w.uow, now=datetime(2026, 11, 30, 23, 6, tzinfo=UTC))
    assert w.uow.committed.metered_through == datetime(2026, 11, 30, 22, tzinfo=UTC)
    return w


def test_at_05_00_on_the_1st_last_months_last_hour_is_metered(month_end: World) -> None:
    result = catch_up(month_end.uow, now=datetime(2026, 12, 1, 5, 0, tzinfo=UTC))
    assert result.missed == []
    assert records_per_hour(month_end)[datetime(2026, 11, 30, 23, tzinfo=UTC)] == DIMENSIONS


def test_at_07_00_on_the_1st_last_months_last_hour_is_reported(month_end: World) -> None:
    last_hour = datetime(2026, 11, 30, 23, tzinfo=UTC)
    result = catch_up(month_end.uow, now=datetime(2026, 12, 1, 7, 0, tzinfo=UTC))
    assert [(m.hour, m.reason) for m in result.missed] == [(last_hour, HourRefusal.MONTH_CLOSED.value)]
    per_hour = records_per_hour(month_end)
    assert per_hour[last_hour] == 0
    assert [per_hour[datetime(2026, 12, 1, h, tzinfo=UTC)] for h in range(6)] == [DIMENSIONS] * 6


def test_an_ended_agreements_final_hour_is_written_before_its_hour_ends(w: World) -> None:
    hour = hour_of(now_utc()) - 2 * HOUR
    catch_up(w.uow, now=hour + timedelta(minutes=6))  # metered through the hour before
    w.tenant("t2", "u2")
    w.subscribe("tok-dst", "agmt-dst", DST)
    w.link("tok-dst", "t2", "u2", at=hour - HOUR)
    w.uow.committed.agreements["agmt-dst"].ended_at = hour + timedelta(minutes=20)
    result = catch_up(w.uow, now=hour + timedelta(minutes=26))
    assert result.hours_metered == 0  # the hour itself is not over
    assert records_per_hour(w, "agmt-dst")[hour] == DIMENSIONS and records_per_hour(w)[hour] == 0
    catch_up(w.uow, now=hour + HOUR + timedelta(minutes=6))
    assert records_per_hour(w, "agmt-dst")[hour] == DIMENSIONS and records_per_hour(w)[hour] == DIMENSIONS


# -- late usage ---------------------------------------------------------------------------------------------------
def test_late_usage_is_billed_in_the_agreements_next_hour(w: World) -> None:
    hour = hour_of(now_utc()) - 3 * HOUR
    ingest_usage(w.uow, [UsageEvent("t1", dimension(w), 2, hour + timedelta(minutes=5), "on-time")])
    catch_up(w.uow, now=hour + HOUR + timedelta(minutes=6))
    ingest_usage(w.uow, [UsageEvent("t1", dimension(w), 5, hour + timedelta(minutes=10), "late")])
    catch_up(w.uow, now=hour + 2 * HOUR + timedelta(minutes=6))
    assert (quantity(w, hour), quantity(w, hour + HOUR)) == (2, 5)
    late = next(r for r in w.uow.committed.usage if r["idempotency_key"] == "late")
    assert (late["metered_hour"], late["late"], late.get("unbilled_reason")) == (hour + HOUR, True, None)
    assert metering_status(w.uow).usage_issues == [UsageIssue("t1", "late_billed", 1, 5)]


def test_usage_is_marked_with_its_own_hour_at_intake_only_while_that_hour_is_sure_to_bill_it() -> None:
    hour = datetime(2026, 11, 20, 10, tzinfo=UTC)
    routed = RoutedUsage(UsageEvent("t1", "d", 1, hour + timedelta(minutes=5), "k"), hour, "agmt-1")
    assert billed_in_own_hour(routed, None, agreement_ended=False) == hour  # nothing metered yet
    assert billed_in_own_hour(routed, hour - HOUR, agreement_ended=False) == hour
    assert billed_in_own_hour(routed, hour, agreement_ended=False) is None  # its hour is written: late
    assert billed_in_own_hour(routed, hour - HOUR, agreement_ended=True) is None  # final hours go early (R6)
    nobody = RoutedUsage(routed.event, hour, None)
    assert billed_in_own_hour(nobody, hour - HOUR, agreement_ended=False) is None  # R5: nobody paid


def test_usage_of_an_ended_agreement_whose_final_hour_is_out_is_reported_not_counted_as_billed(w: World) -> None:
    """The agreement ended and its final hour went out early (R6) before the hour was metered for everyone;
    usage of that hour arriving now is not in the record sent, so it must not be taken as billed by it."""
    hour = hour_of(now_utc()) - 3 * HOUR
    catch_up(w.uow, now=hour + timedelta(minutes=6))  # metered through the hour before
    w.uow.committed.agreements["agmt-src"].ended_at = hour + timedelta(minutes=20)
    catch_up(w.uow, now=hour + timedelta(minutes=26))  # the final hour, written early
    assert records_per_hour(w)[hour] == DIMENSIONS
    ingest_usage(w.uow, [UsageEvent("t1", dimension(w), 5, hour + timedelta(minutes=10), "after-final")])
    catch_up(w.uow, now=hour + 2 * HOUR + timedelta(minutes=6))
    assert quantity(w, hour) == 0
    assert metering_status(w.uow).usage_issues == [UsageIssue("t1", UnbilledReason.AGREEMENT_ENDED.value, 1, 5)]


def test_late_usage_of_an_agreement_that_ended_is_kept_as_unbilled(w: World) -> None:
    hour = hour_of(now_utc()) - 3 * HOUR
    catch_up(w.uow, now=hour + HOUR + timedelta(minutes=6))
    ingest_usage(w.uow, [UsageEvent("t1", dimension(w), 5, hour + timedelta(minutes=10), "late")])
    w.uow.committed.agreements["agmt-src"].ended_at = hour + timedelta(minutes=30)
    catch_up(w.uow, now=hour + 2 * HOUR + timedelta(minutes=6))
    assert quantity(w, hour) == 0 and records_per_hour(w)[hour + HOUR] == 0
    assert metering_status(w.uow).usage_issues == [UsageIssue("t1", UnbilledReason.AGREEMENT_ENDED.value, 1, 5)]


def test_usage_with_no_paying_agreement_is_reported_per_tenant(w: World) -> None:
    w.tenant("t2", "u2")
    ingest_usage(w.uow, [UsageEvent("t2", dimension(w), 4, hour_of(now_utc()) - HOUR, "k")])
    assert metering_status(w.uow).usage_issues == [UsageIssue("t2", UnbilledReason.NO_AGREEMENT.value, 1, 4)]


# -- the load operators see ---------------------------------------------------------------------------------------
def test_status_shows_the_pending_load_against_the_hourly_capacity(w: World) -> None:
    hour = hour_of(now_utc()) - 2 * HOUR
    ingest_usage(w.uow, [UsageEvent("t1", dimension(w), 3, hour + timedelta(minutes=5), "k")])
    meter_hour(w.uow, hour)
    status = metering_status(w.uow)
    assert (status.pending.final_window, status.pending.usage, status.pending.zeros) == (0, 1, DIMENSIONS - 1)
    assert status.pending_total == DIMENSIONS and status.metered_through == hour
    assert status.hourly_capacity == 900_000 and metering_status(w.uow, rate_per_second=5).hourly_capacity == 450_000
    assert status.send_order == ("final_window", "usage", "zeros")
