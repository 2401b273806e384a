"""The seed's procedure end to end with real servers on 127.0.0.1: the sandbox, the seller app and the
worker, driven with boto3 as the buyers and the seller's API as the SaaS."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from mplink.adapters.aws import SellerMarketplace
from mplink.domain.clock import HOUR, hour_of
from mplink.worker import Worker
from tests.support.buyer import subscribe
from tests.support.journey import link, metering_requests, token_for, usage, wait_until
from tests.support.pgserver import free_port
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, SRC
from tests.support.seller_fixtures import World, make_world

SERVICES = 7


@pytest.fixture
def sqs_queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        client = boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        yield client.create_queue(QueueName="mplink-marketplace-events")["QueueUrl"]
    finally:
        server.stop()


@pytest.fixture
def world_sqs(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, sqs_queue: str) -> Iterator[World]:
    """Events go sandbox -> SQS (moto's server) -> worker, the recommended intake."""
    yield from make_world(tmp_path, database_url, monkeypatch, queue_url=sqs_queue, http_events=False)


def test_seed_procedure_through_api_sandbox_sqs_and_worker(world_sqs: World) -> None:
    """Register, link, change the paying account, cancel the source, meter the hour: the whole journey.

    No BatchMeterUsage request carries ProductCode together with LicenseArn records: botocore's
    BatchMeterUsage documentation (member ProductCode) says LicenseArn integrations must not send
    ProductCode, and that sending both for one customer and hour is billed twice."""
    seller, sb = world_sqs.seller, world_sqs.sandbox
    worker = Worker(
        seller.store.uow, SellerMarketplace(sb.url), seller.app.state.mplink.settings.events_queue_url, replay_every=0.5
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop, 0.2), daemon=True)
    thread.start()
    try:
        # preconditions: the tenant pays from the source account through the reseller's private offer
        src_agreement = subscribe(sb, SRC, PRIVATE_OFFER)
        before = link(seller, token_for(sb, SRC, src_agreement))
        assert before["type"] == "aws_marketplace" and before["aws_account_id"] == SRC
        assert usage(seller, "on-the-source", 3, datetime.now(UTC))["unbillable"] == 0

        # step 1: subscribe from the destination account and link it (the billing-account change)
        dst_agreement = subscribe(sb, DST, PRIVATE_OFFER)
        after = link(seller, token_for(sb, DST, dst_agreement))
        assert after["type"] == "aws_marketplace" and after["aws_account_id"] == DST
        assert after["agreement_id"] == dst_agreement
        assert len(after["services"]) == SERVICES and all(s["registered"] for s in after["services"])
        assert after["pending_cancellations"] == [{"aws_account_id": SRC, "agreement_id": src_agreement}]
        assert usage(seller, "on-the-destination", 4, datetime.now(UTC))["unbillable"] == 0
        wait_until(lambda: (seller.subscription()["offer"] or {}).get("private") is True, what="offer details")
        offer = seller.subscription()["offer"]
        assert offer["name"] == "Classmethod, Inc. for SaaS 2026-01-01- Private Offer"
        assert offer["proposer_account_id"] == "888888888888"

        # step 2: cancel in the source account; the marketplace's event removes the pending step
        sb.client("marketplace-agreement", SRC).cancel_agreement(agreementId=src_agreement)
        wait_until(lambda: seller.subscription()["pending_cancellations"] == [], what="the Ended event")
        final = seller.subscription()
        assert final["type"] == "aws_marketplace" and final["aws_account_id"] == DST
        assert all(s["registered"] for s in final["services"]) and len(final["services"]) == SERVICES

        changes = seller.api("GET", "/account-changes", key=seller.operator_key).json()["items"]
        assert [(c["from_agreement_id"], c["to_agreement_id"], c["state"]) for c in changes] == [
            (src_agreement, dst_agreement, "done")
        ]
        wait_until(lambda: worker.stats.get("events_processed", 0) >= 4, what="events through SQS")

        # the hour is metered: each account billed for its own part, and never both ways at once
        hour = hour_of(datetime.now(UTC))
        metering = Worker(seller.store.uow, SellerMarketplace(sb.url), meter=True)
        metered = metering.metering_round(now=hour + HOUR + timedelta(minutes=6))
        assert metered["sent"] == metered["written"] > 0
        requests = metering_requests(sb)
        assert requests, "the worker metered through BatchMeterUsage"
        for request in requests:
            with_license = [r for r in request["UsageRecords"] if r.get("LicenseArn")]
            assert not (with_license and "ProductCode" in request), request
        billed: dict[tuple[str, str], int] = {}
        for r in sb.control("GET", "metering"):  # the journey may straddle an hour: sum over the hours
            key = (r["account_id"], r["dimension"])
            billed[key] = billed.get(key, 0) + r["quantity"]
        assert billed[(SRC, "conformity_accounts")] == 3 and billed[(DST, "conformity_accounts")] == 4
    finally:
        stop.set()
        thread.join(10)
    assert worker.stats.get("unreadable", 0) == 0


def test_api_refuses_bad_requests_and_changes_nothing(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for world in make_world(tmp_path, database_url, monkeypatch):
        seller, sb = world.seller, world.sandbox
        tid = seller.tenant_id
        assert seller.api("GET", f"/tenants/{tid}/subscription", key="mpl_nope_nope").status_code == 401
        no_auth = httpx.get(f"{seller.url}/api/v1/tenants/{tid}/subscription")
        assert no_auth.status_code == 401 and "Bearer" in no_auth.json()["message"]
        other_tenant = seller.api("GET", "/tenants/someone-else/subscription")
        assert other_tenant.status_code == 403
        assert seller.api("GET", "/tenants").status_code == 403  # operator listings need an operator key
        bad_token = seller.api("POST", f"/tenants/{tid}/link", json={"registration_token": "forged"})
        assert bad_token.status_code == 400 and bad_token.json()["error"] == "registration_token_rejected"
        extra = seller.api("POST", f"/tenants/{tid}/link", json={"registration_token": "x", "admin": True})
        assert extra.status_code == 422
        assert seller.subscription()["type"] == "none"

        agreement = subscribe(sb, DST, PRIVATE_OFFER)
        token = token_for(sb, DST, agreement)
        assert link(seller, token)["aws_account_id"] == DST
        reused = seller.api("POST", f"/tenants/{tid}/link", json={"registration_token": token})
        assert reused.status_code == 400 and "already been used" in reused.json()["message"]

        usage = {
            "events": [
                {
                    "tenant_id": tid,
                    "dimension": "conformity_accounts",
                    "quantity": 2,
                    "timestamp": "2026-11-27T09:30:00Z",
                    "idempotency_key": "u-1",
                }
            ]
        }
        first = seller.api("POST", "/usage", json=usage)  # before the link existed: kept, but unbillable (R5)
        assert first.status_code == 200 and first.json() == {"accepted": 1, "duplicates": 0, "unbillable": 1}
        assert seller.api("POST", "/usage", json=usage).json() == {"accepted": 0, "duplicates": 1, "unbillable": 0}
        time.sleep(1.1)  # whole seconds: be sure the usage is after the instant of the link
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        billable = {"events": [{**usage["events"][0], "timestamp": now, "idempotency_key": "u-3"}]}
        assert seller.api("POST", "/usage", json=billable).json() == {"accepted": 1, "duplicates": 0, "unbillable": 0}
        bad_dim = {"events": [{**usage["events"][0], "dimension": "cpu", "idempotency_key": "u-2"}]}
        refused = seller.api("POST", "/usage", json=bad_dim)
        assert refused.status_code == 400 and "unknown dimension" in refused.json()["message"]
        listing = seller.api("GET", "/agreements?limit=1", key=seller.operator_key).json()
        assert len(listing["items"]) == 1 and listing["offset"] == 0
        spec = httpx.get(f"{seller.url}/openapi.json")
        assert spec.status_code == 200 and "/api/v1/tenants/{tenant_id}/subscription" in spec.json()["paths"]
