"""SIGTERM to `mplink worker` while it sends a backlog: the BatchMeterUsage call in flight finishes and is
recorded, the rest of its claimed page is given back at once, and the process exits cleanly; a worker started
afterwards sends the rest, so AWS ends up with exactly the expected records (none missing, none twice).

AWS behaviour relied on, as the sandbox enforces it: the seller's quota of BatchMeterUsage calls (AWS
Marketplace Metering Service quotas, 10 requests a second), which keeps the backlog in flight long enough to
stop the worker mid-way; and BatchMeterUsage's answer to a record it already has (botocore model
meteringmarketplace, UsageRecordResult.Status: a record sent again is not billed twice)."""

from __future__ import annotations

import random
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store import tables as t
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.domain.clock import HOUR, hour_of
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.metering import METERING_GRACE
from tests.support.metering_load import (
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

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    """The seller's quota is on (10 BatchMeterUsage requests a second), so the backlog takes seconds."""
    return immediate_provisioning()


def test_sigterm_finishes_the_batch_in_flight_and_gives_the_rest_back(
    running_sandbox: RunningSandbox, postgres_server: TempPostgres | None, tmp_path: Path
) -> None:
    if postgres_server is None:
        pytest.skip("PostgreSQL is not installed here")
    url = postgres_server.create_database()
    upgrade(url)
    store = Store(url)
    store_catalog(store.uow(), load_catalog())
    # the last two hours a worker meters now (an hour is metered once its grace after the hour has passed)
    first = hour_of(datetime.now(UTC) - METERING_GRACE) - 2 * HOUR
    hours = [first, first + HOUR]
    buyers = subscribe_buyers(running_sandbox.box.market, 40, first)  # 40 x 6 dimensions x 2 hours = 480 records
    link_buyers(store.engine, buyers, first)
    totals = store_usage(store.engine, usage_rows(buyers, hours, per_hour=2, rng=random.Random(7)))
    expected = expected_records(buyers, hours, totals)

    env = worker_env(url, running_sandbox.url)
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    deadline = time.monotonic() + 60
    while not running_sandbox.control("GET", "metering") and time.monotonic() < deadline:
        time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0, log.read_text()

    accepted = running_sandbox.control("GET", "metering")
    assert 0 < len(accepted) < len(expected), "stopped in the middle of the backlog"
    mr = t.metering_records.c
    with store.engine.connect() as conn:
        billed = conn.execute(select(func.count()).where(mr.status.in_(["sent", "duplicate"]))).scalar_one()
        still_claimed = conn.execute(
            select(func.count()).where(mr.status == "pending", mr.claimed_by.is_not(None))
        ).scalar_one()
    assert billed == len(accepted)  # every call AWS answered is recorded, the one in flight included
    assert still_claimed == 0  # the rest of the page was given back, not left to its lease

    worker = start_worker(env, log)
    try:
        deadline = time.monotonic() + 120
        while not (result := compare(expected, running_sandbox.control("GET", "metering"))).exact:
            assert time.monotonic() < deadline, result.line()
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    store.dispose()
