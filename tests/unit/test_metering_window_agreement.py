"""The hour side (which hours are written) and the send side (which records are sent) apply one rule of what
BatchMeterUsage takes: 24 hours back, and the previous month only until 06:00 UTC on the 1st (BatchMeterUsage's
API reference). An hour written is an hour that can be sent, and one refused is never written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mplink.domain.clock import HOUR, hour_of
from mplink.domain.usage import hour_refusal, send_cutoff

NOW = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@given(now=NOW, back=st.integers(min_value=0, max_value=40))
def test_an_hour_is_refused_exactly_when_it_is_before_the_send_cutoff(now: datetime, back: int) -> None:
    hour = hour_of(now) - back * HOUR
    assert (hour_refusal(hour, now) is None) == (hour >= send_cutoff(now))


def test_the_month_end_edges() -> None:
    last_hour = datetime(2026, 11, 30, 23, tzinfo=UTC)
    assert hour_refusal(last_hour, datetime(2026, 12, 1, 5, 59, 59, tzinfo=UTC)) is None
    assert hour_refusal(last_hour, datetime(2026, 12, 1, 6, tzinfo=UTC)) is not None
    assert hour_refusal(last_hour, last_hour + timedelta(hours=24)) is not None
