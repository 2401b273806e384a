"""Chaos: three `mplink worker` processes on one PostgreSQL database meter a backlog against the sandbox while
AWS misbehaves (30% throttling, 10% internal errors, 10% UnprocessedRecords) and each worker is killed with
SIGKILL at random moments and started again. At the end AWS holds exactly the expected records: none missing,
none billed twice, every quantity right.

`make test` runs the short version (one kill per worker, a small backlog); `make test-reliability` sets
MPLINK_CHAOS=long: five kills per worker over a backlog that takes about a minute at the 10 requests/s quota.
Faults are those BatchMeterUsage documents: ThrottlingException and InternalServiceErrorException (botocore
model meteringmarketplace, BatchMeterUsage errors) and the UnprocessedRecords member of its output."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.domain.clock import HOUR, hour_of
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.metering import METERING_GRACE
from tests.support.metering_load import (
    Buyer,
    compare,
    expected_records,
    link_buyers,
    start_worker,
    store_usage,
    subscribe_buyers,
    usage_rows,
    worker_env,
)
from tests.support.pgserver import TempPostgres
from tests.support.sandbox_fixtures import RunningSandbox, SandboxSettings, immediate_provisioning

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@dataclass(frozen=True)
class Scale:
    buyers: int
    #: finished hours of usage before the workers start (the backlog)
    hours: int
    kills_per_worker: int
    #: the kills fall at random moments in this many seconds from the start
    kill_span: float
    #: how long the workers may take after the last kill to finish
    settle: float


SCALES = {
    "short": Scale(buyers=30, hours=2, kills_per_worker=1, kill_span=6.0, settle=120.0),
    "long": Scale(buyers=300, hours=3, kills_per_worker=5, kill_span=60.0, settle=300.0),
}
WORKERS = 3
FAULTS = {"throttle_pct": 30, "error_pct": 10, "unprocessed_pct": 10}


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    """The seller's quota is on: 10 BatchMeterUsage requests per second."""
    settings = immediate_provisioning()
    assert settings.throttle_rps == 10
    return settings


def _finished_hours(first: datetime, now: datetime) -> list[datetime]:
    """The hours a worker meters by ``now``: from the buyers' start to the last hour past its grace."""
    last = hour_of(now - METERING_GRACE) - HOUR
    out, h = [], first
    while h <= last:
        out.append(h)
        h += HOUR
    return out


def test_killed_workers_leave_every_record_billed_once(
    running_sandbox: RunningSandbox, postgres_server: TempPostgres | None, tmp_path: Path
) -> None:
    if postgres_server is None:
        pytest.skip("PostgreSQL is not installed here")
    scale = SCALES[os.environ.get("MPLINK_CHAOS", "short")]
    seed = int(os.environ.get("MPLINK_CHAOS_SEED", str(random.randrange(10**6))))
    rng = random.Random(seed)
    url = postgres_server.create_database()
    upgrade(url)
    store = Store(url)
    store_catalog(store.uow(), load_catalog())

    now = datetime.now(UTC)
    first = hour_of(now) - scale.hours * HOUR
    buyers: list[Buyer] = subscribe_buyers(running_sandbox.box.market, scale.buyers, first)
    link_buyers(store.engine, buyers, first)
    usage_hours = [first + i * HOUR for i in range(scale.hours)]
    totals = store_usage(store.engine, usage_rows(buyers, usage_hours, per_hour=3, rng=rng))
    store.dispose()
    running_sandbox.control("POST", "faults", json={**FAULTS, "seed": seed})

    env = worker_env(url, running_sandbox.url)
    log = tmp_path / "workers.log"
    workers = [start_worker(env, log) for _ in range(WORKERS)]
    kills = sorted((rng.uniform(0, scale.kill_span), w) for w in range(WORKERS) for _ in range(scale.kills_per_worker))
    started = time.monotonic()
    try:
        for at, w in kills:
            time.sleep(max(0.0, started + at - time.monotonic()))
            workers[w].send_signal(signal.SIGKILL)
            workers[w].wait()
            workers[w] = start_worker(env, log)
        deadline = time.monotonic() + scale.settle
        while True:
            # the hours finished so far: a run that passes an hour (and its grace) meters that hour too
            expected = expected_records(buyers, _finished_hours(first, datetime.now(UTC)), totals)
            result = compare(expected, running_sandbox.control("GET", "metering"))
            if result.exact or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    calls = running_sandbox.control("GET", "calls", params={"operation": "BatchMeterUsage"})
    outcomes: dict[str, int] = {}
    for c in calls:
        outcomes[c["outcome"]] = outcomes.get(c["outcome"], 0) + 1
    summary = (
        f"metering chaos ({os.environ.get('MPLINK_CHAOS', 'short')}, seed {seed}): {WORKERS} workers, "
        f"{len(kills)} SIGKILLs; records {result.line()}; BatchMeterUsage calls {len(calls)} {outcomes}"
    )
    print(summary)
    assert result.exact, f"{summary}; worker log: {log}"
