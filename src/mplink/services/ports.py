"""What the services need from the outside world, in the services' own terms.

Adapters implement these protocols (the SQL store, the boto3 seller client); tests use in-memory fakes.
Nothing here names a database, a wire format or an AWS SDK: the adapters translate to and from them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self

from mplink.domain.agreement import Agreement, Registration
from mplink.domain.billing import AccountChange
from mplink.domain.catalog import Catalog
from mplink.domain.errors import Conflict, DomainError
from mplink.domain.ledger import Ledger
from mplink.domain.tenant import Tenant, User
from mplink.domain.usage import BillingPeriod, MeteringRecord, RecordStatus


# -- errors the services catch and the entry points map to answers ---------------------------------------------------
class RegistrationTokenRejected(DomainError):
    """ResolveCustomer refused the token: invalid, expired, or not for this seller."""

    code = "registration_token_rejected"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # "invalid", "expired" or "used"


class MarketplaceUnavailable(DomainError):
    """AWS Marketplace could not be reached or failed; the caller may try again."""

    code = "marketplace_unavailable"


class CancellationRequestRefused(Conflict):
    """AWS refused the seller's agreement cancellation request (the agreement is not active, or the seller did not
    propose its offer: a channel partner's offer is ended by the partner)."""

    code = "cancellation_request_refused"


class ConcurrentUpdate(Exception):
    """A concurrent transaction won a race (a unique row inserted first, a lock or serialization failure).
    Running the use case again reloads and sees the winner's rows."""


# -- what AWS Marketplace tells the seller ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AgreementFacts:
    """DescribeAgreement's answer, as far as the seller uses it."""

    agreement_id: str
    offer_id: str | None
    proposer_account_id: str | None
    acceptor_account_id: str | None
    status: str | None
    accepted_at: datetime | None
    starts_at: datetime | None
    ends_at: datetime | None
    #: the first agreement of its chain of renewals and replacements (itself when it replaced nothing)
    initial_agreement_id: str | None = None


@dataclass(frozen=True)
class Entitlement:
    dimension: str
    value: dict[str, Any]
    expires_at: datetime | None


class MeterStatus(StrEnum):
    """What became of one record sent to BatchMeterUsage."""

    SUCCESS = "Success"
    DUPLICATE = "DuplicateRecord"
    NOT_SUBSCRIBED = "CustomerNotSubscribed"
    #: AWS did not process it this time (UnprocessedRecords): send it again
    UNPROCESSED = "Unprocessed"
    #: AWS refused the record itself (a whole-batch error such as InvalidLicenseException, isolated to it by
    #: splitting the batch); it goes to operators with the error
    REFUSED = "Refused"


@dataclass(frozen=True)
class MeterOutcome:
    record_id: str
    status: MeterStatus
    #: AWS's MeteringRecordId for Success and DuplicateRecord
    metering_record_id: str | None = None
    #: AWS's error code and message for a refused record
    detail: str | None = None


class Pacer(Protocol):
    """Paces calls at a quota shared by every worker (BatchMeterUsage: the seller's requests per second)."""

    def acquire(self) -> None:
        """Wait until one more call fits in the quota, and count it."""
        ...

    def throttled(self) -> None:
        """AWS answered ThrottlingException: hold every sharer back before its next call."""
        ...


class SellerMarketplace(Protocol):
    """The seller's side of AWS Marketplace (ResolveCustomer, DescribeAgreement, GetEntitlements, BatchMeterUsage)."""

    def resolve_customer(self, token: str) -> Registration: ...

    def describe_agreement(self, agreement_id: str) -> AgreementFacts: ...

    def get_entitlements(self, product_code: str, license_arn: str) -> list[Entitlement]: ...

    def send_cancellation_request(self, agreement_id: str, client_token: str) -> CancellationRequest:
        """SendAgreementCancellationRequest (reason REPLACING_AGREEMENT); the same ``client_token`` again returns
        the same request. When a request already waits for the buyer, that one. Raises CancellationRequestRefused
        when AWS refuses it, MarketplaceUnavailable when AWS could not be asked."""
        ...

    def meter(self, product_code: str, records: Sequence[MeteringRecord]) -> list[MeterOutcome]:
        """Send one batch (at most 25 records of one product); one outcome per record, matched by customer,
        dimension and hour. A record AWS refuses as a whole-batch error comes back REFUSED (the batch is split
        to find it). Raises MarketplaceUnavailable when the batch could not be sent (throttled or down)."""
        ...


@dataclass(frozen=True)
class CancellationRequest:
    """An agreement cancellation request the seller sent (SendAgreementCancellationRequest's answer)."""

    request_id: str
    agreement_id: str
    #: PENDING_APPROVAL, APPROVED, REJECTED, CANCELLED or VALIDATION_FAILED
    status: str


# -- rows the repositories hand back ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InboxEntry:
    id: int
    dedup_key: str
    channel: str
    kind: str
    payload: str
    status: str
    attempts: int
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None


@dataclass(frozen=True)
class ApiKeyRow:
    id: str
    prefix: str
    key_hash: str
    tenant_id: str | None
    scope: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class RedeemedToken:
    """A registration token that ResolveCustomer accepted: once linked, it is used up."""

    token_hash: str
    agreement_id: str
    redeemed_at: datetime
    linked_tenant_id: str | None


@dataclass(frozen=True)
class MissedHour:
    """An hour metered when AWS no longer took it: its usage is kept as unbilled, and operators see why."""

    hour: datetime
    #: domain.usage.HourRefusal value
    reason: str
    usage_events: int
    quantity: int
    reported_at: datetime


@dataclass(frozen=True)
class UsageIssue:
    """A tenant's late or unbilled usage of one kind: "late_billed" (came late, billed in a later hour) or a
    domain.usage.UnbilledReason value."""

    tenant_id: str
    reason: str
    events: int
    quantity: int


@dataclass(frozen=True)
class PendingLoad:
    """Records written and not sent yet, by the order they are sent in when the load exceeds the quota."""

    final_window: int
    usage: int
    zeros: int


# -- repositories ----------------------------------------------------------------------------------------------------
class TenantRepository(Protocol):
    def add(self, tenant: Tenant) -> None: ...

    def add_user(self, user: User) -> None: ...

    def get(self, tenant_id: str, *, lock: bool = False) -> Tenant | None: ...

    def existing(self, tenant_ids: Iterable[str]) -> set[str]:
        """Which of these tenant ids exist (one query, however many)."""
        ...

    def all(self, offset: int = 0, limit: int | None = None) -> list[Tenant]: ...

    def user_by_email(self, email: str) -> User | None: ...

    def user(self, user_id: str) -> User | None: ...

    def users(self, user_ids: Iterable[str]) -> list[User]: ...


class CatalogRepository(Protocol):
    def replace(self, catalog: Catalog) -> None: ...

    def get(self) -> Catalog | None: ...


class LedgerRepository(Protocol):
    def load(
        self,
        agreement_ids: Iterable[str] = (),
        tenant_ids: Iterable[str] = (),
        license_arns: Iterable[str] = (),
        legacy_keys: Iterable[tuple[str, str]] = (),
    ) -> Ledger:
        """The closure of ledger objects a use case touches: the named agreements and tenants, their links,
        predecessors, successors, account changes and side facts (locked for update where the store can)."""
        ...

    def agreements_page(self, offset: int, limit: int) -> list[Agreement]: ...

    def changes_page(self, offset: int, limit: int) -> list[AccountChange]: ...

    def superseded_running(self) -> list[str]:
        """Ids of the agreements a tenant superseded (R2) that have not ended: a superset of the stale
        subscriptions (``domain.stale`` decides which are)."""
        ...

    def save(self, ledger: Ledger) -> None: ...


class InboxRepository(Protocol):
    def get_by_key(self, dedup_key: str, *, lock: bool = False) -> InboxEntry | None: ...

    def add(self, dedup_key: str, channel: str, kind: str, payload: dict[str, object] | str, at: datetime) -> None: ...

    def mark(self, dedup_key: str, status: str, at: datetime, error: str | None = None) -> None: ...

    def entries(self, statuses: Iterable[str] = (), limit: int = 100) -> list[InboxEntry]: ...


class AccessRepository(Protocol):
    def add_api_key(self, row: ApiKeyRow) -> None: ...

    def api_key_by_prefix(self, prefix: str) -> ApiKeyRow | None: ...

    def api_keys(self, tenant_id: str | None = None) -> list[ApiKeyRow]: ...

    def touch_api_key(self, key_id: str, at: datetime) -> None: ...

    def redeemed_token(self, token_hash: str, *, lock: bool = False) -> RedeemedToken | None: ...

    def redeem_token(self, token_hash: str, agreement_id: str, at: datetime) -> None: ...

    def token_linked(self, token_hash: str, tenant_id: str) -> None: ...


class EntitlementRepository(Protocol):
    def replace(self, agreement_id: str, rows: list[dict[str, object]], at: datetime) -> None: ...

    def of_agreement(self, agreement_id: str) -> list[dict[str, object]]: ...

    def stale_agreements(self, limit: int = 100) -> list[Agreement]: ...


class MeteringRepository(Protocol):
    def metered_dimensions(self) -> frozenset[str] | None:
        """The dimension keys of every product in the catalog; None when no catalog is loaded."""
        ...

    def billing_periods(self, tenant_ids: Iterable[str]) -> dict[str, list[BillingPeriod]]:
        """Each of the tenants that exists (the others are left out), with its billing links and their
        agreements' ends: what routing usage needs (R5), in one look-up."""
        ...

    def add_usage(self, rows: list[dict[str, object]]) -> set[tuple[str, str]]:
        """Store usage rows, skipping those whose (tenant id, idempotency key) is stored already; the keys stored."""
        ...

    def hourly_totals(self, hour: datetime) -> dict[tuple[str, str, datetime], int]: ...

    def metered_agreements(self) -> list[Agreement]: ...

    def recorded_in_hour(self, hour: datetime) -> set[tuple[str, str]]: ...

    def add_record(self, record: MeteringRecord) -> None: ...

    # -- hour bookkeeping (services.metering: meter_hour, catch_up) --
    def metered_through(self, *, lock: bool = False) -> datetime | None:
        """The last hour metered (every hour up to it is written or reported missed); ``lock`` holds the
        point until the transaction ends, so one worker meters an hour at a time."""
        ...

    def hold_metered_through(self) -> datetime | None:
        """The last hour metered, held until the transaction ends against ``metered_through(lock=True)`` but not
        against other holders: usage stored meanwhile knows whether its hour is still to be written."""
        ...

    def set_metered_through(self, hour: datetime, at: datetime) -> None:
        """Move the point forward to ``hour`` (never back)."""
        ...

    def oldest_unmetered_usage_hour(self) -> datetime | None: ...

    def write_hour(self, hour: datetime, agreement_ids: Sequence[str] | None = None) -> int:
        """Write ``hour``'s records in bulk, for every agreement (or those named) that ran in it and has none
        there yet: one per dimension, its usage summed, zero when unused (R7). Usage of earlier hours still
        unbilled goes into the same record (late usage) while its agreement runs in ``hour``; usage of
        earlier hours that cannot go anywhere is marked unbilled with the reason. Usage marked at intake as
        billed in ``hour`` (``billed_in_own_hour``) that gets no record there is unmarked, to be settled like late
        usage. Returns the records written."""
        ...

    def miss_hour(self, hour: datetime, reason: str, at: datetime) -> MissedHour:
        """Report ``hour`` as too late for AWS: its usage is marked unbilled with the reason."""
        ...

    def agreements_in_final_window(self, now: datetime) -> list[Agreement]:
        """Ended agreements AWS still takes records for (R6)."""
        ...

    def missed_hours(self, limit: int = 100) -> list[MissedHour]: ...

    def usage_issues(self) -> list[UsageIssue]:
        """Late and unbilled usage per tenant and reason."""
        ...

    def pending_load(self) -> PendingLoad: ...

    def pending_records(self) -> list[MeteringRecord]: ...

    def record(self, record_id: str) -> MeteringRecord | None: ...

    def agreements_by_id(self) -> dict[str, Agreement]: ...


@dataclass(frozen=True)
class Settlement:
    """What becomes of a claimed record: an end (sent, duplicate, rejected, expired), or PENDING again with
    the time before which no worker takes it again."""

    record_id: str
    status: RecordStatus
    detail: str | None = None


class SendQueueRepository(Protocol):
    """Pending metering records as a queue that several workers take batches from (claims with leases)."""

    def prioritize(self, now: datetime) -> None:
        """Give new pending records their send priority, and ended agreements' records the final-window one."""
        ...

    def expire_before(self, cutoff: datetime, reason: str) -> int:
        """Keep every pending record older than ``cutoff`` as expired (AWS would refuse it); how many."""
        ...

    def claim(self, worker_id: str, now: datetime, lease_until: datetime, limit: int) -> list[MeteringRecord]:
        """Lease up to ``limit`` pending records nobody holds, in send order (priority, then oldest hour)."""
        ...

    def agreements(self, agreement_ids: Iterable[str]) -> dict[str, Agreement]: ...

    def settle(self, worker_id: str, settlements: Sequence[Settlement], retry_at: datetime) -> None:
        """Record a batch's ends in one statement; PENDING ones are released, claimable again from ``retry_at``."""
        ...


# -- the unit of work ------------------------------------------------------------------------------------------------
class UnitOfWork(Protocol):
    """One transaction per use case: ``with uow:`` opens it, ``commit()`` keeps it, leaving rolls back.

    ``with uow.snapshot():`` opens a read-only transaction in which every query sees the same committed
    state, for use cases that read in several queries. A lost race surfaces as ConcurrentUpdate."""

    @property
    def tenants(self) -> TenantRepository: ...

    @property
    def catalog(self) -> CatalogRepository: ...

    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def inbox(self) -> InboxRepository: ...

    @property
    def access(self) -> AccessRepository: ...

    @property
    def entitlements(self) -> EntitlementRepository: ...

    @property
    def metering(self) -> MeteringRepository: ...

    @property
    def send_queue(self) -> SendQueueRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def snapshot(self) -> Self: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
