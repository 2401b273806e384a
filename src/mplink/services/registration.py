"""Registration at the fulfilment URL: redeem the token at once (ResolveCustomer), record the agreement,
and later link it to the tenant of the logged-in admin who confirms (R1: token + admin).

A fulfilment POST opens two transactions (a read of the token, then recording the agreement and the
redeemed token together); a confirmation opens one, in which the link is made and the token used up."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from mplink.domain.agreement import Registration
from mplink.domain.catalog import Catalog
from mplink.domain.clock import now_utc
from mplink.domain.errors import Conflict, InvalidValue, NotFound
from mplink.domain.ledger import Ledger
from mplink.domain.offer_guard import OfferCheck, OfferMove
from mplink.domain.subscription import SubscriptionView, subscription_view
from mplink.domain.tenant import Role
from mplink.services.linking import link, offer_check, record_registration
from mplink.services.ports import (
    AgreementFacts,
    MarketplaceUnavailable,
    RegistrationTokenRejected,
    SellerMarketplace,
    UnitOfWork,
)
from mplink.services.unit_of_work import retry_on_conflict

#: AWS asks sellers to finish linking within 4 hours of "Set up your account"
LINK_WINDOW = timedelta(hours=4)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class PendingRegistration:
    """What the confirmation page shows before anyone links anything."""

    agreement_id: str
    token_hash: str
    aws_account_id: str
    product_title: str | None
    offer_id: str | None
    offer_name: str | None
    offer_private: bool
    proposer_account_id: str | None
    proposer_name: str | None
    redeemed_at: datetime
    #: the tenant this agreement pays for now, if any (linking elsewhere would move it, R1)
    linked_tenant_id: str | None = None


def register_customer(
    uow: UnitOfWork, marketplace: SellerMarketplace, token: str, free_trial: bool = False
) -> PendingRegistration:
    """Redeem a registration token. Invalid, expired or already-linked tokens are refused; nothing is stored."""
    registration, facts, digest = _resolve(uow, marketplace, token)
    return _record_redemption(uow, registration, facts, digest, free_trial)


def _resolve(
    uow: UnitOfWork, marketplace: SellerMarketplace, token: str
) -> tuple[Registration, AgreementFacts | None, str]:
    """Ask AWS whose token it is (ResolveCustomer) and what the agreement is (DescribeAgreement); store nothing."""
    token = token.strip()
    if not token:
        raise RegistrationTokenRejected("no registration token was sent", "invalid")
    digest = token_hash(token)
    with uow.snapshot():
        seen = uow.access.redeemed_token(digest)
    if seen is not None and seen.linked_tenant_id:
        raise RegistrationTokenRejected("this registration token has already been used", "used")
    registration = marketplace.resolve_customer(token)
    try:
        facts = marketplace.describe_agreement(registration.agreement_id)
    except MarketplaceUnavailable:
        facts = None  # the offer is shown once the Created event arrives
    return registration, facts, digest


def _redeem(
    uow: UnitOfWork, registration: Registration, facts: AgreementFacts | None, digest: str, free_trial: bool
) -> tuple[Ledger, datetime]:
    """Inside the caller's transaction: record the agreement and the redeemed token; when it was redeemed."""
    ledger, _ = record_registration(uow, registration, facts, free_trial=free_trial)
    seen = uow.access.redeemed_token(digest, lock=True)
    if seen is None:
        redeemed_at = now_utc()
        uow.access.redeem_token(digest, registration.agreement_id, redeemed_at)
    elif seen.linked_tenant_id:
        raise RegistrationTokenRejected("this registration token has already been used", "used")
    else:
        redeemed_at = seen.redeemed_at
    return ledger, redeemed_at


@retry_on_conflict
def _record_redemption(
    uow: UnitOfWork, registration: Registration, facts: AgreementFacts | None, digest: str, free_trial: bool
) -> PendingRegistration:
    """One transaction: the agreement as ResolveCustomer and DescribeAgreement saw it, and the redeemed token."""
    with uow:
        ledger, redeemed_at = _redeem(uow, registration, facts, digest, free_trial)
        pending = _pending(ledger, uow.catalog.get(), registration.agreement_id, digest, redeemed_at)
        uow.commit()
        return pending


def pending_offer_check(uow: UnitOfWork, tenant_id: str, agreement_id: str) -> OfferCheck:
    """What the confirmation page says about the offer: an offer change needs a second confirmation."""
    with uow.snapshot():
        catalog = uow.catalog.get()
        ledger = uow.ledger.load(agreement_ids=[agreement_id], tenant_ids=[tenant_id])
        if catalog is None:
            return OfferCheck(OfferMove.FIRST, None, None)
        return offer_check(ledger, catalog, tenant_id, agreement_id)


def pending_registration(uow: UnitOfWork, agreement_id: str, digest: str, redeemed_at: datetime) -> PendingRegistration:
    """What the confirmation page shows again (after logging in, or a reload)."""
    with uow.snapshot():
        ledger = uow.ledger.load(agreement_ids=[agreement_id])
        return _pending(ledger, uow.catalog.get(), agreement_id, digest, redeemed_at)


def _pending(
    ledger: Ledger, catalog: Catalog | None, agreement_id: str, digest: str, redeemed_at: datetime
) -> PendingRegistration:
    agreement = ledger.agreement(agreement_id)
    if agreement is None or agreement.aws_account_id is None:
        raise NotFound("that registration is not known; press 'Set up your account' in AWS Marketplace again")
    found = catalog.find_offer(agreement.offer_id) if catalog and agreement.offer_id else None
    product = catalog.product(agreement.product_code or "") if catalog else None
    current = ledger.open_link_of_agreement(agreement_id)
    offer = found[1] if found else None
    return PendingRegistration(
        agreement_id=agreement_id,
        token_hash=digest,
        aws_account_id=agreement.aws_account_id,
        product_title=product.title if product else None,
        offer_id=agreement.offer_id,
        offer_name=offer.name if offer else None,
        offer_private=offer.private if offer else False,
        proposer_account_id=agreement.proposer_account_id or (offer.proposer_account_id if offer else None),
        proposer_name=offer.proposer_name if offer else None,
        redeemed_at=redeemed_at,
        linked_tenant_id=current.tenant_id if current else None,
    )


@dataclass(frozen=True)
class Linked:
    """The subscription after linking, and how its offer compares with the one that paid before."""

    view: SubscriptionView
    offer_check: OfferCheck | None


@retry_on_conflict
def confirm_registration(
    uow: UnitOfWork,
    tenant_id: str,
    user_id: str | None,
    agreement_id: str,
    digest: str,
    role: Role | None = None,
    allow_offer_change: bool = False,
) -> SubscriptionView:
    """The admin confirmed: link the agreement to the tenant (a billing-account change if another paid) and use
    up the token, in one transaction. A registration is confirmed once: again for the same tenant changes
    nothing; for another tenant it is refused. An offer change needs ``allow_offer_change`` (the second
    confirmation); without it nothing is written."""
    with uow:
        linked = _confirm(uow, tenant_id, user_id, agreement_id, digest, role, allow_offer_change)
        uow.commit()
        return linked.view


def _confirm(
    uow: UnitOfWork,
    tenant_id: str,
    user_id: str | None,
    agreement_id: str,
    digest: str,
    role: Role | None,
    allow_offer_change: bool,
) -> Linked:
    seen = uow.access.redeemed_token(digest, lock=True)
    if seen is None or seen.agreement_id != agreement_id:
        raise InvalidValue("this registration was not started here; press 'Set up your account' in AWS Marketplace")
    now = now_utc()
    if now - seen.redeemed_at > LINK_WINDOW:
        raise RegistrationTokenRejected("more than 4 hours passed since 'Set up your account'", "expired")
    if seen.linked_tenant_id is not None:
        # redeemed once: a replay (an old cookie or session, another window) never links again. The same
        # confirmation repeated while its link stands changes nothing; anything else is refused.
        ledger = uow.ledger.load(agreement_ids=[agreement_id], tenant_ids=[tenant_id])
        standing = ledger.open_link_of_agreement(agreement_id)
        if seen.linked_tenant_id != tenant_id or standing is None or standing.tenant_id != tenant_id:
            raise Conflict("this registration was already confirmed; it can be used only once")
        catalog = uow.catalog.get()
        if catalog is None:
            raise NotFound("no catalog loaded yet: run 'mplink catalog load'")
        return Linked(subscription_view(tenant_id, ledger, catalog), None)
    result, view = link(
        uow, tenant_id, agreement_id, now, user_id=user_id, role=role, allow_offer_change=allow_offer_change
    )
    if seen.linked_tenant_id is None:
        uow.access.token_linked(digest, tenant_id)
    return Linked(view, result.offer_check)


def link_with_token(
    uow: UnitOfWork, marketplace: SellerMarketplace, tenant_id: str, token: str, allow_offer_change: bool = False
) -> Linked:
    """API linking: the token proves control of the AWS account; the tenant's API key acts as its admin.
    The token is redeemed and the link made in one transaction: a refusal (an offer change without
    ``allow_offer_change``) writes nothing."""
    with uow.snapshot():
        if uow.tenants.get(tenant_id) is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")
    registration, facts, digest = _resolve(uow, marketplace, token)
    return _link_now(uow, registration, facts, digest, tenant_id, allow_offer_change)


@retry_on_conflict
def _link_now(
    uow: UnitOfWork,
    registration: Registration,
    facts: AgreementFacts | None,
    digest: str,
    tenant_id: str,
    allow_offer_change: bool,
) -> Linked:
    with uow:
        _redeem(uow, registration, facts, digest, free_trial=False)
        linked = _confirm(uow, tenant_id, None, registration.agreement_id, digest, Role.ADMIN, allow_offer_change)
        uow.commit()
        return linked
