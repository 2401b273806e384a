"""Ending the old subscription from the seller's side (issue 11, item 2): the source agreement is on a contract
offer its buyer cannot cancel (CancelAgreement is refused), so the seller sends AWS's agreement cancellation request
(SendAgreementCancellationRequest) and the source account accepts it (AcceptAgreementCancellationRequest). Asked by
an operator through the API and by a tenant admin on the change page; the seller follows the request's events
(seller guide, "Events for cancellations") until the agreement's end makes the change done. Over HTTP against the
sandbox, on SQLite and PostgreSQL; the sandbox's call log shows one request sent and one accepted.

AWS sources: botocore's marketplace-agreement model (2020-03-01), SendAgreementCancellationRequest with
``reasonCode`` REPLACING_AGREEMENT (one of its enum values) and AcceptAgreementCancellationRequest; the developer
guide's "Using the AWS Marketplace Agreement API" (agreement-apis.html); the seller guide's "Events for
cancellations" (notifications-eventbridge.html), whose examples are in tests/fixtures/aws/events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import httpx
import pytest
from fastapi.testclient import TestClient

from mplink.adapters.catalog_file import parse_catalog
from mplink.adapters.store.uow import Store
from mplink.cli import main
from mplink.services.auth import create_api_key
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.tenants import create_tenant
from tests.support.html import html
from tests.support.sandbox_fixtures import CONTRACT_OFFER, DST, SRC, RunningSandbox, contract_catalog_text
from tests.support.web import ADMIN, PASSWORD, csrf_of, deliver_events, seller_api


@dataclass
class World:
    client: TestClient
    sandbox: RunningSandbox
    tenant_id: str
    tenant_key: str
    operator_key: str
    store: Store

    def call(self, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return self.client.request(method, f"/api/v1/tenants/{self.tenant_id}{path}", headers=headers, **kwargs)

    def change(self) -> dict[str, Any]:
        r = self.call("GET", "/account-change", self.tenant_key)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def link(self, account: str) -> str:
        """Subscribe to the contract offer in the sandbox and link with the registration token."""
        market = self.sandbox.box.market
        agreement = market.agreement.subscribe(account, CONTRACT_OFFER)
        token = market.agreement.issue_token(agreement, "console").token
        r = self.call("POST", "/link", self.tenant_key, json={"registration_token": token})
        assert r.status_code == 200, r.text
        return agreement.agreement_id

    def deliver_events(self) -> int:
        return deliver_events(self.client, self.sandbox)

    def buyer(self, account: str) -> Any:
        return self.sandbox.client("marketplace-agreement", account)

    def calls(self, operation: str) -> list[tuple[str, str]]:
        return [
            (c["account_id"], c["outcome"])
            for c in self.sandbox.control("GET", "calls", params={"operation": operation})
        ]

    def verified_change(self) -> str:
        """The tenant pays from SRC, then moves to DST: verified. The source agreement's id."""
        source = self.link(SRC)
        r = self.call("POST", "/account-change", self.tenant_key, json={"destination_aws_account_id": DST})
        assert r.status_code == 201, r.text
        self.link(DST)
        assert self.change()["state"] == "verified"
        return source

    def buyer_cannot_cancel(self, source: str) -> None:
        """AWS refuses the buyer's CancelAgreement for the contract's agreement."""
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            self.buyer(SRC).cancel_agreement(agreementId=source)
        assert refused.value.response["Error"]["Code"] == "ValidationException"


@pytest.fixture
def world(store: Store, running_contract_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    store_catalog(store.uow(), parse_catalog(contract_catalog_text()))
    with seller_api(store, running_contract_sandbox.url, monkeypatch) as (client, tenant_id, tenant_key, operator_key):
        yield World(client, running_contract_sandbox, tenant_id, tenant_key, operator_key, store)


def accept_and_finish(w: World, source: str) -> None:
    """The source account accepts the request it was sent; AWS's events reach the seller: the change is done."""
    waiting = w.buyer(SRC).list_agreement_cancellation_requests(partyType="Acceptor", status="PENDING_APPROVAL")
    assert [i["agreementId"] for i in waiting["items"]] == [source]
    request_id = waiting["items"][0]["agreementCancellationRequestId"]
    w.buyer(SRC).accept_agreement_cancellation_request(agreementId=source, agreementCancellationRequestId=request_id)
    w.deliver_events()
    done = w.change()
    assert done["state"] == "done" and done["cancellation_request"] == {"id": request_id, "status": "APPROVED"}
    assert [s["done"] for s in done["steps"]] == [True, True, True]
    sub = w.call("GET", "/subscription", w.tenant_key).json()
    assert sub["aws_account_id"] == DST and sub["pending_cancellations"] == []
    assert w.calls("SendAgreementCancellationRequest") == [("999999999999", "ok")]
    assert w.calls("CancelAgreement") == [(SRC, "ValidationException")]  # the buyer's attempt, refused
    assert w.calls("AcceptAgreementCancellationRequest") == [(SRC, "ok")]


def test_an_operator_asks_through_the_api_and_the_change_completes(world: World) -> None:
    w = world
    r = w.call("POST", "/account-change/cancellation-request", w.operator_key)
    assert r.status_code == 404 and r.json()["error"] == "not_found"  # no change to end a source for
    source = w.link(SRC)
    w.call("POST", "/account-change", w.tenant_key, json={"destination_aws_account_id": DST})
    r = w.call("POST", "/account-change/cancellation-request", w.operator_key)
    assert r.status_code == 409 and r.json()["error"] == "conflict"  # started, not verified
    w.link(DST)
    assert w.change()["state"] == "verified"
    w.buyer_cannot_cancel(source)

    other = create_tenant(w.store.uow(), "Other Corp", "other@example.com", PASSWORD)
    other_key, _ = create_api_key(w.store.uow(), other, "other")
    r = w.call("POST", "/account-change/cancellation-request", other_key)
    assert r.status_code == 403  # another tenant's key
    asked = w.call("POST", "/account-change/cancellation-request", w.operator_key)
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["state"] == "source_cancel_pending" and body["cancellation_request"]["status"] == "PENDING_APPROVAL"
    again = w.call("POST", "/account-change/cancellation-request", w.operator_key)
    assert again.status_code == 200 and again.json()["cancellation_request"] == body["cancellation_request"]
    w.deliver_events()  # Pending Approval: nothing changes
    assert w.change()["cancellation_request"] == body["cancellation_request"]
    accept_and_finish(w, source)


def test_a_rejection_is_followed_and_the_change_stays_verified(world: World) -> None:
    w = world
    source = w.verified_change()
    w.buyer_cannot_cancel(source)
    body = w.call("POST", "/account-change/cancellation-request", w.operator_key).json()
    request_id = body["cancellation_request"]["id"]
    w.buyer(SRC).reject_agreement_cancellation_request(
        agreementId=source, agreementCancellationRequestId=request_id, rejectionReason="still needed"
    )
    w.deliver_events()
    change = w.change()
    assert change["state"] == "verified" and change["cancellation_request"] == {"id": request_id, "status": "REJECTED"}


def test_a_tenant_admin_asks_on_the_change_page(world: World) -> None:
    w = world
    source = w.verified_change()
    w.buyer_cannot_cancel(source)
    token = csrf_of(html(w.client.get("/signup")))
    r = w.client.post("/login", data={"csrf_token": token, "email": ADMIN, "password": PASSWORD})
    assert r.status_code == 303, r.text
    page = html(w.client.get("/subscription/change"))
    assert page.one(id="ask-seller-cancel") is not None
    r = w.client.post("/subscription/change/cancellation-request", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 303 and r.headers["location"] == "/subscription/change"
    after = html(w.client.get("/subscription/change"))
    assert after.one(**{"data-testid": "seller-cancel-status"}).attrs["data-state"] == "PENDING_APPROVAL"
    assert not after.all(id="ask-seller-cancel")  # asked: no second button
    # a second post (an old tab) sends nothing new
    w.client.post("/subscription/change/cancellation-request", data={"csrf_token": csrf_of(after)})
    accept_and_finish(w, source)
    ja = html(w.client.get("/subscription/change", headers={"Accept-Language": "ja"}))
    assert "承認済み" in ja.one(**{"data-testid": "seller-cancel-status"}).text


def test_an_operator_asks_from_the_command_line(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    w = world
    monkeypatch.setenv("MPLINK_DATABASE_URL", w.store.url)
    monkeypatch.setenv("MPLINK_AWS_ENDPOINT_URL", w.sandbox.url)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["tenant", "end-old-subscription", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    for bad, words in (("no-such-tenant", "no tenant"), (w.tenant_id, "never started")):
        code, out, err = run(bad)
        assert code == 2 and err.count("\n") == 1 and words in err and "Traceback" not in out + err
    source = w.link(SRC)
    w.call("POST", "/account-change", w.tenant_key, json={"destination_aws_account_id": DST})
    w.link(DST)
    w.buyer_cannot_cancel(source)
    code, out, err = run(w.tenant_id)
    assert code == 0, err
    request_id = w.change()["cancellation_request"]["id"]
    assert f"cancellation request {request_id} for agreement {source}: PENDING_APPROVAL" in out
    assert "AWS account 1111-1111-1111 approves it" in out
    code, out, _ = run(w.tenant_id, "--json")
    assert code == 0 and json.loads(out)["cancellation_request"] == {"id": request_id, "status": "PENDING_APPROVAL"}
    accept_and_finish(w, source)
