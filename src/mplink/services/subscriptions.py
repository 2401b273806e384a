"""Read a tenant's subscription (the page and the API), its entitlements, and operator listings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mplink.domain.agreement import Agreement
from mplink.domain.billing import AccountChange
from mplink.domain.catalog import Catalog
from mplink.domain.clock import now_utc
from mplink.domain.errors import NotFound
from mplink.domain.subscription import SubscriptionView, subscription_view
from mplink.services.account_change import AccountChangeView, change_view
from mplink.services.ports import MarketplaceUnavailable, SellerMarketplace
from mplink.services.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class TenantSubscription:
    tenant_id: str
    tenant_name: str
    view: SubscriptionView
    catalog: Catalog
    open_changes: tuple[AccountChange, ...]
    #: the tenant's current or last account change, read in the same snapshot as the view
    change: AccountChangeView | None = None


def tenant_subscription(uow: UnitOfWork, tenant_id: str) -> TenantSubscription:
    """The tenant, the catalog and its ledger, read in one snapshot so the view is never torn."""
    with uow.snapshot():
        tenant = uow.tenants.get(tenant_id)
        if tenant is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")
        catalog = uow.catalog.get()
        if catalog is None:
            raise NotFound("no catalog loaded yet: run 'mplink catalog load'")
        ledger = uow.ledger.load(tenant_ids=[tenant_id])
        change = ledger.account_change_of_tenant(tenant_id)
        return TenantSubscription(
            tenant.id,
            tenant.name,
            subscription_view(tenant_id, ledger, catalog),
            catalog,
            tuple(ledger.open_changes_of_tenant(tenant_id)),
            change_view(change, ledger) if change is not None else None,
        )


def tenant_entitlements(uow: UnitOfWork, tenant_id: str) -> dict[str, Any]:
    sub = tenant_subscription(uow, tenant_id)
    with uow.snapshot():
        rows = uow.entitlements.of_agreement(sub.view.agreement_id) if sub.view.agreement_id else []
    return {
        "tenant_id": tenant_id,
        "agreement_id": sub.view.agreement_id,
        "entitlements": [
            {
                "dimension": r["dimension"],
                "value": r["value"],
                "expires_at": _iso(r["expires_at"]),
                "fetched_at": _iso(r["fetched_at"]),
            }
            for r in rows
        ],
    }


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def refresh_entitlements(uow_factory: UnitOfWorkFactory, marketplace: SellerMarketplace, limit: int = 50) -> int:
    """License Updated / entitlement-updated say something changed, not what: read GetEntitlements again."""
    with uow_factory() as uow:
        stale = [(a.agreement_id, a.product_code, a.license_arn) for a in uow.entitlements.stale_agreements(limit)]
    done = 0
    for agreement_id, product_code, license_arn in stale:
        if not product_code or not license_arn:
            continue
        try:
            entitlements = marketplace.get_entitlements(product_code, license_arn)
        except MarketplaceUnavailable:
            continue  # tried again on the next round
        with uow_factory() as uow:
            ledger = uow.ledger.load(agreement_ids=[agreement_id])
            ledger.agreements[agreement_id].entitlements_stale = False
            uow.entitlements.replace(
                agreement_id,
                [{"dimension": e.dimension, "value": e.value, "expires_at": e.expires_at} for e in entitlements],
                now_utc(),
            )
            uow.commit()
        done += 1
    return done


def agreement_dict(a: Agreement) -> dict[str, Any]:
    return {
        "agreement_id": a.agreement_id,
        "aws_account_id": a.aws_account_id,
        "license_arn": a.license_arn,
        "product_code": a.product_code,
        "offer_id": a.offer_id,
        "lifecycle": a.lifecycle.value,
        "marketplace_status": a.marketplace_status,
        "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        "cancellation_pending": a.cancellation_pending,
        "previous_agreement_id": a.previous_agreement_id,
        "replaced_by": a.replaced_by,
    }


def change_dict(c: AccountChange) -> dict[str, Any]:
    """A row of the operator listing (``GET /api/v1/account-changes``); ``state`` is a ChangeState value."""
    return {
        "id": c.id,
        "tenant_id": c.tenant_id,
        "from_agreement_id": c.from_agreement_id,
        "to_agreement_id": c.to_agreement_id,
        "state": c.state.value,
        "started_at": c.started_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
        "source_ended_at": c.source_ended_at.isoformat() if c.source_ended_at else None,
        "destination_account_id": c.destination_account_id,
    }


def list_agreements(uow: UnitOfWork, offset: int, limit: int) -> list[dict[str, Any]]:
    """Operator listing, oldest id first; ``limit`` rows at most."""
    with uow:
        return [agreement_dict(a) for a in uow.ledger.agreements_page(offset, limit)]


def list_account_changes(uow: UnitOfWork, offset: int, limit: int) -> list[dict[str, Any]]:
    with uow:
        return [change_dict(c) for c in uow.ledger.changes_page(offset, limit)]
