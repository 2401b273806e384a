"""What every bench shares: the JSON line it prints, a rate helper, the size knob and a throwaway PostgreSQL."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

BASELINE: dict[str, float] = json.loads((Path(__file__).parent / "baseline.json").read_text())


def emit(name: str, value: float, unit: str, baseline: float | None = None) -> None:
    """One line ``{"bench", "value", "unit", "baseline", "ratio"}``; ``baseline`` is measured in the same run when
    given, else the figure recorded in baseline.json (a target or the reference machine's value)."""
    base = round(baseline, 1) if baseline is not None else BASELINE.get(name)
    ratio = round(value / base, 3) if base else None
    shown = round(value, 3) if abs(value) < 10 else round(value, 1)
    print(
        json.dumps({"bench": name, "value": shown, "unit": unit, "baseline": base, "ratio": ratio}),
        flush=True,
    )


def rate(fn: Callable[[], int], min_seconds: float = 2.0) -> float:
    """Units per second of ``fn`` (which returns how many units it did), for at least ``min_seconds``
    or until it runs out of work (StopIteration)."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        try:
            done += fn()
        except StopIteration:
            break
    return done / (time.perf_counter() - start)


def scaled(n: int) -> int:
    """``n`` times MPLINK_BENCH_SCALE (default 1: the sizes the figures are defined for; less for a quick look)."""
    return max(1, int(n * float(os.environ.get("MPLINK_BENCH_SCALE", "1"))))


@contextmanager
def postgres() -> Iterator[Callable[[], str] | None]:
    """A throwaway PostgreSQL server (None when its binaries are not installed); call the value for a new database."""
    from tests.support.pgserver import TempPostgres, find_bindir

    if find_bindir() is None:
        yield None
        return
    server = TempPostgres().start()
    try:
        yield server.create_database
    finally:
        server.stop()
