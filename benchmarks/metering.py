"""Metering figures: the sender at the sandbox's 10 requests/s quota, calls per 25 records, aggregation of
1,000,000 usage events (time and peak memory) and a worker's peak memory with 1,000,000 pending records.

Memory is the peak resident set size (VmHWM) of the process doing the work: a fresh process of its own
(benchmarks.aggregate_worker, `mplink worker` for the backlog), so the bench's own data and modules never count."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from benchmarks.common import emit, postgres, scaled
from mplink.adapters.aws import SellerMarketplace
from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store import tables as t
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.pacing import SqlTokenBucket
from mplink.adapters.store.uow import Store
from mplink.domain.clock import HOUR, hour_of
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.metering import meter_hour
from mplink.worker import Worker
from tests.support.metering_load import (
    Buyer,
    link_buyers,
    peak_rss_mb,
    product_dimensions,
    start_sandbox,
    start_worker,
    store_usage,
    subscribe_buyers,
    worker_env,
)
from tests.support.pgserver import free_port

BATCH = 25
QUOTA_RPS = 10


def _seller_db(url: str) -> Store:
    upgrade(url)
    store = Store(url)
    store_catalog(store.uow(), load_catalog())
    return store


def _sandbox_state(path: Path, count: int, start: datetime) -> list[Buyer]:
    """``count`` buyers subscribed in a sandbox state file, for `mplink sandbox --state` to serve."""
    from mplink.sandbox.catalog import seed_catalog
    from mplink.sandbox.marketplace import SandboxSettings
    from mplink.sandbox.server import build_sandbox

    box = build_sandbox(seed_catalog(), path, SandboxSettings(provisioning_delay=timedelta(0)))
    try:
        return subscribe_buyers(box.market, count, start)
    finally:
        box.close()


def _spread(buyers: list[Buyer], hours: list[datetime], total: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """``total`` usage events, round-robin over the buyers, then over the hours, stored as intake stores them:
    one in a hundred came after its hour was written (late, ``metered_hour`` empty), the rest on time (marked
    with their own hour, domain.usage.billed_in_own_hour)."""
    _, _, dims = product_dimensions()
    received = max(hours) + HOUR
    for i in range(total):
        b = buyers[i % len(buyers)]
        hour = hours[(i // len(buyers)) % len(hours)]
        yield {
            "tenant_id": b.tenant_id,
            "idempotency_key": f"u-{i}",
            "dimension": dims[rng.randrange(len(dims))],
            "quantity": rng.randint(1, 9),
            "occurred_at": hour + timedelta(seconds=rng.randrange(3600)),
            "hour": hour,
            "agreement_id": b.agreement_id,
            "received_at": received,
            "metered_hour": None if i % 100 == 0 else hour,
        }


def _accepted(sandbox: str) -> int:
    return len(httpx.get(f"{sandbox}/_sandbox/metering", timeout=60).json())


def bench_sender() -> None:
    """``metering.sender``: records/s that mplink's Worker.metering_round gets accepted by the sandbox with its
    10 requests/s quota on (the ceiling: 10 x 25 = 250 records/s); ``metering.calls_per_record``: accepted
    records / 25 over every BatchMeterUsage call made (1 when no call is wasted)."""
    buyers_n = scaled(280)  # x 6 dimensions x 3 hours = 5,040 records, about 20 s at the ceiling
    now = datetime.now(UTC)
    first = hour_of(now) - 3 * HOUR
    hours = [first + i * HOUR for i in range(3)]
    with tempfile.TemporaryDirectory() as tmp, postgres() as new_db:
        buyers = _sandbox_state(Path(tmp) / "sb.db", buyers_n, first)
        port = free_port()
        sandbox = start_sandbox(Path(tmp) / "sb.db", port, Path(tmp) / "sandbox.log", throttle_rps=QUOTA_RPS)
        url = f"http://127.0.0.1:{port}"
        try:
            store = _seller_db(new_db() if new_db else f"sqlite:///{tmp}/seller.db")
            link_buyers(store.engine, buyers, first)
            store_usage(store.engine, _spread(buyers, hours, buyers_n * 3 * 3, random.Random(1)))
            for h in hours:  # written beforehand: the figure is the sending
                meter_hour(store.uow, h)
            expected = buyers_n * len(product_dimensions()[2]) * len(hours)
            os.environ.update({k: v for k, v in worker_env(store.url, url).items() if k.startswith("AWS_")})
            # wired as mplink worker wires it (bootstrap): BatchMeterUsage paced by the database's token bucket
            worker = Worker(store.uow, SellerMarketplace(url, pacer=SqlTokenBucket(store.engine, rate=QUOTA_RPS)))
            started = time.perf_counter()
            deadline = started + 600
            done = 0
            while done < expected and time.perf_counter() < deadline:
                worker.metering_round()
                done = _accepted(url)
                if done == 0 and time.perf_counter() - started > 60:
                    raise RuntimeError("the sender got nothing accepted in 60 s: see the sandbox's call log")
            elapsed = time.perf_counter() - started
            log = httpx.get(f"{url}/_sandbox/calls", params={"operation": "BatchMeterUsage"}, timeout=60).json()
            calls = len(log)
            outcomes = Counter(c["outcome"] for c in log)
            sizes = Counter(len((c.get("request") or {}).get("UsageRecords", [])) for c in log if c["outcome"] == "ok")
            print(
                f"# sender: {done} of {expected} records accepted in {elapsed:.1f} s; calls {dict(outcomes)};"
                f" records per accepted call {dict(sorted(sizes.items()))}",
                file=sys.stderr,
            )
            store.dispose()
        finally:
            sandbox.terminate()
            sandbox.wait(30)
    emit("metering.sender", done / elapsed, "records/s")
    emit("metering.calls_per_record", (done / BATCH) / calls if calls else 0.0, "full batches per call")


def _aggregate(url: str) -> tuple[float, float, int]:
    """1,000,000 usage events of 10,000 agreements over 24 hours into hourly records (1.44 million of them)."""
    buyers_n, events = scaled(10_000), scaled(1_000_000)
    first = hour_of(datetime.now(UTC)) - 24 * HOUR
    hours = [first + i * HOUR for i in range(24)]
    buyers = [
        Buyer(f"tenant-{i:06d}", f"agmt-{i:06d}", f"{100000000000 + i:012d}", f"arn:l-{i}") for i in range(buyers_n)
    ]
    store = _seller_db(url)
    link_buyers(store.engine, buyers, first)
    store_usage(store.engine, _spread(buyers, hours, events, random.Random(2)))
    store.dispose()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.aggregate_worker", url, *(h.isoformat() for h in hours)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"# aggregate: {events} events into {buyers_n * 6 * len(hours)} records; the process had"
        f" {figures['import_mb']:.0f} MB after its imports",
        file=sys.stderr,
    )
    return figures["seconds"], figures["peak_mb"], events


def bench_aggregate() -> None:
    """``metering.aggregate_sqlite`` / ``_postgres`` (seconds, target < 30) and ``metering.aggregate_peak_mb``
    (the larger of the two runs' peak RSS, target < 300)."""
    peaks = []
    with tempfile.TemporaryDirectory() as tmp:
        seconds, peak, _ = _aggregate(f"sqlite:///{tmp}/agg.db")
        emit("metering.aggregate_sqlite", seconds, "s")
        peaks.append(peak)
    with postgres() as new_db:
        if new_db is not None:
            seconds, peak, _ = _aggregate(new_db())
            emit("metering.aggregate_postgres", seconds, "s")
            peaks.append(peak)
    emit("metering.aggregate_peak_mb", max(peaks), "MB")


def _pending_records(store: Store, buyers: list[Buyer], hours: list[datetime]) -> None:
    _, product_code, dims = product_dimensions()

    def rows() -> Iterator[dict[str, Any]]:
        for h in hours:
            for b in buyers:
                for d in dims:
                    yield {
                        "id": str(uuid.uuid4()),
                        "agreement_id": b.agreement_id,
                        "product_code": product_code,
                        "aws_account_id": b.account_id,
                        "license_arn": b.license_arn,
                        "dimension": d,
                        "hour": h,
                        "quantity": 1,
                        "status": "pending",
                    }

    chunk: list[dict[str, Any]] = []
    with store.engine.begin() as c:
        for r in rows():
            chunk.append(r)
            if len(chunk) == 10_000:
                c.execute(insert(t.metering_records), chunk)
                chunk = []
        if chunk:
            c.execute(insert(t.metering_records), chunk)


def bench_backlog() -> None:
    """``metering.backlog_peak_mb``: peak RSS of an `mplink worker` process with 1,000,000 pending records (7,000
    agreements x 6 dimensions x the last 24 hours), read once it has had 2,500 records accepted (100 calls)."""
    buyers_n = scaled(7_000)
    first = hour_of(datetime.now(UTC)) - 24 * HOUR
    hours = [first + i * HOUR for i in range(24)]
    with tempfile.TemporaryDirectory() as tmp, postgres() as new_db:
        buyers = _sandbox_state(Path(tmp) / "sb.db", buyers_n, first)
        db = new_db() if new_db else f"sqlite:///{tmp}/seller.db"
        store = _seller_db(db)
        link_buyers(store.engine, buyers, first)
        _pending_records(store, buyers, hours)
        store.dispose()
        port = free_port()
        sandbox = start_sandbox(Path(tmp) / "sb.db", port, Path(tmp) / "sandbox.log", throttle_rps=QUOTA_RPS)
        url = f"http://127.0.0.1:{port}"
        worker = start_worker(worker_env(db, url), Path(tmp) / "worker.log")
        try:
            deadline = time.monotonic() + 600
            while _accepted(url) < min(2_500, buyers_n * 6 * 24) and time.monotonic() < deadline:
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker stopped: {(Path(tmp) / 'worker.log').read_text()[-2000:]}")
                time.sleep(1.0)
            peak = peak_rss_mb(worker.pid)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            sandbox.terminate()
            try:
                sandbox.wait(30)
            except subprocess.TimeoutExpired:
                sandbox.kill()
    emit("metering.backlog_peak_mb", peak, "MB")
