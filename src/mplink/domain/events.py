"""Marketplace events as the domain sees them, whatever channel (EventBridge, SNS) carried them.

They hold what AWS's documented events carry, no more: fields an event may lack are optional, and what
the seller needs that an event does not say is asked of AWS (DescribeAgreement) before it is applied."""

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


#: intents whose agreement takes over from an earlier one (R4)
SUCCESSOR_INTENTS = frozenset({"REPLACE", "RENEW"})


@dataclass(frozen=True)
class AgreementEvent:
    """``Purchase Agreement Created/Amended/Ended - Manufacturer|Proposer``.

    An ISV selling its own offer gets the Proposer events only, on a channel partner's offer the
    Manufacturer ones only: both say the same. Ended events say only the agreement's id and status."""

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
    #: DescribeAgreement's ``initialAgreementId``: the first agreement of this one's chain (not in the event)
    initial_agreement_id: str | None = None

    @property
    def succeeds_unknown(self) -> bool:
        """A Created REPLACE or RENEW that does not name the agreement it follows: AWS documents
        ``previousAgreementId`` only on a RENEW example, so the chain must come from DescribeAgreement."""
        return (
            self.kind is AgreementEventKind.CREATED
            and (self.intent or "").upper() in SUCCESSOR_INTENTS
            and not self.previous_agreement_id
        )


@dataclass(frozen=True)
class LicenseEvent:
    """``License Updated - Manufacturer`` / ``License Deprovisioned - Manufacturer``: something about the
    agreement's license changed. They carry the agreement's id; the LicenseArn is printed without its
    leading ``arn:`` and may be written otherwise than ResolveCustomer's, so it identifies nothing."""

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


@dataclass(frozen=True)
class CancellationRequestEvent:
    """``Agreement Cancellation Request <status> - Proposer|Manufacturer`` (seller guide, "Events for
    cancellations"): a cancellation request the seller sent for an agreement changed status. ``status`` is the
    request's ``statusCode``: PENDING_APPROVAL, APPROVED, REJECTED, CANCELLED or VALIDATION_FAILED."""

    event_id: str
    occurred_at: datetime
    agreement_id: str
    request_id: str
    status: str


MarketplaceEvent = AgreementEvent | LicenseEvent | LegacyEvent | CancellationRequestEvent
