"""Print one JSON object per line: {"bench", "value", "unit", "baseline", "ratio"}.

``baseline`` is the value recorded in baseline.json on the project's reference machine (2 cores);
``ratio`` = value / baseline, so above 1 is faster for rates.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.domain.ledger import Ledger
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.events import envelope_from_eventbridge, receive_event

BASELINE = json.loads((Path(__file__).parent / "baseline.json").read_text())


def emit(name: str, value: float, unit: str) -> None:
    base = BASELINE.get(name)
    ratio = round(value / base, 3) if base else None
    print(
        json.dumps({"bench": name, "value": round(value, 1), "unit": unit, "baseline": base, "ratio": ratio}),
        flush=True,
    )


def rate(fn: Callable[[], int], min_seconds: float = 2.0) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        done += fn()
    return done / (time.perf_counter() - start)


def bench_domain() -> None:
    from tests.test_event_order import EVENTS, _start

    def once() -> int:
        ledger = _start()
        for ev in EVENTS:
            ledger.apply(ev)
        return len(EVENTS)

    emit("domain.apply_events", rate(once), "events/s")
    assert isinstance(_start(), Ledger)


def bench_intake(name: str, url: str) -> None:
    from tests.factories import eventbridge

    upgrade(url)
    store = Store(url)
    store_catalog(store.uow(), load_catalog())
    counter = iter(range(10**9))

    def once() -> int:
        n = next(counter)
        receive_event(store.uow, envelope_from_eventbridge(eventbridge("Purchase Agreement Created", f"agmt-{n}")))
        return 1

    emit(name, rate(once), "events/s")
    store.dispose()


def main() -> None:
    bench_domain()
    with tempfile.TemporaryDirectory() as tmp:
        bench_intake("store.event_intake.sqlite", f"sqlite:///{tmp}/bench.db")
    from tests.pgserver import TempPostgres, find_bindir

    if find_bindir() is not None:
        server = TempPostgres().start()
        try:
            bench_intake("store.event_intake.postgresql", server.create_database())
        finally:
            server.stop()


if __name__ == "__main__":
    main()
