"""The send path's rules as pure functions and a use case on the in-memory unit of work: what AWS still
takes (BatchMeterUsage API reference: "Usage records aren't accepted 24 hours or more after an event"; "We
accept usage records for the previous billing month until 06:00 UTC on the first day of the next month"), the
send order, the token bucket's arithmetic, and a stop that lets the batch in flight finish."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mplink.domain import pacing
from mplink.domain.agreement import Agreement
from mplink.domain.clock import HOUR, hour_of, now_utc
from mplink.domain.usage import (
    MAX_BATCH,
    MeteringRecord,
    RecordStatus,
    SendPriority,
    hourly_capacity,
    plan_metering,
    send_cutoff,
)
from mplink.services.metering import meter_hour
from mplink.services.metering_send import send_metering
from mplink.services.ports import MeterOutcome
from tests.support.factories import DST, SRC
from tests.support.fakes import FakeMarketplace
from tests.support.world import World


def rec(rid: str, hour: datetime, qty: int = 0, agreement: str = "a1", arn: str | None = "arn:l") -> MeteringRecord:
    return MeteringRecord(rid, agreement, "code", "222222222222", arn, "cust" if arn is None else None, "d", hour, qty)


def test_the_previous_month_is_sendable_until_six_on_the_first() -> None:
    last_hour_of_may = datetime(2026, 5, 31, 23, tzinfo=UTC)
    assert send_cutoff(datetime(2026, 6, 1, 5, 0, tzinfo=UTC)) <= last_hour_of_may
    assert send_cutoff(datetime(2026, 6, 1, 5, 59, 59, tzinfo=UTC)) <= last_hour_of_may
    assert send_cutoff(datetime(2026, 6, 1, 6, 0, tzinfo=UTC)) == datetime(2026, 6, 1, tzinfo=UTC)
    assert send_cutoff(datetime(2026, 6, 1, 7, 0, tzinfo=UTC)) == datetime(2026, 6, 1, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)))
def test_the_cutoff_is_the_oldest_hour_less_than_24_hours_old(now: datetime) -> None:
    cutoff = send_cutoff(now)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert cutoff == hour_of(cutoff) and cutoff > now - timedelta(hours=24)
    assert cutoff - HOUR <= now - timedelta(hours=24) or cutoff == month_start


def test_records_go_out_final_window_first_then_usage_then_zeros_oldest_hour_first() -> None:
    now = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)
    ended = Agreement("ended", ended_at=now - timedelta(minutes=20))
    records = [
        rec("zero-old", now - 5 * HOUR),
        rec("usage-new", now - 2 * HOUR, qty=3),
        rec("usage-old", now - 4 * HOUR, qty=1),
        rec("final", now - 1 * HOUR, agreement="ended"),
    ]
    plan = plan_metering(now, records, {"ended": ended})
    assert [[r.id for r in b] for b in plan.batches] == [["final"], ["usage-old", "usage-new"], ["zero-old"]]
    assert SendPriority.FINAL_WINDOW < SendPriority.USAGE < SendPriority.ZERO


def test_a_batch_is_one_call_licensed_and_legacy_records_apart() -> None:
    now = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)
    records = [rec(f"l{i}", now - 2 * HOUR, 1) for i in range(30)] + [rec("legacy", now - 2 * HOUR, 1, arn=None)]
    plan = plan_metering(now, records, {})
    assert [len(b) for b in plan.batches] == [MAX_BATCH, 5, 1]
    assert all(len({r.license_arn is None for r in b}) == 1 for b in plan.batches)


def test_records_aws_no_longer_takes_are_expired_with_the_reason() -> None:
    now = datetime(2026, 6, 1, 6, 30, tzinfo=UTC)
    plan = plan_metering(now, [rec("may", datetime(2026, 5, 31, 23, tzinfo=UTC), 2)], {})
    assert plan.batches == [] and [r.id for r in plan.expired] == ["may"]
    assert "06:00 UTC" in plan.reasons["may"]


def test_the_hourly_capacity_at_the_default_quota() -> None:
    assert hourly_capacity(pacing.DEFAULT_RATE) == 900_000  # 10 calls/s x 25 records x 3600 s


@given(st.floats(0.5, 100), st.lists(st.floats(0, 5), min_size=1, max_size=50))
def test_the_bucket_never_allows_more_than_the_rate_plus_its_burst(rate: float, gaps: list[float]) -> None:
    bucket, t, calls = pacing.Bucket(pacing.DEFAULT_BURST, 0.0), 0.0, 0
    for gap in gaps:
        t += gap
        while True:
            bucket, wait = pacing.take(bucket, t, rate)
            if wait == 0.0:
                calls += 1
                break
            t += wait
    assert calls <= rate * t + pacing.DEFAULT_BURST + 1e-6


def test_a_throttle_costs_every_sharer_a_call_worth_of_time() -> None:
    full = pacing.Bucket(1.0, 0.0)
    after = pacing.throttled(full, 0.0, 10.0)
    _, wait = pacing.take(after, 0.0, 10.0)
    assert wait >= 0.2 - 1e-9


class StopAfterFirstBatch(FakeMarketplace):
    stopping: bool = False

    def meter(self, product_code: str, records: Sequence[MeteringRecord]) -> list[MeterOutcome]:
        self.stopping = True  # SIGTERM arrives while this batch is in flight
        return super().meter(product_code, records)


def test_a_stop_finishes_the_batch_in_flight_and_frees_the_rest() -> None:
    w = World(market=StopAfterFirstBatch())
    hour = hour_of(now_utc()) - 2 * HOUR
    w.tenant("t1", "u1")
    for i, account in enumerate((SRC, DST, "333333333333", "444444444444", "555555555555")):
        w.subscribe(f"tok-{i}", f"agmt-{i}", account)
        w.tenant(f"t{i + 10}", f"u{i + 10}")
        w.link(f"tok-{i}", f"t{i + 10}", f"u{i + 10}", at=hour - HOUR)
    meter_hour(w.uow, hour)
    market = w.market
    assert isinstance(market, StopAfterFirstBatch)
    counts = send_metering(w.uow, market, stop=lambda: market.stopping, worker_id="w1")
    records = w.uow.committed.records.values()
    assert counts["sent"] == MAX_BATCH and len(market.called("BatchMeterUsage")) == 1
    assert sum(r.status is RecordStatus.SENT for r in records) == MAX_BATCH
    pending = [r for r in records if r.status is RecordStatus.PENDING]
    assert pending and all(w.uow.committed.claims[r.id][0] is None for r in pending)  # free for other workers
