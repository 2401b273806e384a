"""Gauges read from the database at each scrape of /metrics, shared by the metering and stale-subscription
gauges. A gauge kept in process memory would show only what this process did; this state is the database's,
shared by every worker. A scrape while the database is unavailable logs the reason and leaves these gauges out
(their ``..._up`` gauge is 0), so the process's own counters are still scraped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = structlog.get_logger("mplink.metrics")

T = TypeVar("T")


class DatabaseGauges(Collector, Generic[T]):
    """Calls ``read`` on every scrape and hands the result to ``fill``; a database error skips the gauges for
    that scrape. Subclasses name their ``up`` gauge, what they read (for the log) and their families."""

    up_name: str
    subject: str

    def __init__(self, read: Callable[[], T]) -> None:
        self.read = read

    def families(self) -> list[GaugeMetricFamily]:
        raise NotImplementedError

    def fill(self, families: list[GaugeMetricFamily], value: T) -> None:
        raise NotImplementedError

    def _up(self, value: float | None) -> GaugeMetricFamily:
        """The ``..._up`` gauge: 1 or 0 after a read, no value when only described."""
        text = f"1 when the {self.subject} could be read from the database"
        if value is None:
            return GaugeMetricFamily(self.up_name, text, labels=[])
        return GaugeMetricFamily(self.up_name, text, value=value)

    def describe(self) -> Iterator[Metric]:
        """The names, without reading the database (the registry asks when the collector is registered)."""
        yield from self.families()
        yield self._up(None)

    def collect(self) -> Iterator[Metric]:
        try:
            value = self.read()
        except (DBAPIError, PoolTimeout) as exc:
            reason = getattr(exc, "orig", None) or exc
            log.warning(f"{self.subject} unavailable for /metrics", error=f"{type(exc).__name__}: {reason}")
            yield self._up(0)
            return
        families = self.families()
        self.fill(families, value)
        yield from families
        yield self._up(1)
