"""Usage in, hourly metering records out: usage is routed to whoever paid at its instant (R5), every
active agreement gets a record per dimension per hour (R7), ended agreements are flushed first (R6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from mplink.domain.clock import HOUR, hour_of, now_utc, utc
from mplink.domain.errors import InvalidValue, NotAuthorized, NotFound
from mplink.domain.usage import (
    LATE_BILLED,
    METERING_LOOKBACK,
    BillingPeriods,
    HourRefusal,
    UsageEvent,
    billed_in_own_hour,
    hour_refusal,
    hours_to_meter,
    route_usage,
)
from mplink.services.metering_send import send_metering
from mplink.services.ports import (
    MissedHour,
    PendingLoad,
    UsageIssue,
)
from mplink.services.unit_of_work import UnitOfWork, UnitOfWorkFactory, retry_on_conflict

log = structlog.get_logger("mplink.metering")

__all__ = [
    "LATE_BILLED",
    "MeteringStatus",
    "UsageReceipt",
    "ingest_usage",
    "meter_hour",
    "metering_status",
    "send_metering",
    "tenant_usage_issues",
]

MAX_EVENTS = 1000


@dataclass(frozen=True)
class UsageReceipt:
    accepted: int
    duplicates: int
    unbillable: int


def ingest_usage(uow: UnitOfWork, events: list[UsageEvent], allowed_tenant: str | None = None) -> UsageReceipt:
    """Store usage events, each routed by its own timestamp. Any bad event refuses the whole request."""
    if not events:
        raise InvalidValue("events must not be empty")
    if len(events) > MAX_EVENTS:
        raise InvalidValue(f"at most {MAX_EVENTS} events per request")
    now = now_utc()
    with uow:
        # held until commit: no hour is written while these events are stored (see billed_in_own_hour)
        through = uow.metering.hold_metered_through()
        dimensions = uow.metering.metered_dimensions()
        if dimensions is None:
            raise NotFound("no catalog loaded yet")
        tenant_ids = {e.tenant_id for e in events}
        for tid in sorted(tenant_ids):
            if allowed_tenant is not None and tid != allowed_tenant:
                raise NotAuthorized(f"this API key may not report usage for tenant {tid!r}")
        # the tenants and their billing periods in one look-up
        periods = uow.metering.billing_periods(tenant_ids)
        unknown = sorted(tenant_ids - periods.keys())
        if unknown:
            raise NotFound(f"no tenant with id {unknown[0]!r}")
        if any(e.timestamp > now + HOUR / 12 for e in events):
            raise InvalidValue("usage timestamps must not be in the future")
        payers = BillingPeriods(p for ps in periods.values() for p in ps)
        routed = [route_usage(e, payers, dimensions) for e in events]
        seen: set[tuple[str, str]] = set()
        rows: list[dict[str, object]] = []
        for r in routed:
            key = (r.event.tenant_id, r.event.idempotency_key)
            if key in seen:
                continue  # the same event twice in one request
            seen.add(key)
            rows.append(
                {
                    "tenant_id": r.event.tenant_id,
                    "idempotency_key": r.event.idempotency_key,
                    "dimension": r.event.dimension,
                    "quantity": r.event.quantity,
                    "occurred_at": r.event.timestamp,
                    "hour": r.hour,
                    "agreement_id": r.agreement_id,
                    "received_at": now,
                    "metered_hour": billed_in_own_hour(
                        r, through, r.agreement_id is not None and payers.agreement_ended(key[0], r.agreement_id)
                    ),
                }
            )
        # events stored before (their idempotency key) are skipped by the store, on its unique index
        stored = uow.metering.add_usage(rows)
        uow.commit()
        unbillable = sum(
            1 for row in rows if row["agreement_id"] is None and (row["tenant_id"], row["idempotency_key"]) in stored
        )
        return UsageReceipt(len(stored), len(events) - len(stored), unbillable)


#: usage may still arrive this long after an hour ends before the hour is metered
METERING_GRACE = timedelta(minutes=5)
#: BatchMeterUsage takes at most 25 records a call; at the default quota of 10 calls a second
RECORDS_PER_CALL = 25
DEFAULT_RATE = 10.0


@retry_on_conflict
def meter_hour(uow_factory: UnitOfWorkFactory, hour: datetime) -> int:
    """Write the records of one finished hour in one transaction and move the metered-through point to it.

    Idempotent, and exact with several workers: the point is locked while the hour is written, and an hour
    at or before it is not written again. Usage that came late is billed in this hour (see write_hour)."""
    hour = hour_of(hour)
    with uow_factory() as uow:
        through = uow.metering.metered_through(lock=True)
        if through is not None and hour <= through:
            return 0
        written = uow.metering.write_hour(hour)
        uow.metering.set_metered_through(hour, now_utc())
        uow.commit()
    log.info("metering hour written", hour=hour.isoformat(), records=written)
    return written


@retry_on_conflict
def report_missed_hour(uow_factory: UnitOfWorkFactory, hour: datetime, reason: HourRefusal) -> MissedHour | None:
    """An hour AWS no longer takes: its usage is kept as unbilled, the hour and the reason are kept for
    operators (``metering_status``), a warning is logged; the point moves past it. None if already done."""
    hour = hour_of(hour)
    with uow_factory() as uow:
        through = uow.metering.metered_through(lock=True)
        if through is not None and hour <= through:
            return None
        missed = uow.metering.miss_hour(hour, reason.value, now_utc())
        uow.metering.set_metered_through(hour, now_utc())
        uow.commit()
    log.warning(
        "metering hour missed: AWS no longer takes it",
        hour=hour.isoformat(),
        reason=reason.value,
        usage_events=missed.usage_events,
        quantity=missed.quantity,
    )
    return missed


@retry_on_conflict
def meter_final_hours(uow_factory: UnitOfWorkFactory, now: datetime) -> int:
    """R6: an ended agreement's hours not metered yet are written as soon as it ends (after the grace), before
    any other hour, so its final window does not close while a backlog is metered."""
    with uow_factory() as uow:
        through = uow.metering.metered_through(lock=True)
        ending = [
            a
            for a in uow.metering.agreements_in_final_window(now)
            if (end := a.ended_since()) is not None and end + METERING_GRACE <= now
        ]
        if not ending:
            return 0
        last = max(hour_of(end) for a in ending if (end := a.ended_since()) is not None)
        written = 0
        for hour in hours_to_meter(through, last, now):
            if hour_refusal(hour, now) is None:
                written += uow.metering.write_hour(hour, [a.agreement_id for a in ending])
        uow.commit()
        return written


@dataclass(frozen=True)
class CatchUp:
    written: int
    hours_metered: int
    missed: list[MissedHour]


def catch_up(uow_factory: UnitOfWorkFactory, now: datetime | None = None) -> CatchUp:
    """Meter every finished hour not metered yet, oldest first, each in its own transaction (a crash loses
    nothing): ended agreements' final hours first (R6); an hour AWS still takes is written; one it no longer
    takes (over 24 hours old, or last month's after 06:00 UTC on the 1st) is reported, never dropped."""
    now = utc(now or now_utc())
    last_finished = hour_of(now - METERING_GRACE) - HOUR
    written = meter_final_hours(uow_factory, now)
    with uow_factory() as uow:
        through = uow.metering.metered_through()
        oldest_usage = uow.metering.oldest_unmetered_usage_hour() if through is None else None
    if through is None and oldest_usage is not None:
        # the first round ever: usage older than AWS's window is reported with its hour, not billed elsewhere
        through = min(oldest_usage - HOUR, hour_of(now - METERING_LOOKBACK))
    hours = 0
    missed: list[MissedHour] = []
    for hour in hours_to_meter(through, last_finished, now):
        refusal = hour_refusal(hour, now)
        if refusal is None:
            written += meter_hour(uow_factory, hour)
            hours += 1
        elif (report := report_missed_hour(uow_factory, hour, refusal)) is not None:
            missed.append(report)
    return CatchUp(written=written, hours_metered=hours, missed=missed)


@dataclass(frozen=True)
class MeteringStatus:
    """What operators see (``mplink metering status``, the API, /metrics)."""

    metered_through: datetime | None
    #: the most recent hours AWS no longer took, newest first
    missed_hours: list[MissedHour]
    #: late and unbilled usage per tenant and reason
    usage_issues: list[UsageIssue]
    pending: PendingLoad
    #: records BatchMeterUsage takes in an hour at the quota (10 calls/s x 25 records x 3600 s = 900,000)
    hourly_capacity: int
    #: the order records are sent in when the pending load exceeds the capacity
    send_order: tuple[str, ...] = ("final_window", "usage", "zeros")

    @property
    def pending_total(self) -> int:
        return self.pending.final_window + self.pending.usage + self.pending.zeros

    @property
    def over_capacity(self) -> bool:
        return self.pending_total > self.hourly_capacity

    def as_dict(self) -> dict[str, object]:
        """The JSON that ``mplink metering status --json`` prints and ``GET /api/v1/metering/status`` answers."""
        return {
            "metered_through": self.metered_through.isoformat() if self.metered_through else None,
            "pending": {
                "final_window": self.pending.final_window,
                "usage": self.pending.usage,
                "zeros": self.pending.zeros,
                "total": self.pending_total,
            },
            "hourly_capacity": self.hourly_capacity,
            "over_capacity": self.over_capacity,
            "send_order": list(self.send_order),
            "missed_hours": [
                {
                    "hour": m.hour.isoformat(),
                    "reason": m.reason,
                    "usage_events": m.usage_events,
                    "quantity": m.quantity,
                    "reported_at": m.reported_at.isoformat(),
                }
                for m in self.missed_hours
            ],
            "usage_issues": [usage_issue_dict(i) for i in self.usage_issues],
        }


#: UsageIssue.reason of usage that came late and was billed in a later hour; every other reason is unbilled


def usage_issue_dict(issue: UsageIssue) -> dict[str, object]:
    return {
        "tenant_id": issue.tenant_id,
        "reason": issue.reason,
        "billed": issue.reason == LATE_BILLED,
        "events": issue.events,
        "quantity": issue.quantity,
    }


def metering_status(
    uow: UnitOfWork, rate_per_second: float = DEFAULT_RATE, tenant_id: str | None = None
) -> MeteringStatus:
    """The metering point, missed hours, late and unbilled usage per tenant (only ``tenant_id``'s when given;
    NotFound for an unknown tenant), and the pending load against the hourly capacity at ``rate_per_second``
    BatchMeterUsage calls (the seller's quota)."""
    with uow.snapshot():
        issues = uow.metering.usage_issues()
        if tenant_id is not None:
            if uow.tenants.get(tenant_id) is None:
                raise NotFound(f"no tenant with id {tenant_id!r}")
            issues = [i for i in issues if i.tenant_id == tenant_id]
        return MeteringStatus(
            metered_through=uow.metering.metered_through(),
            missed_hours=uow.metering.missed_hours(),
            usage_issues=issues,
            pending=uow.metering.pending_load(),
            hourly_capacity=int(rate_per_second * RECORDS_PER_CALL * 3600),
        )


def tenant_usage_issues(uow: UnitOfWork, tenant_id: str) -> list[UsageIssue]:
    """One tenant's late and unbilled usage (what its own API key may see); NotFound for an unknown tenant."""
    with uow.snapshot():
        if uow.tenants.get(tenant_id) is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")
        return [i for i in uow.metering.usage_issues() if i.tenant_id == tenant_id]
