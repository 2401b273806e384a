"""The seller's pages over HTTP (Starlette's TestClient), with AWS Marketplace played by the sandbox on a real port
and reached through unmodified boto3: sign up, log in and out, CSRF, tenants, the fulfilment URL and its
confirmation, the subscription management page in both languages, the account-change wizard and status.json,
refusals that change nothing, and the seed's procedure done in the right and in the wrong order."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.requests import Request

from mplink.adapters.store import tables as t
from mplink.adapters.store.uow import Store
from mplink.domain.clock import now_utc
from mplink.domain.tenant import Role, User
from mplink.services.auth import create_api_key
from mplink.services.passwords import hash_password
from mplink.services.ports import MarketplaceUnavailable
from mplink.services.tenants import create_tenant, list_tenants
from mplink.web.app import create_app
from mplink.web.errors import error_page
from mplink.web.session import PENDING_COOKIE
from mplink.web.views import marketplace_product_url, safe_next
from tests.support.browser import japanese_catalog
from tests.support.html import PRIVATE_NAME, PUBLIC_NAME, El, html
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, PRODUCT_ID, PUBLIC_OFFER, SRC, RunningSandbox
from tests.support.web import (
    ADMIN,
    PASSWORD,
    SERVICES,
    TENANT,
    csrf_of,
    deliver_events,
    fresh_store,
    seller_settings,
)

WEB_DIR = Path(__file__).resolve().parents[2] / "src" / "mplink" / "web"
#: the modules whose messages the pages show (marked with N_ or translated with _)
PAGE_MODULES = ("authentication.py", "change.py", "errors.py", "registration.py", "session.py", "subscription.py")

LABELS = {
    "en": {
        "title": "Subscription management",
        "type": "Subscription type",
        "aws_marketplace": "AWS Marketplace",
        "expired": "Trial or Subscription Expired",
        "registered": "Registered",
        "not_registered": "Not registered",
        "path": ["AWS Marketplace Subscriptions", "Trend Micro Cloud One", "Manage", "Actions", "Cancel"],
        "change": "Change the paying AWS account",
        "prerequisites": "Prerequisites",
    },
    "ja": {
        "title": "サブスクリプション管理",
        "type": "サブスクリプションタイプ",
        "aws_marketplace": "AWS Marketplace",
        "expired": "Trial or Subscription Expired (トライアルまたはサブスクリプション期限切れ)",
        "registered": "登録済み",
        "not_registered": "未登録",
        "path": ["AWS Marketplace サブスクリプション", "Trend Micro Cloud One", "管理", "アクション", "キャンセル"],
        "change": "支払い AWS アカウントの関連付け変更",
        "prerequisites": "前提条件",
    },
}


# -- the seller app, with the sandbox as AWS Marketplace ------------------------------------------------------------


@dataclass
class Seller:
    app: FastAPI
    client: TestClient
    store: Store
    sandbox: RunningSandbox
    tenant_id: str

    # -- pages -------------------------------------------------------------------------------------------------
    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def page(self, path: str, status: int = 200, **kwargs: Any) -> El:
        r = self.client.get(path, **kwargs)
        assert r.status_code == status, (r.status_code, r.text[:2000])
        return html(r)

    def csrf(self, path: str = "/login") -> str:
        return csrf_of(self.page(path))

    def log_in(self, email: str = ADMIN, password: str = PASSWORD, next: str | None = None) -> httpx.Response:
        token = self.csrf("/signup")  # shown logged in or not; one CSRF token per session
        data = {"csrf_token": token, "email": email, "password": password}
        if next is not None:
            data["next"] = next
        return self.client.post("/login", data=data)

    def log_out(self) -> None:
        r = self.client.post("/logout", data={"csrf_token": self.csrf("/signup")})
        assert r.status_code == 303

    # -- AWS Marketplace side ----------------------------------------------------------------------------------
    def subscribe(self, account: str, offer: str = PRIVATE_OFFER) -> tuple[str, str]:
        """Subscribe in the sandbox and press "Set up your account": the agreement id and a console token."""
        market = self.sandbox.box.market
        agreement = market.agreement.subscribe(account, offer)
        return agreement.agreement_id, market.agreement.issue_token(agreement, "console").token

    def token_for(self, agreement_id: str) -> str:
        market = self.sandbox.box.market
        return market.agreement.issue_token(market.agreements[agreement_id], "console").token

    def register(self, token: str) -> httpx.Response:
        return self.client.post("/marketplace/register", data={"x-amzn-marketplace-token": token})

    def confirm_form(self) -> dict[str, str]:
        doc = self.page("/marketplace/confirm")
        form = doc.one("form", data_testid="confirm-form")
        return {i.attrs["name"]: i.attrs.get("value", "") for i in form.all("input")}

    def confirm(self, action: str = "confirm") -> httpx.Response:
        return self.client.post("/marketplace/confirm", data={**self.confirm_form(), "action": action})

    def link(self, account: str, offer: str = PRIVATE_OFFER) -> str:
        """The whole registration from a logged-in admin's browser; answers the agreement id."""
        agreement_id, token = self.subscribe(account, offer)
        r = self.register(token)
        assert r.status_code == 303 and r.headers["location"] == "/marketplace/confirm", r.text[:500]
        r = self.confirm()
        assert r.status_code == 303 and r.headers["location"] == "/subscription", r.text[:500]
        return agreement_id

    def cancel_in_marketplace(self, account: str, agreement_id: str) -> None:
        self.sandbox.box.market.agreement.cancel_agreement(account, {"agreementId": agreement_id}, from_console=True)

    def deliver_events(self) -> int:
        return deliver_events(self.client, self.sandbox)

    def status(self) -> dict[str, Any]:
        r = self.client.get("/subscription/status.json")
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        found: dict[str, Any] = r.json()
        return found

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, to show that a refused request changed nothing."""
        with self.store.engine.connect() as conn:
            return {
                table.name: sorted((tuple(map(repr, row)) for row in conn.execute(select(table))), key=repr)
                for table in t.metadata.sorted_tables
            }


def make_seller(
    store: Store, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, marketplace_url: str | None = None
) -> Seller:
    # the seller calls AWS with its own account's credentials, like any boto3 program
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA999999999999")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "MPLINK_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    tenant_id = create_tenant(store.uow(), TENANT, ADMIN, PASSWORD)
    app = create_app(seller_settings(store.url, sandbox.url, marketplace_url), store=store)
    client = TestClient(app, follow_redirects=False)
    return Seller(app, client, store, sandbox, tenant_id)


@pytest.fixture
def seller(store: Store, running_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seller]:
    """On SQLite and on PostgreSQL (the ``store`` fixture is parametrized)."""
    s = make_seller(store, running_sandbox, monkeypatch)
    yield s
    s.client.close()


@pytest.fixture
def sqlite_seller(tmp_path: Path, running_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seller]:
    store = fresh_store(tmp_path)
    s = make_seller(store, running_sandbox, monkeypatch, marketplace_url=f"{running_sandbox.url}/console/{{account}}")
    try:
        yield s
    finally:
        s.client.close()
        store.dispose()


def add_member(store: Store, tenant_id: str, email: str, role: Role) -> None:
    with store.uow() as uow:
        user = User(id=str(uuid.uuid4()), email=email, password_hash=hash_password(PASSWORD), created_at=now_utc())
        uow.tenants.add_user(user)
        tenant = uow.tenants.get(tenant_id)
        assert tenant is not None
        tenant.add_member(user.id, role)
        uow.commit()


def text(doc: El, testid: str) -> str:
    return doc.one(data_testid=testid).text


# -- sign up, log in, log out ---------------------------------------------------------------------------------------
def test_signup_login_logout(seller: Seller) -> None:
    c = seller.client
    r = c.get("/subscription")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fsubscription"

    doc = seller.page("/signup")
    r = c.post(
        "/signup",
        data={
            "csrf_token": csrf_of(doc),
            "tenant_name": "  Acme   KK ",
            "email": "Owner@Acme.example",
            "password": PASSWORD,
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/subscription"
    doc = seller.page("/subscription")
    assert text(doc, "brand") == "mplink — Acme KK"
    assert text(doc, "user-email") == "owner@acme.example"
    assert "Acme KK" in text(doc, "flash")
    assert doc.one(data_testid="subscription-type").attrs["data-type"] == "none"
    assert [e.one("th").text for e in doc.all(data_testid="service")] == SERVICES
    assert {e.attrs["data-registered"] for e in doc.all(data_testid="service")} == {"false"}
    assert {i.name for i in list_tenants(seller.store.uow())} == {TENANT, "Acme KK"}

    seller.log_out()
    assert c.get("/subscription").status_code == 303
    r = seller.log_in("owner@acme.example", PASSWORD, next="/subscription/change")
    assert r.status_code == 303 and r.headers["location"] == "/subscription/change"
    assert text(seller.page("/subscription"), "brand") == "mplink — Acme KK"


@pytest.mark.parametrize(
    ("data", "status", "needle"),
    [
        ({"tenant_name": " ", "email": "x@example.com", "password": PASSWORD}, 400, "Enter the name"),
        ({"tenant_name": "X", "email": "not-an-email", "password": PASSWORD}, 400, "valid email"),
        ({"tenant_name": "X", "email": "x@example.com", "password": "short"}, 400, "at least 10"),
        ({"tenant_name": "X", "email": ADMIN, "password": "another password"}, 409, "already has a login"),
    ],
    ids=["no-name", "bad-email", "short-password", "email-taken"],
)
def test_bad_signup_changes_nothing(sqlite_seller: Seller, data: dict[str, str], status: int, needle: str) -> None:
    before = sqlite_seller.snapshot()
    r = sqlite_seller.client.post("/signup", data={**data, "csrf_token": sqlite_seller.csrf("/signup")})
    assert r.status_code == status
    doc = html(r)
    assert needle in text(doc, "error")
    assert doc.one("input", name="tenant_name").attrs["value"] == data["tenant_name"]
    assert sqlite_seller.snapshot() == before


def test_wrong_login_says_the_same_for_unknown_email_and_wrong_password(seller: Seller) -> None:
    answers = []
    for email, password in ((ADMIN, "wrong password!"), ("nobody@example.com", PASSWORD), ("not an email", "")):
        r = seller.log_in(email, password)
        assert r.status_code == 401
        doc = html(r)
        answers.append(text(doc, "error"))
        assert seller.client.get("/subscription").status_code == 303  # still logged out
    assert answers == ["Wrong email or password."] * 3
    r = seller.log_in(ADMIN, "wrong password!", next="/subscription")
    assert html(r).one("input", name="email").attrs["value"] == ADMIN


def test_login_never_redirects_off_site() -> None:
    assert safe_next("/subscription/change?x=1") == "/subscription/change?x=1"
    for bad in ("//evil.example/x", "https://evil.example", "/\\evil.example", "evil", "", None, "/x\r\nSet-Cookie: a"):
        assert safe_next(bad) == "/subscription"


def test_csrf_is_refused_and_nothing_changes(sqlite_seller: Seller) -> None:
    s = sqlite_seller
    before = s.snapshot()
    signup = {"tenant_name": "Evil", "email": "evil@example.com", "password": PASSWORD}
    for token in (None, "", "forged"):
        data = dict(signup) if token is None else {**signup, "csrf_token": token}
        r = s.client.post("/signup", data=data)
        assert r.status_code == 403
        assert "reload the page" in html(r).one(data_testid="error-message").text
    assert s.snapshot() == before
    r = s.client.post("/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403 and s.client.get("/subscription").status_code == 303

    assert s.log_in().status_code == 303
    for path, data in (("/logout", {}), ("/tenant", {"tenant_id": s.tenant_id})):
        r = s.client.post(path, data={**data, "csrf_token": "forged"})
        assert r.status_code == 403
    assert s.client.get("/subscription").status_code == 200  # the forged logout did not log out

    # a registration waiting for confirmation is not confirmed by a forged form
    _, token = s.subscribe(SRC)
    assert s.register(token).status_code == 303
    form = s.confirm_form()
    before = s.snapshot()
    r = s.client.post("/marketplace/confirm", data={**form, "csrf_token": "forged", "action": "confirm"})
    assert r.status_code == 403
    r = s.client.post("/marketplace/confirm", data={k: v for k, v in form.items() if k != "csrf_token"})
    assert r.status_code == 403
    assert s.snapshot() == before
    assert s.status()["type"] == "none"
    assert s.confirm().status_code == 303
    assert s.status()["aws_account_id"] == SRC


def test_a_user_with_several_tenants_switches_and_sees_a_move(sqlite_seller: Seller) -> None:
    s = sqlite_seller
    other = create_tenant(s.store.uow(), "Zeta Holdings", ADMIN, PASSWORD)  # the same login, a second tenant
    s.log_in()
    doc = s.page("/subscription")
    assert text(doc, "brand") == f"mplink — {TENANT}"
    options = [(o.attrs["value"], o.text) for o in doc.one(data_testid="tenant-switch").all("option")]
    assert options == [(s.tenant_id, TENANT), (other, "Zeta Holdings")]
    agreement_id = s.link(SRC)

    r = s.client.post("/tenant", data={"csrf_token": csrf_of(doc), "tenant_id": other, "next": "/subscription"})
    assert r.status_code == 303 and r.headers["location"] == "/subscription"
    doc = s.page("/subscription")
    assert text(doc, "brand") == "mplink — Zeta Holdings"
    assert doc.one(data_testid="subscription-type").attrs["data-type"] == "none"

    # the agreement that pays for Example Corp, set up again while Zeta Holdings is the current tenant: it moves
    assert s.register(s.token_for(agreement_id)).status_code == 303
    doc = s.page("/marketplace/confirm")
    assert "Zeta Holdings" in text(doc, "confirm-sentence")
    note = text(doc, "moves-note")
    assert f"pays for the tenant {TENANT} now" in note and "moves it to Zeta Holdings" in note
    s.confirm()
    assert s.status()["aws_account_id"] == SRC
    s.client.post("/tenant", data={"csrf_token": csrf_of(doc), "tenant_id": s.tenant_id})
    assert s.status()["type"] == "expired"

    stranger = create_tenant(s.store.uow(), "Not Mine", "someone@example.com", PASSWORD)
    r = s.client.post("/tenant", data={"csrf_token": csrf_of(doc), "tenant_id": stranger})
    assert r.status_code == 403
    assert text(html(r), "error-message") == "You are not a member of that tenant."
    assert text(s.page("/subscription"), "brand") == f"mplink — {TENANT}"


# -- the fulfilment URL and the confirmation ------------------------------------------------------------------------
def test_register_then_log_in_then_confirm(seller: Seller) -> None:
    s = seller
    agreement_id, token = s.subscribe(SRC)
    r = s.register(token)
    assert r.status_code == 303 and r.headers["location"] == "/marketplace/confirm"
    assert PENDING_COOKIE in r.headers["set-cookie"]
    # not logged in: log in first; the registration waits in the session
    r = s.get("/marketplace/confirm")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fmarketplace%2Fconfirm"
    assert f"{PENDING_COOKIE}=" in r.headers["set-cookie"]  # handed over to the session, then deleted
    doc = s.page(r.headers["location"])
    assert doc.one(data_testid="pending-note")
    r = s.log_in(next="/marketplace/confirm")
    assert r.status_code == 303 and r.headers["location"] == "/marketplace/confirm"

    doc = s.page("/marketplace/confirm")
    assert text(doc, "confirm-sentence") == (
        f"AWS account 1111-1111-1111, offer '{PRIVATE_NAME}' from Classmethod, Inc. (8888-8888-8888), "
        f"will pay for {TENANT} from now on."
    )
    assert text(doc, "confirm-account") == "1111-1111-1111"
    assert text(doc, "confirm-proposer") == "Classmethod, Inc. (8888-8888-8888)"
    assert text(doc, "confirm-tenant") == TENANT
    assert not doc.all(data_testid="confirm-current")
    assert doc.one("button", id="confirm").attrs["value"] == "confirm"

    r = s.confirm()
    assert r.status_code == 303 and r.headers["location"] == "/subscription"
    doc = s.page("/subscription")
    assert text(doc, "flash") == f"Linked: AWS account 1111-1111-1111 now pays for {TENANT}."
    assert doc.one(data_testid="subscription-type").attrs["data-type"] == "aws_marketplace"
    assert text(doc, "aws-account") == "1111-1111-1111"
    assert text(doc, "offer-name").startswith(PRIVATE_NAME) and doc.one(data_testid="private-badge")
    assert text(doc, "proposer") == "Classmethod, Inc. (8888-8888-8888)"
    assert [(e.one("th").text, e.attrs["data-registered"]) for e in doc.all(data_testid="service")] == [
        (name, "true") for name in SERVICES
    ]
    assert not doc.all(data_testid="pending-cancellation")
    # the registration is used up: nothing left to confirm, and the same token is refused
    assert s.page("/marketplace/confirm").one(data_testid="nothing-pending")
    r = s.register(token)
    assert r.status_code == 400
    assert html(r).one(data_testid="error").attrs["data-reason"] == "used"
    metrics = s.get("/metrics").text
    assert 'mplink_registrations_total{outcome="accepted"} 1.0' in metrics
    assert 'mplink_registrations_total{outcome="used"} 1.0' in metrics
    assert 'mplink_links_total{kind="page"} 1.0' in metrics
    assert s.status()["aws_account_id"] == SRC
    with s.store.engine.connect() as conn:
        rows = list(
            conn.execute(select(t.registration_tokens.c.agreement_id, t.registration_tokens.c.linked_tenant_id))
        )
    assert rows == [(agreement_id, s.tenant_id)]


def test_a_confirmed_registration_replayed_from_any_session_is_refused_and_changes_nothing(seller: Seller) -> None:
    """Issue 12, takeover by replay: the hand-over cookie of a registration already confirmed, replayed in
    another tenant's logged-in browser, and the first admin's old session (captured before Confirm), replayed
    after the tenant moved on to another account: each confirmation is refused with 409 and nothing changes
    (the buyer's payments stay where they are)."""
    s = seller
    s.log_in()
    agreement_id, token = s.subscribe(SRC)
    r = s.register(token)
    handed_over = r.cookies[PENDING_COOKIE]
    form = s.confirm_form()  # the pending registration is in the session now
    old_session = s.client.cookies.get("mplink_session")
    assert s.client.post("/marketplace/confirm", data={**form, "action": "confirm"}).status_code == 303
    assert s.status()["aws_account_id"] == SRC

    # another tenant's admin, logged in, gets the hand-over cookie
    create_tenant(s.store.uow(), "Other Corp", "other@example.com", PASSWORD)
    with TestClient(s.app, follow_redirects=False) as other:
        login = {"csrf_token": csrf_of(html(other.get("/signup"))), "email": "other@example.com", "password": PASSWORD}
        assert other.post("/login", data=login).status_code == 303
        other.cookies.set(PENDING_COOKIE, handed_over, path="/marketplace")
        doc = html(other.get("/marketplace/confirm"))
        replay = {
            i.attrs["name"]: i.attrs.get("value", "") for i in doc.one("form", data_testid="confirm-form").all("input")
        }
        assert replay["agreement_id"] == agreement_id
        before = s.snapshot()
        r = other.post("/marketplace/confirm", data={**replay, "action": "confirm"})
        assert r.status_code == 409, r.text[:500]
        assert "already confirmed" in text(html(r), "error-message")
        assert s.snapshot() == before

    # the tenant moves on to 2222-2222-2222; then the old session is replayed
    s.link(DST)
    assert s.status()["aws_account_id"] == DST
    with TestClient(s.app, follow_redirects=False) as thief:
        thief.cookies.set("mplink_session", old_session)
        before = s.snapshot()
        r = thief.post("/marketplace/confirm", data={**form, "action": "confirm"})
        assert r.status_code == 409, r.text[:500]
        assert s.snapshot() == before
    assert s.status()["aws_account_id"] == DST


def test_a_logged_in_user_stays_logged_in_when_aws_posts_cross_site(sqlite_seller: Seller) -> None:
    """AWS's POST is cross-site, so the browser does not send the SameSite=Lax session cookie with it; the
    answer must not replace the visitor's session, and the next page (a top-level GET) carries it again."""
    s = sqlite_seller
    s.log_in()
    _, token = s.subscribe(SRC)
    with TestClient(s.app, follow_redirects=False) as aws_side:  # a browser request without the session cookie
        r = aws_side.post("/marketplace/register", data={"x-amzn-marketplace-token": token})
        assert r.status_code == 303
        assert "mplink_session" not in r.headers.get("set-cookie", "")
        pending = r.cookies[PENDING_COOKIE]
    s.client.cookies.set(PENDING_COOKIE, pending, path="/marketplace")
    doc = s.page("/marketplace/confirm")
    assert text(doc, "confirm-account") == "1111-1111-1111"
    # a forged hand-over cookie is ignored
    s.client.cookies.set(PENDING_COOKIE, pending[:-4] + "AAAA", path="/marketplace")
    assert text(s.page("/marketplace/confirm"), "confirm-account") == "1111-1111-1111"


def test_confirmation_of_a_change_names_both_accounts(sqlite_seller: Seller) -> None:
    s = sqlite_seller
    s.log_in()
    s.link(SRC)
    _, token = s.subscribe(DST)
    assert s.register(token).status_code == 303
    doc = s.page("/marketplace/confirm", headers={"Accept-Language": "en"})
    assert text(doc, "confirm-sentence") == (
        f"AWS account 2222-2222-2222, offer '{PRIVATE_NAME}' from Classmethod, Inc. (8888-8888-8888), "
        f"will pay for {TENANT} from now on, instead of AWS account 1111-1111-1111."
    )
    assert text(doc, "confirm-current") == "1111-1111-1111"
    assert "1111-1111-1111" in text(doc, "change-note")
    doc = s.page("/marketplace/confirm", params={"lang": "ja"})
    assert text(doc, "confirm-sentence") == (
        "これ以降、AWS アカウント 1111-1111-1111 に代わり、AWS アカウント 2222-2222-2222 "
        f"(Classmethod, Inc. (8888-8888-8888) のオファー「{PRIVATE_NAME}」) が {TENANT} の支払いを行います。"
    )
    assert doc.one("button", id="confirm").text == "確定"


def test_public_to_the_private_offer_is_shown_as_the_expected_switch(sqlite_seller: Seller) -> None:
    """The offer guard (issue 11): the seed's "switch" gets a note, no warning and no second confirmation."""
    s = sqlite_seller
    s.log_in()
    s.link(SRC, PUBLIC_OFFER)
    _, token = s.subscribe(DST)
    s.register(token)
    doc = s.page("/marketplace/confirm", headers={"Accept-Language": "en"})
    assert text(doc, "offer-switch") == (
        f"This switches from the public offer 'Trend Micro for SaaS' to the private offer '{PRIVATE_NAME}' from "
        "Classmethod, Inc., as expected."
    )
    assert not doc.all(data_testid="offer-change") and not doc.all("input", id="allow-offer-change")
    assert "パブリックオファー「Trend Micro for SaaS」から" in text(
        s.page("/marketplace/confirm?lang=ja"), "offer-switch"
    )


def test_cancel_links_nothing(sqlite_seller: Seller) -> None:
    s = sqlite_seller
    s.log_in()
    s.link(SRC)
    _, token = s.subscribe(DST)
    s.register(token)
    before = s.snapshot()
    r = s.confirm("cancel")
    assert r.status_code == 303 and r.headers["location"] == "/subscription"
    doc = s.page("/subscription")
    assert "Nothing was linked" in text(doc, "flash")
    assert text(doc, "aws-account") == "1111-1111-1111"
    assert s.snapshot() == before
    assert s.page("/marketplace/confirm").one(data_testid="nothing-pending")


def test_a_viewer_cannot_confirm_a_link(seller: Seller) -> None:
    s = seller
    add_member(s.store, s.tenant_id, "viewer@example.com", Role.VIEWER)
    _, token = s.subscribe(SRC)
    s.register(token)
    s.log_in("viewer@example.com", PASSWORD, next="/marketplace/confirm")
    doc = s.page("/marketplace/confirm")
    assert "'viewer'" in text(doc, "read-only")
    assert not doc.all("button", id="confirm")  # only Cancel is offered
    form = {i.attrs["name"]: i.attrs.get("value", "") for i in doc.one(data_testid="confirm-form").all("input")}
    before = s.snapshot()
    r = s.client.post("/marketplace/confirm", data={**form, "action": "confirm"})
    assert r.status_code == 403
    assert "owner, admin or billing" in text(html(r), "error-message")
    assert s.snapshot() == before
    assert s.status()["type"] == "none"
    doc = s.page("/subscription")
    assert "'viewer'" in text(doc, "read-only") and not doc.all(data_testid="change-account")
    assert s.page("/subscription/change").one(data_testid="read-only")


def test_an_invalid_token_gets_a_page_that_says_what_to_do_and_stores_nothing(seller: Seller) -> None:
    s = seller
    before = s.snapshot()
    for data in ({"x-amzn-marketplace-token": "not-a-token"}, {"x-amzn-marketplace-token": "  "}, {}):
        r = s.client.post("/marketplace/register", data=data, headers={"Accept-Language": "ja"})
        assert r.status_code == 400
        assert PENDING_COOKIE not in r.headers.get("set-cookie", "")
        doc = html(r)
        assert doc.one("html").attrs["lang"] == "ja"
        assert doc.one(data_testid="error").attrs["data-reason"] == "invalid"
        assert text(doc, "page-title") == "「アカウントを設定」をもう一度押してください"
        assert "アカウントを設定" in text(doc, "next-steps")
    r = s.client.post("/marketplace/register", data={"x-amzn-marketplace-token": "not-a-token"})
    doc = html(r)
    assert text(doc, "page-title") == "Press 'Set up your account' again"
    assert "Set up your account" in text(doc, "next-steps")
    assert s.snapshot() == before
    assert s.get("/marketplace/register").status_code == 400


def test_an_expired_token_is_refused(sqlite_seller: Seller) -> None:
    s = sqlite_seller
    _, token = s.subscribe(SRC)
    s.sandbox.control("POST", "clock", json={"advance_seconds": 14401})
    before = s.snapshot()
    r = s.register(token)
    assert r.status_code == 400
    doc = html(r)
    assert doc.one(data_testid="error").attrs["data-reason"] == "expired"
    assert "4 hours" in text(doc, "error-message")
    assert "Set up your account" in text(doc, "next-steps")
    assert s.snapshot() == before
    assert 'mplink_registrations_total{outcome="expired"} 1.0' in s.get("/metrics").text


def test_marketplace_unavailable_says_try_again(tmp_path: Path) -> None:
    class Down:
        def resolve_customer(self, token: str) -> Any:
            raise MarketplaceUnavailable("AWS Marketplace did not answer ResolveCustomer: connect timeout")

        def describe_agreement(self, agreement_id: str) -> Any:
            raise MarketplaceUnavailable("down")

        def get_entitlements(self, product_code: str, license_arn: str) -> Any:
            raise MarketplaceUnavailable("down")

        def meter(self, product_code: str, records: Any) -> Any:
            raise MarketplaceUnavailable("down")

    store = fresh_store(tmp_path)
    try:
        app = create_app(seller_settings(store.url, None), marketplace=Down(), store=store)
        with TestClient(app, follow_redirects=False) as client:
            r = client.post("/marketplace/register", data={"x-amzn-marketplace-token": "tok"}, params={"lang": "ja"})
            assert r.status_code == 503
            doc = html(r)
            assert doc.one(data_testid="error").attrs["data-reason"] == "unavailable"
            assert text(doc, "page-title") == "しばらくしてからもう一度お試しください"
            assert "connect timeout" not in r.text  # the adapter's details stay in the logs
            with store.engine.connect() as conn:
                assert list(conn.execute(select(t.registration_tokens))) == []
                assert list(conn.execute(select(t.agreements))) == []
    finally:
        store.dispose()


# -- the subscription management page -------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_subscription_page_in_both_languages(sqlite_seller: Seller, lang: str) -> None:
    s = sqlite_seller
    words = LABELS[lang]
    s.log_in()
    s.link(SRC)
    accept = {"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5" if lang == "ja" else "en-US,en;q=0.9"}
    r = s.get("/subscription", headers=accept)
    assert "set-cookie" not in r.headers or "mplink_lang" not in r.headers["set-cookie"]
    doc = html(r)
    assert doc.one("html").attrs["lang"] == lang
    assert text(doc, "page-title") == words["title"]
    assert words["type"] in [e.text for e in doc.all("dt")]
    assert text(doc, "subscription-type") == words["aws_marketplace"]
    assert {e.text for e in doc.all(data_testid="service-status")} == {words["registered"]}
    assert text(doc, "brand") == f"mplink — {TENANT}"
    assert doc.one(id="nav-change").text == words["change"]
    switch = doc.one(data_testid="language-switch")
    assert switch.one(id=f"lang-{lang}").attrs.get("aria-current") == "true"
    doc = s.page("/subscription/change", headers=accept)
    assert doc.one(id="prereq-heading").text == words["prerequisites"]

    # the switch: ?lang= wins over Accept-Language and sticks (cookie)
    other = "en" if lang == "ja" else "ja"
    r = s.get("/subscription", params={"lang": other}, headers=accept)
    assert f"mplink_lang={other}" in r.headers["set-cookie"]
    assert html(r).one("html").attrs["lang"] == other
    assert html(s.get("/subscription", headers=accept)).one("html").attrs["lang"] == other


def test_the_change_then_the_cancel_step_then_gone(seller: Seller) -> None:
    """The seed's order: link the destination, check, cancel the source; the page guides each step."""
    s = seller
    s.log_in()
    source = s.link(SRC)
    s.deliver_events()
    assert s.status() == {
        "aws_account_id": SRC,
        "type": "aws_marketplace",
        "pending_cancellations": [],
        "services_registered": 7,
        "services_total": 7,
        "account_change": None,
    }
    s.link(DST)
    s.deliver_events()
    doc = s.page("/subscription")
    assert text(doc, "aws-account") == "2222-2222-2222"
    assert text(doc, "subscription-type") == "AWS Marketplace"
    assert {e.attrs["data-registered"] for e in doc.all(data_testid="service")} == {"true"}
    step = doc.one(data_testid="pending-cancellation")
    assert step.attrs["data-account-id"] == SRC and step.attrs["data-agreement-id"] == source
    assert "Cancel the subscription in AWS account 1111-1111-1111".lower() in step.text.lower()
    assert [li.text for li in step.one(data_testid="console-path").all("li")] == LABELS["en"]["path"]
    ja = s.page("/subscription", params={"lang": "ja"}).one(data_testid="pending-cancellation")
    assert [li.text for li in ja.one(data_testid="console-path").all("li")] == LABELS["ja"]["path"]
    assert "1111-1111-1111" in ja.one("h2").text
    assert s.status()["pending_cancellations"] == [{"aws_account_id": SRC, "agreement_id": source}]
    wizard = s.page("/subscription/change", params={"lang": "en"})
    assert wizard.one(id="state-cancel").attrs["data-state"] == "waiting"
    assert wizard.one(id="state-check").attrs["data-state"] == "done"

    # the source is cancelled in AWS Marketplace; the step stays until the marketplace says it ended
    s.cancel_in_marketplace(SRC, source)
    assert s.page("/subscription").all(data_testid="pending-cancellation")
    s.deliver_events()
    doc = s.page("/subscription")
    assert not doc.all(data_testid="pending-cancellation")
    assert text(doc, "aws-account") == "2222-2222-2222"
    assert [e.attrs["data-registered"] for e in doc.all(data_testid="service")] == ["true"] * 7
    after = s.status()
    assert {k: v for k, v in after.items() if k != "account_change"} == {
        "aws_account_id": DST,
        "type": "aws_marketplace",
        "pending_cancellations": [],
        "services_registered": 7,
        "services_total": 7,
    }
    assert after["account_change"]["state"] == "done"
    assert after["account_change"]["from"] == {"aws_account_id": SRC, "agreement_id": source}
    wizard = s.page("/subscription/change", params={"destination": DST})
    assert [wizard.one(id=f"state-{k}").attrs["data-state"] for k in ("link", "check", "cancel")] == ["done"] * 3


def test_wrong_order_expires_then_linking_restores(sqlite_seller: Seller) -> None:
    """Cancelling the source before linking the destination: 'Trial or Subscription Expired', services not
    registered, nothing deleted; linking the destination afterwards registers every service again."""
    s = sqlite_seller
    s.log_in()
    source = s.link(SRC)
    s.cancel_in_marketplace(SRC, source)
    s.deliver_events()
    for lang in ("en", "ja"):
        doc = s.page("/subscription", params={"lang": lang})
        assert doc.one(data_testid="subscription-type").attrs["data-type"] == "expired"
        assert text(doc, "subscription-type") == LABELS[lang]["expired"]
        alert = doc.one(data_testid="expired-alert")
        assert ("not registered" if lang == "en" else "未登録") in alert.text
        assert ("Set up your account" if lang == "en" else "アカウントを設定") in alert.text
        assert alert.one(id="fix-expired").attrs["href"] == "/subscription/change"
        assert {e.text for e in doc.all(data_testid="service-status")} == {LABELS[lang]["not_registered"]}
        assert len(doc.all(data_testid="service")) == 7
        assert text(doc, "aws-account") == "—" and doc.one(data_testid="aws-account").attrs["data-account-id"] == ""
        assert "1111-1111-1111" in text(doc, "ended-account")
        assert not doc.all(data_testid="pending-cancellation") and not doc.all(data_testid="still-running")
    assert s.status() == {
        "aws_account_id": None,  # the cancelled account pays no more
        "type": "expired",
        "pending_cancellations": [],
        "services_registered": 0,
        "services_total": 7,
        "account_change": None,
    }
    # recover: link the destination now
    _, token = s.subscribe(DST)
    s.register(token)
    doc = s.page("/marketplace/confirm")
    assert text(doc, "confirm-current").startswith("1111-1111-1111")
    assert s.confirm().status_code == 303
    s.deliver_events()
    doc = s.page("/subscription")
    assert text(doc, "subscription-type") == "AWS Marketplace"
    assert [e.attrs["data-registered"] for e in doc.all(data_testid="service")] == ["true"] * 7
    assert not doc.all(data_testid="pending-cancellation") and not doc.all(data_testid="expired-alert")
    assert s.status()["aws_account_id"] == DST


def test_destination_cancelled_instead_of_the_source_the_page_shows_the_truth_at_each_step(
    sqlite_seller: Seller,
) -> None:
    """The buyer cancels the destination instead of the source: the page names no payer, does not ask to cancel
    the source (the only subscription left) but says how to use it again; linking it again clears everything."""
    s = sqlite_seller
    s.log_in()
    source = s.link(SRC)
    destination = s.link(DST)
    doc = s.page("/subscription", params={"lang": "en"})
    assert text(doc, "aws-account") == "2222-2222-2222"
    assert doc.one(data_testid="pending-cancellation").attrs["data-account-id"] == SRC
    s.cancel_in_marketplace(DST, destination)
    s.deliver_events()
    words = {
        "en": ("Do not cancel", "Set up your account"),
        "ja": ("まだキャンセルしないでください", "アカウントを設定"),
    }
    for lang in ("en", "ja"):
        doc = s.page("/subscription", params={"lang": lang})
        assert doc.one(data_testid="subscription-type").attrs["data-type"] == "expired"
        assert text(doc, "aws-account") == "—"
        assert "2222-2222-2222" in text(doc, "ended-account")
        assert not doc.all(data_testid="pending-cancellation")
        running = doc.one(data_testid="still-running")
        assert running.attrs["data-account-id"] == SRC and running.attrs["data-agreement-id"] == source
        assert all(w in running.text for w in words[lang]) and "1111-1111-1111" in running.text
        wizard = s.page("/subscription/change", params={"lang": lang})
        assert text(wizard, "status-account") == "—" and text(wizard, "status-pending") == (
            "nothing" if lang == "en" else "なし"
        )
        assert wizard.all(data_testid="still-running") and not wizard.all(data_testid="pending-cancellation")
    assert s.status()["aws_account_id"] is None and s.status()["pending_cancellations"] == []
    # the way back: the source's subscription is linked again
    assert s.register(s.token_for(source)).status_code == 303
    assert s.confirm().status_code == 303
    doc = s.page("/subscription")
    assert text(doc, "aws-account") == "1111-1111-1111"
    assert doc.one(data_testid="subscription-type").attrs["data-type"] == "aws_marketplace"
    assert not doc.all(data_testid="pending-cancellation") and not doc.all(data_testid="still-running")
    assert not doc.all(data_testid="ended-account")


def test_times_are_shown_in_the_viewers_time_zone_with_utc_on_hover(sqlite_seller: Seller) -> None:
    """A Japanese browser reads Japan's time (JST), any other UTC; the <time> element keeps the instant and shows
    UTC on hover."""
    s = sqlite_seller
    s.log_in()
    s.link(SRC)
    s.client.cookies.delete("mplink_lang")
    shown = {}
    for accept, zone in (("ja,en;q=0.5", "JST"), ("en-US,en;q=0.9", "UTC")):
        doc = s.page("/subscription", headers={"Accept-Language": accept})
        moment = doc.one(data_testid="since").one("time")
        assert moment.text.endswith(f" {zone}"), moment.text
        assert moment.attrs["datetime"].endswith("Z") and moment.attrs["title"].endswith(" UTC")
        instant = datetime.fromisoformat(moment.attrs["datetime"])
        assert moment.attrs["title"] == instant.strftime("%Y-%m-%d %H:%M UTC")
        shown[zone] = (instant, moment.text)
    instant = shown["UTC"][0]
    assert shown["JST"][1] == (instant + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M JST")
    assert shown["UTC"][1] == instant.strftime("%Y-%m-%d %H:%M UTC")


def test_a_public_to_private_switch_carries_the_link_over(sqlite_seller: Seller) -> None:
    """R4: the same account switches from the public to the private offer; the page follows without a click."""
    s = sqlite_seller
    s.log_in()
    s.link(SRC, PUBLIC_OFFER)
    doc = s.page("/subscription")
    assert text(doc, "offer-name") == PUBLIC_NAME and text(doc, "proposer") == "Trend Micro (9999-9999-9999)"
    wizard = s.page("/subscription/change")
    assert text(wizard, "offer-to-choose") == PRIVATE_NAME  # the private offer the source account can see
    s.sandbox.box.market.agreement.subscribe(SRC, PRIVATE_OFFER)  # REPLACE: the marketplace ends the public agreement
    s.deliver_events()
    doc = s.page("/subscription")
    assert text(doc, "offer-name").startswith(PRIVATE_NAME)
    assert text(doc, "proposer") == "Classmethod, Inc. (8888-8888-8888)"
    assert not doc.all(data_testid="pending-cancellation")
    assert s.status()["type"] == "aws_marketplace"


# -- the wizard and status.json ------------------------------------------------------------------------------------
def test_the_change_wizard_walks_the_seed_steps(sqlite_seller: Seller) -> None:
    s = sqlite_seller
    s.log_in()
    s.link(SRC)
    r = s.get("/subscription/change", params={"lang": "ja"})
    assert r.status_code == 200
    doc = html(r)
    assert text(doc, "page-title") == "支払い AWS アカウントの関連付け変更"
    assert "切換元AWSアカウント: 1111-1111-1111" in text(doc, "prerequisites")
    step1 = doc.one(data_testid="step-link")
    assert "サブスクリプションを申し込む" in step1.text and "(Continue to Subscribe)" in step1.text
    assert text(doc, "offer-to-choose") == PRIVATE_NAME
    assert f"{PRIVATE_NAME} - 現在のサブスクリプション" in step1.text
    assert f"{PUBLIC_NAME} - 現在のサブスクリプション" in text(doc, "switch-note")
    assert not doc.all(data_testid="marketplace-link")  # the console URL needs the destination account
    assert "1111-1111-1111" in text(doc, "step-cancel")
    assert [li.text for li in doc.one(data_testid="step-cancel").all("li")] == LABELS["ja"]["path"]

    doc = s.page("/subscription/change", params={"destination": "2222-2222-2222", "lang": "en"})
    link = doc.one(data_testid="marketplace-link")
    assert link.attrs["href"] == f"{s.sandbox.url}/console/{DST}/marketplace/pp/{PRODUCT_ID}"
    assert "destination account 2222-2222-2222" in text(doc, "step-link")
    assert doc.one(id="destination").attrs["value"] == "2222-2222-2222"
    assert doc.one(id="state-link").attrs["data-state"] == "todo"
    live = doc.one(data_testid="live-status")
    assert live.attrs["data-destination"] == DST
    assert text(doc, "status-account") == "1111-1111-1111" and text(doc, "status-services") == "7 / 7"
    assert doc.one(data_testid="check-again").attrs["href"] == f"/subscription/change?destination={DST}"

    r = s.get("/subscription/change", params={"destination": "12345"})
    assert r.status_code == 400
    assert "12 digits" in text(html(r), "error")


STEP_LABELS = {
    "en": {"todo": "Not yet", "waiting": "Waiting for the cancellation", "done": "Done"},
    "ja": {"todo": "未完了", "waiting": "キャンセル待ち", "done": "完了"},
}


STEPS = ("link", "check", "cancel")


def step_marks(doc: El) -> list[tuple[str, str]]:
    """The wizard's three steps as the page marks them: (data-state, the label shown)."""
    return [(doc.one(id=f"state-{k}").attrs["data-state"], doc.one(id=f"state-{k}").text) for k in STEPS]


def account_change_api(s: Seller) -> dict[str, Any]:
    key, _ = create_api_key(s.store.uow(), s.tenant_id, "pages test")
    r = s.client.get(f"/api/v1/tenants/{s.tenant_id}/account-change", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_after_the_source_is_cancelled_the_page_and_the_api_show_every_step_done(seller: Seller, lang: str) -> None:
    """Issue 8: the change page showed the wrong steps once the change was done. It now shows what the domain's
    account change says, as the API does: waiting for the cancellation after the link, then every step done,
    on the first load after the cancellation and on every reload, with or without the destination typed."""
    s, labels = seller, STEP_LABELS[lang]
    s.log_in()
    source = s.link(SRC)
    s.deliver_events()
    s.link(DST)
    s.deliver_events()
    with_destination = {"destination": "2222-2222-2222", "lang": lang}
    doc = s.page("/subscription/change", params=with_destination)
    assert step_marks(doc) == [("done", labels["done"]), ("done", labels["done"]), ("waiting", labels["waiting"])]
    before = account_change_api(s)
    assert before["state"] == "verified"
    assert [(x["name"], x["done"]) for x in before["steps"]] == [("link", True), ("check", True), ("cancel", False)]

    s.cancel_in_marketplace(SRC, source)
    s.deliver_events()
    for params in (with_destination, {"lang": lang}):
        for _load in ("first", "reload"):
            doc = s.page("/subscription/change", params=params)
            assert doc.one("html").attrs["lang"] == lang
            assert step_marks(doc) == [("done", labels["done"])] * 3, params
            assert "1111-1111-1111" in text(doc, "source-account")  # the change's source, not who pays now
    for _load in ("first", "reload"):
        after = account_change_api(s)
        assert after["state"] == "done"
        assert after["from"] == {"aws_account_id": SRC, "agreement_id": source}
        assert after["to"]["aws_account_id"] == DST
        assert [(x["name"], x["done"]) for x in after["steps"]] == [(name, True) for name in STEPS]
        assert all(x["at"] for x in after["steps"])
        assert s.status()["account_change"] == after  # what the page's script reads is the API's object


def test_a_new_destination_after_a_finished_change_starts_a_fresh_wizard(sqlite_seller: Seller) -> None:
    """Once a change is done, typing another destination account shows its steps from the start; the finished
    change's account still shows every step done."""
    s = sqlite_seller
    s.log_in()
    source = s.link(SRC)
    s.link(DST)
    s.cancel_in_marketplace(SRC, source)
    s.deliver_events()
    assert account_change_api(s)["state"] == "done"
    fresh = s.page("/subscription/change", params={"destination": "3333-3333-3333"})
    assert step_marks(fresh) == [("todo", "Not yet")] * 3
    assert fresh.one(data_testid="live-status").attrs["data-destination"] == "333333333333"
    assert step_marks(s.page("/subscription/change", params={"destination": DST})) == [("done", "Done")] * 3
    assert step_marks(s.page("/subscription/change")) == [("done", "Done")] * 3


def test_before_any_change_every_step_is_still_to_do(sqlite_seller: Seller) -> None:
    s = sqlite_seller
    s.log_in()
    s.link(SRC)
    for params in ({}, {"destination": DST}):
        assert step_marks(s.page("/subscription/change", params=params)) == [("todo", "Not yet")] * 3
    assert s.status()["account_change"] is None


def test_product_links_follow_the_marketplace_url_setting() -> None:
    assert marketplace_product_url(None, PRODUCT_ID) == f"https://aws.amazon.com/marketplace/pp/{PRODUCT_ID}"
    assert (
        marketplace_product_url("https://mp.example/", PRODUCT_ID) == f"https://mp.example/marketplace/pp/{PRODUCT_ID}"
    )
    console = "http://127.0.0.1:4566/console/{account}"
    assert marketplace_product_url(console, PRODUCT_ID) is None
    assert (
        marketplace_product_url(console, PRODUCT_ID, DST)
        == f"http://127.0.0.1:4566/console/{DST}/marketplace/pp/{PRODUCT_ID}"
    )
    assert marketplace_product_url("https://x.example/p/{product_id}?a={account}", PRODUCT_ID, DST) == (
        f"https://x.example/p/{PRODUCT_ID}?a={DST}"
    )


def test_status_json_needs_a_login(seller: Seller) -> None:
    r = seller.get("/subscription/status.json")
    assert r.status_code == 401 and r.json()["error"] == "login_required"
    seller.log_in()
    assert seller.status() == {
        "aws_account_id": None,
        "type": "none",
        "pending_cancellations": [],
        "services_registered": 0,
        "services_total": 7,
        "account_change": None,
    }


# -- headers, errors, translations ---------------------------------------------------------------------------------
def test_pages_send_security_headers_and_the_script_has_the_nonce(sqlite_seller: Seller) -> None:
    s = sqlite_seller
    pages = ["/login", "/signup", "/subscription", "/subscription/change", "/marketplace/confirm", "/nope"]
    for i, path in enumerate(pages):
        if i == 2:
            s.log_in()
        r = s.get(path)
        assert r.status_code in (200, 404), path
        assert r.headers["cache-control"] == "no-store", path
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-content-type-options"] == "nosniff"
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "form-action 'self'" in csp
        assert "unsafe-inline" not in csp
    r = s.get("/subscription/change")
    nonce = re.search(r"script-src 'nonce-([^']+)'", r.headers["content-security-policy"])
    assert nonce
    scripts = html(r).all("script")
    assert len(scripts) == 1 and scripts[0].attrs["nonce"] == nonce.group(1)
    assert "/subscription/status.json" in r.text
    assert s.get("/subscription/change").headers["content-security-policy"] != r.headers["content-security-policy"]


def test_error_pages_are_pages_in_the_right_language(sqlite_seller: Seller) -> None:
    r = sqlite_seller.get("/no/such/page", headers={"Accept-Language": "ja"})
    assert r.status_code == 404
    doc = html(r)
    assert doc.one("html").attrs["lang"] == "ja"
    assert text(doc, "page-title") == "ページが見つかりません"
    assert doc.one(data_testid="back").attrs["href"] == "/login"
    r = sqlite_seller.client.post("/subscription")
    assert r.status_code == 405 and html(r).one(data_testid="error")
    r = sqlite_seller.client.post(
        "/marketplace/register",
        content=b"--x\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert r.status_code == 400 and "Traceback" not in r.text


def test_error_page_escapes_the_message() -> None:
    scope = {"type": "http", "method": "GET", "path": "/x", "query_string": b"lang=ja", "headers": []}
    response = error_page(Request(scope), 400, "<script>alert(1)</script> & more")
    body = bytes(response.body).decode()
    assert response.status_code == 400
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in body
    assert 'lang="ja"' in body and "Traceback" not in body


def test_every_message_has_a_japanese_translation() -> None:
    """Each msgid used by the templates and the page modules is in the ja catalog, with the same placeholders."""
    translated: dict[str, str] = {}
    for module in PAGE_MODULES:
        translated |= japanese_catalog(WEB_DIR, module, "web")
    seed_words = {
        "Subscription management": "サブスクリプション管理",
        "Subscription type": "サブスクリプションタイプ",
        "Registered": "登録済み",
        "Not registered": "未登録",
        "Prerequisites": "前提条件",
        "AWS Marketplace Subscriptions": "AWS Marketplace サブスクリプション",
        "Manage": "管理",
        "Actions": "アクション",
        "Cancel": "キャンセル",
    }
    assert {k: translated[k] for k in seed_words} == seed_words
    assert "関連付け変更" in translated["Change the paying AWS account"]
    assert "切換先AWSアカウント" in translated["Destination AWS account ID"]
    assert "切換元AWSアカウント" in translated["Source account: %(account)s."]
