"""Time helpers: the domain works in aware UTC datetimes and whole metering hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime (naive values are taken to be UTC already)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def hour_of(dt: datetime) -> datetime:
    """The metering hour that contains ``dt`` (AWS deduplicates usage per hour)."""
    return utc(dt).replace(minute=0, second=0, microsecond=0)


def stamp(at: datetime, event_id: str) -> str:
    """A totally ordered, sortable version stamp: later time wins, the event id breaks ties.

    Stamps make event application order-independent (R8): a field is only overwritten by an event
    whose stamp is greater than the one that wrote it last.
    """
    return f"{utc(at).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}|{event_id}"
