"""Registration and linking as use cases, on the in-memory unit of work and a scripted AWS Marketplace:
the token is redeemed once, linking and using it up happen in one transaction, and a refusal stores
nothing (R1, R2). Token lifetimes follow AWS's seller guide ("Onboarding customers to your SaaS product":
register within 4 hours of "Set up your account")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mplink.domain.errors import AgreementNotActive, Conflict, InvalidValue, NotAuthorized, NotFound
from mplink.domain.subscription import SubscriptionType
from mplink.domain.tenant import Role
from mplink.services import registration as reg
from mplink.services.ports import MarketplaceUnavailable, RegistrationTokenRejected
from mplink.services.registration import (
    confirm_registration,
    link_with_token,
    pending_registration,
    register_customer,
    token_hash,
)
from tests.support.factories import DST, PUBLIC_OFFER, RESELLER, SRC, T0
from tests.support.world import World


@pytest.fixture
def w() -> World:
    world = World()
    world.tenant("t1", "u1")
    world.subscribe("tok-src", "agmt-src", SRC)
    world.subscribe("tok-dst", "agmt-dst", DST)
    return world


def test_a_valid_token_is_resolved_and_shown_for_confirmation(w: World) -> None:
    pending = register_customer(w.uow, w.market, "tok-dst")
    assert pending.agreement_id == "agmt-dst" and pending.aws_account_id == DST
    assert pending.offer_private and pending.proposer_account_id == RESELLER
    assert pending.offer_name == "Classmethod, Inc. for SaaS 2026-01-01- Private Offer"
    assert pending.product_title == "Trend Micro Cloud One"
    assert pending.linked_tenant_id is None
    assert w.uow.committed.tokens[token_hash("tok-dst")].linked_tenant_id is None


def test_a_fulfilment_post_opens_two_transactions(w: World) -> None:
    before = w.uow.transactions, w.uow.commits
    register_customer(w.uow, w.market, "tok-dst")
    assert (w.uow.transactions - before[0], w.uow.commits - before[1]) == (2, 1)


def test_the_token_is_stripped_before_use(w: World) -> None:
    assert register_customer(w.uow, w.market, "  tok-dst\n").agreement_id == "agmt-dst"


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_token_is_refused_without_asking_aws(w: World, token: str) -> None:
    with pytest.raises(RegistrationTokenRejected) as err:
        register_customer(w.uow, w.market, token)
    assert err.value.reason == "invalid" and w.market.calls == []


@pytest.mark.parametrize(("token", "reason"), [("unknown", "invalid"), ("old", "expired")])
def test_a_refused_token_stores_nothing(w: World, token: str, reason: str) -> None:
    w.market.expired_tokens.add("old")
    with pytest.raises(RegistrationTokenRejected) as err:
        register_customer(w.uow, w.market, token)
    assert err.value.reason == reason
    assert w.uow.committed.tokens == {} and w.uow.committed.agreements == {}


def test_marketplace_down_stores_nothing(w: World) -> None:
    w.market.down = True
    with pytest.raises(MarketplaceUnavailable):
        register_customer(w.uow, w.market, "tok-dst")
    assert w.uow.committed.tokens == {} and w.uow.committed.agreements == {}


def test_describe_agreement_down_still_registers(w: World) -> None:
    del w.market.facts["agmt-dst"]
    pending = register_customer(w.uow, w.market, "tok-dst")
    assert pending.agreement_id == "agmt-dst" and pending.offer_id is None


def test_posting_the_same_token_twice_keeps_one_redemption(w: World) -> None:
    first = register_customer(w.uow, w.market, "tok-dst")
    second = register_customer(w.uow, w.market, "tok-dst")
    assert first.redeemed_at == second.redeemed_at
    assert list(w.uow.committed.tokens) == [token_hash("tok-dst")]


def test_a_used_token_is_refused_before_aws_is_asked(w: World) -> None:
    w.link("tok-dst")
    calls = len(w.market.calls)
    with pytest.raises(RegistrationTokenRejected) as err:
        register_customer(w.uow, w.market, "tok-dst")
    assert err.value.reason == "used" and len(w.market.calls) == calls


def test_confirming_links_and_uses_up_the_token_in_one_transaction(w: World) -> None:
    pending = register_customer(w.uow, w.market, "tok-dst")
    before = w.uow.transactions, w.uow.commits
    view = confirm_registration(w.uow, "t1", "u1", pending.agreement_id, pending.token_hash)
    assert (w.uow.transactions - before[0], w.uow.commits - before[1]) == (1, 1)
    assert view.type is SubscriptionType.AWS_MARKETPLACE and view.aws_account_id == DST
    assert w.uow.committed.tokens[pending.token_hash].linked_tenant_id == "t1"
    assert all(s.registered for s in view.services) and len(view.services) == 7


def test_confirming_again_for_the_same_tenant_changes_nothing(w: World) -> None:
    pending = register_customer(w.uow, w.market, "tok-dst")
    confirm_registration(w.uow, "t1", "u1", pending.agreement_id, pending.token_hash)
    links = dict(w.uow.committed.links)
    again = confirm_registration(w.uow, "t1", "u1", pending.agreement_id, pending.token_hash)
    assert again.agreement_id == "agmt-dst" and w.uow.committed.links.keys() == links.keys()


def test_a_confirmed_registration_cannot_be_confirmed_for_another_tenant(w: World) -> None:
    w.tenant("t2", "u2")
    pending = register_customer(w.uow, w.market, "tok-dst")
    confirm_registration(w.uow, "t1", "u1", pending.agreement_id, pending.token_hash)
    with pytest.raises(Conflict):
        confirm_registration(w.uow, "t2", "u2", pending.agreement_id, pending.token_hash)
    assert {lk.tenant_id for lk in w.uow.committed.links.values()} == {"t1"}


def test_confirming_after_four_hours_is_refused(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    pending = register_customer(w.uow, w.market, "tok-dst")
    monkeypatch.setattr(reg, "now_utc", lambda: pending.redeemed_at + timedelta(hours=4, seconds=1))
    with pytest.raises(RegistrationTokenRejected) as err:
        confirm_registration(w.uow, "t1", "u1", pending.agreement_id, pending.token_hash)
    assert err.value.reason == "expired" and w.uow.committed.links == {}


def test_confirming_just_inside_four_hours_links(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    pending = register_customer(w.uow, w.market, "tok-dst")
    monkeypatch.setattr(reg, "now_utc", lambda: pending.redeemed_at + timedelta(hours=4))
    assert confirm_registration(w.uow, "t1", "u1", pending.agreement_id, pending.token_hash).agreement_id


@pytest.mark.parametrize("agreement", ["agmt-src", "agmt-unknown"])
def test_a_registration_confirms_only_its_own_agreement(w: World, agreement: str) -> None:
    pending = register_customer(w.uow, w.market, "tok-dst")
    with pytest.raises(InvalidValue):
        confirm_registration(w.uow, "t1", "u1", agreement, pending.token_hash)
    assert w.uow.committed.links == {}


def test_an_unknown_registration_cannot_be_confirmed(w: World) -> None:
    with pytest.raises(InvalidValue):
        confirm_registration(w.uow, "t1", "u1", "agmt-dst", token_hash("never-posted"))


@pytest.mark.parametrize("role", [Role.VIEWER])
def test_only_billing_roles_confirm_and_the_token_stays_unused(w: World, role: Role) -> None:
    w.tenant("t2", "u2", role=role)
    pending = register_customer(w.uow, w.market, "tok-dst")
    with pytest.raises(NotAuthorized):
        confirm_registration(w.uow, "t2", "u2", pending.agreement_id, pending.token_hash)
    assert w.uow.committed.tokens[pending.token_hash].linked_tenant_id is None
    assert w.uow.committed.links == {}


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING])
def test_billing_roles_confirm(w: World, role: Role) -> None:
    w.tenant("t2", "u2", role=role)
    pending = register_customer(w.uow, w.market, "tok-dst")
    assert confirm_registration(w.uow, "t2", "u2", pending.agreement_id, pending.token_hash).aws_account_id == DST


def test_linking_a_second_account_is_the_billing_account_change(w: World) -> None:
    w.link("tok-src")
    w.link("tok-dst")
    with w.uow.snapshot():
        ledger = w.uow.ledger.load(tenant_ids=["t1"])
    src = ledger.agreements["agmt-src"]
    assert src.cancellation_pending and src.superseded_at is not None
    (change,) = ledger.changes
    assert (change.from_agreement_id, change.to_agreement_id) == ("agmt-src", "agmt-dst")


def test_pending_cancellation_names_the_source_account(w: World) -> None:
    w.link("tok-src")
    pending = register_customer(w.uow, w.market, "tok-dst")
    view = confirm_registration(w.uow, "t1", "u1", pending.agreement_id, pending.token_hash)
    assert [(p.aws_account_id, p.agreement_id) for p in view.pending_cancellations] == [(SRC, "agmt-src")]


def test_the_confirmation_page_says_which_tenant_pays_with_the_agreement_now(w: World) -> None:
    w.tenant("t2", "u2")
    w.link("tok-dst", "t2", "u2")
    w.subscribe("tok-dst-2", "agmt-dst", DST)  # "Set up your account" pressed again for the same agreement
    pending = register_customer(w.uow, w.market, "tok-dst-2")
    assert pending.linked_tenant_id == "t2"


def test_r1_confirming_an_agreement_for_another_tenant_moves_it(w: World) -> None:
    w.tenant("t2", "u2")
    w.link("tok-dst", "t2", "u2")
    w.subscribe("tok-dst-2", "agmt-dst", DST)
    w.link("tok-dst-2", "t1", "u1")
    open_links = [lk for lk in w.uow.committed.links.values() if lk.is_open]
    assert [(lk.tenant_id, lk.agreement_id) for lk in open_links] == [("t1", "agmt-dst")]


def test_pending_registration_reads_in_a_snapshot(w: World) -> None:
    pending = register_customer(w.uow, w.market, "tok-dst")
    snapshots = w.uow.snapshots
    again = pending_registration(w.uow, pending.agreement_id, pending.token_hash, pending.redeemed_at)
    assert again == pending and w.uow.snapshots == snapshots + 1


def test_pending_registration_of_an_unknown_agreement_is_not_found(w: World) -> None:
    with pytest.raises(NotFound):
        pending_registration(w.uow, "agmt-x", "h", T0)


def test_link_with_token_acts_as_the_tenants_admin(w: World) -> None:
    assert link_with_token(w.uow, w.market, "t1", "tok-dst").view.aws_account_id == DST


def test_link_with_token_for_an_unknown_tenant_asks_aws_nothing(w: World) -> None:
    with pytest.raises(NotFound):
        link_with_token(w.uow, w.market, "nobody", "tok-dst")
    assert w.market.calls == []


def test_an_ended_agreement_cannot_be_linked(w: World) -> None:
    pending = register_customer(w.uow, w.market, "tok-dst")
    with w.uow:
        ledger = w.uow.ledger.load(agreement_ids=["agmt-dst"])
        ledger.agreements["agmt-dst"].ended_at = T0
        w.uow.commit()
    with pytest.raises(AgreementNotActive):
        confirm_registration(w.uow, "t1", "u1", pending.agreement_id, pending.token_hash)
    assert w.uow.committed.tokens[pending.token_hash].linked_tenant_id is None


def test_the_public_offer_is_shown_as_public(w: World) -> None:
    w.subscribe("tok-pub", "agmt-pub", DST, offer=PUBLIC_OFFER)
    pending = register_customer(w.uow, w.market, "tok-pub")
    assert not pending.offer_private and pending.offer_name == "Trend Micro for SaaS"
