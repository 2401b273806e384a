"""Sending metering records to the sandbox's BatchMeterUsage (its 10 requests/s quota on), through the seller's
own send path: claims in the database, the shared token bucket, the boto3 adapter.

AWS's rules the sandbox holds the sender to come from the BatchMeterUsage API reference and botocore's
meteringmarketplace model: at most 25 records a call, a result per record matched by customer, dimension and
Timestamp, UnprocessedRecords to send again, the same record again answered Success with its first id, and
CustomerIdentifier records (legacy products) sent with ProductCode."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mplink.adapters.aws import SellerMarketplace
from mplink.adapters.catalog_file import load_catalog, seed_catalog_text
from mplink.adapters.store import tables as t
from mplink.adapters.store.pacing import SqlTokenBucket
from mplink.adapters.store.uow import Store
from mplink.domain.agreement import Agreement
from mplink.domain.clock import HOUR, hour_of
from mplink.domain.usage import MeteringRecord, RecordStatus
from mplink.sandbox.catalog import read_catalog
from mplink.sandbox.server import build_sandbox
from mplink.services.metering_send import SendOptions, send_metering
from tests.support.buyer import registration
from tests.support.journey import metering_requests
from tests.support.sandbox_fixtures import (
    DST,
    PRIVATE_OFFER,
    PRODUCT_CODE,
    SELLER,
    SRC,
    RunningSandbox,
    immediate_provisioning,
)
from tests.support.servers import serve_app

#: the seed's product's dimensions
DIMENSIONS = sorted(load_catalog().products[0].dimension_keys())


@pytest.fixture(autouse=True)
def seller_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", f"AKIA{SELLER}")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "seller-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def agreement(store: Store, sb: RunningSandbox, account: str, legacy: bool = False) -> Agreement:
    """A buyer subscribes in the sandbox; the seller knows the agreement as registration leaves it."""
    agreement_id, ent = registration(sb, account, PRIVATE_OFFER)
    resolved = sb.client("meteringmarketplace", SELLER).resolve_customer(RegistrationToken=ent["registrationToken"])
    a = Agreement(
        agreement_id,
        product_code=PRODUCT_CODE,
        aws_account_id=account,
        # a legacy integration knows its buyers by CustomerIdentifier only
        license_arn=None if legacy else resolved["LicenseArn"],
        customer_identifier=resolved.get("CustomerIdentifier") or None,
    )
    with store.uow() as uow:
        uow.session.add(a)
        uow.commit()
    return a


def write(store: Store, a: Agreement, hour: datetime, quantities: dict[str, int]) -> list[MeteringRecord]:
    """Hourly records as the hour's aggregation leaves them: pending."""
    recs = [
        MeteringRecord(
            str(uuid.uuid4()),
            a.agreement_id,
            PRODUCT_CODE,
            a.aws_account_id or "",
            a.license_arn,
            a.customer_identifier,
            dim,
            hour,
            qty,
        )
        for dim, qty in quantities.items()
    ]
    with store.uow() as uow:
        for r in recs:
            uow.metering.add_record(r)
        uow.commit()
    return recs


def stored(store: Store) -> dict[str, tuple[RecordStatus, str | None]]:
    with store.uow() as uow:
        rows = uow.session.execute(
            select(t.metering_records.c.id, t.metering_records.c.status, t.metering_records.c.detail)
        )
        return {r.id: (RecordStatus(r.status), r.detail) for r in rows}


def accepted(sb: RunningSandbox) -> set[tuple[str, str, str, float]]:
    """What the sandbox bills: (account, dimension, hour, quantity)."""
    rows = sb.control("GET", "metering", params={"product_code": PRODUCT_CODE})
    return {(r["account_id"], r["dimension"], r["hour"], float(r["quantity"])) for r in rows}


def expected(records: list[MeteringRecord]) -> set[tuple[str, str, str, float]]:
    return {(r.aws_account_id, r.dimension, r.hour.isoformat(), float(r.quantity)) for r in records}


def send_until_done(store: Store, market: SellerMarketplace, now: datetime, rounds: int = 40) -> dict[str, int]:
    """Rounds as the worker runs them, the clock moving on past each retry delay."""
    totals: dict[str, int] = {}
    step = SendOptions().retry_after * 2
    for i in range(rounds):
        counts = send_metering(store.uow, market, now=now + i * step)
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
        if all(s is not RecordStatus.PENDING for s, _ in stored(store).values()):
            return totals
    raise AssertionError(f"records still pending after {rounds} rounds: {totals}")


def test_a_backlog_batch_with_two_hours_of_one_dimension_and_unprocessed_records(
    store: Store, running_sandbox: RunningSandbox
) -> None:
    """Two hours of the same dimensions in one batch, 30% of records in UnprocessedRecords: every result is
    matched to its own hour's record, unprocessed ones are sent again, and the sandbox bills exactly the set."""
    sb = running_sandbox
    a = agreement(store, sb, DST)
    start = hour_of(sb.box.market.now())
    first = write(store, a, start + HOUR, {d: 5 + i for i, d in enumerate(DIMENSIONS)})
    second = write(store, a, start + 2 * HOUR, {d: 50 + i for i, d in enumerate(DIMENSIONS)})
    now = sb.box.market.advance_clock(3 * 3600)
    sb.control("POST", "faults", json={"throttle_pct": 0, "error_pct": 0, "unprocessed_pct": 30})
    market = SellerMarketplace(sb.url, pacer=SqlTokenBucket(store.engine))

    totals = send_until_done(store, market, now)

    assert accepted(sb) == expected(first + second)
    assert totals["sent"] == 12 and totals["unprocessed"] > 0
    assert {s for s, _ in stored(store).values()} == {RecordStatus.SENT}
    first_call = metering_requests(sb)[0]["UsageRecords"]
    assert len(first_call) == 12  # one batch held both hours of every dimension
    assert all("ProductCode" not in req for req in metering_requests(sb))  # LicenseArn records: never both


@pytest.fixture
def legacy_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    data = json.loads(seed_catalog_text())
    data["products"][0]["legacy"] = True
    box = build_sandbox(read_catalog(json.dumps(data)), tmp_path / "sb.db", immediate_provisioning())
    try:
        with serve_app(box.app) as url:
            yield RunningSandbox(box, url)
    finally:
        box.close()


def test_a_legacy_products_records_are_sent_by_customer_identifier_and_matched(
    store: Store, legacy_sandbox: RunningSandbox
) -> None:
    """API ref BatchMeterUsage: CustomerIdentifier records go with ProductCode; their results name the
    CustomerIdentifier, and the seller matches them by it, with the dimension and the hour."""
    sb = legacy_sandbox
    a = agreement(store, sb, DST, legacy=True)
    assert a.license_arn is None and a.customer_identifier
    start = hour_of(sb.box.market.now())
    recs = write(store, a, start + HOUR, {"conformity_accounts": 4}) + write(
        store, a, start + 2 * HOUR, {"conformity_accounts": 9}
    )
    now = sb.box.market.advance_clock(3 * 3600)
    send_until_done(store, SellerMarketplace(sb.url, pacer=SqlTokenBucket(store.engine)), now)

    assert accepted(sb) == expected(recs)
    ends = stored(store)
    assert {s for s, _ in ends.values()} == {RecordStatus.SENT} and all(d for _, d in ends.values())
    (request,) = metering_requests(sb)
    assert request["ProductCode"] == PRODUCT_CODE
    assert {r["CustomerIdentifier"] for r in request["UsageRecords"]} == {a.customer_identifier}


def test_a_record_aws_refuses_is_isolated_and_the_rest_is_billed(store: Store, running_sandbox: RunningSandbox) -> None:
    """API ref BatchMeterUsage: InvalidLicenseException refuses the whole call. The batch is split until the
    record with the unknown LicenseArn is alone; it goes to operators as rejected, the others are billed."""
    sb = running_sandbox
    good = agreement(store, sb, DST)
    bad = agreement(store, sb, SRC)
    with store.uow() as uow:
        uow.session.execute(
            t.agreements.update()
            .where(t.agreements.c.agreement_id == bad.agreement_id)
            .values(license_arn="arn:aws:license-manager::999999999999:license:l-unknown")
        )
        uow.commit()
    bad.license_arn = "arn:aws:license-manager::999999999999:license:l-unknown"
    start = hour_of(sb.box.market.now())
    billed = write(store, good, start + HOUR, {d: 1 for d in DIMENSIONS})
    (refused,) = write(store, bad, start + HOUR, {"conformity_accounts": 2})
    now = sb.box.market.advance_clock(2 * 3600)
    send_until_done(store, SellerMarketplace(sb.url, pacer=SqlTokenBucket(store.engine)), now)

    assert accepted(sb) == expected(billed)
    status, detail = stored(store)[refused.id]
    assert status is RecordStatus.REJECTED and (detail or "").startswith("InvalidLicenseException")


def test_two_workers_never_send_the_same_record_twice(store: Store, running_sandbox: RunningSandbox) -> None:
    """Workers claim pages of pending records (FOR UPDATE SKIP LOCKED on PostgreSQL, a lease each): with two
    sending at once, every record goes out in exactly one BatchMeterUsage call."""
    sb = running_sandbox
    start = hour_of(sb.box.market.now())
    records: list[MeteringRecord] = []
    for account in (DST, SRC):
        a = agreement(store, sb, account)
        for h in (1, 2, 3, 4, 5):
            records += write(store, a, start + h * HOUR, {d: h + i for i, d in enumerate(DIMENSIONS)})
    now = sb.box.market.advance_clock(6 * 3600)
    market = SellerMarketplace(sb.url, pacer=SqlTokenBucket(store.engine))
    small_pages = SendOptions(page_size=25)
    results: list[dict[str, int]] = []

    def work(name: str) -> None:
        results.append(send_metering(store.uow, market, now=now, worker_id=name, options=small_pages))

    workers = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    sent: list[tuple[Any, ...]] = [
        (r.get("LicenseArn"), r["Dimension"], r["Timestamp"])
        for req in metering_requests(sb)
        for r in req["UsageRecords"]
    ]
    assert len(sent) == len(records) == 60 and len(set(sent)) == len(sent)
    assert sum(r["sent"] for r in results) == 60
    assert accepted(sb) == expected(records)
