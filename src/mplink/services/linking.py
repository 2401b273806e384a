"""Steps of registration and linking that run inside a caller's transaction (R1, R2, R4).

They do not open or commit the unit of work: the use cases in ``registration`` compose them so that
recording an agreement, linking it and using up the registration token happen in one transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from mplink.domain.agreement import Agreement, Registration
from mplink.domain.catalog import Catalog
from mplink.domain.errors import NotFound, OfferChangeRefused
from mplink.domain.ledger import Ledger, LinkResult
from mplink.domain.offer_guard import OfferCheck, OfferFacts, check_offer_move
from mplink.domain.subscription import SubscriptionView, subscription_view
from mplink.domain.tenant import Role
from mplink.services.ports import AgreementFacts, UnitOfWork


def record_registration(
    uow: UnitOfWork, registration: Registration, facts: AgreementFacts | None = None, free_trial: bool = False
) -> tuple[Ledger, Agreement]:
    """Keep what the token proved (this AWS account holds this agreement) and what DescribeAgreement added."""
    catalog = uow.catalog.get()
    product = catalog.product(registration.product_code) if catalog else None
    # facts that arrived before the registration are kept by LicenseArn and CustomerIdentifier
    ledger = uow.ledger.load(
        agreement_ids=[registration.agreement_id],
        license_arns=[registration.license_arn or ""],
        legacy_keys=[(registration.product_code, registration.customer_identifier or "")],
    )
    agreement = ledger.record_registration(
        agreement_id=registration.agreement_id,
        aws_account_id=registration.aws_account_id,
        license_arn=registration.license_arn,
        product_code=registration.product_code,
        customer_identifier=registration.customer_identifier,
        product_id=product.product_id if product else None,
        free_trial=free_trial,
    )
    if facts is not None:
        agreement.fill(
            offer_id=facts.offer_id,
            proposer_account_id=facts.proposer_account_id,
            accepted_at=facts.accepted_at,
            starts_at=facts.starts_at,
        )
    uow.ledger.save(ledger)
    return ledger, agreement


def link(
    uow: UnitOfWork,
    tenant_id: str,
    agreement_id: str,
    at: datetime,
    user_id: str | None = None,
    role: Role | None = None,
    allow_offer_change: bool = False,
) -> tuple[LinkResult, SubscriptionView]:
    """R1/R2: link a registered agreement to a tenant; linking while another pays is the billing-account change.
    Authority comes from the logged-in user's role in the tenant, or from ``role`` (a tenant's API key).
    An offer change (another seller, or public after private) is refused unless ``allow_offer_change``."""
    tenant = uow.tenants.get(tenant_id, lock=True)
    if tenant is None:
        raise NotFound(f"no tenant with id {tenant_id!r}")
    catalog = uow.catalog.get()
    if catalog is None:
        raise NotFound("no catalog loaded yet: run 'mplink catalog load'")
    ledger = uow.ledger.load(agreement_ids=[agreement_id], tenant_ids=[tenant_id])
    check = offer_check(ledger, catalog, tenant_id, agreement_id)
    if check.needs_confirmation and not allow_offer_change:
        raise OfferChangeRefused(
            f'{check.message()}. Send "allow_offer_change": true to link it anyway; nothing was linked', check
        )
    if user_id is not None:
        result = ledger.link(tenant, user_id, agreement_id, at)
    else:
        result = ledger.link_as(tenant, role or Role.VIEWER, agreement_id, at)
    uow.ledger.save(ledger)
    return replace(result, offer_check=check), subscription_view(tenant_id, ledger, catalog)


def offer_facts(catalog: Catalog, ledger: Ledger, agreement_id: str | None) -> OfferFacts | None:
    """The agreement's offer as the offer guard sees it; None when the offer is not known (yet)."""
    agreement = ledger.agreement(agreement_id) if agreement_id else None
    found = catalog.find_offer(agreement.offer_id) if agreement and agreement.offer_id else None
    if agreement is None or found is None:
        return None
    offer = found[1]
    seller = agreement.proposer_account_id or offer.proposer_account_id
    name = offer.proposer_name if offer.proposer_account_id == seller else None
    if name is None and seller == catalog.seller_account_id:
        name = catalog.seller_name
    return OfferFacts(offer.offer_id, offer.name, offer.private, seller, name or seller)


def offer_check(ledger: Ledger, catalog: Catalog, tenant_id: str, agreement_id: str) -> OfferCheck:
    """The offer guard for linking ``agreement_id`` to the tenant: its offer against the one paying now."""
    current_link = ledger.open_link_of_tenant(tenant_id)
    current = offer_facts(catalog, ledger, current_link.agreement_id if current_link else None)
    allowed = catalog.offers_allowed(tenant_id, current.seller_id if current else None)
    return check_offer_move(current, offer_facts(catalog, ledger, agreement_id), allowed)
