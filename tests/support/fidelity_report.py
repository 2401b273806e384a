"""The end of a test run: how many fidelity cases (tests/fidelity) each AWS operation got, and how they came out.

A plugin of the root conftest, so that the controller of a pytest-xdist run, which loads no conftest below
tests/, prints it too; the cases carry their operation in ``user_properties`` (set in tests/fidelity/conftest.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

OPERATION_PROPERTY = "fidelity_operation"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many model-driven cases each operation got, and how they came out."""
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    for reports in terminalreporter.stats.values():
        for report in reports:
            props = dict(getattr(report, "user_properties", ()) or ())
            if OPERATION_PROPERTY not in props or getattr(report, "when", None) not in ("call", "setup"):
                continue
            if report.when == "setup" and not report.skipped and not report.failed:
                continue
            outcome = "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome
            outcomes[props[OPERATION_PROPERTY]][outcome] += 1
    if not outcomes:
        return
    terminalreporter.section("fidelity cases per operation (from botocore's models)")
    total: Counter[str] = Counter()
    for op in sorted(outcomes):
        counts = outcomes[op]
        total.update(counts)
        detail = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        terminalreporter.write_line(f"{op:<70} {sum(counts.values()):>4} cases ({detail})")
    detail = ", ".join(f"{n} {k}" for k, n in sorted(total.items()))
    terminalreporter.write_line(f"{len(outcomes)} operations, {sum(total.values())} cases ({detail})")
