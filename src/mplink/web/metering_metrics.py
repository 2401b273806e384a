"""Metering gauges on /metrics, read from the database at scrape time (``services.metering.metering_status``).

A gauge kept in process memory would show only what this process did; the metering state is the database's,
shared by every worker. A scrape while the database is unavailable logs the reason and leaves these gauges out
(``mplink_metering_status_up`` is 0), so the process's own counters are still scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mplink.services.metering import LATE_BILLED, MeteringStatus

log = structlog.get_logger("mplink.metrics")

PENDING = "mplink_metering_pending_records"
CAPACITY = "mplink_metering_hourly_capacity_records"
MISSED = "mplink_metering_missed_hours"
THROUGH = "mplink_metering_metered_through_timestamp_seconds"
UNBILLED = "mplink_usage_unbilled_quantity"
LATE = "mplink_usage_late_quantity"
UP = "mplink_metering_status_up"


class MeteringCollector(Collector):
    """Calls ``read_status`` on every scrape; a database error skips the metering gauges for that scrape."""

    def __init__(self, read_status: Callable[[], MeteringStatus]) -> None:
        self.read_status = read_status

    def describe(self) -> Iterator[Metric]:
        """The names, without reading the database (the registry asks when the collector is registered)."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        try:
            status = self.read_status()
        except (DBAPIError, PoolTimeout) as exc:
            reason = getattr(exc, "orig", None) or exc
            log.warning("metering status unavailable for /metrics", error=f"{type(exc).__name__}: {reason}")
            yield GaugeMetricFamily(UP, "1 when the metering status could be read from the database", value=0)
            return
        families = self._families()
        pending, capacity, missed, through, unbilled, late, up = families
        pending.add_metric(["final_window"], status.pending.final_window)
        pending.add_metric(["usage"], status.pending.usage)
        pending.add_metric(["zeros"], status.pending.zeros)
        capacity.add_metric([], status.hourly_capacity)
        missed.add_metric([], len(status.missed_hours))
        if status.metered_through is not None:
            through.add_metric([], status.metered_through.timestamp())
        for issue in status.usage_issues:
            if issue.reason == LATE_BILLED:
                late.add_metric([issue.tenant_id], issue.quantity)
            else:
                unbilled.add_metric([issue.tenant_id, issue.reason], issue.quantity)
        up.add_metric([], 1)
        yield from families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                PENDING,
                "Metering records written and not sent yet, by send priority (final_window, usage, zeros)",
                labels=["priority"],
            ),
            GaugeMetricFamily(
                CAPACITY, "Records BatchMeterUsage takes in an hour at MPLINK_METERING_RATE (25 per call)", labels=[]
            ),
            GaugeMetricFamily(
                MISSED, "Hours metered when AWS no longer took them (the most recent 100 at most)", labels=[]
            ),
            GaugeMetricFamily(THROUGH, "Start of the last hour metered, as a Unix timestamp", labels=[]),
            GaugeMetricFamily(
                UNBILLED,
                "Stored usage quantity that no record bills, per tenant and reason",
                labels=["tenant_id", "reason"],
            ),
            GaugeMetricFamily(
                LATE,
                "Usage quantity that came after its hour was metered and was billed in a later hour",
                labels=["tenant_id"],
            ),
            GaugeMetricFamily(UP, "1 when the metering status could be read from the database", labels=[]),
        ]
