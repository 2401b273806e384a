"""The seller's pages' view models: pure functions from the domain's objects (a subscription view, the catalog,
a pending registration, the logged-in user) to what the pages say. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mplink.domain.billing import ChangeState, ChangeStep, StepName
from mplink.domain.catalog import Catalog, Offer, Product, Service
from mplink.domain.subscription import PendingCancellation, ServiceStatus, SubscriptionType, SubscriptionView
from mplink.domain.tenant import Role
from mplink.services.account_change import AccountChangeView, AccountSide
from mplink.services.auth import LoggedIn, Membership
from mplink.services.registration import PendingRegistration
from mplink.web.views import (
    Destination,
    Moment,
    OfferChoice,
    StepMarks,
    Who,
    account_label,
    by_name,
    confirmation,
    destination,
    follows,
    market_url,
    marketplace_home_url,
    marketplace_product_url,
    offer_to_choose,
    proposer_label,
    safe_next,
    shown,
    source_accounts,
    status,
    step_marks,
    subscription_summary,
    when,
)

SELLER, RESELLER, SRC, DST, OTHER = "999999999999", "888888888888", "111111111111", "222222222222", "333333333333"
T0 = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
PUBLIC = Offer("offer-public", "Trend Micro for SaaS", False, SELLER)
PRIVATE = Offer(
    "offer-private",
    "Classmethod, Inc. for SaaS 2026-01-01- Private Offer",
    True,
    RESELLER,
    buyer_account_ids=(SRC, DST),
    proposer_name="Classmethod, Inc.",
)
PRODUCT = Product(
    "prod-1", "code1", "Trend Micro Cloud One", "https://seller.example/register",
    (Service("Workload Security"), Service("Network Security")),
    (PUBLIC, PRIVATE),
)  # fmt: skip
CATALOG = Catalog(SELLER, (PRODUCT,), seller_name="Trend Micro")


def paying(account: str, offer: Offer, *left: PendingCancellation) -> SubscriptionView:
    """The tenant pays from ``account`` through ``offer``, every service registered; ``left`` still to cancel."""
    return SubscriptionView(
        tenant_id="t1",
        type=SubscriptionType.AWS_MARKETPLACE,
        aws_account_id=account,
        agreement_id=f"agmt-{account}",
        offer_id=offer.offer_id,
        offer=offer,
        product=PRODUCT,
        since=T0,
        services=tuple(ServiceStatus(s.name, True, T0) for s in PRODUCT.services),
        pending_cancellations=left,
    )


NOTHING = SubscriptionView(tenant_id="t1", type=SubscriptionType.NONE)
LEFT = PendingCancellation(SRC, "agmt-src", T0)


def change(
    state: ChangeState, link: bool, check: bool, cancel: bool, *, to: str | None = DST, typed: str | None = None
) -> AccountChangeView:
    """A change from 1111-1111-1111 to ``to`` (None until linked), started for ``typed``, with its steps."""
    return AccountChangeView(
        state=state,
        from_=AccountSide(SRC, "agmt-src"),
        to=AccountSide(to, f"agmt-{to}" if to else None),
        steps=tuple(
            ChangeStep(name, done, T0 if done else None)
            for name, done in ((StepName.LINK, link), (StepName.CHECK, check), (StepName.CANCEL, cancel))
        ),
        started_at=T0,
        updated_at=T0,
        destination_account_id=typed,
    )


def who(role: Role = Role.ADMIN, *others: Membership) -> Who:
    mine = Membership("t1", "Example Corp", role)
    return Who(LoggedIn("u1", "admin@example.com", (mine, *others)), mine)


def pending_registration(account: str = DST, linked_tenant_id: str | None = None) -> PendingRegistration:
    return PendingRegistration(
        agreement_id=f"agmt-{account}",
        token_hash="h",
        aws_account_id=account,
        product_title=PRODUCT.title,
        offer_id=PRIVATE.offer_id,
        offer_name=PRIVATE.name,
        offer_private=True,
        proposer_account_id=RESELLER,
        proposer_name="Classmethod, Inc.",
        redeemed_at=T0,
        linked_tenant_id=linked_tenant_id,
    )


# -- small formats ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "shown_as"),
    [(SRC, "1111-1111-1111"), ("123456789012", "1234-5678-9012"), ("12345", "12345"), ("", ""), (None, "")],
)
def test_account_label_groups_twelve_digits_by_four(given: str | None, shown_as: str) -> None:
    assert account_label(given) == shown_as


def test_times_are_kept_in_utc_and_read_as_utc_to_the_minute() -> None:
    assert when(T0) == Moment(T0) and str(when(T0)) == "2026-01-01 10:30 UTC"
    assert when(datetime(2026, 1, 1, 19, 30, tzinfo=timezone(timedelta(hours=9)))) == Moment(T0)
    assert when(datetime(2026, 1, 1, 10, 30)) == Moment(T0)  # naive means UTC
    assert str(when(None)) == "" and not when(None) and when(T0)


@pytest.mark.parametrize("path", ["/subscription/change?x=1", "/marketplace/confirm", "/"])
def test_safe_next_keeps_paths_of_this_site(path: str) -> None:
    assert safe_next(path) == path


@pytest.mark.parametrize(
    "bad", ["//evil.example/x", "https://evil.example", "/\\evil.example", "evil", "", None, "/x\r\nSet-Cookie: a"]
)
def test_safe_next_refuses_anything_that_leaves_the_site(bad: str | None) -> None:
    assert safe_next(bad) == "/subscription"
    assert safe_next(bad, default="/login") == "/login"


def test_the_proposer_is_named_with_its_account() -> None:
    assert proposer_label(CATALOG, PRIVATE, RESELLER) == "Classmethod, Inc. (8888-8888-8888)"
    # an offer without a proposer name, made by the seller itself: the seller's name
    assert proposer_label(CATALOG, PUBLIC, SELLER) == "Trend Micro (9999-9999-9999)"


def test_a_proposer_without_a_name_or_account_shows_what_is_known() -> None:
    assert proposer_label(CATALOG, PUBLIC, OTHER) == "3333-3333-3333"
    assert proposer_label(CATALOG, PRIVATE, None) == "Classmethod, Inc."
    assert proposer_label(CATALOG, None, None) == ""


# -- the marketplace's pages ------------------------------------------------------------------------------------------
def test_product_url_without_a_setting_is_aws_marketplace() -> None:
    assert marketplace_product_url(None, "prod-1") == "https://aws.amazon.com/marketplace/pp/prod-1"
    assert marketplace_home_url(None) == "https://aws.amazon.com/marketplace"


def test_product_url_fills_the_account_and_waits_for_it() -> None:
    console = "http://127.0.0.1:4566/console/{account}"
    assert marketplace_product_url(console, "prod-1") is None
    assert (
        marketplace_product_url(console, "prod-1", DST) == f"http://127.0.0.1:4566/console/{DST}/marketplace/pp/prod-1"
    )
    assert marketplace_home_url(console) == "http://127.0.0.1:4566/console"
    assert market_url(console, PRODUCT) == "http://127.0.0.1:4566/console"
    assert market_url(console, None, DST) == "http://127.0.0.1:4566/console"


def test_product_url_quotes_what_it_fills_in() -> None:
    assert marketplace_product_url("https://x.example/p/{product_id}?a={account}", "a/b c", DST) == (
        f"https://x.example/p/a%2Fb%20c?a={DST}"
    )


# -- who is logged in -------------------------------------------------------------------------------------------------
def test_tenants_are_listed_by_name_regardless_of_case() -> None:
    members = [Membership("t3", "zeta", Role.VIEWER), Membership("t2", "Alpha", Role.OWNER)]
    assert [m.tenant_id for m in by_name(members)] == ["t2", "t3"]
    assert [m.tenant_name for m in who(Role.ADMIN, *members).memberships] == ["Alpha", "Example Corp", "zeta"]


@pytest.mark.parametrize(
    ("role", "can"), [(Role.OWNER, True), (Role.ADMIN, True), (Role.BILLING, True), (Role.VIEWER, False)]
)
def test_only_billing_roles_can_bill(role: Role, can: bool) -> None:
    assert who(role).can_bill is can
    assert Who(LoggedIn("u1", "a@example.com", ()), None).can_bill is False


# -- the subscription -------------------------------------------------------------------------------------------------
def test_nothing_pays_every_service_of_the_only_product_is_not_registered() -> None:
    s = shown(NOTHING, CATALOG)
    assert s.product == PRODUCT
    assert [(x.name, x.registered) for x in s.services] == [("Workload Security", False), ("Network Security", False)]
    assert s.registered == 0
    two_products = Catalog(SELLER, (PRODUCT, Product("prod-2", "code2", "Other", "", (), ())))
    assert shown(NOTHING, two_products).product is None and shown(NOTHING, two_products).services == ()


def test_the_summary_says_who_pays_through_which_offer() -> None:
    view = paying(DST, PRIVATE, LEFT)
    summary = subscription_summary(shown(view, CATALOG))
    assert (summary.type, summary.account, summary.account_id) == ("aws_marketplace", "2222-2222-2222", DST)
    assert (summary.offer_name, summary.offer_private) == (PRIVATE.name, True)
    assert summary.proposer == "Classmethod, Inc. (8888-8888-8888)"
    assert (summary.product_title, summary.since, summary.registered, summary.total) == (
        "Trend Micro Cloud One", Moment(T0), 2, 2
    )  # fmt: skip
    assert [(p.account, p.account_id, p.agreement_id, p.since) for p in summary.pending] == [
        ("1111-1111-1111", SRC, "agmt-src", Moment(T0))
    ]


def test_status_json_has_the_fields_the_page_script_reads() -> None:
    assert status(shown(paying(DST, PRIVATE, LEFT), CATALOG), None).as_json() == {
        "aws_account_id": DST,
        "type": "aws_marketplace",
        "pending_cancellations": [{"aws_account_id": SRC, "agreement_id": "agmt-src"}],
        "services_registered": 2,
        "services_total": 2,
        "account_change": None,
    }


def test_status_json_carries_the_account_change_as_the_api_shows_it() -> None:
    found = change(ChangeState.VERIFIED, True, True, False)
    assert status(shown(paying(DST, PRIVATE, LEFT), CATALOG), found).as_json()["account_change"] == found.as_api()


# -- the confirmation -------------------------------------------------------------------------------------------------
def test_confirming_a_new_account_names_the_one_it_replaces() -> None:
    c = confirmation(who(), pending_registration(DST), shown(paying(SRC, PRIVATE), CATALOG))
    assert (c.account, c.instead_of, c.instead_expired) == ("2222-2222-2222", "1111-1111-1111", False)
    assert (c.offer, c.private, c.proposer, c.product) == (
        PRIVATE.name, True, "Classmethod, Inc. (8888-8888-8888)", "Trend Micro Cloud One"
    )  # fmt: skip
    assert str(c.expires) == "2026-01-01 14:30 UTC"  # 4 hours after the token was redeemed
    assert (c.tenant_name, c.tenant_id, c.can_confirm, c.role) == ("Example Corp", "t1", True, "admin")
    assert not c.already_here and not c.elsewhere


def test_confirming_the_agreement_that_already_pays_changes_nothing() -> None:
    c = confirmation(who(), pending_registration(SRC, linked_tenant_id="t1"), shown(paying(SRC, PRIVATE), CATALOG))
    assert c.already_here and c.instead_of == "" and not c.elsewhere


def test_an_agreement_of_another_tenant_moves_and_names_that_tenant_when_the_user_is_a_member() -> None:
    view = shown(NOTHING, CATALOG)
    mine = confirmation(who(Role.OWNER, Membership("t2", "Zeta", Role.VIEWER)), pending_registration(SRC, "t2"), view)
    assert (mine.elsewhere, mine.elsewhere_name) == (True, "Zeta")
    stranger = confirmation(who(), pending_registration(SRC, "t9"), view)
    assert (stranger.elsewhere, stranger.elsewhere_name) == (True, "")


def test_a_viewer_sees_the_confirmation_but_cannot_confirm() -> None:
    c = confirmation(who(Role.VIEWER), pending_registration(), shown(NOTHING, CATALOG))
    assert (c.can_confirm, c.role, c.instead_of) == (False, "viewer", "")


# -- the account-change wizard -----------------------------------------------------------------------------------------
def test_the_private_offer_that_pays_is_the_one_to_choose() -> None:
    assert offer_to_choose(paying(SRC, PRIVATE), PRODUCT) == OfferChoice(PRIVATE.name, (PUBLIC.name,))


def test_on_the_public_offer_the_private_offer_extended_to_the_account_is_the_one_to_choose() -> None:
    assert offer_to_choose(paying(SRC, PUBLIC), PRODUCT) == OfferChoice(PRIVATE.name, (PUBLIC.name,))


def test_on_the_public_offer_with_no_private_offer_for_the_account_the_public_offer_is_chosen_again() -> None:
    assert offer_to_choose(paying(OTHER, PUBLIC), PRODUCT) == OfferChoice(PUBLIC.name, ())


def test_with_nothing_paying_the_public_offer_is_chosen() -> None:
    assert offer_to_choose(NOTHING, PRODUCT) == OfferChoice(PUBLIC.name, ())
    assert offer_to_choose(NOTHING, None) == OfferChoice("", ())


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (None, Destination(None, "", False)),
        ("   ", Destination(None, "", False)),
        ("2222-2222-2222", Destination(DST, "2222-2222-2222", False)),
        (" 222222222222 ", Destination(DST, "2222-2222-2222", False)),
        ("12345", Destination(None, "12345", True)),
        ("x" * 60, Destination(None, "x" * 40, True)),
    ],
)
def test_the_destination_field(typed: str | None, expected: Destination) -> None:
    assert destination(typed) == expected


def test_the_destination_label() -> None:
    assert destination("222222222222").label == "2222-2222-2222"
    assert destination("bad").label == ""


def test_the_source_is_what_is_left_to_cancel_else_the_account_that_pays_unless_it_is_the_destination() -> None:
    assert source_accounts(paying(DST, PRIVATE, LEFT), DST) == ("1111-1111-1111",)
    assert source_accounts(paying(SRC, PRIVATE), DST) == ("1111-1111-1111",)
    assert source_accounts(paying(SRC, PRIVATE), None) == ("1111-1111-1111",)
    assert source_accounts(paying(DST, PRIVATE), DST) == ()
    assert source_accounts(NOTHING, DST) == ()


def test_a_finished_change_names_its_source_not_the_account_that_pays_now() -> None:
    done = change(ChangeState.DONE, True, True, True)
    assert source_accounts(paying(DST, PRIVATE), None, done) == ("1111-1111-1111",)
    # a new destination: the next change starts from the account that pays now
    assert source_accounts(paying(DST, PRIVATE), OTHER, done) == ("2222-2222-2222",)


# -- the steps, as the account change says ----------------------------------------------------------------------------
def test_without_a_change_every_step_is_to_do() -> None:
    assert step_marks(None, None) == StepMarks("todo", "todo", "todo")
    assert step_marks(None, DST) == StepMarks("todo", "todo", "todo")


def test_a_started_change_has_nothing_done() -> None:
    started = change(ChangeState.STARTED, False, False, False, to=None, typed=DST)
    assert follows(started, DST) and follows(started, None)
    assert step_marks(started, DST) == StepMarks("todo", "todo", "todo")


def test_linked_but_not_every_service_registered_the_cancel_step_does_not_wait_yet() -> None:
    assert step_marks(change(ChangeState.DESTINATION_LINKED, True, False, False), DST) == StepMarks(
        "done", "todo", "todo"
    )


@pytest.mark.parametrize("state", [ChangeState.VERIFIED, ChangeState.SOURCE_CANCEL_PENDING])
def test_once_checked_the_cancel_step_waits_for_the_source_to_end(state: ChangeState) -> None:
    assert step_marks(change(state, True, True, False), DST) == StepMarks("done", "done", "waiting")


@pytest.mark.parametrize("typed", [None, DST])
def test_a_done_change_shows_every_step_done_on_every_load(typed: str | None) -> None:
    assert step_marks(change(ChangeState.DONE, True, True, True), typed) == StepMarks("done", "done", "done")


def test_a_new_destination_after_a_done_change_starts_a_fresh_wizard() -> None:
    done = change(ChangeState.DONE, True, True, True)
    assert not follows(done, OTHER)
    assert step_marks(done, OTHER) == StepMarks("todo", "todo", "todo")


def test_a_change_is_followed_by_its_linked_account_or_the_account_it_was_started_for() -> None:
    assert follows(change(ChangeState.DONE, True, True, True, to=DST, typed=None), DST)
    assert follows(change(ChangeState.STARTED, False, False, False, to=None, typed=OTHER), OTHER)
    assert not follows(change(ChangeState.STARTED, False, False, False, to=None, typed=OTHER), DST)
    assert not follows(None, None)


def test_the_marks_are_the_domains_steps_even_when_the_check_never_came() -> None:
    """The source ended while the destination's services were not all registered: the domain says the change is
    done but was never checked; the page says so too, and only the cancel step ever reads "waiting"."""
    odd = change(ChangeState.DONE, True, False, True)
    assert step_marks(odd, DST) == StepMarks("done", "todo", "done")


def test_after_a_wrong_order_cancel_the_summary_names_no_payer_and_asks_to_cancel_nothing() -> None:
    """The destination was cancelled instead of the source: nothing pays, and the source is the way back."""
    left = PendingCancellation(SRC, "agmt-src", T0)
    view = SubscriptionView(
        "t1", SubscriptionType.EXPIRED, aws_account_id=DST, agreement_id="agmt-dst", offer_id=PRIVATE.offer_id,
        offer=PRIVATE, product=PRODUCT, ended_at=T0 + timedelta(hours=1), still_running=(left,),
    )  # fmt: skip
    s = subscription_summary(shown(view, CATALOG))
    assert s.account == "" and s.account_id == ""
    assert s.ended_account == "2222-2222-2222" and str(s.ended_at) == "2026-01-01 11:30 UTC"
    assert s.pending == () and [r.account for r in s.running] == ["1111-1111-1111"]
    assert status(shown(view, CATALOG), None).as_json()["aws_account_id"] is None
