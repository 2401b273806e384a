"""Sending hourly records to BatchMeterUsage at the quota, by any number of workers.

Each worker claims a page of pending records (a lease: nobody else takes them until it expires), sends them in
batches in priority order (final window, usage, zeros; oldest hour first), and records each batch's ends in one
statement. A worker killed mid-batch leaves its records pending under a lease that runs out; whoever sends them
again gets AWS's first answer back (the same record again is a Success with the first MeteringRecordId), so
nothing is billed twice and nothing is left unsent. Pacing happens where the calls are made (the adapter's
shared token bucket)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from mplink.domain.clock import now_utc
from mplink.domain.usage import RecordStatus, plan_metering, send_cutoff
from mplink.services.ports import (
    MarketplaceUnavailable,
    MeterOutcome,
    MeterStatus,
    SellerMarketplace,
    Settlement,
)
from mplink.services.unit_of_work import UnitOfWorkFactory

log = structlog.get_logger("mplink.metering")

TOO_OLD = "older than AWS Marketplace takes (24 hours; the previous month only until 06:00 UTC on the 1st)"


@dataclass(frozen=True)
class SendOptions:
    #: records a worker claims at once: four full batches, a fraction of a second of the quota
    page_size: int = 100
    #: how long a claim keeps other workers off a page; a killed worker's page is free again after it
    lease: timedelta = timedelta(seconds=30)
    #: how long an unprocessed or unsent record waits before any worker takes it again
    retry_after: timedelta = timedelta(seconds=1)
    #: a round returns after this many seconds, so the worker's other duties (event intake) are not starved
    budget_seconds: float = 30.0


def worker_name() -> str:
    """Who holds a claim: host, process and a random part (a restarted process is another claimant)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def send_metering(
    uow_factory: UnitOfWorkFactory,
    marketplace: SellerMarketplace,
    *,
    now: datetime | None = None,
    stop: Callable[[], bool] = lambda: False,
    worker_id: str | None = None,
    options: SendOptions | None = None,
) -> dict[str, int]:
    """Send pending records until none is claimable, the round's time is up, or ``stop()`` says so (the batch
    in flight is finished and recorded first). ``now`` fixes the clock (tests); by default it is the real time."""
    opts = options or SendOptions()
    me = worker_id or worker_name()
    clock: Callable[[], datetime] = (lambda: now) if now is not None else now_utc
    counts = {"sent": 0, "duplicate": 0, "rejected": 0, "expired": 0, "unprocessed": 0, "failed": 0}
    started = time.monotonic()
    with uow_factory() as uow:
        at = clock()
        uow.send_queue.prioritize(at)
        counts["expired"] += uow.send_queue.expire_before(send_cutoff(at), TOO_OLD)
        uow.commit()
    while not stop() and time.monotonic() - started < opts.budget_seconds:
        at = clock()
        with uow_factory() as uow:
            page = uow.send_queue.claim(me, at, at + opts.lease, opts.page_size)
            agreements = uow.send_queue.agreements({r.agreement_id for r in page})
            uow.commit()
        if not page:
            break
        plan = plan_metering(at, page, agreements)
        if plan.expired:
            ends = [Settlement(r.id, RecordStatus.EXPIRED, plan.reasons.get(r.id)) for r in plan.expired]
            _settle(uow_factory, me, ends, at)
            counts["expired"] += len(ends)
        delivered = 0
        for i, batch in enumerate(plan.batches):
            if stop():
                rest = [Settlement(r.id, RecordStatus.PENDING) for b in plan.batches[i:] for r in b]
                _settle(uow_factory, me, rest, clock())  # free at once for the workers that keep running
                break
            try:
                outcomes = marketplace.meter(batch[0].product_code, batch)
            except MarketplaceUnavailable as exc:
                log.warning("metering batch not sent; it is retried", records=len(batch), error=str(exc))
                counts["failed"] += 1
                retry = [Settlement(r.id, RecordStatus.PENDING) for r in batch]
                _settle(uow_factory, me, retry, clock() + opts.retry_after)
                continue
            ends = [_settlement(o) for o in outcomes]
            _settle(uow_factory, me, ends, clock() + opts.retry_after)
            for o in outcomes:
                counts[_COUNT[o.status]] += 1
            delivered += 1
        if plan.batches and not delivered:
            break  # AWS took nothing from this page: leave the rest to the next round
    return counts


_COUNT = {
    MeterStatus.SUCCESS: "sent",
    MeterStatus.DUPLICATE: "duplicate",
    MeterStatus.NOT_SUBSCRIBED: "rejected",
    MeterStatus.REFUSED: "rejected",
    MeterStatus.UNPROCESSED: "unprocessed",
}


def _settlement(outcome: MeterOutcome) -> Settlement:
    """Every per-record answer has an end: Success and DuplicateRecord are billed (AWS's id kept);
    CustomerNotSubscribed and refused records go to operators with the reason; unprocessed ones are sent again."""
    if outcome.status is MeterStatus.SUCCESS:
        return Settlement(outcome.record_id, RecordStatus.SENT, outcome.metering_record_id)
    if outcome.status is MeterStatus.DUPLICATE:
        return Settlement(outcome.record_id, RecordStatus.DUPLICATE, outcome.metering_record_id)
    if outcome.status is MeterStatus.UNPROCESSED:
        return Settlement(outcome.record_id, RecordStatus.PENDING)
    detail = outcome.detail or outcome.status.value
    return Settlement(outcome.record_id, RecordStatus.REJECTED, detail)


def _settle(uow_factory: UnitOfWorkFactory, me: str, ends: Sequence[Settlement], retry_at: datetime) -> None:
    if not ends:
        return
    with uow_factory() as uow:
        uow.send_queue.settle(me, ends, retry_at)
        uow.commit()
