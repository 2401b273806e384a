"""The sandbox's buyer console (HTML, English and Japanese): every page over HTTP, bad input refused with a 4xx
page that changes nothing, and the seed's clicks in a real headless Chromium (Playwright), from "Continue to
Subscribe" to the seller resolving the registration token, then Subscriptions -> Manage -> Actions -> Cancel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from mplink.sandbox.marketplace import SandboxSettings
from tests.support.browser import japanese_catalog
from tests.support.html import PRIVATE_NAME, PUBLIC_NAME, WORDS, El, exact, html
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, PRODUCT_ID, PUBLIC_OFFER, SELLER, SRC, RunningSandbox
from tests.support.servers import serve_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

OUTSIDER = "333333333333"  # a valid account that the private offer is not extended to
SANDBOX_DIR = Path(__file__).resolve().parents[2] / "src" / "mplink" / "sandbox"


# -- a small HTML reader (the standard library's parser; no extra dependency) -----------------------------------


# -- fixtures (running_sandbox comes from tests.support.sandbox_fixtures, a plugin of conftest.py) --------------
@dataclass
class Fulfilment:
    """The seller's registration page, as a browser reaches it: records each POSTed form."""

    url: str
    posts: list[dict[str, str]]


@pytest.fixture
def fulfilment() -> Iterator[Fulfilment]:
    posts: list[dict[str, str]] = []

    async def register(request: Request) -> HTMLResponse:
        form = await request.form()
        posts.append({k: str(v) for k, v in form.items()})
        return HTMLResponse(
            "<!doctype html><html lang='en'><title>Seller registration</title>"
            "<h1 id='registered'>Registered with the seller</h1></html>"
        )

    app = Starlette(routes=[Route("/marketplace/register", register, methods=["POST"])])
    with serve_app(app) as url:
        yield Fulfilment(f"{url}/marketplace/register", posts)


@pytest.fixture
def sandbox_settings(fulfilment: Fulfilment) -> SandboxSettings:
    """Immediate provisioning, and every product's fulfilment URL pointed at the capturing app."""
    return SandboxSettings(provisioning_delay=timedelta(0), fulfillment_url=fulfilment.url)


@pytest.fixture
def web(running_sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_sandbox.url, follow_redirects=False, timeout=10) as client:
        yield client


def agreements(sb: RunningSandbox, account: str | None = None) -> list[dict[str, Any]]:
    params = {"account_id": account} if account else {}
    found: list[dict[str, Any]] = sb.control("GET", "agreements", params=params)
    return found


def subscribe_via_console(web: httpx.Client, account: str, offer_id: str) -> str:
    """POST the offer form as the browser would; answers the new agreement's id."""
    r = web.post(f"/console/{account}/marketplace/pp/{PRODUCT_ID}/subscribe", data={"offer_id": offer_id})
    assert r.status_code == 303, r.text
    match = re.fullmatch(
        rf"/console/{account}/marketplace/subscriptions/(agmt-[a-z0-9]+)/setup\?new=1", r.headers["location"]
    )
    assert match, r.headers["location"]
    return match.group(1)


def assert_chrome(doc: El, lang: str, account: str | None) -> None:
    """What every page has: its language, the header, the language switch and the account acted as."""
    assert doc.one("html").attrs["lang"] == lang
    assert doc.one(data_testid="brand").text.startswith("AWS Marketplace")
    switch = doc.one(data_testid="language-switch")
    assert switch.one(id="lang-en").text == "English"
    assert switch.one(id="lang-ja").text == "日本語"
    assert switch.one(id=f"lang-{lang}").attrs.get("aria-current") == "true"
    if account:
        shown = doc.one(data_testid="current-account")
        assert shown.text == f"{account[:4]}-{account[4:8]}-{account[8:]}"


# -- pages over HTTP ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_page_in_both_languages(
    running_sandbox: RunningSandbox, web: httpx.Client, fulfilment: Fulfilment, lang: str
) -> None:
    words = WORDS[lang]
    # ?lang= picks the language and sets the cookie, which then holds across pages and POST-redirect-GET
    r = web.get("/console", params={"lang": lang})
    assert r.status_code == 200
    assert f"mplink_lang={lang}" in r.headers["set-cookie"]
    doc = html(r)
    assert_chrome(doc, lang, None)
    assert {e.attrs["href"] for e in doc.all(data_testid="signin-account")} == {f"/console/{SRC}", f"/console/{DST}"}

    doc = html(web.get(f"/console/{DST}"))
    assert_chrome(doc, lang, DST)
    assert doc.one(id=f"product-{PRODUCT_ID}").attrs["href"] == f"/console/{DST}/marketplace/pp/{PRODUCT_ID}"

    r = web.get(f"/console/{DST}/marketplace/pp/{PRODUCT_ID}")
    assert r.status_code == 200
    doc = html(r)
    assert_chrome(doc, lang, DST)
    assert doc.one(data_testid="product-title").text == "Trend Micro Cloud One"
    assert doc.one(data_testid="seller").text == "Trend Micro"
    services = [row.one("th").text for row in doc.all(data_testid="service")]
    assert services[:2] == ["Workload Security", "Container Security"] and "Conformity" in services
    assert doc.one(id="continue-to-subscribe").text == words["continue"]

    doc = html(web.get(f"/console/{DST}/marketplace/pp/{PRODUCT_ID}/subscribe"))
    assert_chrome(doc, lang, DST)
    labels = [e.text for e in doc.all(data_testid="offer-label")]
    assert labels == [PUBLIC_NAME, PRIVATE_NAME]
    radios = doc.all("input", type="radio", name="offer_id")
    assert [r.attrs["value"] for r in radios] == [PUBLIC_OFFER, PRIVATE_OFFER]
    assert not any("disabled" in r.attrs for r in radios)
    private = doc.one(data_testid="offer", data_offer_id=PRIVATE_OFFER)
    prices = {
        row.attrs["data-dimension"]: row.all("td")[-1].text
        for row in private.all("tr")
        if "data-dimension" in row.attrs
    }
    assert prices["workload_security_hours"] == "$0.0085" and len(prices) == 6
    assert doc.one(id="subscribe").text == words["subscribe"]

    agreement_id = subscribe_via_console(web, DST, PRIVATE_OFFER)
    r = web.get(f"/console/{DST}/marketplace/subscriptions/{agreement_id}/setup", params={"new": "1"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    doc = html(r)
    assert_chrome(doc, lang, DST)
    form = doc.one("form", data_testid="setup-form")
    assert form.attrs["method"] == "post" and form.attrs["action"] == fulfilment.url
    token = form.one("input", type="hidden", name="x-amzn-marketplace-token").attrs["value"]
    assert doc.one(id="setup-account").text == words["setup"]
    resolved = running_sandbox.client("meteringmarketplace", SELLER).resolve_customer(RegistrationToken=token)
    assert resolved["CustomerAWSAccountId"] == DST and resolved["Metadata"]["AgreementId"] == agreement_id
    token_info = running_sandbox.box.market.tokens[token]
    assert token_info.origin == "console"
    assert token_info.expires_at - running_sandbox.box.market.now() > timedelta(hours=3, minutes=59)

    doc = html(web.get(f"/console/{DST}/marketplace/pp/{PRODUCT_ID}/subscribe"))
    private = doc.one(data_testid="offer", data_offer_id=PRIVATE_OFFER)
    assert private.one(data_testid="offer-label").text == PRIVATE_NAME + words["current"]
    assert "disabled" in private.one("input", type="radio").attrs

    doc = html(web.get(f"/console/{DST}/marketplace/subscriptions"))
    assert_chrome(doc, lang, DST)
    assert doc.one("h1").text == words["subscriptions"]
    row = doc.one(data_testid="subscription-row")
    assert row.attrs["data-agreement-id"] == agreement_id and row.attrs["data-status"] == "ACTIVE"
    cells = [c.text for c in row.all("td")]
    assert row.one("th").text == "Trend Micro Cloud One" and cells[0] == PRIVATE_NAME
    assert cells[1] == "Classmethod, Inc." and cells[2] == words["active"]
    zone = "JST" if lang == "ja" else "UTC"  # the viewer's time zone, UTC on hover
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d {zone}", cells[3])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row.one("time").attrs["title"])
    manage = row.one(data_testid="manage")
    assert manage.text == words["manage"]

    doc = html(web.get(manage.attrs["href"]))
    assert_chrome(doc, lang, DST)
    assert doc.one(data_testid="agreement-id").text == agreement_id
    menu = doc.one("details", data_testid="actions-menu")
    assert menu.one("summary").text == words["actions"]
    cancel_link = menu.one(data_testid="action-cancel")
    assert cancel_link.text == words["cancel"]

    doc = html(web.get(cancel_link.attrs["href"]))
    assert_chrome(doc, lang, DST)
    form = doc.one("form", data_testid="cancel-form")
    assert form.attrs["method"] == "post"
    r = web.post(form.attrs["action"], data={"confirm": "yes"})
    assert r.status_code == 303
    doc = html(web.get(r.headers["location"]))
    assert doc.one(data_testid="cancelled")
    assert doc.one(data_testid="status").attrs["data-status"] == "CANCELLED"
    assert doc.one(data_testid="status").text == words["cancelled"]
    assert [a["status"] for a in agreements(running_sandbox, DST)] == ["CANCELLED"]


def test_language_comes_from_accept_language_then_cookie_then_query(web: httpx.Client) -> None:
    path = f"/console/{DST}/marketplace/subscriptions"
    r = web.get(path, headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5"})
    assert html(r).one("html").attrs["lang"] == "ja" and "set-cookie" not in r.headers
    assert html(web.get(path, headers={"Accept-Language": "fr-FR,en;q=0.5"})).one("html").attrs["lang"] == "en"
    web.cookies.set("mplink_lang", "en")
    assert html(web.get(path, headers={"Accept-Language": "ja"})).one("html").attrs["lang"] == "en"
    r = web.get(path, params={"lang": "ja", "x": "1"}, headers={"Accept-Language": "en"})
    doc = html(r)
    assert doc.one("html").attrs["lang"] == "ja" and "mplink_lang=ja" in r.headers["set-cookie"]
    # the switch keeps the page's other query parameters
    assert doc.one(id="lang-en").attrs["href"] == f"{path}?x=1&lang=en"
    assert html(web.get(path, params={"lang": "de"})).one("html").attrs["lang"] == "ja"


def test_sign_in_with_any_twelve_digit_account(web: httpx.Client) -> None:
    r = web.post("/console", data={"account_id": " 3333-3333-3333 "})
    assert r.status_code == 303 and r.headers["location"] == f"/console/{OUTSIDER}"
    doc = html(web.get(r.headers["location"]))
    assert_chrome(doc, "en", OUTSIDER)
    # an account the private offer is not extended to sees only the public offer
    doc = html(web.get(f"/console/{OUTSIDER}/marketplace/pp/{PRODUCT_ID}/subscribe"))
    assert [e.text for e in doc.all(data_testid="offer-label")] == [PUBLIC_NAME]
    for bad in ("12345", "abcdabcdabcd", "", "1111111111112"):
        r = web.post("/console", data={"account_id": bad})
        assert r.status_code == 400
        assert html(r).one(data_testid="error").attrs["data-code"] == "ValidationException"


@pytest.mark.parametrize(
    "path",
    [
        "/console/12345/marketplace/subscriptions",
        "/console/abcdefghijkl",
        "/console/2222222222222/marketplace/pp/" + PRODUCT_ID,
        f"/console/{DST}/marketplace/pp/prod-doesnotexist",
        f"/console/{DST}/marketplace/pp/prod-doesnotexist/subscribe",
        f"/console/{DST}/marketplace/subscriptions/agmt-doesnotexist",
        f"/console/{DST}/marketplace/subscriptions/agmt-doesnotexist/setup",
        f"/console/{DST}/marketplace/subscriptions/agmt-doesnotexist/cancel",
        f"/console/{DST}/no/such/page",
    ],
)
def test_unknown_pages_answer_a_404_page(web: httpx.Client, path: str) -> None:
    r = web.get(path, params={"lang": "ja"})
    assert r.status_code == 404
    doc = html(r)
    assert_chrome(doc, "ja", None)
    assert doc.one(data_testid="error").text


def test_switching_from_the_public_offer_replaces_it(running_sandbox: RunningSandbox, web: httpx.Client) -> None:
    public_id = subscribe_via_console(web, DST, PUBLIC_OFFER)
    doc = html(web.get(f"/console/{DST}/marketplace/pp/{PRODUCT_ID}/subscribe"))
    labels = [e.text for e in doc.all(data_testid="offer-label")]
    assert labels == [PUBLIC_NAME + " - current subscription", PRIVATE_NAME]
    note = doc.one(data_testid="offer", data_offer_id=PRIVATE_OFFER).one(data_testid="replace-note")
    assert PUBLIC_NAME in note.text and "replaced" in note.text
    assert not doc.one(data_testid="offer", data_offer_id=PUBLIC_OFFER).all(data_testid="replace-note")

    private_id = subscribe_via_console(web, DST, PRIVATE_OFFER)
    doc = html(web.get(f"/console/{DST}/marketplace/subscriptions/{private_id}/setup", params={"new": "1"}))
    assert PUBLIC_NAME in doc.one(data_testid="replaced-note").text
    by_id = {a["agreement_id"]: a for a in agreements(running_sandbox, DST)}
    assert by_id[public_id]["status"] == "REPLACED"
    assert by_id[private_id]["intent"] == "REPLACE" and by_id[private_id]["previous_agreement_id"] == public_id
    # the list shows the active subscription first; the replaced one stays visible with its status
    doc = html(web.get(f"/console/{DST}/marketplace/subscriptions", params={"lang": "ja"}))
    rows = doc.all(data_testid="subscription-row")
    assert [(r.attrs["data-agreement-id"], r.attrs["data-status"]) for r in rows] == [
        (private_id, "ACTIVE"),
        (public_id, "REPLACED"),
    ]
    # a replaced subscription has nothing to set up or cancel
    detail = html(web.get(f"/console/{DST}/marketplace/subscriptions/{public_id}"))
    assert not detail.all(data_testid="action-cancel")
    assert web.get(f"/console/{DST}/marketplace/subscriptions/{public_id}/setup").status_code == 409


@pytest.mark.parametrize(
    ("account", "data", "status", "code"),
    [
        (DST, {}, 400, ""),
        (DST, {"offer_id": "   "}, 400, ""),
        (DST, {"offer_id": "offer-doesnotexist"}, 404, "ResourceNotFoundException"),
        (OUTSIDER, {"offer_id": PRIVATE_OFFER}, 404, "ResourceNotFoundException"),
        (SRC, {"offer_id": PRIVATE_OFFER}, 409, "ConflictException"),
    ],
    ids=["missing", "blank", "unknown-offer", "offer-not-visible", "already-subscribed"],
)
def test_bad_subscribe_input_changes_nothing(
    running_sandbox: RunningSandbox, web: httpx.Client, account: str, data: dict[str, str], status: int, code: str
) -> None:
    subscribe_via_console(web, SRC, PRIVATE_OFFER)
    before = agreements(running_sandbox)
    r = web.post(f"/console/{account}/marketplace/pp/{PRODUCT_ID}/subscribe", data=data, params={"lang": "ja"})
    assert r.status_code == status
    doc = html(r)
    assert_chrome(doc, "ja", account)
    error = doc.one(data_testid="error")
    assert error.attrs["data-code"] == code and error.text
    # the answer is the offer page again, so the buyer can choose once more
    assert doc.one(data_testid="offer-form")
    assert agreements(running_sandbox) == before


@pytest.mark.parametrize(
    ("path", "content", "status"),
    [
        (f"/console/1234/marketplace/pp/{PRODUCT_ID}/subscribe", {"data": {"offer_id": PUBLIC_OFFER}}, 404),
        (f"/console/{DST}/marketplace/pp/prod-nope/subscribe", {"data": {"offer_id": PUBLIC_OFFER}}, 404),
        (f"/console/{DST}/marketplace/pp/{PRODUCT_ID}/subscribe", {"json": {"offer_id": PUBLIC_OFFER}}, 400),
        (
            f"/console/{DST}/marketplace/pp/{PRODUCT_ID}/subscribe",
            {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
            400,
        ),
    ],
    ids=["bad-account", "unknown-product", "not-a-form", "broken-multipart"],
)
def test_malformed_subscribe_requests_change_nothing(
    running_sandbox: RunningSandbox, web: httpx.Client, path: str, content: dict[str, Any], status: int
) -> None:
    before = agreements(running_sandbox)
    r = web.post(path, **content)
    assert r.status_code == status
    assert html(r).one(data_testid="error")
    assert agreements(running_sandbox) == before == []


def test_bad_cancel_input_changes_nothing(running_sandbox: RunningSandbox, web: httpx.Client) -> None:
    mine = subscribe_via_console(web, SRC, PRIVATE_OFFER)
    theirs = subscribe_via_console(web, DST, PRIVATE_OFFER)
    before = agreements(running_sandbox)

    r = web.post(f"/console/{SRC}/marketplace/subscriptions/{mine}/cancel", data={})
    assert r.status_code == 400
    doc = html(r)
    assert doc.one(data_testid="error").attrs["data-code"] == "ValidationException"
    assert doc.one(data_testid="cancel-form")
    # another account's agreement does not exist as far as this account can tell
    r = web.post(f"/console/{SRC}/marketplace/subscriptions/{theirs}/cancel", data={"confirm": "yes"})
    assert r.status_code == 404 and html(r).one(data_testid="error").attrs["data-code"] == "ResourceNotFoundException"
    assert web.get(f"/console/{SRC}/marketplace/subscriptions/{theirs}").status_code == 404
    r = web.post(f"/console/{SRC}/marketplace/subscriptions/agmt-nope/cancel", data={"confirm": "yes"})
    assert r.status_code == 404
    assert agreements(running_sandbox) == before

    assert (
        web.post(f"/console/{SRC}/marketplace/subscriptions/{mine}/cancel", data={"confirm": "yes"}).status_code == 303
    )
    after_cancel = agreements(running_sandbox)
    r = web.post(f"/console/{SRC}/marketplace/subscriptions/{mine}/cancel", data={"confirm": "yes"})
    assert r.status_code == 409 and html(r).one(data_testid="error").attrs["data-code"] == "ConflictException"
    assert web.get(f"/console/{SRC}/marketplace/subscriptions/{mine}/cancel").status_code == 409
    assert agreements(running_sandbox) == after_cancel
    assert {a["agreement_id"]: a["status"] for a in after_cancel} == {mine: "CANCELLED", theirs: "ACTIVE"}


def test_console_cancels_what_the_api_refuses(running_sandbox: RunningSandbox, web: httpx.Client) -> None:
    """Some agreements cannot be cancelled through CancelAgreement; the console's Cancel still works."""
    agreement_id = subscribe_via_console(web, SRC, PRIVATE_OFFER)
    running_sandbox.control("POST", f"agreements/{agreement_id}/cancellable", json={"cancellable": False})
    api = running_sandbox.client("marketplace-agreement", SRC)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        api.cancel_agreement(agreementId=agreement_id)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    r = web.post(f"/console/{SRC}/marketplace/subscriptions/{agreement_id}/cancel", data={"confirm": "yes"})
    assert r.status_code == 303
    assert [a["status"] for a in agreements(running_sandbox, SRC)] == ["CANCELLED"]


def test_every_message_has_a_japanese_translation() -> None:
    """Each msgid used by the templates and console.py is in the ja catalog, with the same placeholders."""
    translated = japanese_catalog(SANDBOX_DIR, "console.py", "console")
    seed_words = {
        "Continue to Subscribe": "サブスクリプションを申し込む",
        "Subscribe": "申し込む",
        "%(offer)s - current subscription": "%(offer)s - 現在のサブスクリプション",
        "AWS Marketplace Subscriptions": "AWS Marketplace サブスクリプション",
        "Manage": "管理",
        "Actions": "アクション",
        "Cancel": "キャンセル",
        "Set up your account": "アカウントを設定",
    }
    assert {k: translated[k] for k in seed_words} == seed_words


# -- the seed's clicks in Chromium --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_buyer_clicks_through_the_seed_procedure_in_chromium(
    running_sandbox: RunningSandbox,
    fulfilment: Fulfilment,
    browser: Browser,
    screenshots: Path,
    web: httpx.Client,
    lang: str,
) -> None:
    words = WORDS[lang]
    sb = running_sandbox
    # the source account already pays through the private offer: that is what the move leaves behind
    source_agreement = subscribe_via_console(web, SRC, PRIVATE_OFFER)
    other = "en" if lang == "ja" else "ja"
    # the browser asks for the other language; the switch on the page wins and sticks (cookie)
    context = browser.new_context(locale="ja-JP" if other == "ja" else "en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    shots = iter(range(1, 100))

    def shot(name: str) -> None:
        page.screenshot(path=str(screenshots / f"console-{lang}-{next(shots):02d}-{name}.png"), full_page=True)

    def expect_lang(p: Page) -> None:
        assert p.get_attribute("html", "lang") == lang

    try:
        page.goto(f"{sb.url}/console")
        assert page.get_attribute("html", "lang") == other
        page.click(f"#lang-{lang}")
        page.wait_for_url(exact(f"{sb.url}/console?lang={lang}"))
        expect_lang(page)
        names = page.locator("[data-testid=account-name]").all_inner_texts()
        assert names == [words["source_account"], words["destination_account"]]
        shot("sign-in")

        # 1. link the SaaS account to the destination account: sign in as it, open the product page
        page.click(f"#signin-{DST}")
        page.wait_for_url(exact(f"{sb.url}/console/{DST}"))
        assert page.inner_text("#current-account") == "2222-2222-2222"
        page.click(f"#product-{PRODUCT_ID}")
        page.wait_for_url(exact(f"{sb.url}/console/{DST}/marketplace/pp/{PRODUCT_ID}"))
        expect_lang(page)
        assert page.inner_text("[data-testid=product-title]") == "Trend Micro Cloud One"
        shot("product")
        page.get_by_role("button", name=words["continue"], exact=True).click()
        page.wait_for_url(re.compile(r"/subscribe\??$"))
        expect_lang(page)
        labels = page.locator("[data-testid=offer-label]").all_inner_texts()
        assert labels == [PUBLIC_NAME, PRIVATE_NAME]
        page.get_by_label(PRIVATE_NAME, exact=True).check()
        shot("offers")
        page.get_by_role("button", name=words["subscribe"], exact=True).click()
        page.wait_for_url(re.compile(r"/setup\?new=1$"))
        expect_lang(page)
        shown_agreement = page.inner_text("[data-testid=agreement-id]")
        shot("subscribed")
        page.get_by_role("button", name=words["setup"], exact=True).click()
        page.wait_for_url(exact(fulfilment.url))
        assert page.inner_text("#registered") == "Registered with the seller"
        shot("seller-registration")

        assert len(fulfilment.posts) == 1
        token = fulfilment.posts[0]["x-amzn-marketplace-token"]
        dst_agreements = agreements(sb, DST)
        private = [a for a in dst_agreements if a["offer_id"] == PRIVATE_OFFER]
        assert len(private) == 1 and private[0]["agreement_id"] == shown_agreement
        resolved = sb.client("meteringmarketplace", SELLER).resolve_customer(RegistrationToken=token)
        assert resolved["CustomerAWSAccountId"] == DST
        assert resolved["Metadata"]["AgreementId"] == private[0]["agreement_id"]
        assert resolved["LicenseArn"] == private[0]["license_arn"]

        # back in the console, the offer now shows as the current subscription
        page.goto(f"{sb.url}/console/{DST}/marketplace/pp/{PRODUCT_ID}/subscribe")
        expect_lang(page)
        current = page.locator(f"[data-testid=offer][data-offer-id={PRIVATE_OFFER}] [data-testid=offer-label]")
        assert current.inner_text() == PRIVATE_NAME + words["current"]
        assert page.is_disabled(f"#offer-{PRIVATE_OFFER}")
        shot("offers-current")

        # 2. cancel the subscription left in the source account, in the source account
        page.click("#switch-account")
        page.wait_for_url(exact(f"{sb.url}/console"))
        page.click(f"#signin-{SRC}")
        page.wait_for_url(exact(f"{sb.url}/console/{SRC}"))
        page.click("#nav-subscriptions")
        page.wait_for_url(exact(f"{sb.url}/console/{SRC}/marketplace/subscriptions"))
        expect_lang(page)
        assert page.inner_text("h1") == words["subscriptions"]
        assert page.inner_text("[data-testid=account-name]") == f"({words['source_account']})"
        shot("subscriptions")
        row = page.locator(f"[data-testid=subscription-row][data-agreement-id={source_agreement}]")
        # at 1280 px the button's label stays on one line (管理 wrapped to two)
        lines = row.locator("[data-testid=manage]").evaluate(
            "el => { const r = document.createRange(); r.selectNodeContents(el);"
            " return new Set(Array.from(r.getClientRects(), x => Math.round(x.top))).size; }"
        )
        assert lines == 1
        row.get_by_role("link", name=words["manage"]).click()
        page.wait_for_url(re.compile(rf"/subscriptions/{source_agreement}$"))
        expect_lang(page)
        page.get_by_text(words["actions"], exact=True).click()
        shot("actions-menu")
        page.get_by_role("link", name=words["cancel"], exact=True).click()
        page.wait_for_url(re.compile(rf"/subscriptions/{source_agreement}/cancel$"))
        expect_lang(page)
        page.check("#confirm")
        shot("cancel-confirm")
        page.click("#confirm-cancel")
        page.wait_for_url(re.compile(r"\?cancelled=1$"))
        page.wait_for_selector("[data-testid=cancelled]")
        expect_lang(page)
        assert page.get_attribute("[data-testid=status]", "data-status") == "CANCELLED"
        assert page.inner_text("[data-testid=status]") == words["cancelled"]
        shot("cancelled")
    finally:
        context.close()

    by_id = {a["agreement_id"]: a for a in agreements(sb)}
    assert by_id[source_agreement]["status"] == "CANCELLED" and by_id[source_agreement]["account_id"] == SRC
    assert by_id[private[0]["agreement_id"]]["status"] == "ACTIVE"


# -- the seller's cancellation request, as its buyer sees and answers it --------------------------------------------
def send_cancellation_request(sb: RunningSandbox, agreement_id: str) -> str:
    sent = sb.client("marketplace-agreement", SELLER).send_agreement_cancellation_request(
        agreementId=agreement_id, reasonCode="REPLACING_AGREEMENT", description="Moved to another account"
    )
    return str(sent["agreementCancellationRequestId"])


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_buyer_approves_a_pending_cancellation_request(
    web: httpx.Client, running_sandbox: RunningSandbox, lang: str
) -> None:
    agreement_id = subscribe_via_console(web, SRC, PUBLIC_OFFER)
    manage = f"/console/{SRC}/marketplace/subscriptions/{agreement_id}"
    assert not html(web.get(manage, params={"lang": lang})).all(data_testid="cancellation-request")
    request_id = send_cancellation_request(running_sandbox, agreement_id)

    doc = html(web.get(manage, params={"lang": lang}))
    panel = doc.one(data_testid="cancellation-request")
    assert panel.one(data_testid="request-id").text == request_id
    assert "REPLACING_AGREEMENT: Moved to another account" in panel.one(data_testid="request-reason").text
    heading = {
        "en": "The seller asks to cancel this subscription",
        "ja": "販売者がこのサブスクリプションのキャンセルを求めています",
    }
    assert heading[lang] in panel.text

    r = web.post(f"{manage}/cancellation-requests/{request_id}/approve", params={"lang": lang})
    assert r.status_code == 303 and r.headers["location"] == f"{manage}?request=approved"
    done = html(web.get(manage, params={"request": "approved", "lang": lang}))
    assert done.all(data_testid="request-approved") and not done.all(data_testid="cancellation-request")
    assert [a["status"] for a in agreements(running_sandbox, SRC)] == ["CANCELLED"]
    accepted = running_sandbox.control("GET", "calls", params={"operation": "AcceptAgreementCancellationRequest"})
    assert accepted == []  # the console acts as AWS's own pages do, not through the API
    # answering again: refused with a page, nothing changes
    again = web.post(f"{manage}/cancellation-requests/{request_id}/approve")
    assert again.status_code == 409 and "ConflictException" in again.text


def test_the_buyer_rejects_with_a_reason_and_the_subscription_stays(
    web: httpx.Client, running_sandbox: RunningSandbox
) -> None:
    agreement_id = subscribe_via_console(web, SRC, PUBLIC_OFFER)
    manage = f"/console/{SRC}/marketplace/subscriptions/{agreement_id}"
    request_id = send_cancellation_request(running_sandbox, agreement_id)
    empty = web.post(f"{manage}/cancellation-requests/{request_id}/reject", data={"reason": " "})
    assert empty.status_code == 400 and html(empty).all(data_testid="cancellation-request")
    r = web.post(f"{manage}/cancellation-requests/{request_id}/reject", data={"reason": "We still use it"})
    assert r.status_code == 303 and r.headers["location"] == f"{manage}?request=rejected"
    assert html(web.get(r.headers["location"])).all(data_testid="request-rejected")
    assert [a["status"] for a in agreements(running_sandbox, SRC)] == ["ACTIVE"]
    got = running_sandbox.client("marketplace-agreement", SELLER).get_agreement_cancellation_request(
        agreementId=agreement_id, agreementCancellationRequestId=request_id
    )
    assert got["status"] == "REJECTED" and got["statusMessage"] == "We still use it"
    assert web.post(f"{manage}/cancellation-requests/{request_id}/withdraw").status_code == 404
