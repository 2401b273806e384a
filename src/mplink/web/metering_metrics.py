"""Metering gauges on /metrics, read from the database at scrape time (``services.metering.metering_status``).

A gauge kept in process memory would show only what this process did; the metering state is the database's,
shared by every worker. A scrape while the database is unavailable logs the reason and leaves these gauges out
(``mplink_metering_status_up`` is 0), so the process's own counters are still scraped.
"""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from mplink.services.metering import LATE_BILLED, MeteringStatus
from mplink.web.database_gauges import DatabaseGauges

PENDING = "mplink_metering_pending_records"
CAPACITY = "mplink_metering_hourly_capacity_records"
MISSED = "mplink_metering_missed_hours"
THROUGH = "mplink_metering_metered_through_timestamp_seconds"
UNBILLED = "mplink_usage_unbilled_quantity"
LATE = "mplink_usage_late_quantity"
UP = "mplink_metering_status_up"


class MeteringCollector(DatabaseGauges[MeteringStatus]):
    """The metering status (``services.metering.metering_status``) as gauges."""

    up_name = UP
    subject = "metering status"

    def fill(self, families: list[GaugeMetricFamily], status: MeteringStatus) -> None:
        pending, capacity, missed, through, unbilled, late = families
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

    def families(self) -> list[GaugeMetricFamily]:
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
        ]
