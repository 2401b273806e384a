"""Stale-subscription gauges on /metrics, read from the database at scrape time
(``services.stale_subscriptions.list_stale_subscriptions``), like the metering gauges. A scrape while the
database is unavailable logs the reason and leaves these gauges out (``mplink_stale_subscriptions_up`` is 0)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mplink.services.stale_subscriptions import StaleReport

log = structlog.get_logger("mplink.metrics")

COUNT = "mplink_stale_subscriptions"
OLDEST = "mplink_stale_subscription_oldest_age_seconds"
UP = "mplink_stale_subscriptions_up"


class StaleSubscriptionCollector(Collector):
    """Calls ``read_report`` on every scrape; a database error skips the gauges for that scrape."""

    def __init__(self, read_report: Callable[[], StaleReport]) -> None:
        self.read_report = read_report

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        try:
            report = self.read_report()
        except (DBAPIError, PoolTimeout) as exc:
            reason = getattr(exc, "orig", None) or exc
            log.warning("stale subscriptions unavailable for /metrics", error=f"{type(exc).__name__}: {reason}")
            yield GaugeMetricFamily(UP, "1 when the stale subscriptions could be read from the database", value=0)
            return
        count, oldest, up = self._families()
        count.add_metric([], report.count)
        age = report.oldest_age
        oldest.add_metric([], age.total_seconds() if age is not None else 0)
        up.add_metric([], 1)
        yield from (count, oldest, up)

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                COUNT,
                "Agreements a tenant superseded (it changed its paying AWS account) that AWS still runs and bills",
                labels=[],
            ),
            GaugeMetricFamily(
                OLDEST, "How long the oldest stale subscription has been left running (0 when there is none)", labels=[]
            ),
            GaugeMetricFamily(UP, "1 when the stale subscriptions could be read from the database", labels=[]),
        ]
