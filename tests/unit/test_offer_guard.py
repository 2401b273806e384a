"""The offer guard (issue 11, item 1): another seller of record, or a public offer after a private one, is an offer
change; public -> the reseller's private offer (the seed's "switch") is the expected case; the catalog may allow
offers per tenant or per reseller. Linking refuses an offer change without the second confirmation and then
writes nothing."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mplink.adapters.catalog_file import parse_catalog, seed_catalog_text
from mplink.domain.catalog import OfferAllowance
from mplink.domain.errors import InvalidCatalog, OfferChangeRefused
from mplink.domain.offer_guard import ChangeReason, OfferFacts, OfferMove, check_offer_move
from mplink.services.registration import confirm_registration, link_with_token, register_customer
from tests.support.factories import DST, PUBLIC_OFFER, SRC
from tests.support.world import World, seed_catalog

PRIVATE = OfferFacts("offer-cm", "Classmethod, Inc. for SaaS 2026-01-01- Private Offer", True, "888", "Classmethod")
PUBLIC = OfferFacts("offer-pub", "Trend Micro for SaaS", False, "999", "Trend Micro")
OTHER_RESELLER = OfferFacts("offer-x", "Other for SaaS Private Offer", True, "777", "Other Reseller")
SAME_RESELLER_NEXT_YEAR = OfferFacts(
    "offer-cm-27", "Classmethod, Inc. for SaaS 2027-01-01- Private Offer", True, "888", "Classmethod"
)


@pytest.mark.parametrize(
    ("current", "destination", "move", "reasons"),
    [
        (PRIVATE, PUBLIC, OfferMove.OFFER_CHANGE, (ChangeReason.OTHER_SELLER, ChangeReason.TO_PUBLIC)),
        (PRIVATE, OTHER_RESELLER, OfferMove.OFFER_CHANGE, (ChangeReason.OTHER_SELLER,)),
        (PRIVATE, dataclasses.replace(PUBLIC, seller_id="888"), OfferMove.OFFER_CHANGE, (ChangeReason.TO_PUBLIC,)),
        (PUBLIC, PRIVATE, OfferMove.TO_PRIVATE, ()),  # the seed's "switch": expected, not a warning
        (PRIVATE, PRIVATE, OfferMove.SAME, ()),
        (PRIVATE, SAME_RESELLER_NEXT_YEAR, OfferMove.SAME, ()),
        (PUBLIC, PUBLIC, OfferMove.SAME, ()),
        (None, PUBLIC, OfferMove.FIRST, ()),
        (PRIVATE, None, OfferMove.FIRST, ()),
    ],
)
def test_the_rule(
    current: OfferFacts | None, destination: OfferFacts | None, move: OfferMove, reasons: tuple[ChangeReason, ...]
) -> None:
    check = check_offer_move(current, destination)
    assert (check.move, check.reasons) == (move, reasons)
    assert check.needs_confirmation == (move is OfferMove.OFFER_CHANGE)


def test_an_unknown_seller_still_catches_private_to_public() -> None:
    check = check_offer_move(PRIVATE, dataclasses.replace(PUBLIC, seller_id=None))
    assert check.reasons == (ChangeReason.TO_PUBLIC,)


def test_the_message_names_both_offers_and_their_sellers() -> None:
    message = check_offer_move(PRIVATE, PUBLIC).message()
    for words in (PRIVATE.name, PRIVATE.seller_name, PUBLIC.name, PUBLIC.seller_name, "public offer"):
        assert words in message


def test_an_offer_the_catalog_allows_is_no_warning() -> None:
    check = check_offer_move(PRIVATE, PUBLIC, frozenset({"offer-pub"}))
    assert check.move is OfferMove.ALLOWED and not check.needs_confirmation


def test_catalog_allowances_per_tenant_and_per_reseller() -> None:
    raw = json.loads(seed_catalog_text())
    raw["allowed_offers"] = [
        {"tenant_id": "t-1", "offer_ids": [PUBLIC_OFFER]},
        {"reseller_account_id": "888888888888", "offer_ids": ["offer-cm-sppo-20260101"]},
    ]
    catalog = parse_catalog(json.dumps(raw))
    assert catalog.allowed_offers[0] == OfferAllowance((PUBLIC_OFFER,), tenant_id="t-1")
    assert catalog.offers_allowed("t-1", None) == {PUBLIC_OFFER}
    assert catalog.offers_allowed("t-2", "888888888888") == {"offer-cm-sppo-20260101"}
    assert catalog.offers_allowed("t-2", "999999999999") == frozenset()


def test_old_catalogs_stay_valid() -> None:
    assert seed_catalog().allowed_offers == ()


@pytest.mark.parametrize(
    ("entry", "fault"),
    [
        ({"offer_ids": [PUBLIC_OFFER]}, "exactly one of tenant_id or reseller_account_id"),
        ({"tenant_id": "t", "reseller_account_id": "888888888888", "offer_ids": [PUBLIC_OFFER]}, "exactly one"),
        ({"tenant_id": "t", "offer_ids": ["offer-nowhere"]}, "'offer-nowhere'"),
        ({"reseller_account_id": "88", "offer_ids": [PUBLIC_OFFER]}, "allowed_offers[0].reseller_account_id"),
    ],
)
def test_bad_allowances_are_refused(entry: dict[str, object], fault: str) -> None:
    raw = json.loads(seed_catalog_text())
    raw["allowed_offers"] = [entry]
    with pytest.raises(InvalidCatalog, match=fault.replace("[", r"\[").replace("]", r"\]")):
        parse_catalog(json.dumps(raw))


# -- linking --------------------------------------------------------------------------------------------------------
@pytest.fixture
def w() -> World:
    """Tenant t1 pays from SRC through the reseller's private offer; DST subscribed to the public offer."""
    world = World.paying(SRC)
    world.subscribe("tok-dst", "agmt-dst", DST, offer=PUBLIC_OFFER)
    return world


def test_linking_the_public_offer_is_refused_and_writes_nothing(w: World) -> None:
    pending = register_customer(w.uow, w.market, "tok-dst")
    before = repr(w.uow.committed.links), repr(w.uow.committed.changes)
    with pytest.raises(OfferChangeRefused) as refused:
        confirm_registration(w.uow, "t1", "u1", pending.agreement_id, pending.token_hash)
    assert refused.value.code == "offer_change" and "Trend Micro for SaaS" in refused.value.message
    assert (repr(w.uow.committed.links), repr(w.uow.committed.changes)) == before
    assert w.uow.committed.tokens[pending.token_hash].linked_tenant_id is None


def test_the_second_confirmation_links(w: World) -> None:
    pending = register_customer(w.uow, w.market, "tok-dst")
    view = confirm_registration(w.uow, "t1", "u1", pending.agreement_id, pending.token_hash, allow_offer_change=True)
    assert view.aws_account_id == DST and view.offer_id == PUBLIC_OFFER


def test_the_api_link_is_refused_without_redeeming_the_token(w: World) -> None:
    tokens = dict(w.uow.committed.tokens)
    with pytest.raises(OfferChangeRefused):
        link_with_token(w.uow, w.market, "t1", "tok-dst")
    assert w.uow.committed.tokens == tokens
    linked = link_with_token(w.uow, w.market, "t1", "tok-dst", allow_offer_change=True)
    assert linked.view.aws_account_id == DST
    assert linked.offer_check is not None and linked.offer_check.needs_confirmation


def test_a_catalog_allowance_lets_the_link_through(w: World) -> None:
    catalog = dataclasses.replace(seed_catalog(), allowed_offers=(OfferAllowance((PUBLIC_OFFER,), tenant_id="t1"),))
    with w.uow:
        w.uow.catalog.replace(catalog)
        w.uow.commit()
    linked = link_with_token(w.uow, w.market, "t1", "tok-dst")
    assert linked.view.aws_account_id == DST
    assert linked.offer_check is not None and linked.offer_check.move is OfferMove.ALLOWED


def test_public_to_the_private_offer_is_the_expected_switch() -> None:
    world = World.paying(SRC, offer=PUBLIC_OFFER)
    world.subscribe("tok-dst", "agmt-dst", DST)
    linked = link_with_token(world.uow, world.market, "t1", "tok-dst")
    assert linked.offer_check is not None and linked.offer_check.move is OfferMove.TO_PRIVATE
