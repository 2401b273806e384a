"""Stale-subscription gauges on /metrics, read from the database at scrape time
(``services.stale_subscriptions.list_stale_subscriptions``), like the metering gauges. A scrape while the
database is unavailable logs the reason and leaves these gauges out (``mplink_stale_subscriptions_up`` is 0)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from mplink.services.stale_subscriptions import StaleReport
from mplink.web.database_gauges import DatabaseGauges

COUNT = "mplink_stale_subscriptions"
OLDEST = "mplink_stale_subscription_oldest_age_seconds"
UP = "mplink_stale_subscriptions_up"


class StaleSubscriptionCollector(DatabaseGauges[StaleReport]):
    """The stale-subscription list (``services.stale_subscriptions``) as a count and the oldest age."""

    up_name = UP
    subject = "stale subscriptions"

    def fill(self, families: list[GaugeMetricFamily], report: StaleReport) -> None:
        count, oldest = families
        count.add_metric([], report.count)
        age = report.oldest_age
        oldest.add_metric([], age.total_seconds() if age is not None else 0)

    def families(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                COUNT,
                "Agreements a tenant superseded (it changed its paying AWS account) that AWS still runs and bills",
                labels=[],
            ),
            GaugeMetricFamily(
                OLDEST, "How long the oldest stale subscription has been left running (0 when there is none)", labels=[]
            ),
        ]
