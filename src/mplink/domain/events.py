"""Marketplace events as the domain sees them, whatever channel (EventBridge, SNS) carried them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AgreementEventKind(StrEnum):
    CREATED = "created"
    AMENDED = "amended"
    ENDED = "ended"


class LicenseEventKind(StrEnum):
    UPDATED = "updated"
    DEPROVISIONED = "deprovisioned"


class LegacyAction(StrEnum):
    SUBSCRIBE_SUCCESS = "subscribe-success"
    SUBSCRIBE_FAIL = "subscribe-fail"
    UNSUBSCRIBE_PENDING = "unsubscribe-pending"
    UNSUBSCRIBE_SUCCESS = "unsubscribe-success"
    ENTITLEMENT_UPDATED = "entitlement-updated"


@dataclass(frozen=True)
class AgreementEvent:
    """``Purchase Agreement Created/Amended/Ended - Manufacturer|Proposer``."""

    event_id: str
    occurred_at: datetime
    kind: AgreementEventKind
    agreement_id: str
    role: str = "Manufacturer"
    intent: str | None = None
    status: str | None = None
    accepted_at: datetime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    previous_agreement_id: str | None = None
    product_id: str | None = None
    product_title: str | None = None
    offer_id: str | None = None
    acceptor_account_id: str | None = None
    proposer_account_id: str | None = None
    resale_authorization_id: str | None = None


@dataclass(frozen=True)
class LicenseEvent:
    """``License Updated - Manufacturer`` / ``License Deprovisioned - Manufacturer``."""

    event_id: str
    occurred_at: datetime
    kind: LicenseEventKind
    license_arn: str
    product_code: str | None = None
    product_id: str | None = None
    agreement_id: str | None = None
    acceptor_account_id: str | None = None


@dataclass(frozen=True)
class LegacyEvent:
    """A legacy SNS subscription or entitlement message (identifies the buyer by CustomerIdentifier)."""

    event_id: str
    occurred_at: datetime
    action: LegacyAction
    customer_identifier: str
    product_code: str
    offer_id: str | None = None
    free_trial: bool = False


MarketplaceEvent = AgreementEvent | LicenseEvent | LegacyEvent
