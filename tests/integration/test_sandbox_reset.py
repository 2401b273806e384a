"""`POST /_sandbox/reset` puts back everything a test can change, so one sandbox can serve a whole test
session: agreements, requests and tokens, metering, the clock, faults, the call log, the emitted events and
their deliveries (also those still being retried), where events go, the settings, and the SNS log."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from mplink.adapters.catalog_file import seed_catalog_text
from mplink.sandbox.catalog import read_catalog
from mplink.sandbox.marketplace import Faults, SandboxSettings
from mplink.sandbox.server import build_sandbox
from tests.support.buyer import subscribe
from tests.support.pgserver import free_port
from tests.support.sandbox_fixtures import (
    DST,
    PRIVATE_OFFER,
    PRODUCT_CODE,
    PUBLIC_OFFER,
    SELLER,
    SRC,
    RunningSandbox,
    immediate_provisioning,
)
from tests.support.servers import serve_app


class Receiver:
    """An event endpoint that records what it is sent."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/events")
        async def receive(request: Request) -> Response:
            with self.lock:
                self.events.append(json.loads(await request.body()))
            return Response(status_code=204)


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def fresh_view(sb: RunningSandbox) -> dict[str, Any]:
    """What the control API shows of a sandbox that has just started."""
    return {
        "agreements": sb.control("GET", "agreements"),
        "metering": sb.control("GET", "metering"),
        "clock_offset": sb.control("GET", "clock")["offset_seconds"],
        "faults": sb.control("GET", "faults"),
        "calls": sb.control("GET", "calls"),
        "events": sb.control("GET", "events"),
        "fulfillment_urls": [p["fulfillment_url"] for p in sb.control("GET", "catalog")["products"]],
    }


def test_reset_restores_everything_a_test_can_change(running_sandbox: RunningSandbox) -> None:
    sb = running_sandbox
    start = fresh_view(sb)
    assert start["agreements"] == [] and start["calls"] == [] and start["events"] == [] and start["metering"] == []
    assert start["clock_offset"] == 0 and start["faults"] == dataclasses.asdict(Faults())

    # a test that does a bit of everything
    agreement_id = subscribe(sb, SRC, PUBLIC_OFFER)
    market = sb.box.market
    token = market.agreement.issue_token(market.agreements[agreement_id], "console").token
    seller = sb.client("meteringmarketplace", SELLER)
    license_arn = seller.resolve_customer(RegistrationToken=token)["LicenseArn"]
    sb.control("POST", "clock", json={"advance_seconds": 7200})
    usage = {
        "Timestamp": market.now() - timedelta(minutes=30),
        "Dimension": "conformity_accounts",
        "Quantity": 1,
        "CustomerAWSAccountId": SRC,
        "LicenseArn": license_arn,
    }
    metered = seller.batch_meter_usage(ProductCode=PRODUCT_CODE, UsageRecords=[usage])
    assert metered["Results"][0]["Status"] == "Success", metered
    sb.control("POST", f"agreements/{agreement_id}/cancellable", json={"cancellable": False})
    sb.control("POST", "faults", json={"throttle_pct": 1, "duplicate_event_pct": 50, "seed": 3})
    sb.send_events_to("http://127.0.0.1:9/events", "secret", None)
    market.settings.fulfillment_url = "http://127.0.0.1:9/register"
    changed = fresh_view(sb)
    for key in ("agreements", "metering", "clock_offset", "faults", "calls", "events", "fulfillment_urls"):
        assert changed[key] != start[key], key

    assert sb.control("POST", "reset") == {"status": "reset"}

    assert fresh_view(sb) == start
    assert market.tokens == {} and market.requests == {}
    with pytest.raises(seller.exceptions.InvalidTokenException):
        seller.resolve_customer(RegistrationToken=token)
    assert market.settings == immediate_provisioning()
    assert (sb.box.dispatcher.endpoint, sb.box.dispatcher.secret, sb.box.dispatcher.queue_url) == (None, None, None)


def test_reset_forgets_deliveries_still_being_retried(running_sandbox: RunningSandbox) -> None:
    """An event whose endpoint refuses connections is retried for many seconds; after a reset nothing is pending
    and the next test's events go where that test says, not to the old endpoint."""
    sb = running_sandbox
    dead = f"http://127.0.0.1:{free_port()}/events"
    sb.send_events_to(dead, "s", None)
    subscribe(sb, DST, PRIVATE_OFFER)
    wait_for(lambda: any(e["attempts"] >= 2 for e in sb.control("GET", "events")), "a retried delivery")
    assert sb.box.dispatcher.pending() > 0

    sb.control("POST", "reset")
    wait_for(lambda: sb.box.dispatcher.pending() == 0, "the retries to stop")
    assert sb.control("GET", "events") == []

    receiver = Receiver()
    with serve_app(receiver.app) as url:
        sb.send_events_to(f"{url}/events", "s", None)
        agreement_id = subscribe(sb, DST, PRIVATE_OFFER)
        wait_for(lambda: len(receiver.events) >= 2 and sb.box.dispatcher.pending() == 0, "the new events")
        sb.control("POST", "reset")
        subscribe(sb, DST, PRIVATE_OFFER)  # after the reset, events go nowhere again
        wait_for(lambda: sb.box.dispatcher.pending() == 0, "the events after the reset")
    assert {e["detail"]["agreement"]["id"] for e in receiver.events if "agreement" in e["detail"]} == {agreement_id}
    assert all(e["delivered_to"] == [] for e in sb.control("GET", "events"))


@pytest.fixture
def legacy_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    """A sandbox whose product is a legacy one, telling the seller over SNS (to an endpoint that refuses)."""
    data = json.loads(seed_catalog_text())
    data["products"][0]["legacy"] = True
    box = build_sandbox(
        read_catalog(json.dumps(data)),
        tmp_path / "sb.db",
        SandboxSettings(provisioning_delay=timedelta(0)),
        sns_endpoint=f"http://127.0.0.1:{free_port()}/events/sns",
    )
    try:
        with serve_app(box.app) as url:
            box.set_public_url(url)
            yield RunningSandbox(box, url)
    finally:
        box.close()


def test_reset_empties_the_sns_log(legacy_sandbox: RunningSandbox) -> None:
    sb = legacy_sandbox
    subscribe(sb, DST, PRIVATE_OFFER)
    assert sb.control("GET", "sns/log") != []
    sb.control("POST", "reset")
    assert sb.control("GET", "sns/log") == []
    assert sb.box.sns is not None
    wait_for(lambda: sb.box.sns is not None and sb.box.sns.pending() == 0, "the SNS retries to stop")
