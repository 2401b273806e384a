"""Metering at scale, for the chaos test (tests/reliability) and the benchmarks: many buyers subscribed in the
sandbox and linked to tenants in the seller's database (in bulk, with SQL, so 10,000 of them take seconds),
usage spread over past hours, the set of records AWS must end up with, and processes to run the sandbox and
`mplink worker` in."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store import tables as t
from mplink.domain.clock import HOUR, hour_of
from mplink.sandbox.marketplace import Marketplace

PUBLIC_OFFER = "offer-public-tm4saas"
SELLER = "999999999999"
LICENSE_PREFIX = f"arn:aws:license-manager::{SELLER}:license:l-"
MPLINK = [str(Path(sys.executable).with_name("mplink"))]

#: (LicenseArn, dimension, hour as ISO text) -> quantity: one record as the sandbox's GET /_sandbox/metering shows it
RecordKey = tuple[str, str, str]


@dataclass(frozen=True)
class Buyer:
    tenant_id: str
    agreement_id: str
    account_id: str
    license_arn: str


def product_dimensions() -> tuple[str, str, list[str]]:
    """The seed catalog's metered product: (product id, product code, its dimensions, sorted)."""
    product = next(p for p in load_catalog().products if p.dimension_keys())
    return product.product_id, product.product_code, sorted(product.dimension_keys())


def subscribe_buyers(
    market: Marketplace, count: int, start: datetime, first_account: int = 100000000000
) -> list[Buyer]:
    """``count`` buyers subscribe to the public offer; their agreements started at ``start`` (so the sandbox
    takes records for the hours since)."""
    out: list[Buyer] = []
    with market.lock:
        for i in range(count):
            a = market.agreement.subscribe(f"{first_account + i:012d}", PUBLIC_OFFER)
            a.start_time = start
            market.save(a)
            out.append(Buyer(f"tenant-{i:06d}", a.agreement_id, a.account_id, a.license_arn))
    return out


def _chunks(rows: Iterator[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def link_buyers(engine: Engine, buyers: Sequence[Buyer], start: datetime) -> None:
    """What registering and linking leave in the seller's database, written in bulk: a tenant per buyer, its
    agreement (started at ``start``) and an open billing link since ``start``."""
    product_id, product_code, _ = product_dimensions()
    with engine.begin() as c:
        for chunk in _chunks(iter({"id": b.tenant_id, "name": b.tenant_id, "created_at": start} for b in buyers)):
            c.execute(insert(t.tenants), chunk)
        agreements = (
            {
                "agreement_id": b.agreement_id,
                "product_id": product_id,
                "product_code": product_code,
                "aws_account_id": b.account_id,
                "license_arn": b.license_arn,
                "offer_id": PUBLIC_OFFER,
                "proposer_account_id": SELLER,
                "free_trial": False,
                "marketplace_status": "ACTIVE",
                "accepted_at": start,
                "starts_at": start,
                "entitlements_stale": False,
                "stamps": {},
            }
            for b in buyers
        )
        for chunk in _chunks(agreements):
            c.execute(insert(t.agreements), chunk)
        links = (
            {"id": str(uuid.uuid4()), "tenant_id": b.tenant_id, "agreement_id": b.agreement_id, "starts_at": start}
            for b in buyers
        )
        for chunk in _chunks(links):
            c.execute(insert(t.billing_links), chunk)


def usage_rows(
    buyers: Sequence[Buyer], hours: Sequence[datetime], per_hour: int, rng: random.Random
) -> Iterator[dict[str, Any]]:
    """``per_hour`` usage events per buyer and hour, on random dimensions, at random minutes of the hour."""
    _, _, dims = product_dimensions()
    received = hour_of(max(hours)) + HOUR
    n = 0
    for hour in hours:
        for b in buyers:
            for _ in range(per_hour):
                n += 1
                yield {
                    "tenant_id": b.tenant_id,
                    "idempotency_key": f"u-{n}",
                    "dimension": rng.choice(dims),
                    "quantity": rng.randint(1, 9),
                    "occurred_at": hour + timedelta(seconds=rng.randint(0, 3599)),
                    "hour": hour,
                    "agreement_id": b.agreement_id,
                    "received_at": received,
                }


def store_usage(engine: Engine, rows: Iterator[dict[str, Any]]) -> dict[tuple[str, str, datetime], int]:
    """Insert usage rows in bulk; the totals per (agreement, dimension, hour)."""
    totals: dict[tuple[str, str, datetime], int] = {}
    with engine.begin() as c:
        for chunk in _chunks(rows):
            c.execute(insert(t.usage_events), chunk)
            for r in chunk:
                key = (r["agreement_id"], r["dimension"], r["hour"])
                totals[key] = totals.get(key, 0) + r["quantity"]
    return totals


def expected_records(
    buyers: Sequence[Buyer], hours: Sequence[datetime], totals: dict[tuple[str, str, datetime], int]
) -> dict[RecordKey, int]:
    """R7: every buyer gets a record per dimension for each hour, its usage summed, zero when unused."""
    _, _, dims = product_dimensions()
    return {
        (b.license_arn, d, h.isoformat()): totals.get((b.agreement_id, d, h), 0)
        for h in hours
        for b in buyers
        for d in dims
    }


@dataclass(frozen=True)
class Comparison:
    expected: int
    accepted: int
    missing: int
    unexpected: int
    wrong_quantity: int
    double_billed: int

    @property
    def exact(self) -> bool:
        return self.accepted == self.expected and not (
            self.missing or self.unexpected or self.wrong_quantity or self.double_billed
        )

    def line(self) -> str:
        return (
            f"expected {self.expected}, accepted {self.accepted}, missing {self.missing}, "
            f"unexpected {self.unexpected}, wrong quantity {self.wrong_quantity}, billed twice {self.double_billed}"
        )


def compare(expected: dict[RecordKey, int], accepted: list[dict[str, Any]]) -> Comparison:
    """The sandbox's accepted records (GET /_sandbox/metering) against the expected set. The sandbox keeps one
    record per customer, dimension and hour; a record sent with both LicenseArn and ProductCode is billed twice
    (``double_billed``), as AWS would."""
    got: dict[RecordKey, Any] = {}
    twice = 0
    for r in accepted:
        key = (r["license_arn"], r["dimension"], r["hour"])
        twice += (key in got) + bool(r.get("double_billed"))
        got[key] = r["quantity"]
    missing = sum(k not in got for k in expected)
    unexpected = sum(k not in expected for k in got)
    wrong = sum(k in got and got[k] != q for k, q in expected.items())
    return Comparison(len(expected), len(accepted), missing, unexpected, wrong, twice)


def worker_env(database_url: str, sandbox_url: str) -> dict[str, str]:
    """The environment of a seller process talking to the sandbox as the seller account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPLINK_", "AWS_"))}
    env.update(
        MPLINK_DATABASE_URL=database_url,
        MPLINK_AWS_ENDPOINT_URL=sandbox_url,
        AWS_ACCESS_KEY_ID=f"AKIA{SELLER}",
        AWS_SECRET_ACCESS_KEY="sandbox",
        AWS_DEFAULT_REGION="us-east-1",
        MPLINK_SECRET_KEY="metering-load",
    )
    return env


def start_worker(env: dict[str, str], log: Path, interval: float = 0.5) -> subprocess.Popen[bytes]:
    """`mplink worker` in a process of its own (its output appended to ``log``)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*MPLINK, "worker", "--interval", str(interval)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_sandbox(state: Path, port: int, log: Path, throttle_rps: float = 10.0) -> subprocess.Popen[bytes]:
    """`mplink sandbox` on ``state`` (agreements seeded there beforehand), serving once /_sandbox/health answers."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*MPLINK, "sandbox", "--port", str(port), "--state", str(state), "--throttle-rps", str(throttle_rps)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the sandbox did not start; see {log}") from None
            time.sleep(0.2)


def peak_rss_mb(pid: int) -> float:
    """The highest resident set size the process has had so far (Linux: VmHWM in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def seller_only_buyers(count: int) -> list[Buyer]:
    """Buyers known only to the seller's database (benches that never call the sandbox)."""
    return [
        Buyer(
            f"tenant-{i:06d}",
            f"agmt-{i:06d}",
            f"{100000000000 + i:012d}",
            f"arn:aws:license-manager::{SELLER}:license:l-{i}",
        )
        for i in range(count)
    ]
