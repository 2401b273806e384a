"""Marketplace agreements: one purchase by one AWS account (account id + LicenseArn + agreement id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from mplink.domain.clock import HOUR


class MarketplaceStatus(StrEnum):
    """Agreement statuses as AWS reports them."""

    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    RENEWED = "RENEWED"
    REPLACED = "REPLACED"
    ROLLED_BACK = "ROLLED_BACK"
    SUPERSEDED = "SUPERSEDED"
    TERMINATED = "TERMINATED"


#: R3: an agreement ending for one of these reasons has a successor; access must not be revoked.
SUCCESSOR_ENDS = frozenset({MarketplaceStatus.REPLACED, MarketplaceStatus.RENEWED, MarketplaceStatus.SUPERSEDED})


class Lifecycle(StrEnum):
    """mplink's view of an agreement, derived from what the marketplace and the tenant did."""

    ACTIVE = "active"
    #: R2: the tenant moved to another agreement; AWS still bills this one until it is cancelled
    SUPERSEDED = "superseded"
    ENDED = "ended"


@dataclass(frozen=True)
class Registration:
    """What ResolveCustomer returns for a registration token."""

    aws_account_id: str
    product_code: str
    agreement_id: str
    license_arn: str | None = None
    customer_identifier: str | None = None


#: R6: after an agreement ends AWS accepts its final usage for about one hour.
FINAL_METERING_WINDOW = HOUR


@dataclass(eq=False)
class Agreement:
    agreement_id: str
    product_id: str | None = None
    product_code: str | None = None
    aws_account_id: str | None = None
    license_arn: str | None = None
    customer_identifier: str | None = None
    offer_id: str | None = None
    proposer_account_id: str | None = None
    resale_authorization_id: str | None = None
    intent: str | None = None
    previous_agreement_id: str | None = None
    free_trial: bool = False
    marketplace_status: str = MarketplaceStatus.ACTIVE.value
    accepted_at: datetime | None = None
    starts_at: datetime | None = None
    term_ends_at: datetime | None = None
    #: set by an "ended" fact; None while the agreement runs
    ended_at: datetime | None = None
    end_status: str | None = None
    deprovisioned_at: datetime | None = None
    #: R2: when a tenant linked another agreement instead of this one
    superseded_at: datetime | None = None
    #: R4: the agreement that REPLACEd or RENEWed this one
    replaced_by: str | None = None
    replaced_at: datetime | None = None
    #: the entitlements changed and must be read again with GetEntitlements
    entitlements_stale: bool = False
    #: version stamps per group of fields (see ``clock.stamp``)
    stamps: dict[str, str] = field(default_factory=dict)

    # -- derived state -------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self.ended_at is not None or self.deprovisioned_at is not None

    @property
    def ended_by_successor(self) -> bool:
        """R3: REPLACED/RENEWED endings hand the subscription on; they never revoke the tenant."""
        return self.end_status in SUCCESSOR_ENDS or self.replaced_by is not None

    @property
    def lifecycle(self) -> Lifecycle:
        if self.ended:
            return Lifecycle.ENDED
        if self.superseded_at is not None:
            return Lifecycle.SUPERSEDED
        return Lifecycle.ACTIVE

    @property
    def cancellation_pending(self) -> bool:
        """R2: superseded by the tenant but still running in AWS, so still billed: the buyer must cancel it."""
        return self.lifecycle is Lifecycle.SUPERSEDED and self.replaced_by is None

    @property
    def revokes_access(self) -> bool:
        """R3: ending revokes the tenant only when it ended for real, not by a successor."""
        return self.ended and not self.ended_by_successor

    def ended_since(self) -> datetime | None:
        times = [t for t in (self.ended_at, self.deprovisioned_at) if t is not None]
        return min(times) if times else None

    def billable_at(self, at: datetime) -> bool:
        """R5: usage at ``at`` can be billed to this agreement (it had not ended yet)."""
        end = self.ended_since()
        return end is None or at < end

    def final_metering_deadline(self) -> datetime | None:
        """R6: the last moment AWS takes usage for an ended agreement; None while it runs."""
        if self.deprovisioned_at is not None:
            return self.deprovisioned_at
        if self.ended_at is not None:
            return self.ended_at + FINAL_METERING_WINDOW
        return None

    # -- order-independent updates (R8) ------------------------------------------------------------
    def newer(self, group: str, version: str) -> bool:
        """True (and remembers ``version``) when ``version`` beats what last wrote ``group``."""
        current = self.stamps.get(group)
        if current is not None and current >= version:
            return False
        self.stamps = {**self.stamps, group: version}
        return True

    def fill(self, **values: object) -> None:
        """Set identity fields that are still unknown; known values are never overwritten."""
        for name, value in values.items():
            if value is not None and getattr(self, name) is None:
                setattr(self, name, value)
