"""When the sandbox's BatchMeterUsage takes a record's Timestamp, at the exact edges of AWS's rules.

Source: API ref BatchMeterUsage,
https://docs.aws.amazon.com/marketplace/latest/APIReference/API_marketplace-metering_BatchMeterUsage.html
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mplink.sandbox.metering import timestamp_refusal

DAY = timedelta(hours=24)
APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
MARCH_31_LATE = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "taken"),
    [
        (APRIL_1 + timedelta(hours=5), True),  # "On April 1 at 05:00 UTC, you can still submit records for March 31"
        (APRIL_1 + timedelta(hours=6) - timedelta(microseconds=1), True),
        (APRIL_1 + timedelta(hours=6), False),  # "you must submit March usage records before 06:00 UTC on April 1"
        (APRIL_1 + timedelta(hours=7), False),  # "regardless of the normal 24-hour submission window"
    ],
)
def test_previous_month_records_until_0600_utc_on_the_first(now: datetime, taken: bool) -> None:
    """ "We accept usage records for the previous billing month until 06:00 UTC on the first day of the next
    month. For example, you must submit March usage records before 06:00 UTC on April 1.\""""
    assert (timestamp_refusal(MARCH_31_LATE, now, DAY) is None) is taken
    assert timestamp_refusal(APRIL_1, now, DAY) is None  # April's own usage is taken all along


def test_records_24_hours_old_or_more_are_refused() -> None:
    """ "Usage records aren't accepted 24 hours or more after an event.\""""
    now = datetime(2026, 4, 15, 12, tzinfo=UTC)
    assert timestamp_refusal(now - DAY + timedelta(microseconds=1), now, DAY) is None
    assert timestamp_refusal(now - DAY, now, DAY) is not None


def test_future_records_are_refused() -> None:
    """Not documented; AWS's TimestampOutOfBoundsException is the natural answer, and a record cannot be billed
    before its usage happened."""
    now = datetime(2026, 4, 15, 12, tzinfo=UTC)
    assert timestamp_refusal(now, now, DAY) is None
    assert timestamp_refusal(now + timedelta(seconds=1), now, DAY) == "is in the future"
