"""Print one JSON object per line: {"bench", "value", "unit", "baseline", "ratio"}; docs/metering.md "Figures"
says what each metering line measures.

``baseline`` is measured in the same run where a line says so (usage.intake), else the figure in baseline.json:
a target (metering.*) or the value on the project's reference machine (2 cores). ``ratio`` = value / baseline.

``python -m benchmarks [NAME ...]`` runs only the groups named (events, sender, intake, aggregate, backlog);
MPLINK_BENCH_SCALE=0.1 shrinks the data sets for a quick look (the figures are defined at 1).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable

from benchmarks import events, intake, metering
from benchmarks.common import postgres


def bench_events() -> None:
    events.bench_sandbox_alone()
    events.bench_domain()
    with tempfile.TemporaryDirectory() as tmp:
        events.bench_event_intake("store.event_intake.sqlite", f"sqlite:///{tmp}/bench.db")
    with postgres() as new_db:
        if new_db is not None:
            events.bench_event_intake("store.event_intake.postgresql", new_db())


GROUPS: dict[str, Callable[[], None]] = {
    "events": bench_events,
    "sender": metering.bench_sender,
    "intake": intake.bench_usage_intake,
    "aggregate": metering.bench_aggregate,
    "backlog": metering.bench_backlog,
}


def main(names: list[str]) -> None:
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        sys.exit(f"unknown bench group {unknown[0]!r}: use {', '.join(GROUPS)}")
    for name, run in GROUPS.items():
        if not names or name in names:
            run()


if __name__ == "__main__":
    main(sys.argv[1:])
