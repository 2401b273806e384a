"""The process whose time and memory ``metering.aggregate_*`` report: it writes the hourly records of the hours
given and prints ``{"seconds", "peak_mb", "import_mb"}``. A process of its own, started fresh, that imports only
what writing hours needs, so the peak is the aggregation's and not the bench's data or modules.

``python -m benchmarks.aggregate_worker DATABASE_URL HOUR [HOUR ...]`` (hours in ISO 8601)."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path


def _peak_mb() -> float:
    """VmHWM: this process's own peak since it started. (getrusage's ru_maxrss would not do: Linux carries the
    peak of the forked parent, the bench with its data, across exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(url: str, hours: list[str]) -> None:
    from mplink.adapters.store.uow import Store
    from mplink.services.metering import meter_hour

    imported = _peak_mb()
    store = Store(url)
    started = time.perf_counter()
    for h in hours:
        meter_hour(store.uow, datetime.fromisoformat(h))
    elapsed = time.perf_counter() - started
    store.dispose()
    print(json.dumps({"seconds": elapsed, "peak_mb": _peak_mb(), "import_mb": imported}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
