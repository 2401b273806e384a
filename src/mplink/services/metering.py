"""Usage in, hourly metering records out: usage is routed to whoever paid at its instant (R5), every
active agreement gets a record per dimension per hour (R7), ended agreements are flushed first (R6)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from mplink.domain.clock import HOUR, hour_of, now_utc
from mplink.domain.errors import InvalidValue, NotAuthorized, NotFound
from mplink.domain.usage import UsageEvent, records_for_hour, route_usage
from mplink.services.metering_send import send_metering
from mplink.services.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = ["UsageReceipt", "ingest_usage", "meter_hour", "send_metering"]

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
        catalog = uow.catalog.get()
        if catalog is None:
            raise NotFound("no catalog loaded yet")
        dimensions = frozenset(d for p in catalog.products for d in p.dimension_keys())
        tenant_ids = {e.tenant_id for e in events}
        for tid in tenant_ids:
            if allowed_tenant is not None and tid != allowed_tenant:
                raise NotAuthorized(f"this API key may not report usage for tenant {tid!r}")
            if uow.tenants.get(tid) is None:
                raise NotFound(f"no tenant with id {tid!r}")
        if any(e.timestamp > now + HOUR / 12 for e in events):
            raise InvalidValue("usage timestamps must not be in the future")
        ledger = uow.ledger.load(tenant_ids=tenant_ids)
        routed = [route_usage(e, ledger, dimensions) for e in events]
        existing = uow.metering.known_usage_keys((e.tenant_id, e.idempotency_key) for e in events)
        accepted = duplicates = unbillable = 0
        rows: list[dict[str, object]] = []
        for r in routed:
            key = (r.event.tenant_id, r.event.idempotency_key)
            if key in existing:
                duplicates += 1
                continue
            existing.add(key)
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
                }
            )
            accepted += 1
            unbillable += r.agreement_id is None
        uow.metering.add_usage(rows)
        uow.commit()
        return UsageReceipt(accepted, duplicates, unbillable)


def meter_hour(uow_factory: UnitOfWorkFactory, hour: datetime) -> int:
    """Write the records of one finished hour (idempotent: records already written are kept)."""
    hour = hour_of(hour)
    with uow_factory() as uow:
        catalog = uow.catalog.get()
        if catalog is None:
            return 0
        totals = uow.metering.hourly_totals(hour)
        agreements = uow.metering.metered_agreements()
        have = uow.metering.recorded_in_hour(hour)
        written = 0
        for product in catalog.products:
            dims = sorted(product.dimension_keys())
            mine = [a for a in agreements if a.product_code == product.product_code]
            for rec in records_for_hour(hour, mine, dims, totals, lambda: str(uuid.uuid4())):
                if (rec.agreement_id, rec.dimension) not in have:
                    uow.metering.add_record(rec)
                    written += 1
        uow.commit()
        return written
