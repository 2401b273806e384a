"""The seed's journey in headless Chromium, once in Japanese and once in English: Example Corp pays from AWS account
1111-1111-1111 through the reseller's private offer; 2222-2222-2222 subscribes to the same offer in the sandbox's
buyer console, presses "Set up your account", logs in to the seller and confirms; the seller's pages show the new
account with every service registered and the cancel step for 1111-1111-1111; 1111-1111-1111 cancels in the
console (AWS Marketplace Subscriptions -> Manage -> Actions -> Cancel); the sandbox delivers its events to the
seller by itself and the cancel step disappears, while the tenant keeps every service.

Screenshots of each step go to $MPLINK_SCREENSHOTS (else the test's tmp_path); docs/account-change.md uses some."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from mplink.adapters.aws import SellerMarketplace
from mplink.adapters.catalog_file import parse_catalog
from mplink.sandbox.catalog import read_catalog, seed_catalog
from mplink.sandbox.marketplace import SandboxSettings
from mplink.sandbox.server import Sandbox, build_sandbox
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.tenants import create_tenant
from mplink.web.app import create_app
from tests.support.html import PRIVATE_NAME, PUBLIC_NAME, WORDS, exact, html
from tests.support.sandbox_fixtures import (
    CONTRACT_OFFER,
    DST,
    PRIVATE_OFFER,
    PRODUCT_ID,
    SRC,
    contract_catalog_text,
)
from tests.support.servers import serve_app
from tests.support.web import (
    ADMIN,
    PASSWORD,
    SECRET,
    SERVICES,
    TENANT,
    csrf_of,
    fresh_store,
    seller_settings,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

#: what the seller's pages say, per language
SELLER_WORDS = {
    "en": {
        "title": "Subscription management",
        "registered": "Registered",
        "not_registered": "Not registered",
        "confirm": "Confirm",
        "sentence": (
            "AWS account 2222-2222-2222, offer '{offer}' from Classmethod, Inc. (8888-8888-8888), will pay for "
            "{tenant} from now on, instead of AWS account 1111-1111-1111."
        ),
        "path": ["AWS Marketplace Subscriptions", "Trend Micro Cloud One", "Manage", "Actions", "Cancel"],
        "waiting": "Waiting for the cancellation",
        "done": "Done",
    },
    "ja": {
        "title": "サブスクリプション管理",
        "registered": "登録済み",
        "not_registered": "未登録",
        "confirm": "確定",
        "sentence": (
            "これ以降、AWS アカウント 1111-1111-1111 に代わり、AWS アカウント 2222-2222-2222 "
            "(Classmethod, Inc. (8888-8888-8888) のオファー「{offer}」) が {tenant} の支払いを行います。"
        ),
        "path": ["AWS Marketplace サブスクリプション", "Trend Micro Cloud One", "管理", "アクション", "キャンセル"],
        "waiting": "キャンセル待ち",
        "done": "完了",
    },
}


def eventually(check: Callable[[], bool], timeout: float = 20.0, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {check.__doc__ or check}")
        time.sleep(every)


def link_over_http(seller_url: str, token: str) -> None:
    """The starting point, set up without a browser: Example Corp's admin registers and confirms 1111's token."""
    with httpx.Client(base_url=seller_url, follow_redirects=False, timeout=10) as web:
        r = web.post("/marketplace/register", data={"x-amzn-marketplace-token": token})
        assert r.status_code == 303, r.text
        r = web.get("/marketplace/confirm")
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), r.text
        csrf = csrf_of(html(web.get("/login")))
        r = web.post("/login", data={"csrf_token": csrf, "email": ADMIN, "password": PASSWORD, "next": "/x"})
        assert r.status_code == 303
        form = html(web.get("/marketplace/confirm")).one("form", data_testid="confirm-form")
        data = {i.attrs["name"]: i.attrs.get("value", "") for i in form.all("input")}
        r = web.post("/marketplace/confirm", data={**data, "action": "confirm"})
        assert r.status_code == 303 and r.headers["location"] == "/subscription"


@dataclass
class Running:
    seller: str
    sandbox: str
    box: Sandbox
    source: str


@contextmanager
def seller_and_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog: str | None = None, offer: str = PRIVATE_OFFER
) -> Iterator[Running]:
    """The seller app and the sandbox on real ports, the sandbox delivering its events to the seller, and the
    seed's starting point: Example Corp pays from 1111-1111-1111 through the private offer. With ``catalog`` (a
    catalog file's text), both sell it instead of the seed's, and 1111-1111-1111 pays through ``offer``."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA999999999999")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "MPLINK_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    # the change page polls every 3 s for people; the tests' pages poll faster so they do not wait on it
    monkeypatch.setattr("mplink.web.change.POLL_MS", 400)
    store = fresh_store(tmp_path)
    if catalog is not None:
        store_catalog(store.uow(), parse_catalog(catalog))
    create_tenant(store.uow(), TENANT, ADMIN, PASSWORD)
    settings = seller_settings(store.url, None)
    app = create_app(settings, store=store)
    try:
        # the seller first (the sandbox delivers events to it), then the sandbox, then point the seller at it
        with serve_app(app) as seller:
            box = build_sandbox(
                seed_catalog() if catalog is None else read_catalog(catalog),
                tmp_path / "sandbox.db",
                SandboxSettings(provisioning_delay=timedelta(0), fulfillment_url=f"{seller}/marketplace/register"),
                event_endpoint=f"{seller}/events/eventbridge",
                event_secret=SECRET,
            )
            try:
                with serve_app(box.app) as sandbox:
                    state = app.state.mplink
                    state.marketplace = SellerMarketplace(sandbox)
                    state.settings = replace(
                        settings, aws_endpoint_url=sandbox, marketplace_url=f"{sandbox}/console/{{account}}"
                    )
                    source = box.market.agreement.subscribe(SRC, offer)
                    link_over_http(seller, box.market.agreement.issue_token(source, "console").token)
                    eventually(lambda: box.dispatcher.pending() == 0)
                    yield Running(seller, sandbox, box, source.agreement_id)
                    eventually(lambda: box.dispatcher.pending() == 0)
                    failed = [e for e in box.dispatcher.log if e["error"]]
                    assert failed == [], failed
            finally:
                box.close()
    finally:
        store.dispose()


Shot = Callable[["Page", str], None]


@contextmanager
def two_browsers(browser: Browser, lang: str, screenshots: Path, prefix: str) -> Iterator[tuple[Page, Page, Shot]]:
    """The admin's browser and the buyer's (each its own cookies), asking for the test's language."""
    locale = "ja-JP" if lang == "ja" else "en-US"
    shots = iter(range(1, 100))

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(screenshots / f"{prefix}-{lang}-{next(shots):02d}-{name}.png"), full_page=True)

    admin = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    buyer = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    try:
        a, b = admin.new_page(), buyer.new_page()
        for page in (a, b):
            page.set_default_timeout(15_000)
        yield a, b, shot
    finally:
        admin.close()
        buyer.close()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_seed_journey_in_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: Browser, screenshots: Path, lang: str
) -> None:
    with (
        seller_and_sandbox(tmp_path, monkeypatch) as run,
        two_browsers(browser, lang, screenshots, "journey") as (admin, buyer, shot),
    ):
        journey(run.seller, run.sandbox, admin, buyer, shot, lang, run.source)


def journey(seller: str, sandbox: str, admin: Page, buyer: Page, shot: Shot, lang: str, source: str) -> None:
    words, console = SELLER_WORDS[lang], WORDS[lang]

    def expect_lang(page: Page) -> None:
        assert page.get_attribute("html", "lang") == lang

    # the admin opens the seller's pages: 1111-1111-1111 pays; the wizard lists the steps
    admin.goto(f"{seller}/login")
    expect_lang(admin)
    admin.fill("#email", ADMIN)
    admin.fill("#password", PASSWORD)
    admin.click("#login")
    admin.wait_for_url(exact(f"{seller}/subscription"))
    assert admin.inner_text("[data-testid=brand]") == f"mplink — {TENANT}"
    assert admin.inner_text("[data-testid=page-title]") == words["title"]
    assert admin.inner_text("[data-testid=aws-account]") == "1111-1111-1111"
    shot(admin, "subscription-before")
    admin.click("#change-account")
    admin.wait_for_url(exact(f"{seller}/subscription/change"))
    admin.fill("#destination", "2222-2222-2222")
    admin.click("#set-destination")
    admin.wait_for_url(re.compile(r"/subscription/change\?destination=2222-2222-2222$"))
    expect_lang(admin)
    assert admin.inner_text("[data-testid=offer-to-choose]") == PRIVATE_NAME
    product_url = admin.get_attribute("#marketplace-link", "href")
    assert product_url == f"{sandbox}/console/{DST}/marketplace/pp/{PRODUCT_ID}"
    assert admin.get_attribute("#state-link", "data-state") == "todo"
    shot(admin, "wizard")

    # step 1, in the destination account: the product page, Continue to Subscribe, the private offer, Subscribe
    buyer.goto(product_url)
    expect_lang(buyer)
    assert buyer.inner_text("#current-account") == "2222-2222-2222"
    shot(buyer, "marketplace-product")
    buyer.get_by_role("button", name=console["continue"], exact=True).click()
    buyer.wait_for_url(re.compile(r"/subscribe\??$"))
    buyer.get_by_label(PRIVATE_NAME, exact=True).check()
    shot(buyer, "marketplace-offer")
    buyer.get_by_role("button", name=console["subscribe"], exact=True).click()
    buyer.wait_for_url(re.compile(r"/setup\?new=1$"))
    shot(buyer, "marketplace-set-up")
    buyer.get_by_role("button", name=console["setup"], exact=True).click()

    # "Set up your account" lands on the seller's login; after it, the confirmation
    buyer.wait_for_url(exact(f"{seller}/login?next=%2Fmarketplace%2Fconfirm"))
    expect_lang(buyer)
    assert buyer.is_visible("[data-testid=pending-note]")
    buyer.fill("#email", ADMIN)
    buyer.fill("#password", PASSWORD)
    shot(buyer, "seller-login")
    buyer.click("#login")
    buyer.wait_for_url(exact(f"{seller}/marketplace/confirm"))
    expect_lang(buyer)
    sentence = re.sub(r"\s+", " ", buyer.inner_text("[data-testid=confirm-sentence]")).strip()
    assert sentence == words["sentence"].format(offer=PRIVATE_NAME, tenant=TENANT)
    assert buyer.inner_text("[data-testid=confirm-current]") == "1111-1111-1111"
    shot(buyer, "confirm")
    buyer.get_by_role("button", name=words["confirm"], exact=True).click()

    # step 2, check: AWS Marketplace, 2222-2222-2222, every service registered; the cancel step for 1111
    buyer.wait_for_url(exact(f"{seller}/subscription"))
    assert buyer.get_attribute("[data-testid=subscription-type]", "data-type") == "aws_marketplace"
    assert buyer.inner_text("[data-testid=subscription-type]") == "AWS Marketplace"
    assert buyer.inner_text("[data-testid=aws-account]") == "2222-2222-2222"
    rows = buyer.locator("[data-testid=service]")
    assert rows.locator("th").all_inner_texts() == SERVICES
    assert buyer.locator("[data-testid=service-status]").all_inner_texts() == [words["registered"]] * 7
    step = buyer.locator("[data-testid=pending-cancellation]")
    assert step.get_attribute("data-account-id") == SRC and "1111-1111-1111" in step.locator("h2").inner_text()
    assert step.locator("[data-testid=console-path] li").all_inner_texts() == words["path"]
    shot(buyer, "linked-cancel-step")

    # the wizard, still open in the admin's browser, shows the new link by itself (status.json, every 3 s)
    admin.wait_for_selector("#state-link[data-state=done]")
    assert admin.inner_text("#status-account") == "2222-2222-2222"
    assert admin.inner_text("#status-services") == "7 / 7"
    assert admin.inner_text("#status-pending") == "1111-1111-1111"
    assert admin.get_attribute("#state-check", "data-state") == "done"
    assert admin.inner_text("#state-cancel") == words["waiting"]
    shot(admin, "wizard-linked")

    # step 3, in the source account: AWS Marketplace Subscriptions -> Manage -> Actions -> Cancel
    buyer.goto(f"{sandbox}/console/{SRC}/marketplace/subscriptions")
    expect_lang(buyer)
    shot(buyer, "source-subscriptions")
    row = buyer.locator(f"[data-testid=subscription-row][data-agreement-id={source}]")
    row.get_by_role("link", name=console["manage"]).click()
    buyer.wait_for_url(re.compile(rf"/subscriptions/{source}$"))
    buyer.get_by_text(console["actions"], exact=True).click()
    shot(buyer, "source-actions")
    buyer.get_by_role("link", name=console["cancel"], exact=True).click()
    buyer.wait_for_url(re.compile(rf"/subscriptions/{source}/cancel$"))
    buyer.check("#confirm")
    buyer.click("#confirm-cancel")
    buyer.wait_for_selector("[data-testid=cancelled]")
    shot(buyer, "source-cancelled")

    # the sandbox tells the seller; reloading the seller's page, the cancel step is gone and nothing else changed
    buyer.goto(f"{seller}/subscription")
    deadline = time.monotonic() + 20
    while buyer.locator("[data-testid=pending-cancellation]").count():
        assert time.monotonic() < deadline, "the cancel step did not disappear"
        time.sleep(0.3)
        buyer.reload()
    assert buyer.inner_text("[data-testid=aws-account]") == "2222-2222-2222"
    assert buyer.locator("[data-testid=service-status]").all_inner_texts() == [words["registered"]] * 7
    assert buyer.get_attribute("[data-testid=subscription-type]", "data-type") == "aws_marketplace"
    shot(buyer, "done")

    admin.wait_for_selector("#state-cancel[data-state=done]")
    assert admin.inner_text("#state-cancel") == words["done"]
    assert admin.inner_text("#status-pending") == admin.get_attribute("#status-pending", "data-none")
    shot(admin, "wizard-done")


def step_states(page: Page) -> list[tuple[str | None, str]]:
    """The wizard's three steps as the page shows them now: (data-state, the label)."""
    return [
        (page.get_attribute(f"#state-{k}", "data-state"), page.inner_text(f"#state-{k}"))
        for k in ("link", "check", "cancel")
    ]


def polled(page: Page) -> None:
    """Wait until the page's script has read status.json and redrawn the steps since the page loaded."""
    page.wait_for_selector("#live-status[data-updated]", state="attached")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_change_page_script_marks_the_steps_from_the_account_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: Browser, screenshots: Path, lang: str
) -> None:
    """Issue 8: the page's script renders the account change's steps instead of deciding them. With the page
    open, the link shows step 1 and 2 done and step 3 waiting; the source's cancellation, delivered by the
    sandbox, marks step 3 done without a reload; after a reload, with or without the destination typed, the
    script still marks every step done; another destination typed afterwards starts from nothing done."""
    words = SELLER_WORDS[lang]
    done, waiting = words["done"], words["waiting"]
    with (
        seller_and_sandbox(tmp_path, monkeypatch) as run,
        two_browsers(browser, lang, screenshots, "change-steps") as (admin, _buyer, shot),
    ):
        wizard = f"{run.seller}/subscription/change?destination=2222-2222-2222"
        admin.goto(f"{run.seller}/login?next=%2Fsubscription%2Fchange%3Fdestination%3D2222-2222-2222")
        admin.fill("#email", ADMIN)
        admin.fill("#password", PASSWORD)
        admin.click("#login")
        admin.wait_for_url(exact(wizard))
        assert [state for state, _ in step_states(admin)] == ["todo"] * 3

        # step 1 happens elsewhere (another browser confirms 2222's registration); this page follows by itself
        destination = run.box.market.agreement.subscribe(DST, PRIVATE_OFFER)
        link_over_http(run.seller, run.box.market.agreement.issue_token(destination, "console").token)
        admin.wait_for_selector("#state-cancel[data-state=waiting]")
        assert step_states(admin) == [("done", done), ("done", done), ("waiting", waiting)]
        shot(admin, "waiting")

        # step 3: the source is cancelled in AWS Marketplace; the sandbox tells the seller; the script marks it
        run.box.market.agreement.cancel_agreement(SRC, {"agreementId": run.source}, from_console=True)
        admin.wait_for_selector("#state-cancel[data-state=done]")
        assert step_states(admin) == [("done", done)] * 3
        assert admin.inner_text("#status-pending") == admin.get_attribute("#status-pending", "data-none")
        shot(admin, "done-live")

        for url in (wizard, f"{run.seller}/subscription/change"):
            admin.goto(url)
            admin.reload()
            assert admin.get_attribute("html", "lang") == lang
            polled(admin)
            assert step_states(admin) == [("done", done)] * 3, url
        shot(admin, "done-after-reload")

        # a new destination after the finished change: a fresh wizard, and the script keeps it so
        admin.fill("#destination", "3333-3333-3333")
        admin.click("#set-destination")
        admin.wait_for_url(re.compile(r"destination=3333-3333-3333$"))
        polled(admin)
        assert [state for state, _ in step_states(admin)] == ["todo"] * 3
        shot(admin, "fresh")


def log_in_to_subscription(page: Page, seller: str) -> None:
    """Example Corp's admin logs in and lands on Subscription management."""
    page.goto(f"{seller}/login?next=%2Fsubscription")
    page.fill("#email", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url(exact(f"{seller}/subscription"))


def reload_until_expired(page: Page, timeout: float = 20) -> None:
    """Reload Subscription management until the seller has the marketplace's word that the paying one ended."""
    deadline = time.monotonic() + timeout
    while page.get_attribute("[data-testid=subscription-type]", "data-type") != "expired":
        assert time.monotonic() < deadline, "the page did not show the ended subscription"
        time.sleep(0.3)
        page.reload()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_wrong_order_and_the_way_back_in_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: Browser, screenshots: Path, lang: str
) -> None:
    """Cancelled in the source account before the destination was linked: the seller's page says 'Trial or
    Subscription Expired' and how to fix it; doing step 1 afterwards registers every service again."""
    words, console = SELLER_WORDS[lang], WORDS[lang]
    with (
        seller_and_sandbox(tmp_path, monkeypatch) as run,
        two_browsers(browser, lang, screenshots, "wrong-order") as (admin, buyer, shot),
    ):
        buyer.goto(f"{run.sandbox}/console/{SRC}/marketplace/subscriptions/{run.source}/cancel")
        buyer.check("#confirm")
        buyer.click("#confirm-cancel")
        buyer.wait_for_selector("[data-testid=cancelled]")

        log_in_to_subscription(admin, run.seller)
        reload_until_expired(admin)
        assert admin.get_attribute("html", "lang") == lang
        assert admin.is_visible("[data-testid=expired-alert]")
        assert admin.locator("[data-testid=service-status]").all_inner_texts() == [words["not_registered"]] * 7
        shot(admin, "expired")

        # a registration that does not work says what to do next
        buyer.goto(f"{run.seller}/marketplace/register")
        assert buyer.get_attribute("[data-testid=error]", "data-reason") == "invalid"
        assert console["setup"] in buyer.inner_text("[data-testid=next-steps]")
        shot(buyer, "set-up-again")

        # the way back: step 1 in the destination account, confirmed here
        subscribe_and_log_in(buyer, run, console, PRIVATE_NAME)
        assert buyer.inner_text("[data-testid=confirm-current]").startswith("1111-1111-1111")
        buyer.get_by_role("button", name=words["confirm"], exact=True).click()
        buyer.wait_for_url(exact(f"{run.seller}/subscription"))
        assert buyer.get_attribute("[data-testid=subscription-type]", "data-type") == "aws_marketplace"
        assert buyer.inner_text("[data-testid=aws-account]") == "2222-2222-2222"
        assert buyer.locator("[data-testid=service-status]").all_inner_texts() == [words["registered"]] * 7
        assert buyer.locator("[data-testid=pending-cancellation]").count() == 0
        assert buyer.locator("[data-testid=expired-alert]").count() == 0
        shot(buyer, "restored")
        admin.reload()
        assert admin.get_attribute("[data-testid=subscription-type]", "data-type") == "aws_marketplace"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_destination_cancelled_instead_of_the_source_in_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: Browser, screenshots: Path, lang: str
) -> None:
    """The wrong cancel after the link: the page stops naming 2222-2222-2222 as paying, does not ask to cancel
    1111-1111-1111 (the only subscription left) but says how to use it again; linking it again restores all."""
    words = {
        "en": {"keep": "Do not cancel the subscription in AWS account 1111-1111-1111 yet", "zone": "UTC"},
        "ja": {
            "keep": "AWS アカウント 1111-1111-1111 のサブスクリプションはまだキャンセルしないでください",
            "zone": "JST",
        },
    }[lang]
    with (
        seller_and_sandbox(tmp_path, monkeypatch) as run,
        two_browsers(browser, lang, screenshots, "destination-cancelled") as (admin, buyer, shot),
    ):
        market = run.box.market
        destination = market.agreement.subscribe(DST, PRIVATE_OFFER)
        link_over_http(run.seller, market.agreement.issue_token(destination, "console").token)
        log_in_to_subscription(admin, run.seller)
        assert admin.inner_text("[data-testid=aws-account]") == "2222-2222-2222"
        assert admin.get_attribute("[data-testid=pending-cancellation]", "data-account-id") == SRC

        # the buyer cancels in the destination account instead of the source
        buyer.goto(f"{run.sandbox}/console/{DST}/marketplace/subscriptions/{destination.agreement_id}/cancel")
        buyer.check("#confirm")
        buyer.click("#confirm-cancel")
        buyer.wait_for_selector("[data-testid=cancelled]")
        reload_until_expired(admin)
        assert admin.get_attribute("html", "lang") == lang
        assert admin.inner_text("[data-testid=aws-account]") == "—"
        assert "2222-2222-2222" in admin.inner_text("[data-testid=ended-account]")
        ended = admin.locator("[data-testid=ended-account] time")
        assert ended.inner_text().endswith(words["zone"]) and ended.get_attribute("title").endswith(" UTC")
        assert admin.locator("[data-testid=pending-cancellation]").count() == 0
        assert words["keep"] in admin.inner_text("[data-testid=still-running]")
        shot(admin, "destination-cancelled")

        # the way back: the source's subscription, still running, is linked again
        source = market.agreements[run.source]
        link_over_http(run.seller, market.agreement.issue_token(source, "console").token)
        admin.reload()
        assert admin.get_attribute("[data-testid=subscription-type]", "data-type") == "aws_marketplace"
        assert admin.inner_text("[data-testid=aws-account]") == "1111-1111-1111"
        for gone in ("pending-cancellation", "still-running", "ended-account"):
            assert admin.locator(f"[data-testid={gone}]").count() == 0, gone
        shot(admin, "source-linked-again")


def subscribe_and_log_in(buyer: Page, run: Running, console: dict[str, str], offer: str) -> None:
    """Step 1 in the destination account's console (the product, Continue to Subscribe, ``offer``, Subscribe,
    Set up your account), then the seller's login: the confirmation page is open."""
    buyer.goto(f"{run.sandbox}/console/{DST}/marketplace/pp/{PRODUCT_ID}")
    buyer.get_by_role("button", name=console["continue"], exact=True).click()
    buyer.get_by_label(offer, exact=True).check()
    buyer.get_by_role("button", name=console["subscribe"], exact=True).click()
    buyer.get_by_role("button", name=console["setup"], exact=True).click()
    buyer.wait_for_url(exact(f"{run.seller}/login?next=%2Fmarketplace%2Fconfirm"))
    buyer.fill("#email", ADMIN)
    buyer.fill("#password", PASSWORD)
    buyer.click("#login")
    buyer.wait_for_url(exact(f"{run.seller}/marketplace/confirm"))


#: the offer guard's words on the confirmation page, per language
OFFER_CHANGE_WORDS = {
    "en": {
        "warning": "Warning: this is not the offer that pays now.",
        "public": "subscribed to the public offer 'Trend Micro for SaaS' from Trend Micro, not to a private offer",
        "current": f"pays now through '{PRIVATE_NAME}' from Classmethod, Inc.",
        "needed": "Nothing was linked: tick the box to confirm this offer change, or cancel.",
    },
    "ja": {
        "warning": "警告: 現在支払いに使われているオファーではありません。",
        "public": "プライベートオファーではなく、Trend Micro のパブリックオファー「Trend Micro for SaaS」です",
        "current": f"Classmethod, Inc. のオファー「{PRIVATE_NAME}」で支払っています",
        "needed": "何もリンクされていません。このオファー変更を確定するにはチェックボックスをオンにしてください。",
    },
}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_public_offer_needs_a_second_confirmation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: Browser, screenshots: Path, lang: str
) -> None:
    """Issue 11, the offer guard: the destination subscribes to the public offer instead of the reseller's
    private one. The confirmation page says so, naming both offers and their sellers; Confirm alone links
    nothing; ticking the second confirmation links it."""
    words, console, said = SELLER_WORDS[lang], WORDS[lang], OFFER_CHANGE_WORDS[lang]
    with (
        seller_and_sandbox(tmp_path, monkeypatch) as run,
        two_browsers(browser, lang, screenshots, "offer-change") as (_admin, buyer, shot),
    ):
        subscribe_and_log_in(buyer, run, console, PUBLIC_NAME)

        def warning() -> str:
            return re.sub(r"\s+", " ", buyer.inner_text("[data-testid=offer-change]"))

        for key in ("warning", "public", "current"):
            assert said[key] in warning(), (key, warning())
        assert buyer.is_visible("#allow-offer-change") and not buyer.is_checked("#allow-offer-change")
        shot(buyer, "warning")

        # Confirm without the second confirmation: the same page again, saying nothing was linked
        buyer.get_by_role("button", name=words["confirm"], exact=True).click()
        buyer.wait_for_selector("[data-testid=offer-change-needed]")
        assert buyer.url == f"{run.seller}/marketplace/confirm" and said["needed"] in warning()
        shot(buyer, "refused")
        buyer.goto(f"{run.seller}/subscription")
        assert buyer.inner_text("[data-testid=aws-account]") == "1111-1111-1111"

        # the registration is still pending: back to it, tick the box, confirm
        buyer.goto(f"{run.seller}/marketplace/confirm")
        buyer.check("#allow-offer-change")
        buyer.get_by_role("button", name=words["confirm"], exact=True).click()
        buyer.wait_for_url(exact(f"{run.seller}/subscription"))
        assert buyer.inner_text("[data-testid=aws-account]") == "2222-2222-2222"
        shot(buyer, "linked")


#: the words of the seller's cancellation request, on the change page (seller) and the Manage page (console)
SELLER_CANCEL_WORDS = {
    "en": {
        "sent": "The request to end the old subscription was sent to AWS Marketplace. The source account approves it.",
        "pending": "Sent: waiting for the source account to approve it in AWS Marketplace",
        "heading": "The seller asks to cancel this subscription",
        "approve": "Approve and cancel the subscription",
        "reject": "Reject",
        "approved": "Cancellation request approved.",
        "ended": "Approved: AWS Marketplace ends the old subscription.",
    },
    "ja": {
        "sent": (
            "旧サブスクリプションの終了リクエストを AWS Marketplace に送信しました。"
            "切換元AWSアカウントで承認してください。"
        ),
        "pending": "送信済み: 切換元AWSアカウントが AWS Marketplace で承認するのを待っています",
        "heading": "販売者がこのサブスクリプションのキャンセルを求めています",
        "approve": "承認してサブスクリプションをキャンセル",
        "reject": "拒否",
        "approved": "キャンセルリクエストを承認しました。",
        "ended": "承認済み: AWS Marketplace が旧サブスクリプションを終了します。",
    },
}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_old_contract_ends_through_the_sellers_cancellation_request_in_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: Browser, screenshots: Path, lang: str
) -> None:
    """Issue 11, ending the old subscription from the seller's side: 1111-1111-1111 pays through a contract offer its
    buyer cannot cancel; 2222-2222-2222 is linked and verified. On the change page the admin asks the seller to end
    the old subscription; the console's Manage page of 1111-1111-1111 shows the request, the buyer approves it, and
    the change page shows the change done. The sandbox: one request sent, and it is approved."""
    words, said = SELLER_WORDS[lang], SELLER_CANCEL_WORDS[lang]
    with (
        seller_and_sandbox(tmp_path, monkeypatch, contract_catalog_text(), CONTRACT_OFFER) as run,
        two_browsers(browser, lang, screenshots, "seller-cancel") as (admin, buyer, shot),
    ):
        market = run.box.market
        destination = market.agreement.subscribe(DST, CONTRACT_OFFER)
        link_over_http(run.seller, market.agreement.issue_token(destination, "console").token)
        admin.goto(f"{run.seller}/login?next=%2Fsubscription%2Fchange")
        admin.fill("#email", ADMIN)
        admin.fill("#password", PASSWORD)
        admin.click("#login")
        admin.wait_for_url(exact(f"{run.seller}/subscription/change"))
        assert admin.get_attribute("html", "lang") == lang
        polled(admin)
        assert step_states(admin)[2] == ("waiting", words["waiting"])
        assert admin.locator("[data-testid=seller-cancel-status]").count() == 0

        # the admin asks the seller to end the old subscription: the page shows the request pending
        admin.click("#ask-seller-cancel")
        admin.wait_for_selector("[data-testid=seller-cancel-status][data-state=PENDING_APPROVAL]")
        assert admin.inner_text("[data-testid=flash]") == said["sent"]
        assert said["pending"] in admin.inner_text("[data-testid=seller-cancel-status]")
        assert admin.locator("#ask-seller-cancel").count() == 0
        shot(admin, "cancellation-request")

        # the buyer, in the source account's Manage page, sees the pending request with approve and reject
        buyer.goto(f"{run.sandbox}/console/{SRC}/marketplace/subscriptions/{run.source}")
        assert buyer.get_attribute("html", "lang") == lang
        request = buyer.locator("[data-testid=cancellation-request]")
        assert request.locator("h2").inner_text() == said["heading"]
        zone = "JST" if lang == "ja" else "UTC"  # when it is approved by itself, and when it was sent
        assert [t.endswith(zone) for t in request.locator("time").all_inner_texts()] == [True, True]
        assert request.get_by_role("button", name=said["approve"], exact=True).is_visible()
        assert request.get_by_role("button", name=said["reject"], exact=True).is_visible()
        shot(buyer, "console-request")
        request.get_by_role("button", name=said["approve"], exact=True).click()
        buyer.wait_for_selector("[data-testid=request-approved]")
        assert said["approved"] in buyer.inner_text("[data-testid=request-approved]")
        assert buyer.locator("[data-testid=cancellation-request]").count() == 0
        shot(buyer, "console-approved")

        # the sandbox delivers AWS's events to the seller: the change page shows the change done
        admin.wait_for_selector("#state-cancel[data-state=done]")
        admin.reload()
        polled(admin)
        assert step_states(admin) == [("done", words["done"])] * 3
        assert admin.get_attribute("[data-testid=seller-cancel-status]", "data-state") == "APPROVED"
        assert said["ended"] in admin.inner_text("[data-testid=seller-cancel-status]")
        shot(admin, "done")

        # one request sent by the seller (the call log), approved in the console (the buyer's click is no API call)
        sent = httpx.get(f"{run.sandbox}/_sandbox/calls", params={"operation": "SendAgreementCancellationRequest"})
        assert [(c["account_id"], c["outcome"]) for c in sent.json()] == [("999999999999", "ok")]
        requests = [(r.agreement_id, r.status) for r in market.cancellation_requests.values()]
        assert requests == [(run.source, "APPROVED")]
