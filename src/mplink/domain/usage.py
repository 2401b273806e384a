"""Usage and hourly metering: route usage to whoever paid at that instant (R5), flush ended
agreements first (R6), and send a record for every dimension of every active agreement each hour (R7)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Protocol

from mplink.domain.agreement import Agreement
from mplink.domain.clock import HOUR, hour_of, utc
from mplink.domain.errors import InvalidValue, UnknownDimension

#: AWS takes records at most this old (was 6 hours before 2026-07)
METERING_LOOKBACK = timedelta(hours=24)
#: BatchMeterUsage: "We accept usage records for the previous billing month until 06:00 UTC on the first day of
#: the next month."
MONTH_END_GRACE = timedelta(hours=6)
#: BatchMeterUsage takes at most this many records, all of one product
MAX_BATCH = 25
MAX_QUANTITY = 2_147_483_647


@dataclass(frozen=True)
class UsageEvent:
    """Usage reported by the SaaS for a tenant; ``idempotency_key`` makes resending harmless."""

    tenant_id: str
    dimension: str
    quantity: int
    timestamp: datetime
    idempotency_key: str

    def __post_init__(self) -> None:
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise InvalidValue("quantity must be a whole number")
        if not 0 <= self.quantity <= MAX_QUANTITY:
            raise InvalidValue(f"quantity must be between 0 and {MAX_QUANTITY}")
        if not self.idempotency_key or len(self.idempotency_key) > 200:
            raise InvalidValue("idempotency_key must be 1-200 characters")
        if not 1 <= len(self.dimension) <= 255:
            raise InvalidValue("dimension must be 1-255 characters")


@dataclass(frozen=True)
class RoutedUsage:
    event: UsageEvent
    hour: datetime
    #: None: nobody paid for the tenant at that instant; kept and reported as unbillable (R5)
    agreement_id: str | None


class PaymentHistory(Protocol):
    """Who paid for a tenant when: the ledger, or just its billing periods (what routing usage needs)."""

    def payer_at(self, tenant_id: str, at: datetime) -> str | None: ...


@dataclass(frozen=True)
class BillingPeriod:
    """A link's interval of one tenant, with the end of its agreement (R5 needs no more)."""

    tenant_id: str
    agreement_id: str
    starts_at: datetime
    ends_at: datetime | None
    #: when the agreement ended (or was deprovisioned), if it did
    agreement_ended: datetime | None

    def pays_at(self, at: datetime) -> bool:
        in_link = self.starts_at <= at and (self.ends_at is None or at < self.ends_at)
        return in_link and (self.agreement_ended is None or at < self.agreement_ended)


class BillingPeriods:
    """The billing periods of some tenants, by tenant: R5's answer without loading the whole ledger."""

    def __init__(self, periods: Iterable[BillingPeriod]) -> None:
        self._by_tenant: dict[str, list[BillingPeriod]] = defaultdict(list)
        for p in periods:
            self._by_tenant[p.tenant_id].append(p)

    def agreement_ended(self, tenant_id: str, agreement_id: str) -> bool:
        """Whether the agreement (one of the tenant's) has ended or was deprovisioned, at any time."""
        return any(
            p.agreement_id == agreement_id and p.agreement_ended is not None for p in self._by_tenant.get(tenant_id, ())
        )

    def payer_at(self, tenant_id: str, at: datetime) -> str | None:
        for p in self._by_tenant.get(tenant_id, ()):
            if p.starts_at <= at and (p.ends_at is None or at < p.ends_at):
                return p.agreement_id if p.pays_at(at) else None  # links of a tenant do not overlap (R2)
        return None


def route_usage(event: UsageEvent, history: PaymentHistory, dimensions: frozenset[str]) -> RoutedUsage:
    """R5: the agreement linked to the tenant at the event's own timestamp pays for it."""
    if event.dimension not in dimensions:
        raise UnknownDimension(
            f"unknown dimension {event.dimension!r}; the product meters: {', '.join(sorted(dimensions))}"
        )
    at = utc(event.timestamp)
    return RoutedUsage(event=event, hour=hour_of(at), agreement_id=history.payer_at(event.tenant_id, at))


def billed_in_own_hour(routed: RoutedUsage, metered_through: datetime | None, agreement_ended: bool) -> datetime | None:
    """The hour whose record bills usage being stored, when that is already certain at intake: its own hour, if
    that hour is not metered yet and its agreement has not ended (an ended agreement's final hours are written
    early, R6, so a record of that hour may be out already). Marked at intake, usage on time costs the hour's
    writing no write of its own; anything else (late usage, ended agreements) is settled when hours are written.
    The caller holds the metered-through point while it stores, so the hour cannot be written in between."""
    if routed.agreement_id is None or agreement_ended:
        return None
    if metered_through is not None and routed.hour <= metered_through:
        return None
    return routed.hour


class RecordStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DUPLICATE = "duplicate"
    #: the marketplace refused it (not subscribed, invalid license); kept as unbillable
    REJECTED = "rejected"
    #: R6: too late to send (final window or look-back passed); kept as unbillable
    EXPIRED = "expired"


@dataclass(eq=False)
class MeteringRecord:
    """One BatchMeterUsage record: an agreement's quantity of one dimension in one hour."""

    id: str
    agreement_id: str
    product_code: str
    aws_account_id: str
    license_arn: str | None
    customer_identifier: str | None
    dimension: str
    hour: datetime
    quantity: int
    status: RecordStatus = RecordStatus.PENDING
    detail: str | None = None


def active_during(agreement: Agreement, hour: datetime) -> bool:
    """R7: the agreement ran for some part of ``hour`` (so AWS expects a record for it)."""
    begin = agreement.starts_at or agreement.accepted_at
    if begin is not None and begin >= hour + HOUR:
        return False
    end = agreement.ended_since()
    return end is None or end > hour


def records_for_hour(
    hour: datetime,
    agreements: Iterable[Agreement],
    dimensions: Sequence[str],
    totals: dict[tuple[str, str, datetime], int],
    new_id: Callable[[], str],
) -> list[MeteringRecord]:
    """R7: a record per dimension for every metered, active agreement of the product, zero when unused."""
    out: list[MeteringRecord] = []
    for agreement in sorted(agreements, key=lambda a: a.agreement_id):
        if not agreement.aws_account_id or not agreement.product_code or not active_during(agreement, hour):
            continue
        for dim in dimensions:
            out.append(
                MeteringRecord(
                    id=new_id(),
                    agreement_id=agreement.agreement_id,
                    product_code=agreement.product_code,
                    aws_account_id=agreement.aws_account_id,
                    license_arn=agreement.license_arn,
                    customer_identifier=agreement.customer_identifier,
                    dimension=dim,
                    hour=hour,
                    quantity=totals.get((agreement.agreement_id, dim, hour), 0),
                )
            )
    return out


class SendPriority(IntEnum):
    """The order records go out in when the hour's load exceeds the quota (lower first)."""

    #: R6: an ended agreement's records, before its one-hour final window closes
    FINAL_WINDOW = 0
    #: records that bill something
    USAGE = 1
    #: R7's zero records: AWS expects them, but they bill nothing
    ZERO = 2


def send_priority(record: MeteringRecord, agreement: Agreement | None) -> SendPriority:
    if agreement is not None and agreement.final_metering_deadline() is not None:
        return SendPriority.FINAL_WINDOW
    return SendPriority.USAGE if record.quantity > 0 else SendPriority.ZERO


def send_cutoff(now: datetime) -> datetime:
    """The oldest hour BatchMeterUsage still takes at ``now``: a Timestamp less than 24 hours old ("Usage records
    aren't accepted 24 hours or more after an event"), and the previous month's only until 06:00 UTC on the 1st."""
    now = utc(now)
    cutoff = hour_of(now - METERING_LOOKBACK) + HOUR
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if now >= month_start + MONTH_END_GRACE:
        cutoff = max(cutoff, month_start)
    return cutoff


def too_late(record: MeteringRecord, agreement: Agreement | None, now: datetime) -> str | None:
    """Why AWS would no longer take ``record`` at ``now`` (the record is then kept as expired), or None."""
    deadline = agreement.final_metering_deadline() if agreement else None
    if deadline is not None and now >= deadline:
        return f"the agreement's final metering window closed at {deadline:%Y-%m-%d %H:%M} UTC"
    if record.hour < send_cutoff(now):
        return "older than AWS Marketplace takes (24 hours; the previous month only until 06:00 UTC on the 1st)"
    return None


@dataclass(frozen=True)
class MeteringPlan:
    #: batches to send now, in priority order (final window, usage, zeros; oldest hour first within each);
    #: each holds at most 25 records of one product, all LicenseArn or all legacy (one BatchMeterUsage call)
    batches: list[list[MeteringRecord]]
    #: records too late to send; they stay as unbillable
    expired: list[MeteringRecord]
    #: why each expired record (by id) can no longer be sent
    reasons: dict[str, str] = field(default_factory=dict)


def plan_metering(now: datetime, pending: Iterable[MeteringRecord], agreements: dict[str, Agreement]) -> MeteringPlan:
    """R6: flush an ending agreement's usage before its final window closes; never drop a record."""
    ready: list[tuple[SendPriority, MeteringRecord]] = []
    expired: list[MeteringRecord] = []
    reasons: dict[str, str] = {}
    for rec in pending:
        if rec.status is not RecordStatus.PENDING:
            continue
        agreement = agreements.get(rec.agreement_id)
        reason = too_late(rec, agreement, now)
        if reason is not None:
            expired.append(rec)
            reasons[rec.id] = reason
        else:
            ready.append((send_priority(rec, agreement), rec))
    groups: dict[tuple[SendPriority, str, bool], list[MeteringRecord]] = defaultdict(list)
    for priority, rec in sorted(ready, key=lambda pr: (pr[0], pr[1].hour, pr[1].agreement_id, pr[1].dimension)):
        groups[(priority, rec.product_code, rec.license_arn is None)].append(rec)
    batches: list[list[MeteringRecord]] = []
    for key in sorted(groups):
        recs = groups[key]
        batches.extend(recs[i : i + MAX_BATCH] for i in range(0, len(recs), MAX_BATCH))
    return MeteringPlan(batches=batches, expired=expired, reasons=reasons)


def hourly_capacity(requests_per_second: float) -> int:
    """Records BatchMeterUsage takes in an hour at the seller's quota: 10 requests/s x 25 records = 900,000."""
    return int(requests_per_second * MAX_BATCH * 3600)


# -- which hours AWS still takes, and what happens to usage that comes too late --------------------------------------
class HourRefusal(StrEnum):
    """Why AWS no longer takes records of an hour (their Timestamp is the hour's start)."""

    #: "Usage records aren't accepted 24 hours or more after an event."
    TOO_OLD = "older_than_24_hours"
    #: the previous billing month's usage is taken only until 06:00 UTC on the 1st
    MONTH_CLOSED = "previous_month_closed"


def hour_refusal(hour: datetime, now: datetime) -> HourRefusal | None:
    """Why BatchMeterUsage would refuse a record of ``hour`` sent at ``now``, or None while it takes it.

    Sources: BatchMeterUsage's API reference (24-hour look-back) and its note on the month's end ("We accept
    usage records for the previous billing month until 06:00 UTC on the first day of the next month")."""
    hour, now = hour_of(hour), utc(now)
    if hour <= now - METERING_LOOKBACK:
        return HourRefusal.TOO_OLD
    if hour < send_cutoff(now):  # the same rule as the send side's, so an hour written is an hour sendable
        return HourRefusal.MONTH_CLOSED
    return None


def hours_to_meter(metered_through: datetime | None, last_finished: datetime, now: datetime) -> list[datetime]:
    """The finished hours not metered yet, oldest first: every hour after ``metered_through`` (those AWS no
    longer takes included, so they are reported, not skipped); with nothing metered yet, the hours AWS
    still takes."""
    base = hour_of(utc(now) - METERING_LOOKBACK) if metered_through is None else hour_of(metered_through)
    start = base + HOUR
    out: list[datetime] = []
    hour = start
    while hour <= last_finished:
        out.append(hour)
        hour += HOUR
    return out


#: how operators' views name usage that came late and was billed in a later hour (not an UnbilledReason: it is billed)
LATE_BILLED = "late_billed"


class UnbilledReason(StrEnum):
    """Why stored usage is not in any record AWS will bill (reported per tenant, never dropped)."""

    #: R5: no agreement paid for the tenant at the usage's instant
    NO_AGREEMENT = "no_agreement"
    #: it came after its hour was written, and the agreement linked then takes no more records (it ended)
    AGREEMENT_ENDED = "agreement_ended"
    #: its hour was metered too late for AWS (after an outage over 24 hours, or past the month-end rule)
    HOUR_MISSED = "hour_missed"
    #: its agreement does not meter that dimension (the catalog changed) or was not running in the hour
    NOT_METERED = "not_metered"


def late_usage_target(agreement: Agreement, usage_hour: datetime, hour: datetime) -> UnbilledReason | None:
    """The late-usage policy: usage of ``usage_hour`` still unbilled when ``hour`` is written goes into the
    agreement's record of ``hour`` (None) while the agreement runs in ``hour``; once it has ended, it is
    kept as unbilled with the reason."""
    if usage_hour > hour:
        raise InvalidValue("usage of a later hour is not late")
    if active_during(agreement, hour):
        return None
    return UnbilledReason.AGREEMENT_ENDED if agreement.ended_since() is not None else UnbilledReason.NOT_METERED
