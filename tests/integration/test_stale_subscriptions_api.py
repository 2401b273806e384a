"""Stale subscriptions over HTTP (Starlette's TestClient) on SQLite and PostgreSQL, with AWS Marketplace played by
the sandbox: three tenants in different states, ``GET /api/v1/stale-subscriptions`` (JSON and CSV, operator key
only), the operator's page in both languages, the tenant's change page, and the gauges on /metrics."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from mplink.adapters.store.uow import Store
from mplink.services.auth import create_api_key
from mplink.services.tenants import create_tenant
from mplink.web.app import create_app
from tests.integration.test_metering_status_api import scrape, unreachable
from tests.support.html import El, html
from tests.support.sandbox_fixtures import PUBLIC_OFFER, RunningSandbox
from tests.support.stale import csv_row_of
from tests.support.web import PASSWORD, csrf_of, deliver_events, seller_settings

STALE = "/api/v1/stale-subscriptions"
#: each tenant's accounts: (first, second); None when it never changed
ACCOUNTS = {
    "unchanged": ("333333333333", None),
    "left": ("444444444444", "555555555555"),
    "cancelled": ("666666666666", "777777777777"),
}


@dataclass
class Seller:
    client: TestClient
    sandbox: RunningSandbox
    store: Store
    tenants: dict[str, str]
    keys: dict[str, str]
    agreements: dict[str, list[str]]
    operator_key: str

    def api(self, key: str | None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.get(STALE, headers=headers, params=params)

    def link(self, name: str, account: str) -> str:
        market = self.sandbox.box.market
        agreement = market.agreement.subscribe(account, PUBLIC_OFFER)
        token = market.agreement.issue_token(agreement, "console").token
        r = self.client.post(
            f"/api/v1/tenants/{self.tenants[name]}/link",
            json={"registration_token": token},
            headers={"Authorization": f"Bearer {self.keys[name]}"},
        )
        assert r.status_code == 200, r.text
        return agreement.agreement_id

    def deliver_events(self) -> int:
        return deliver_events(self.client, self.sandbox)


@pytest.fixture
def seller(store: Store, running_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seller]:
    """unchanged: one account, never changed. left: changed, its old subscription still runs. cancelled: changed,
    and its old subscription was cancelled in AWS Marketplace (the event delivered)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA999999999999")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "MPLINK_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    tenants = {n: create_tenant(store.uow(), f"Tenant {n}", f"{n}@example.com", PASSWORD) for n in ACCOUNTS}
    keys = {n: create_api_key(store.uow(), tid, "test")[0] for n, tid in tenants.items()}
    operator_key, _ = create_api_key(store.uow(), None, "test operator")
    app = create_app(seller_settings(store.url, running_sandbox.url), store=store)
    with TestClient(app, follow_redirects=False) as client:
        s = Seller(client, running_sandbox, store, tenants, keys, {}, operator_key)
        for name, accounts in ACCOUNTS.items():
            s.agreements[name] = [s.link(name, a) for a in accounts if a]
        first, _ = ACCOUNTS["cancelled"]
        running_sandbox.box.market.agreement.cancel_agreement(
            first, {"agreementId": s.agreements["cancelled"][0]}, from_console=True
        )
        s.deliver_events()
        yield s


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_list_holds_exactly_the_superseded_agreement_still_running(seller: Seller) -> None:
    before = datetime.now(UTC)
    items = ok(seller.api(seller.operator_key))["items"]
    assert items == [
        {
            "tenant_id": seller.tenants["left"],
            "aws_account_id": ACCOUNTS["left"][0],
            "agreement_id": seller.agreements["left"][0],
            "offer": {"id": PUBLIC_OFFER, "name": "Trend Micro for SaaS"},
            "since": items[0]["since"],
            "cancellation_request": None,
        }
    ]
    since = datetime.fromisoformat(items[0]["since"])
    assert since.utcoffset() is not None and since.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert since <= before


def test_the_csv_has_the_same_rows(seller: Seller) -> None:
    items = ok(seller.api(seller.operator_key))["items"]
    r = seller.api(seller.operator_key, format="csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="stale-subscriptions-') and disposition.endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows == [csv_row_of(i) for i in items]


def test_only_an_operator_key_may_list(seller: Seller) -> None:
    for key in seller.keys.values():
        for params in ({}, {"format": "csv"}):
            r = seller.api(key, **params)
            assert r.status_code == 403, r.text
            assert r.json()["error"] == "http_error" and "operator" in r.json()["message"]
    assert seller.api(None).status_code == 401
    bad = seller.api(seller.operator_key, format="xml")
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"


def test_metrics_export_the_count_and_the_oldest_age(seller: Seller, tmp_path: Path) -> None:
    samples = scrape(seller.client)
    assert samples[("mplink_stale_subscriptions", ())] == 1
    assert samples[("mplink_stale_subscriptions_up", ())] == 1
    since = datetime.fromisoformat(ok(seller.api(seller.operator_key))["items"][0]["since"])
    age = samples[("mplink_stale_subscription_oldest_age_seconds", ())]
    assert 0 <= age <= (datetime.now(UTC) - since).total_seconds()
    app_state = seller.client.app.state.mplink  # type: ignore[attr-defined]
    working = app_state.store
    app_state.store = broken = Store(unreachable(seller.store.url, tmp_path))
    try:
        samples = scrape(seller.client)  # the scrape still answers, without these gauges
        assert samples[("mplink_stale_subscriptions_up", ())] == 0
        assert ("mplink_stale_subscriptions", ()) not in samples
    finally:
        app_state.store = working
        broken.dispose()


def page(client: TestClient, url: str) -> El:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return html(r)


@pytest.mark.parametrize(
    ("lang", "title", "left"),
    [("en", "Stale subscriptions", "left for"), ("ja", "残っているサブスクリプション", "経過")],
)
def test_the_operator_page_lists_the_same_rows(seller: Seller, lang: str, title: str, left: str) -> None:
    c = seller.client
    r = c.get(f"/operator/stale-subscriptions?lang={lang}")
    assert r.status_code == 303 and r.headers["location"].startswith("/operator/login?next=")
    login = page(c, r.headers["location"])
    tenant_key = {"csrf_token": csrf_of(login), "api_key": seller.keys["left"]}
    assert c.post("/operator/login", data=tenant_key).status_code == 401  # a tenant's key opens nothing
    form = {"csrf_token": csrf_of(login), "next": login.one("input", name="next").attrs["value"]}
    r = c.post("/operator/login", data={**form, "api_key": seller.operator_key})
    assert r.status_code == 303 and r.headers["location"] == f"/operator/stale-subscriptions?lang={lang}"
    doc = page(c, r.headers["location"])
    assert doc.one(data_testid="page-title").text == title
    rows = doc.all("tr", data_testid="stale-row")
    assert [(row.attrs["data-tenant-id"], row.attrs["data-agreement-id"]) for row in rows] == [
        (seller.tenants["left"], seller.agreements["left"][0])
    ]
    assert "Tenant left" in rows[0].text and "4444-4444-4444" in rows[0].text and "Trend Micro for SaaS" in rows[0].text
    assert left in rows[0].one(data_testid="left-for").text
    download = c.get("/operator/stale-subscriptions.csv")
    assert download.status_code == 200 and download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.text.splitlines()[1:] == seller.api(seller.operator_key, format="csv").text.splitlines()[1:]
    doc = page(c, "/operator/stale-subscriptions")
    r = c.post("/operator/logout", data={"csrf_token": csrf_of(doc)})
    assert c.get("/operator/stale-subscriptions").status_code == 303


@pytest.mark.parametrize(("lang", "words"), [("en", "has been left running for"), ("ja", "そのままになっています")])
def test_the_change_page_says_how_long_the_old_subscription_has_been_left(
    seller: Seller, lang: str, words: str
) -> None:
    c = seller.client
    login = page(c, "/login")
    data = {"csrf_token": csrf_of(login), "email": "left@example.com", "password": PASSWORD}
    assert c.post("/login", data=data).status_code == 303
    doc = page(c, f"/subscription/change?lang={lang}")
    note = doc.one(data_testid="left-running")
    assert note.attrs["data-agreement-id"] == seller.agreements["left"][0]
    assert words in note.text and "4444-4444-4444" in note.text


def test_openapi_describes_the_list_and_its_csv(seller: Seller) -> None:
    schema = ok(seller.client.get("/openapi.json"))
    get = schema["paths"][STALE]["get"]
    assert "text/csv" in get["responses"]["200"]["content"] and "application/json" in get["responses"]["200"]["content"]
    assert [p["name"] for p in get["parameters"]] == ["format"]
    item = schema["components"]["schemas"]["StaleSubscription"]
    assert set(item["properties"]) == {
        "tenant_id",
        "aws_account_id",
        "agreement_id",
        "offer",
        "since",
        "cancellation_request",
    }
