"""Registration at the fulfilment URL: redeem the token at once (ResolveCustomer), record the agreement,
and later link it to the tenant of the logged-in admin who confirms (R1: token + admin)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from mplink.adapters.aws import MarketplaceUnavailable, RegistrationTokenRejected
from mplink.domain.clock import now_utc
from mplink.domain.errors import InvalidValue, NotFound
from mplink.domain.subscription import SubscriptionView
from mplink.domain.tenant import Role
from mplink.services.linking import link_agreement, record_registration
from mplink.services.marketplace_port import SellerMarketplacePort
from mplink.services.unit_of_work import UnitOfWork

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
    uow: UnitOfWork, marketplace: SellerMarketplacePort, token: str, free_trial: bool = False
) -> PendingRegistration:
    """Redeem a registration token. Invalid, expired or already-linked tokens are refused; nothing is stored."""
    token = token.strip()
    if not token:
        raise RegistrationTokenRejected("no registration token was sent", "invalid")
    digest = token_hash(token)
    with uow:
        seen = uow.access.redeemed_token(digest)
    if seen is not None and seen.get("linked_tenant_id"):
        raise RegistrationTokenRejected("this registration token has already been used", "used")
    registration = marketplace.resolve_customer(token)
    try:
        facts = marketplace.describe_agreement(registration.agreement_id)
    except MarketplaceUnavailable:
        facts = None  # the offer is shown once the Created event arrives
    record_registration(uow, registration, free_trial=free_trial)
    now = now_utc()
    with uow:
        ledger = uow.ledger.load(agreement_ids=[registration.agreement_id])
        agreement = ledger.agreements[registration.agreement_id]
        if facts is not None:
            agreement.fill(
                offer_id=facts.offer_id,
                proposer_account_id=facts.proposer_account_id,
                accepted_at=facts.accepted_at,
                starts_at=facts.starts_at,
            )
        if seen is None:
            uow.access.redeem_token(digest, registration.agreement_id, now)
        uow.ledger.save(ledger)
        uow.commit()
    redeemed_at = seen["redeemed_at"] if seen is not None else now
    assert isinstance(redeemed_at, datetime)
    return pending_registration(uow, registration.agreement_id, digest, redeemed_at)


def pending_registration(uow: UnitOfWork, agreement_id: str, digest: str, redeemed_at: datetime) -> PendingRegistration:
    with uow:
        ledger = uow.ledger.load(agreement_ids=[agreement_id])
        agreement = ledger.agreement(agreement_id)
        if agreement is None or agreement.aws_account_id is None:
            raise NotFound("that registration is not known; press 'Set up your account' in AWS Marketplace again")
        catalog = uow.catalog.get()
        found = catalog.find_offer(agreement.offer_id) if catalog and agreement.offer_id else None
        product = catalog.product(agreement.product_code or "") if catalog else None
        link = ledger.open_link_of_agreement(agreement_id)
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
            linked_tenant_id=link.tenant_id if link else None,
        )


def confirm_registration(
    uow: UnitOfWork, tenant_id: str, user_id: str | None, agreement_id: str, digest: str, role: Role | None = None
) -> SubscriptionView:
    """The admin confirmed: link the agreement to the tenant (a billing-account change if another paid)."""
    with uow:
        seen = uow.access.redeemed_token(digest)
    if seen is None or seen["agreement_id"] != agreement_id:
        raise InvalidValue("this registration was not started here; press 'Set up your account' in AWS Marketplace")
    redeemed_at = seen["redeemed_at"]
    assert isinstance(redeemed_at, datetime)
    if now_utc() - redeemed_at > LINK_WINDOW:
        raise RegistrationTokenRejected("more than 4 hours passed since 'Set up your account'", "expired")
    _, view = link_agreement(uow, tenant_id, user_id, agreement_id, role=role)
    with uow:
        uow.access.token_linked(digest, tenant_id)
        uow.commit()
    return view


def link_with_token(
    uow: UnitOfWork, marketplace: SellerMarketplacePort, tenant_id: str, token: str
) -> SubscriptionView:
    """API linking: the token proves control of the AWS account; the tenant's API key acts as its admin."""
    with uow:
        if uow.tenants.get(tenant_id) is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")
    pending = register_customer(uow, marketplace, token)
    return confirm_registration(uow, tenant_id, None, pending.agreement_id, pending.token_hash, role=Role.ADMIN)
