"""What a tenant's subscription management page and API show, derived from the ledger (R2, R3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from mplink.domain.billing import services_registered
from mplink.domain.catalog import Catalog, Offer, Product
from mplink.domain.ledger import Ledger


class SubscriptionType(StrEnum):
    AWS_MARKETPLACE = "aws_marketplace"
    #: "Trial or Subscription Expired": the paying agreement ended (R3)
    EXPIRED = "expired"
    NONE = "none"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    registered: bool
    since: datetime | None


@dataclass(frozen=True)
class PendingCancellation:
    aws_account_id: str | None
    agreement_id: str
    superseded_at: datetime | None


@dataclass(frozen=True)
class SubscriptionView:
    tenant_id: str
    type: SubscriptionType
    aws_account_id: str | None = None
    agreement_id: str | None = None
    license_arn: str | None = None
    offer_id: str | None = None
    offer: Offer | None = None
    product: Product | None = None
    since: datetime | None = None
    services: tuple[ServiceStatus, ...] = ()
    pending_cancellations: tuple[PendingCancellation, ...] = field(default_factory=tuple)
    #: the paying agreement ended (wrong order: cancelled before another was linked, or the destination itself
    #: was cancelled): when it ended; its account is ``aws_account_id``, which pays no more
    ended_at: datetime | None = None
    #: agreements the tenant moved away from that still run in AWS while nothing pays: not to be cancelled but
    #: the way back (linking one again registers the services); ``pending_cancellations`` is then empty
    still_running: tuple[PendingCancellation, ...] = field(default_factory=tuple)

    @property
    def paying_account_id(self) -> str | None:
        """The AWS account that pays for the tenant now: None when nothing does, even if one was linked last."""
        return self.aws_account_id if self.type is SubscriptionType.AWS_MARKETPLACE else None

    def as_api(self) -> dict[str, object]:
        """The JSON shape of ``GET /api/v1/tenants/{id}/subscription`` (DESIGN.md)."""
        offer: dict[str, object] | None = None
        if self.offer_id is not None:
            offer = {
                "id": self.offer_id,
                "name": self.offer.name if self.offer else None,
                "private": self.offer.private if self.offer else False,
                "proposer_account_id": self.offer.proposer_account_id if self.offer else None,
                "resale_authorization_id": self.offer.resale_authorization_id if self.offer else None,
            }
        return {
            "tenant_id": self.tenant_id,
            "type": self.type.value,
            "aws_account_id": self.aws_account_id,
            "agreement_id": self.agreement_id,
            "license_arn": self.license_arn,
            "offer": offer,
            "services": [{"name": s.name, "registered": s.registered} for s in self.services],
            "pending_cancellations": [
                {"aws_account_id": p.aws_account_id, "agreement_id": p.agreement_id} for p in self.pending_cancellations
            ],
        }


def subscription_view(tenant_id: str, ledger: Ledger, catalog: Catalog) -> SubscriptionView:
    links = ledger.links_of_tenant(tenant_id)
    pending = tuple(
        PendingCancellation(a.aws_account_id, a.agreement_id, a.superseded_at)
        for a in sorted(
            {ledger.agreements[lk.agreement_id] for lk in links if lk.agreement_id in ledger.agreements},
            key=lambda a: a.agreement_id,
        )
        if a.cancellation_pending
    )
    current = ledger.open_link_of_tenant(tenant_id)
    if current is None:
        kind = SubscriptionType.EXPIRED if links else SubscriptionType.NONE
        running = pending if kind is SubscriptionType.EXPIRED else ()
        return SubscriptionView(
            tenant_id=tenant_id, type=kind, pending_cancellations=() if running else pending, still_running=running
        )
    agreement = ledger.agreements[current.agreement_id]
    product = catalog.product(agreement.product_id or agreement.product_code or "")
    found = catalog.find_offer(agreement.offer_id) if agreement.offer_id else None
    registered = services_registered(agreement)
    services = tuple(
        ServiceStatus(s.name, registered, current.starts_at if registered else None)
        for s in (product.services if product else ())
    )
    # nothing pays: a subscription left running is the way back, not a step left to do
    pending = tuple(p for p in pending if p.agreement_id != agreement.agreement_id)
    running = () if registered else pending
    return SubscriptionView(
        tenant_id=tenant_id,
        type=SubscriptionType.AWS_MARKETPLACE if registered else SubscriptionType.EXPIRED,
        aws_account_id=agreement.aws_account_id,
        agreement_id=agreement.agreement_id,
        license_arn=agreement.license_arn,
        offer_id=agreement.offer_id,
        offer=found[1] if found else None,
        product=product,
        since=current.starts_at,
        services=services,
        pending_cancellations=pending if registered else (),
        ended_at=None if registered else agreement.ended_since(),
        still_running=running,
    )
