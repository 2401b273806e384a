"""Record a registration (ResolveCustomer's answer) and link the agreement to a tenant (R1, R2, R4)."""

from __future__ import annotations

from datetime import datetime

from mplink.domain.agreement import Registration
from mplink.domain.clock import now_utc
from mplink.domain.errors import NotFound
from mplink.domain.ledger import LinkResult
from mplink.domain.subscription import SubscriptionView, subscription_view
from mplink.domain.tenant import Role
from mplink.services.unit_of_work import UnitOfWork, retry_on_conflict


@retry_on_conflict
def record_registration(uow: UnitOfWork, registration: Registration, free_trial: bool = False) -> str:
    """Keep what the token proved: this AWS account holds this agreement."""
    with uow:
        catalog = uow.catalog.get()
        product = catalog.product(registration.product_code) if catalog else None
        # facts that arrived before the registration are kept by LicenseArn and CustomerIdentifier
        ledger = uow.ledger.load(
            agreement_ids=[registration.agreement_id],
            license_arns=[registration.license_arn or ""],
            legacy_keys=[(registration.product_code, registration.customer_identifier or "")],
        )
        ledger.record_registration(
            agreement_id=registration.agreement_id,
            aws_account_id=registration.aws_account_id,
            license_arn=registration.license_arn,
            product_code=registration.product_code,
            customer_identifier=registration.customer_identifier,
            product_id=product.product_id if product else None,
            free_trial=free_trial,
        )
        uow.ledger.save(ledger)
        uow.commit()
    return registration.agreement_id


@retry_on_conflict
def link_agreement(
    uow: UnitOfWork,
    tenant_id: str,
    user_id: str | None,
    agreement_id: str,
    at: datetime | None = None,
    role: Role | None = None,
) -> tuple[LinkResult, SubscriptionView]:
    """R1/R2: link a registered agreement to a tenant; linking while another pays is the billing-account change."""
    with uow:
        tenant = uow.tenants.get(tenant_id, lock=True)
        if tenant is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")
        catalog = uow.catalog.get()
        if catalog is None:
            raise NotFound("no catalog loaded yet: run 'mplink catalog load'")
        ledger = uow.ledger.load(agreement_ids=[agreement_id], tenant_ids=[tenant_id])
        when = at or now_utc()
        if user_id is not None:
            result = ledger.link(tenant, user_id, agreement_id, when)
        else:
            result = ledger.link_as(tenant, role or Role.VIEWER, agreement_id, when)
        uow.ledger.save(ledger)
        view = subscription_view(tenant_id, ledger, catalog)
        uow.commit()
        return result, view
