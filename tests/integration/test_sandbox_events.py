"""Every agreement and license change is delivered as an EventBridge event: to an HTTP endpoint with
the secret header, and to an SQS queue (moto's server here), each event with its own id. Who gets which
role follows AWS's SaaS EventBridge page (saas-eventbridge-integration): "only the proposer purchase
agreement event is sent when you are both" manufacturer and proposer."""

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
import httpx
import pytest
from fastapi import FastAPI, Request, Response
from moto.server import ThreadedMotoServer

from mplink.adapters.catalog_file import seed_catalog_text
from mplink.domain.event_parsing import parse_eventbridge
from mplink.sandbox.catalog import read_catalog
from mplink.sandbox.marketplace import SandboxSettings
from mplink.sandbox.server import build_sandbox
from mplink.sandbox.sns import entitlement_topic_arn, topic_arn
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


def test_events_reach_http_endpoint_and_sqs(
    running_sandbox: RunningSandbox, moto_sqs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sqs = boto3.client("sqs", endpoint_url=moto_sqs, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="marketplace-events")["QueueUrl"]
    receiver = Receiver("s3cret")
    sb = running_sandbox
    with serve_app(receiver.app) as seller_url:
        sb.send_events_to(f"{seller_url}/events", "s3cret", queue_url)
        public_id = subscribe(sb, DST, PUBLIC_OFFER)
        private_id = subscribe(sb, DST, PRIVATE_OFFER)  # a REPLACE of the public one
        sb.client("marketplace-agreement", DST).cancel_agreement(agreementId=private_id)
        sb.control("POST", "clock", json={"advance_seconds": 3601})  # the license is deprovisioned
        # the ISV proposed the public offer (Proposer events only); a reseller the private one (Manufacturer)
        expected = {
            "Purchase Agreement Created - Manufacturer",
            "Purchase Agreement Created - Proposer",
            "Purchase Agreement Ended - Manufacturer",
            "Purchase Agreement Ended - Proposer",
            "License Updated - Manufacturer",
            "License Deprovisioned - Manufacturer",
        }
        wait_for(lambda: expected <= {e["detail-type"] for e in receiver.events})
        wait_for(lambda: sb.box.dispatcher.pending() == 0)
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
    # AWS shows previousAgreementId on a RENEW only: the chain comes from DescribeAgreement
    assert "previousAgreementId" not in replace["detail"]["agreement"]
    seller_agreements = sb.client("marketplace-agreement", SELLER)
    assert seller_agreements.describe_agreement(agreementId=private_id)["initialAgreementId"] == public_id
    assert replace["detail"]["acceptor"] == {"accountId": DST}
    assert replace["detail"]["proposer"] == {"accountId": "888888888888"}
    assert replace["detail"]["resaleAuthorization"] == {"id": "resaleauthz-cm-20260101"}
    # one role per agreement: the reseller's offer (CPPO) as manufacturer, the ISV's own offer as proposer
    roles = {
        (e["detail"]["agreement"]["id"], e["detail-type"].rpartition(" - ")[2])
        for e in http_events
        if e["detail-type"].startswith("Purchase Agreement")
    }
    assert roles == {(private_id, "Manufacturer"), (public_id, "Proposer")}
    ended = {
        (e["detail"]["agreement"]["id"], e["detail"]["agreement"]["status"])
        for e in http_events
        if e["detail-type"].startswith("Purchase Agreement Ended")
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
def sandbox_posting_to(receiver: Receiver, sb: RunningSandbox, secret: str) -> Iterator[RunningSandbox]:
    """The running sandbox, its events going to ``receiver`` with ``secret`` in the header."""
    with serve_app(receiver.app) as seller_url:
        sb.send_events_to(f"{seller_url}/events", secret, None)
        yield sb


def test_wrong_secret_is_recorded_not_retried_forever(running_sandbox: RunningSandbox) -> None:
    receiver = Receiver("right")
    with sandbox_posting_to(receiver, running_sandbox, "wrong") as sb:
        subscribe(sb, DST, PRIVATE_OFFER)
        wait_for(lambda: sb.box.dispatcher.pending() == 0 and receiver.refused >= 2)
        log = sb.control("GET", "events")
    assert receiver.events == []
    assert log
    for e in log:
        assert "HTTP 401" in (e["error"] or ""), e


def test_duplicate_delivery_fault(running_sandbox: RunningSandbox) -> None:
    receiver = Receiver("s")
    with sandbox_posting_to(receiver, running_sandbox, "s") as sb:
        sb.control("POST", "faults", json={"duplicate_event_pct": 100, "shuffle_events": True, "seed": 7})
        subscribe(sb, DST, PRIVATE_OFFER)
        wait_for(lambda: len(receiver.events) >= 4 and sb.box.dispatcher.pending() == 0)
    ids = [e["id"] for e in receiver.events]
    assert len(ids) == 2 * len(set(ids))  # every event delivered twice, with the same id


# -- legacy SNS: the subscription handshake -----------------------------------------------------------------
class SnsEndpoint:
    """A seller's SNS endpoint that confirms only the topics it wants (by GETting the SubscribeURL) and records
    what arrives, in order."""

    def __init__(self, wanted: set[str]) -> None:
        self.received: list[tuple[str, str]] = []  # (Type, TopicArn)
        self.app = FastAPI()

        @self.app.post("/sns")
        async def receive(request: Request) -> Response:
            body = json.loads(await request.body())
            self.received.append((body["Type"], body["TopicArn"]))
            if body["Type"] == "SubscriptionConfirmation":
                if body["TopicArn"] not in wanted:
                    return Response(status_code=403)
                async with httpx.AsyncClient() as client:
                    confirmed = await client.get(body["SubscribeURL"])
                assert confirmed.status_code == 200 and "<SubscriptionArn>" in confirmed.text
            return Response(status_code=200)


def test_sns_delivers_only_to_topics_the_endpoint_confirmed(tmp_path: Path) -> None:
    """As SNS does (developer guide, "HTTP/S subscription confirmation"): each topic's subscription starts with a
    SubscriptionConfirmation, and nothing is delivered before its SubscribeURL is visited. Here the endpoint
    confirms the subscription topic and refuses the entitlement topic."""
    data = json.loads(seed_catalog_text())
    data["products"][0]["legacy"] = True
    code = data["products"][0]["product_code"]
    endpoint = SnsEndpoint({topic_arn(code)})
    with serve_app(endpoint.app) as seller_url:
        box = build_sandbox(
            read_catalog(json.dumps(data)),
            tmp_path / "sandbox.db",
            SandboxSettings(provisioning_delay=timedelta(0)),
            sns_endpoint=f"{seller_url}/sns",
        )
        try:
            with serve_app(box.app) as sandbox_url:
                box.set_public_url(sandbox_url)
                sb = RunningSandbox(box, sandbox_url)
                # both topics answered: one confirmed, one refused
                wait_for(lambda: all(x["last_answer"] for x in sb.control("GET", "sns/subscriptions")))
                subscribe(sb, DST, PRIVATE_OFFER)  # subscribe-success, and entitlement-updated when provisioned
                assert box.sns is not None
                wait_for(lambda: box.sns is not None and box.sns.pending() == 0)
                subscriptions = {s["topic_arn"]: s for s in sb.control("GET", "sns/subscriptions")}
                log = sb.control("GET", "sns/log")
                wrong = {"Action": "ConfirmSubscription", "TopicArn": entitlement_topic_arn(code), "Token": "guess"}
                refused_get = httpx.get(f"{sandbox_url}/_sandbox/sns/", params=wrong)
        finally:
            box.close()
    assert subscriptions[topic_arn(code)]["status"] == "Confirmed"
    refused = subscriptions[entitlement_topic_arn(code)]
    assert (refused["status"], refused["last_answer"]) == ("PendingConfirmation", 403)
    # the confirmations came first (the sandbox subscribes the endpoint at start); then only the confirmed
    # topic got its notification
    assert endpoint.received[:2] == [
        ("SubscriptionConfirmation", topic_arn(code)),
        ("SubscriptionConfirmation", entitlement_topic_arn(code)),
    ]
    assert endpoint.received[2:] == [("Notification", topic_arn(code))]
    by_topic = {e["envelope"]["TopicArn"]: e for e in log}
    assert by_topic[topic_arn(code)]["status"] == 200
    assert by_topic[entitlement_topic_arn(code)]["status"] is None
    assert "PendingConfirmation" in by_topic[entitlement_topic_arn(code)]["error"]
    # a SubscribeURL works only with the topic's token: SNS's XML error otherwise
    assert refused_get.status_code == 400 and "<Code>InvalidParameter</Code>" in refused_get.text


def test_a_subscribe_url_needs_the_topics_token(running_sandbox: RunningSandbox) -> None:
    """The sandbox without SNS answers SNS's XML error; a wrong action or token is a 4xx, never a 5xx."""
    r = httpx.get(f"{running_sandbox.url}/_sandbox/sns/", params={"Action": "ConfirmSubscription", "Token": "x"})
    assert r.status_code == 404 and "<Code>NotFound</Code>" in r.text
