"""The account-change API (issue 8 point 4) over HTTP (Starlette's TestClient) on SQLite and PostgreSQL, with AWS
Marketplace played by the sandbox: GET, start, abort and the source-cancellation report, the seed's procedure in
the right and in the wrong order, refusals that change nothing, and the keys that may call it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from mplink.adapters.store.uow import Store
from mplink.services.auth import create_api_key
from mplink.services.tenants import create_tenant
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, PUBLIC_OFFER, SRC, RunningSandbox
from tests.support.web import PASSWORD, deliver_events, seller_api

OTHER = "333333333333"
NOT_DONE = [{"name": n, "done": False, "at": None} for n in ("link", "check", "cancel")]


@dataclass
class Api:
    client: TestClient
    sandbox: RunningSandbox
    tenant_id: str
    tenant_key: str
    operator_key: str

    def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.tenant_key}"}
        return self.client.request(method, f"/api/v1/tenants/{self.tenant_id}{path}", headers=headers, **kwargs)

    def change(self) -> httpx.Response:
        return self.call("GET", "/account-change")

    def start(self, destination: object = DST) -> httpx.Response:
        return self.call("POST", "/account-change", json={"destination_aws_account_id": destination})

    def abort(self) -> httpx.Response:
        return self.call("POST", "/account-change/abort")

    def report(self, agreement_id: str) -> httpx.Response:
        return self.call("POST", "/account-change/source-cancellation", json={"agreement_id": agreement_id})

    def link(self, account: str) -> str:
        """Subscribe in the sandbox and link with the registration token, as ``mplink move`` does."""
        agreement_id, token = self.subscribe(account, PRIVATE_OFFER)
        r = self.link_token(token)
        assert r.status_code == 200, r.text
        return agreement_id

    def subscribe(self, account: str, offer: str) -> tuple[str, str]:
        """Subscribe in the sandbox: the agreement id and a registration token for it."""
        market = self.sandbox.box.market
        agreement = market.agreement.subscribe(account, offer)
        return agreement.agreement_id, market.agreement.issue_token(agreement, "console").token

    def link_token(self, token: str, **body: object) -> httpx.Response:
        return self.call("POST", "/link", json={"registration_token": token, **body})

    def cancel_in_marketplace(self, account: str, agreement_id: str) -> None:
        self.sandbox.box.market.agreement.cancel_agreement(account, {"agreementId": agreement_id}, from_console=True)

    def deliver_events(self) -> int:
        return deliver_events(self.client, self.sandbox)


@pytest.fixture
def api(store: Store, running_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """On SQLite and on PostgreSQL (the ``store`` fixture is parametrized)."""
    with seller_api(store, running_sandbox.url, monkeypatch) as (client, tenant_id, tenant_key, operator_key):
        yield Api(client, running_sandbox, tenant_id, tenant_key, operator_key)


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["message"], body
    message: str = body["message"]
    return message


def done_at(body: dict[str, Any]) -> list[datetime | None]:
    assert [s["name"] for s in body["steps"]] == ["link", "check", "cancel"]
    return [datetime.fromisoformat(s["at"]) if s["done"] else None for s in body["steps"]]


def test_the_seed_procedure_through_the_api(api: Api) -> None:
    """Start, link the destination (verified at once), report the cancel, the marketplace ends the source: done."""
    assert error(api.change(), 404, "not_found")
    source = api.link(SRC)
    error(api.change(), 404, "not_found")  # a first link is not a change

    started = ok(api.start("2222-2222-2222"), 201)
    assert started == {
        "state": "started",
        "from": {"aws_account_id": SRC, "agreement_id": source},
        "to": {"aws_account_id": None, "agreement_id": None},
        "steps": NOT_DONE,
        "started_at": started["started_at"],
        "updated_at": started["started_at"],
        "destination_account_id": DST,
        "cancellation_request": None,
    }
    assert ok(api.start(DST), 201) == started  # the same destination again changes nothing
    assert ok(api.change()) == started

    destination = api.link(DST)
    verified = ok(api.change())
    assert verified["state"] == "verified" and verified["started_at"] == started["started_at"]
    assert verified["to"] == {"aws_account_id": DST, "agreement_id": destination}
    linked_at, checked_at, cancelled_at = done_at(verified)
    assert linked_at is not None and linked_at == checked_at and cancelled_at is None

    pending = ok(api.report(source))
    assert pending["state"] == "source_cancel_pending" and done_at(pending)[2] is None
    assert ok(api.report(source)) == pending  # a repeat is harmless
    assert ok(api.change()) == pending

    api.cancel_in_marketplace(SRC, source)
    api.deliver_events()
    done = ok(api.change())
    assert done["state"] == "done" and done["to"] == verified["to"] and done["from"] == started["from"]
    steps = done_at(done)
    assert steps[:2] == [linked_at, checked_at] and steps[2] is not None and steps[2] >= linked_at
    assert ok(api.report(source)) == done  # after the end: still done, unchanged
    api.deliver_events()  # the same events again change nothing
    assert ok(api.change()) == done
    listing = ok(api.client.get("/api/v1/account-changes", headers={"Authorization": f"Bearer {api.operator_key}"}))
    assert [(c["state"], c["destination_account_id"]) for c in listing["items"]] == [("done", DST)]


def test_the_wrong_order_is_done_at_the_link(api: Api) -> None:
    """The source cancelled before the destination was linked: every step is done at the link's instant."""
    source = api.link(SRC)
    api.cancel_in_marketplace(SRC, source)
    api.deliver_events()
    assert ok(api.start(DST), 201)["state"] == "started"
    api.link(DST)
    body = ok(api.change())
    assert body["state"] == "done" and body["from"]["agreement_id"] == source
    linked_at, checked_at, cancelled_at = done_at(body)
    assert linked_at is not None and linked_at == checked_at == cancelled_at


def test_a_link_without_a_start_is_a_change_too(api: Api) -> None:
    """The pages link without starting: the change appears at the link, already verified."""
    api.link(SRC)
    api.link(DST)
    body = ok(api.change())
    assert body["state"] == "verified" and body["destination_account_id"] is None
    assert [s["done"] for s in body["steps"]] == [True, True, False]


def test_abort_and_start_again(api: Api) -> None:
    api.link(SRC)
    first = ok(api.start(DST), 201)
    aborted = ok(api.abort())
    assert aborted["state"] == "aborted" and aborted["steps"] == NOT_DONE
    assert ok(api.abort()) == aborted  # aborting again changes nothing
    assert ok(api.change()) == aborted
    again = ok(api.start(OTHER), 201)
    assert again["state"] == "started" and again["destination_account_id"] == OTHER
    assert again["started_at"] >= first["started_at"]
    # another destination while started: the started one is replaced
    replaced = ok(api.start(DST), 201)
    assert replaced["destination_account_id"] == DST and ok(api.change()) == replaced


def test_refusals_once_linked_change_nothing(api: Api) -> None:
    source = api.link(SRC)
    ok(api.start(DST), 201)
    destination = api.link(DST)
    before = ok(api.change())
    assert "verified" in error(api.start(OTHER), 409, "conflict")
    assert "linked already" in error(api.abort(), 409, "conflict")
    assert "not the source" in error(api.report(destination), 409, "conflict")
    assert ok(api.change()) == before
    assert ok(api.report(source))["state"] == "source_cancel_pending"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/account-change", {"destination_aws_account_id": "12345"}, "12 digits"),
        ("/account-change", {"destination_aws_account_id": "2222-2222-222x"}, "12 digits"),
        ("/account-change", {"destination_aws_account_id": 222222222222}, "destination_aws_account_id"),
        ("/account-change", {}, "destination_aws_account_id"),
        ("/account-change", {"destination_aws_account_id": DST, "force": True}, "force"),
        ("/account-change/source-cancellation", {"agreement_id": ""}, "agreement_id"),
        ("/account-change/source-cancellation", {}, "agreement_id"),
    ],
    ids=["short", "letter", "number", "missing", "extra", "empty-agreement", "no-agreement"],
)
def test_bad_requests_are_422_and_change_nothing(api: Api, path: str, body: dict[str, Any], field: str) -> None:
    api.link(SRC)
    assert field in error(api.call("POST", path, json=body), 422, "invalid_request")
    error(api.change(), 404, "not_found")


def test_a_report_before_verification_or_without_a_change(api: Api) -> None:
    source = api.link(SRC)
    error(api.report(source), 404, "not_found")
    error(api.abort(), 404, "not_found")
    ok(api.start(DST), 201)
    assert "started" in error(api.report(source), 409, "conflict")
    assert ok(api.change())["state"] == "started"


def test_start_needs_a_paying_account_and_another_destination(api: Api) -> None:
    assert "link one" in error(api.start(DST), 409, "conflict")
    api.link(SRC)
    assert "already pays" in error(api.start(SRC), 409, "conflict")
    error(api.change(), 404, "not_found")


def test_keys(api: Api) -> None:
    """Tenant keys reach their own tenant, operator keys any tenant; no key or another tenant's is refused."""
    api.link(SRC)
    r = api.client.get(f"/api/v1/tenants/{api.tenant_id}/account-change")
    assert r.status_code == 401 and r.json()["error"] == "http_error"
    assert api.call("POST", "/account-change", key="mpl_nope_nope", json={}).status_code == 401
    other = create_tenant(api.client.app.state.mplink.store.uow(), "Other KK", "other@example.com", PASSWORD)
    other_key, _ = create_api_key(api.client.app.state.mplink.store.uow(), other, "other")
    for method, path, body in (
        ("GET", "/account-change", None),
        ("POST", "/account-change", {"destination_aws_account_id": DST}),
        ("POST", "/account-change/abort", None),
        ("POST", "/account-change/source-cancellation", {"agreement_id": "agmt-x"}),
    ):
        error(api.call(method, path, key=other_key, json=body), 403, "http_error")
    error(api.change(), 404, "not_found")
    assert ok(api.start(DST), 201)  # the tenant's own key
    assert ok(api.call("GET", "/account-change", key=api.operator_key))["state"] == "started"
    assert ok(api.call("POST", "/account-change/abort", key=api.operator_key))["state"] == "aborted"
    unknown = api.client.get(
        "/api/v1/tenants/no-such-tenant/account-change", headers={"Authorization": f"Bearer {api.operator_key}"}
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


def test_openapi_describes_the_routes(api: Api) -> None:
    schema = ok(api.client.get("/openapi.json"))
    paths = schema["paths"]
    base = "/api/v1/tenants/{tenant_id}/account-change"
    assert set(paths[base]) == {"get", "post"}
    assert set(paths[f"{base}/abort"]) == {"post"} and set(paths[f"{base}/source-cancellation"]) == {"post"}
    assert set(paths[f"{base}/cancellation-request"]) == {"post"}
    assert "201" in paths[base]["post"]["responses"]
    change = schema["components"]["schemas"]["AccountChange"]
    assert set(change["properties"]) == {
        "state",
        "from",
        "to",
        "steps",
        "started_at",
        "updated_at",
        "destination_account_id",
        "cancellation_request",
    }


def test_the_public_offer_after_the_private_one_is_refused_unless_allowed(api: Api) -> None:
    """The offer guard (issue 11): 409 offer_change naming both offers and sellers, and nothing written; with
    allow_offer_change it links and the answer carries the warning."""
    source = api.link(SRC)
    before = ok(api.call("GET", "/subscription"))
    destination, token = api.subscribe(DST, PUBLIC_OFFER)
    refused = api.link_token(token)
    message = error(refused, 409, "offer_change")
    for words in ("Trend Micro for SaaS", "Trend Micro", "Classmethod, Inc. for SaaS", "Classmethod, Inc."):
        assert words in message
    assert ok(api.call("GET", "/subscription")) == before
    error(api.change(), 404, "not_found")
    agreements = ok(api.client.get("/api/v1/agreements", headers={"Authorization": f"Bearer {api.operator_key}"}))
    assert [a["agreement_id"] for a in agreements["items"]] == [source]

    error(api.link_token(token), 409, "offer_change")  # the token was not used up: the same refusal again
    linked = ok(api.link_token(token, allow_offer_change=True))
    assert linked["aws_account_id"] == DST and linked["agreement_id"] == destination
    assert linked["offer"]["id"] == PUBLIC_OFFER
    assert [w["code"] for w in linked["warnings"]] == ["offer_change"]
    assert "Trend Micro for SaaS" in linked["warnings"][0]["message"]
    assert ok(api.change())["to"]["agreement_id"] == destination


def test_public_to_the_private_offer_links_without_a_warning(api: Api) -> None:
    assert ok(api.link_token(api.subscribe(SRC, PUBLIC_OFFER)[1]))["warnings"] == []
    body = ok(api.link_token(api.subscribe(DST, PRIVATE_OFFER)[1]))
    assert body["aws_account_id"] == DST and body["warnings"] == []
