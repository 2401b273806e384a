"""Every agreement and license change is delivered as an EventBridge event: to an HTTP endpoint with
the secret header, and to an SQS queue (moto's server here), each event with its own id."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi import FastAPI, Request, Response
from moto.server import ThreadedMotoServer

from mplink.adapters.catalog_file import load_catalog
from mplink.domain.event_parsing import parse_eventbridge
from mplink.sandbox.marketplace import SandboxSettings
from mplink.sandbox.server import build_sandbox
from tests.support.buyer import subscribe
from tests.support.pgserver import free_port
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, PUBLIC_OFFER, SELLER, RunningSandbox
from tests.support.servers import serve_app


class Receiver:
    """A seller endpoint that records what it is sent; it refuses a wrong secret like mplink does."""

    def __init__(self, secret: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.refused = 0
        self.app = FastAPI()
        self.lock = threading.Lock()

        @self.app.post("/events")
        async def receive(request: Request) -> Response:
            if request.headers.get("x-mplink-secret") != secret:
                self.refused += 1
                return Response(status_code=401)
            with self.lock:
                self.events.append(json.loads(await request.body()))
            return Response(status_code=204)


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.fixture
def moto_sqs() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_events_reach_http_endpoint_and_sqs(tmp_path: Path, moto_sqs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sqs = boto3.client("sqs", endpoint_url=moto_sqs, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="marketplace-events")["QueueUrl"]
    receiver = Receiver("s3cret")
    with serve_app(receiver.app) as seller_url:
        box = build_sandbox(
            load_catalog(),
            tmp_path / "sb.db",
            SandboxSettings(provisioning_delay=timedelta(0)),
            event_endpoint=f"{seller_url}/events",
            event_secret="s3cret",
            event_queue_url=queue_url,
        )
        try:
            with serve_app(box.app) as url:
                sb = RunningSandbox(box, url)
                public_id = subscribe(sb, DST, PUBLIC_OFFER)
                private_id = subscribe(sb, DST, PRIVATE_OFFER)  # a REPLACE of the public one
                sb.client("marketplace-agreement", DST).cancel_agreement(agreementId=private_id)
                sb.control("POST", "clock", json={"advance_seconds": 3601})  # the license is deprovisioned
                expected = {
                    "Purchase Agreement Created - Manufacturer",
                    "Purchase Agreement Created - Proposer",
                    "Purchase Agreement Ended - Manufacturer",
                    "Purchase Agreement Ended - Proposer",
                    "License Updated - Manufacturer",
                    "License Deprovisioned - Manufacturer",
                }
                wait_for(lambda: expected <= {e["detail-type"] for e in receiver.events})
                wait_for(lambda: box.dispatcher.pending() == 0)
        finally:
            box.close()
    http_events = receiver.events
    assert receiver.refused == 0
    ids = [e["id"] for e in http_events]
    assert len(ids) == len(set(ids))  # each event has its own id
    for e in http_events:
        assert e["source"] == "aws.agreement-marketplace" and e["account"] == SELLER
        assert parse_eventbridge(e) is not None  # mplink's own parser understands every one
    created = [e for e in http_events if e["detail-type"] == "Purchase Agreement Created - Manufacturer"]
    replace = next(e for e in created if e["detail"]["agreement"]["id"] == private_id)
    assert replace["detail"]["agreement"]["intent"] == "REPLACE"
    assert replace["detail"]["agreement"]["previousAgreementId"] == public_id
    assert replace["detail"]["acceptor"] == {"accountId": DST}
    assert replace["detail"]["proposer"] == {"accountId": "888888888888"}
    assert replace["detail"]["resaleAuthorization"] == {"id": "resaleauthz-cm-20260101"}
    # the reseller's offer is sent to the ISV as manufacturer only; the public offer as both roles
    assert not any(
        e["detail-type"].endswith("Proposer")
        and e["detail"]["agreement"]["id"] == private_id
        and "Created" in e["detail-type"]
        for e in http_events
    )
    ended = {
        (e["detail"]["agreement"]["id"], e["detail"]["agreement"]["status"])
        for e in http_events
        if e["detail-type"] == "Purchase Agreement Ended - Manufacturer"
    }
    assert ended == {(public_id, "REPLACED"), (private_id, "CANCELLED")}

    messages: list[dict[str, Any]] = []
    for _ in range(20):
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = got.get("Messages", [])
        if not batch:
            break
        messages += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    assert sorted(m["id"] for m in messages) == sorted(ids)


@contextmanager
def sandbox_posting_to(receiver: Receiver, tmp_path: Path, secret: str) -> Iterator[RunningSandbox]:
    """A running sandbox whose events go to ``receiver`` with ``secret`` in the header."""
    with serve_app(receiver.app) as seller_url:
        box = build_sandbox(
            load_catalog(),
            tmp_path / "sb.db",
            SandboxSettings(provisioning_delay=timedelta(0)),
            event_endpoint=f"{seller_url}/events",
            event_secret=secret,
        )
        try:
            with serve_app(box.app) as url:
                yield RunningSandbox(box, url)
        finally:
            box.close()


def test_wrong_secret_is_recorded_not_retried_forever(tmp_path: Path) -> None:
    receiver = Receiver("right")
    with sandbox_posting_to(receiver, tmp_path, "wrong") as sb:
        subscribe(sb, DST, PRIVATE_OFFER)
        wait_for(lambda: sb.box.dispatcher.pending() == 0 and receiver.refused >= 2)
        log = sb.control("GET", "events")
    assert receiver.events == []
    assert log
    for e in log:
        assert "HTTP 401" in (e["error"] or ""), e


def test_duplicate_delivery_fault(tmp_path: Path) -> None:
    receiver = Receiver("s")
    with sandbox_posting_to(receiver, tmp_path, "s") as sb:
        sb.control("POST", "faults", json={"duplicate_event_pct": 100, "shuffle_events": True, "seed": 7})
        subscribe(sb, DST, PRIVATE_OFFER)
        wait_for(lambda: len(receiver.events) >= 4 and sb.box.dispatcher.pending() == 0)
    ids = [e["id"] for e in receiver.events]
    assert len(ids) == 2 * len(set(ids))  # every event delivered twice, with the same id
