"""The decisions of `mplink move`'s preflight and how the plan is shown: which offer, what step 1 does,
whose accounts, who pays; account ids as the console shows them. No AWS, no seller."""

from __future__ import annotations

from typing import Any

import pytest

from mplink.move.change import ChangeStatus
from mplink.move.cli import change_lines, default_lang, display, plan_lines
from mplink.move.errors import MoveRefused
from mplink.move.plan import (
    ORGANIZATION_UNKNOWN,
    Plan,
    SeenOffer,
    check_accounts,
    check_offer_change,
    check_offer_choice,
    check_open_change,
    check_payer,
    format_account_id,
    held_agreement,
    match_offer,
    parse_allowed_accounts,
    product_title,
    seen_offer,
)

SRC, DST = "111111111111", "222222222222"
PRODUCT = "prod-g232pyu6l55l4"
PUBLIC = {"purchaseOptionId": "offer-public", "purchaseOptionName": "Trend Micro for SaaS"}
PRIVATE = {
    "purchaseOptionId": "offer-cm-1",
    "purchaseOptionName": "Classmethod, Inc. for SaaS 2026-01-01- Private Offer",
}
OTHER_DATE = {
    "purchaseOptionId": "offer-cm-2",
    "purchaseOptionName": "Classmethod, Inc. for SaaS 2027-04-01- Private Offer",
}
PATTERN = "Classmethod, Inc. for SaaS * Private Offer"


def plan(**changes: Any) -> Plan:
    values: dict[str, Any] = {
        "src_account": SRC,
        "dst_account": DST,
        "offer_id": "offer-cm-1",
        "offer_name": PRIVATE["purchaseOptionName"],
        "proposal_id": "proposal-1",
        "term_ids": ["term-1"],
        "dst_holds_offer": None,
        "replaces": None,
        "src_agreement_id": "agmt-src",
        "product_title": "Trend Micro Cloud One",
        **changes,
    }
    return Plan(**values)


def change(state: str, to: str | None = DST, **extra: Any) -> ChangeStatus:
    steps = extra.pop("steps", None)
    done_check = state in ("verified", "source_cancel_pending", "done")
    return ChangeStatus.from_api(
        {
            "state": state,
            "from": {"aws_account_id": SRC, "agreement_id": "agmt-src"},
            "to": {"aws_account_id": to, "agreement_id": "agmt-dst" if to else None},
            "steps": steps
            if steps is not None
            else [
                {"name": "link", "done": to is not None, "at": None},
                {"name": "check", "done": done_check, "at": None},
                {"name": "cancel", "done": state == "done", "at": None},
            ],
            "destination_account_id": extra.get("destination", to),
        }
    )


# -- the offer -------------------------------------------------------------------------------------------------
def test_the_offer_is_found_by_a_name_pattern_whatever_its_date() -> None:
    assert match_offer([PUBLIC, PRIVATE], PRODUCT, DST, PATTERN, None) is PRIVATE


def test_the_offer_is_found_by_its_id() -> None:
    assert match_offer([PUBLIC, PRIVATE], PRODUCT, DST, None, "offer-public") is PUBLIC


def test_a_name_pattern_is_case_sensitive() -> None:
    with pytest.raises(MoveRefused, match="no offer"):
        match_offer([PRIVATE], PRODUCT, DST, PATTERN.lower(), None)


def test_no_matching_offer_names_the_offers_there_are_and_the_account() -> None:
    with pytest.raises(MoveRefused) as refused:
        match_offer([PUBLIC, PRIVATE], PRODUCT, DST, "Nobody's * Offer", None)
    assert "2222-2222-2222" in refused.value.message and "Trend Micro for SaaS; Classmethod" in refused.value.message


def test_no_offers_at_all_says_none() -> None:
    with pytest.raises(MoveRefused, match=r"its offers: none"):
        match_offer([], PRODUCT, DST, None, "offer-cm-1")


def test_an_unknown_offer_id_is_refused() -> None:
    with pytest.raises(MoveRefused, match="'offer-nope'"):
        match_offer([PUBLIC, PRIVATE], PRODUCT, DST, None, "offer-nope")


def test_a_pattern_matching_two_offers_is_refused() -> None:
    with pytest.raises(MoveRefused, match="2 offers match"):
        match_offer([PRIVATE, OTHER_DATE], PRODUCT, DST, PATTERN, None)


@pytest.mark.parametrize(("name", "offer_id"), [(None, None), ("", ""), (PATTERN, "offer-cm-1")])
def test_exactly_one_of_offer_name_and_offer_id(name: str | None, offer_id: str | None) -> None:
    with pytest.raises(MoveRefused, match="exactly one"):
        check_offer_choice(name, offer_id)


def test_one_of_offer_name_or_offer_id_is_enough() -> None:
    check_offer_choice(PATTERN, None)
    check_offer_choice(None, "offer-cm-1")


def test_the_product_title_comes_from_the_offer_or_falls_back_to_the_id() -> None:
    detail = {"associatedEntities": [{"product": {"productName": "Trend Micro Cloud One"}}]}
    assert product_title(detail, PRODUCT) == "Trend Micro Cloud One"
    assert product_title({}, PRODUCT) == PRODUCT


# -- what step 1 does ------------------------------------------------------------------------------------------
def test_the_destination_already_holding_the_offer_is_used_as_it_is() -> None:
    """The seed: if that offer already shows "current subscription", the account is already on it."""
    held = plan(dst_holds_offer="agmt-held", replaces="agmt-public")
    assert held.first_step == "use_held"
    assert plan_lines(held, "t-1")[1][0].startswith("  1. {dst} already holds '{offer}' (current subscription)")


def test_a_destination_on_the_public_offer_switches_to_the_private_one() -> None:
    """The seed: if the public offer shows "current subscription", choosing the private offer switches."""
    switching = plan(replaces="agmt-public")
    assert switching.first_step == "switch"
    assert "switches its current public offer" in plan_lines(switching, "t-1")[1][0]


def test_otherwise_the_destination_subscribes() -> None:
    assert plan().first_step == "subscribe"
    assert plan_lines(plan(), "t-1")[1] == (
        "  1. In {dst}: subscribe to '{offer}'",
        {"dst": "2222-2222-2222", "offer": PRIVATE["purchaseOptionName"]},
    )


def test_the_newest_active_agreement_is_the_one_held() -> None:
    assert held_agreement([{"agreementId": "agmt-new"}, {"agreementId": "agmt-old"}]) == "agmt-new"
    assert held_agreement([]) is None


# -- whose accounts ------------------------------------------------------------------------------------------------
def test_allowed_accounts_take_dashes_commas_and_comments() -> None:
    text = "#ours\n1111-1111-1111, 222222222222 #billing\n"
    assert parse_allowed_accounts(text, "allowed.txt") == {SRC, DST}


def test_a_malformed_allowed_account_is_refused_with_the_file_name() -> None:
    with pytest.raises(MoveRefused, match=r"allowed.txt: '12345' is not a 12-digit AWS account id"):
        parse_allowed_accounts("111111111111 12345", "allowed.txt")


def test_the_same_account_on_both_sides_is_refused() -> None:
    with pytest.raises(MoveRefused, match=r"same AWS account \(1111-1111-1111\)"):
        check_accounts(SRC, SRC, None, None, lambda: ("o-1", "o-1"))


def test_an_account_missing_from_the_allowed_list_is_refused() -> None:
    with pytest.raises(MoveRefused, match=r"AWS account 2222-2222-2222 is not in allowed\.txt"):
        check_accounts(SRC, DST, {SRC}, "allowed.txt", lambda: ("o-1", "o-1"))


def test_an_allowed_list_is_enough_and_organizations_are_not_asked() -> None:
    def organizations() -> tuple[Any, Any]:
        raise AssertionError("not asked when --allowed-accounts is given")

    assert check_accounts(SRC, DST, {SRC, DST}, "allowed.txt", organizations) == []


def test_accounts_in_two_organizations_are_refused() -> None:
    with pytest.raises(MoveRefused, match="different AWS Organizations"):
        check_accounts(SRC, DST, None, None, lambda: ("o-1", "o-2"))


def test_one_organization_is_enough_and_an_unreadable_one_is_a_warning() -> None:
    assert check_accounts(SRC, DST, None, None, lambda: ("o-1", "o-1")) == []
    assert check_accounts(SRC, DST, None, None, lambda: ("o-1", None)) == [ORGANIZATION_UNKNOWN]


# -- who pays ----------------------------------------------------------------------------------------------------
def test_the_tenant_must_pay_from_the_source() -> None:
    check_payer({"type": "aws_marketplace", "aws_account_id": SRC}, "t-1", SRC, DST, resuming=False)
    with pytest.raises(MoveRefused, match=r"does not pay from 1111-1111-1111 now \(it pays from 2222-2222-2222\)"):
        check_payer({"type": "aws_marketplace", "aws_account_id": DST}, "t-1", SRC, DST, resuming=False)


def test_a_resumed_move_may_find_the_destination_paying_already() -> None:
    check_payer({"type": "aws_marketplace", "aws_account_id": DST}, "t-1", SRC, DST, resuming=True)


def test_an_expired_tenant_is_refused_with_its_subscription_type() -> None:
    with pytest.raises(MoveRefused, match=r"\(subscription type: expired\)"):
        check_payer({"type": "expired", "aws_account_id": None}, "t-1", SRC, DST, resuming=True)


def test_a_change_already_linked_elsewhere_must_be_finished_first() -> None:
    with pytest.raises(MoveRefused, match=r"in progress at the seller \(source_cancel_pending to 1111-1111-1111\)"):
        check_open_change(change("source_cancel_pending", to=SRC), "t-1", DST)


@pytest.mark.parametrize(
    "found", [None, "started-elsewhere", ("done", SRC), ("aborted", None), ("verified", DST), ("started", None)]
)
def test_no_change_a_finished_one_a_started_one_or_this_one_does_not_stop_the_move(found: Any) -> None:
    if found is None:
        check_open_change(None, "t-1", DST)
    elif found == "started-elsewhere":
        check_open_change(change("started", to=None, destination="333333333333"), "t-1", DST)
    else:
        check_open_change(change(found[0], to=found[1]), "t-1", DST)


# -- how it is shown ---------------------------------------------------------------------------------------------
def test_the_plan_names_both_accounts_as_the_console_shows_them() -> None:
    first = plan_lines(plan(), "t-1")[0]
    assert first[1] == {"tenant": "t-1", "src": "1111-1111-1111", "dst": "2222-2222-2222"}


def test_the_plan_warns_when_the_organization_is_unknown_and_says_manual_mode() -> None:
    lines = [m for m, _ in plan_lines(plan(warnings=[ORGANIZATION_UNKNOWN]), "t-1", manual=True)]
    assert lines[-2].startswith("warning:") and lines[-1].startswith("(manual mode")
    assert len(plan_lines(plan(), "t-1")) == 6


def test_an_account_id_is_shown_in_groups_of_four_as_the_console_does() -> None:
    assert format_account_id("123456789012") == "1234-5678-9012"


def test_progress_values_show_account_ids_with_dashes_and_nothing_else_changed() -> None:
    shown = display({"aws_account_id": DST, "agreement_id": "agmt-123456789012", "mode": "api", "n": 7, "sub": {}})
    assert shown == {"aws_account_id": "2222-2222-2222", "agreement_id": "agmt-123456789012", "mode": "api", "n": 7}


def test_a_value_that_is_not_an_account_id_is_left_as_it_is() -> None:
    assert display({"account": "n/a", "src": "1111"}) == {"account": "n/a", "src": "1111"}


def test_the_sellers_change_is_shown_with_its_three_steps() -> None:
    lines = change_lines(change("verified"))
    assert lines[0] == ("Account change at the seller: {state}", {"state": "verified (every service registered)"})
    assert [m for m, _ in lines[1:]] == ["  [x] {step} ({at})", "  [x] {step} ({at})", "  [ ] {step}"]
    assert change_lines(None) == [("No account change at the seller", {})]


@pytest.mark.parametrize(
    ("env", "lang"),
    [
        ({"LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({}, "en"),
        ({"LC_ALL": "ja", "LANG": "C"}, "ja"),
    ],
)
def test_the_default_language_comes_from_the_locale(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], lang: str
) -> None:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert default_lang() == lang


# -- the offer guard, as the buyer sees the offers (issue 11) -----------------------------------------------------
SEEN_RESELLER = SeenOffer("Classmethod, Inc. for SaaS 2026-01-01- Private Offer", True, "seller-888", "Classmethod")
SEEN_PUBLIC = SeenOffer("Trend Micro for SaaS", False, "seller-999", "Trend Micro")
SEEN_OTHER = SeenOffer("Other for SaaS Private Offer", True, "seller-777", "Other")


@pytest.mark.parametrize(("current", "destination"), [(SEEN_RESELLER, SEEN_PUBLIC), (SEEN_RESELLER, SEEN_OTHER)])
def test_an_offer_change_is_refused_naming_both_offers(current: SeenOffer, destination: SeenOffer) -> None:
    with pytest.raises(MoveRefused, match="--allow-offer-change") as refused:
        check_offer_change(("offer-a", current), "offer-b", destination, allowed=False)
    assert current.name in refused.value.message and destination.name in refused.value.message
    shown = check_offer_change(("offer-a", current), "offer-b", destination, allowed=True)
    assert shown == {
        "from": {"name": current.name, "seller": current.seller},
        "to": {"name": destination.name, "seller": destination.seller},
    }


@pytest.mark.parametrize(
    ("current", "offer_id"),
    [(("offer-pub", SEEN_PUBLIC), "offer-b"), (("offer-b", SEEN_RESELLER), "offer-b"), (None, "x")],
)
def test_the_switch_the_same_offer_or_no_current_offer_pass(current: Any, offer_id: str) -> None:
    assert check_offer_change(current, offer_id, SEEN_RESELLER, allowed=False) is None


def test_the_offer_is_read_from_get_offer_and_its_badges() -> None:
    detail = {
        "offerId": "offer-b",
        "offerName": "Private",
        "sellerOfRecord": {"sellerProfileId": "seller-888", "displayName": "Classmethod"},
        "badges": [{"badgeType": "PRIVATE_PRICING", "displayName": "Private pricing"}],
    }
    assert seen_offer(detail) == SeenOffer("Private", True, "seller-888", "Classmethod")
    assert not seen_offer(detail, private=False).private
