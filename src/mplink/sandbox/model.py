"""What the sandbox remembers: agreements, agreement requests, registration tokens, metering records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def hour_of(ts: datetime) -> datetime:
    """The metering hour a timestamp falls in."""
    return ts.replace(minute=0, second=0, microsecond=0)


@dataclass
class SbAgreement:
    agreement_id: str
    account_id: str
    product_id: str
    offer_id: str
    proposer_account_id: str
    intent: str
    status: str
    acceptance_time: datetime
    start_time: datetime
    license_arn: str
    request_id: str
    provisioned_at: datetime
    end_time: datetime | None = None
    previous_agreement_id: str | None = None
    customer_identifier: str | None = None
    license_updated_sent: bool = False
    deprovisioned: bool = False
    api_cancellable: bool = True
    updated_at: datetime | None = None
    #: the buyer's auto-renewal choice when the offer has a RenewalTerm; None when it has none
    auto_renew: bool | None = None
    #: CreateAgreementRequest's ``acceptorContact``, when the buyer gave one
    acceptor_contact: dict[str, str] | None = None


@dataclass
class SbRequest:
    """An agreement request (CreateAgreementRequest): the terms the buyer asked for, fixed when it was made."""

    request_id: str
    account_id: str
    offer_id: str
    intent: str
    term_ids: list[str]
    created_at: datetime
    client_token: str | None = None
    #: the agreement REPLACE replaces or AMEND modifies
    source_agreement_id: str | None = None
    #: the agreement accepting the request created (NEW, REPLACE) or modified (AMEND)
    agreement_id: str | None = None
    status: str = "DRAFT"
    #: ``requestedTerms`` as sent: ``{"id", "configuration"?}``
    requested_terms: list[dict[str, Any]] = field(default_factory=list)
    #: the auto-renewal choice the request makes (RenewalTerm's configuration), None when it makes none
    auto_renew: bool | None = None
    acceptor_contact: dict[str, str] | None = None
    #: a digest of the request's parameters except clientToken: a reused token must come with the same ones
    fingerprint: str | None = None
    #: the request accepted after this one on the same product, which leaves this one unacceptable
    superseded_by: str | None = None

    def __post_init__(self) -> None:
        if self.agreement_id and self.status == "DRAFT":
            self.status = "ACCEPTED"  # a state file written before requests had a status


@dataclass
class SbToken:
    token: str
    agreement_id: str
    expires_at: datetime
    origin: str  # "console" (4 hours) or "api" (GetAgreementEntitlements, 30 minutes)


@dataclass
class SbMeterRecord:
    metering_record_id: str
    product_code: str
    account_id: str
    license_arn: str
    dimension: str
    hour: datetime
    timestamp: datetime
    quantity: str  # decimal text: Quantity or QuantityAsDecimal as sent
    received_at: datetime
    allocations: list[dict[str, object]] = field(default_factory=list)
    #: sent with both ProductCode and LicenseArn: AWS bills such a record twice (BatchMeterUsage's ProductCode)
    double_billed: bool = False


@dataclass
class SbCancellationRequest:
    """A seller's (the proposer's) request to end an agreement, which the buyer (the acceptor) approves or rejects."""

    request_id: str  # acr-...
    agreement_id: str
    proposer_account_id: str
    acceptor_account_id: str
    reason_code: str
    status: str  # PENDING_APPROVAL, APPROVED, REJECTED, CANCELLED, VALIDATION_FAILED
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    #: the buyer's rejection reason, the seller's withdrawal reason, or why validation failed
    status_message: str | None = None
    client_token: str | None = None
