"""Event intake at the seller: at-least-once, shuffled delivery converges (R8); forged or misaddressed
events are refused with 4xx and change nothing; the wrong runbook order expires the tenant and linking
the destination afterwards restores it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response

from mplink.adapters.store import tables as t
from mplink.sandbox.sns import (
    SnsSigner,
    delivery_headers,
    marketplace_message,
    notification,
    subscription_confirmation,
    topic_arn,
)
from tests.support.buyer import subscribe
from tests.support.documented_events import load
from tests.support.journey import link, token_for, wait_until
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, PRODUCT_CODE, SRC
from tests.support.seller_fixtures import SECRET, Seller, World, make_world
from tests.support.servers import serve_app


def inbox_count(seller: Seller) -> int:
    with seller.store.uow() as uow:
        return len(uow.session.execute(t.inbox_events.select()).all())


def test_duplicated_shuffled_delivery_converges(world: World) -> None:
    seller, sb = world.seller, world.sandbox
    sb.control("POST", "faults", json={"duplicate_event_pct": 100, "shuffle_events": True, "seed": 3})
    src = subscribe(sb, SRC, PRIVATE_OFFER)
    link(seller, token_for(sb, SRC, src))
    dst = subscribe(sb, DST, PRIVATE_OFFER)
    link(seller, token_for(sb, DST, dst))
    sb.client("marketplace-agreement", SRC).cancel_agreement(agreementId=src)
    wait_until(lambda: sb.box.dispatcher.pending() == 0, what="deliveries")
    wait_until(lambda: seller.subscription()["pending_cancellations"] == [], what="the Ended event")
    final = seller.subscription()
    assert final["aws_account_id"] == DST and final["type"] == "aws_marketplace"
    assert all(s["registered"] for s in final["services"])
    delivered = [e for e in sb.control("GET", "events") if "http" in e["delivered_to"]]
    with seller.store.uow() as uow:
        statuses = [r.status for r in uow.session.execute(t.inbox_events.select())]
    # every event was sent twice, and stored once
    assert len(statuses) == len({e["event"]["id"] for e in delivered}) and set(statuses) <= {"processed", "ignored"}
    # and delivering the whole log again, in reverse, changes nothing
    before = seller.subscription()
    for entry in reversed(sb.control("GET", "events")):
        r = httpx.post(f"{seller.url}/events/eventbridge", json=entry["event"], headers={"X-Mplink-Secret": SECRET})
        assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert seller.subscription() == before


def test_wrong_secret_and_malformed_events_are_refused(world: World) -> None:
    seller = world.seller
    event = {
        "version": "0",
        "id": "evt-1",
        "detail-type": "Purchase Agreement Created - Manufacturer",
        "source": "aws.agreement-marketplace",
        "time": "2026-11-27T09:00:00Z",
        "detail": {},
    }
    for headers in ({}, {"X-Mplink-Secret": "wrong"}):
        r = httpx.post(f"{seller.url}/events/eventbridge", json=event, headers=headers)
        assert r.status_code == 401
    r = httpx.post(f"{seller.url}/events/eventbridge", content=b"{not json", headers={"X-Mplink-Secret": SECRET})
    assert r.status_code == 400
    r = httpx.post(f"{seller.url}/events/eventbridge", json={"detail-type": "x"}, headers={"X-Mplink-Secret": SECRET})
    assert r.status_code == 400 and "id" in r.json()["message"]
    assert inbox_count(seller) == 0


#: the tokens of the SubscribeURLs the seller fetched from ``sns_world``'s SNS
CONFIRMED: list[str] = []


@pytest.fixture
def sns_world(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, SnsSigner]]:
    """A seller that trusts a local SNS signing certificate, served over HTTP like SNS serves its own."""
    holder: dict[str, SnsSigner] = {}
    cert_app = FastAPI()

    @cert_app.get("/sns/cert.pem")
    def cert() -> Response:
        return Response(holder["signer"].cert_pem(), media_type="application/x-pem-file")

    @cert_app.get("/sns/")
    def subscribe_url(Token: str) -> Response:
        CONFIRMED.append(Token)
        return Response("<ConfirmSubscriptionResponse/>", media_type="text/xml")

    CONFIRMED.clear()
    with serve_app(cert_app) as cert_url:
        holder["signer"] = SnsSigner(f"{cert_url}/sns/cert.pem")
        monkeypatch.setenv("MPLINK_SNS_TRUSTED_CERT_PREFIXES", f"{cert_url}/sns/")
        for world in make_world(tmp_path, database_url, monkeypatch):
            state = world.seller.app.state.mplink
            state.settings = type(state.settings)(
                **{**state.settings.__dict__, "sns_trusted_cert_prefixes": (f"{cert_url}/sns/",)}
            )
            yield world, holder["signer"]


def _post_sns(seller: Seller, envelope: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{seller.url}/events/sns", content=json.dumps(envelope), headers=delivery_headers(envelope))


def test_sns_signatures_and_topics(sns_world: tuple[World, SnsSigner]) -> None:
    world, signer = sns_world
    seller = world.seller
    body = marketplace_message("unsubscribe-success", "cust-1", PRODUCT_CODE, offer_identifier=PRIVATE_OFFER)
    good = signer.sign(
        notification(
            topic_arn(PRODUCT_CODE),
            body,
            timestamp=datetime.now(UTC),
            unsubscribe_url="https://example.invalid/unsubscribe",
        )
    )
    forged = dict(good, Message=json.dumps({**json.loads(good["Message"]), "customer-identifier": "cust-2"}))
    assert _post_sns(seller, forged).status_code == 403
    other_topic = signer.sign(
        notification(
            "arn:aws:sns:us-east-1:123456789012:not-marketplace",
            body,
            timestamp=datetime.now(UTC),
            unsubscribe_url="https://x.invalid/u",
        )
    )
    refused = _post_sns(seller, other_topic)
    assert refused.status_code == 403 and "topic" in refused.json()["message"].lower()
    assert inbox_count(seller) == 0
    accepted = _post_sns(seller, good)
    assert accepted.status_code == 200 and accepted.json()["status"] == "processed", accepted.text
    assert _post_sns(seller, good).json()["status"] == "duplicate"
    assert inbox_count(seller) == 1


def test_sns_subscription_confirmations_are_answered_only_for_expected_topics(
    sns_world: tuple[World, SnsSigner],
) -> None:
    """The seller confirms a subscription by fetching its SubscribeURL (SNS developer guide, "Confirm the
    subscription"), only once the signature verifies and only for a Marketplace topic; AWS's own example
    (us-west-2 "MyTopic", a fake signature) is refused before anything is fetched."""
    world, signer = sns_world
    seller = world.seller
    prefix = signer.cert_url.rsplit("/", 1)[0] + "/"

    def confirmation(topic: str, token: str) -> dict[str, Any]:
        url = f"{prefix}?Action=ConfirmSubscription&TopicArn={topic}&Token={token}"
        return signer.sign(subscription_confirmation(topic, url, token, datetime.now(UTC)))

    other = _post_sns(seller, confirmation("arn:aws:sns:us-east-1:123456789012:not-marketplace", "tok-other"))
    assert other.status_code == 403 and "topic" in other.json()["message"]
    documented = load("sns-subscription-confirmation.json")
    assert _post_sns(seller, documented).status_code == 403
    assert CONFIRMED == []
    ok = _post_sns(seller, confirmation(topic_arn(PRODUCT_CODE), "tok-1"))
    assert ok.status_code == 200 and ok.json()["status"] == "subscription confirmed"
    assert CONFIRMED == ["tok-1"] and inbox_count(seller) == 0


def test_wrong_order_expires_then_linking_restores(world: World) -> None:
    seller, sb = world.seller, world.sandbox
    src = subscribe(sb, SRC, PRIVATE_OFFER)
    link(seller, token_for(sb, SRC, src))
    sb.client("marketplace-agreement", SRC).cancel_agreement(agreementId=src)  # step 2 done first
    wait_until(lambda: seller.subscription()["type"] == "expired", what="the tenant to expire")
    expired = seller.subscription()
    assert not any(s["registered"] for s in expired["services"]) and len(expired["services"]) == 7
    dst = subscribe(sb, DST, PRIVATE_OFFER)
    restored = link(seller, token_for(sb, DST, dst))
    assert restored["type"] == "aws_marketplace" and restored["aws_account_id"] == DST
    assert all(s["registered"] for s in restored["services"]) and restored["pending_cancellations"] == []
    time.sleep(0.2)
    with seller.store.uow() as uow:  # nothing was deleted: both agreements and both links are kept
        assert len(uow.session.execute(t.billing_links.select()).all()) == 2
        assert len(uow.session.execute(t.agreements.select()).all()) == 2


def test_legacy_product_lifecycle_arrives_over_signed_sns(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A legacy product, EventBridge off: the sandbox signs SNS messages with its certificate, the seller
    trusts it by prefix, verifies each one, and the unsubscribe ends the agreement by CustomerIdentifier."""
    from mplink.adapters.catalog_file import seed_catalog_text

    data = json.loads(seed_catalog_text())
    data["products"][0]["legacy"] = True
    text = json.dumps(data)
    for world in make_world(tmp_path, database_url, monkeypatch, http_events=False, catalog_text=text, sns=True):
        seller, sb = world.seller, world.sandbox
        # the sandbox subscribed the seller to both topics of the product; the seller confirmed each
        wait_until(
            lambda b=sb: {s["status"] for s in b.control("GET", "sns/subscriptions")} == {"Confirmed"},
            what="the SNS subscriptions to be confirmed",
        )
        assert len(sb.control("GET", "sns/subscriptions")) == 2
        agreement = subscribe(sb, DST, PRIVATE_OFFER)
        linked = link(seller, token_for(sb, DST, agreement))
        assert linked["type"] == "aws_marketplace"
        sb.client("marketplace-agreement", DST).cancel_agreement(agreementId=agreement)
        sb.control("POST", "clock", json={"advance_seconds": 3601})  # the final window passes
        wait_until(lambda s=seller: s.subscription()["type"] == "expired", what="unsubscribe-success over SNS")
        # the seller has processed the last message; the sandbox records its answer right after
        wait_until(lambda b=sb: b.box.sns is not None and b.box.sns.pending() == 0, what="the SNS log to settle")
        log = sb.control("GET", "sns/log")
        actions = [json.loads(e["envelope"]["Message"])["action"] for e in log]
        assert {"subscribe-success", "unsubscribe-pending", "unsubscribe-success"} <= set(actions)
        assert all(e["status"] == 200 for e in log), log
        assert all(e["delivered_to"] == [] for e in sb.control("GET", "events"))  # EventBridge delivered nothing
