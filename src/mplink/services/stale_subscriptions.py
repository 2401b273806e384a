"""Stale subscriptions in view: every agreement a tenant superseded that AWS still runs, for the operator's page,
``GET /api/v1/stale-subscriptions`` (JSON or CSV) and the gauges on /metrics. One read, one snapshot."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from mplink.domain.catalog import Catalog
from mplink.domain.clock import now_utc, utc
from mplink.domain.stale import stale_subscriptions
from mplink.services.ports import UnitOfWork

#: the columns of ``?format=csv``: the JSON's fields, with ``offer`` and ``cancellation_request`` flattened
CSV_COLUMNS = (
    "tenant_id",
    "aws_account_id",
    "agreement_id",
    "offer_id",
    "offer_name",
    "since",
    "cancellation_request_id",
    "cancellation_request_status",
)


@dataclass(frozen=True)
class CancellationRequestState:
    """The seller's agreement cancellation request for a stale subscription, as AWS last reported it."""

    id: str
    status: str


@dataclass(frozen=True)
class StaleRow:
    tenant_id: str
    tenant_name: str
    aws_account_id: str | None
    agreement_id: str
    offer_id: str | None
    offer_name: str | None
    #: who sells the offer (its proposer): the reseller for a channel-partner offer
    seller_name: str | None
    seller_account_id: str | None
    since: datetime
    age: timedelta
    #: None when the seller sent AWS no cancellation request for the agreement
    cancellation_request: CancellationRequestState | None = None

    def as_api(self) -> dict[str, object]:
        """An item of ``GET /api/v1/stale-subscriptions``."""
        request = self.cancellation_request
        return {
            "tenant_id": self.tenant_id,
            "aws_account_id": self.aws_account_id,
            "agreement_id": self.agreement_id,
            "offer": {"id": self.offer_id, "name": self.offer_name},
            "since": utc(self.since).isoformat(),
            "cancellation_request": {"id": request.id, "status": request.status} if request else None,
        }

    def as_csv(self) -> tuple[str, ...]:
        """The same row flattened for CSV (CSV_COLUMNS); an unknown value is an empty cell."""
        request = self.cancellation_request
        values = (
            self.tenant_id,
            self.aws_account_id,
            self.agreement_id,
            self.offer_id,
            self.offer_name,
            utc(self.since).isoformat(),
            request.id if request else None,
            request.status if request else None,
        )
        return tuple(v or "" for v in values)


@dataclass(frozen=True)
class StaleReport:
    rows: tuple[StaleRow, ...]
    read_at: datetime

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def oldest_age(self) -> timedelta | None:
        return max((r.age for r in self.rows), default=None)

    def as_api(self) -> dict[str, object]:
        return {"items": [r.as_api() for r in self.rows]}

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(r.as_csv() for r in self.rows)
        return out.getvalue()


def _seller(catalog: Catalog | None, offer_id: str | None, proposer: str | None) -> tuple[str | None, str | None]:
    found = catalog.find_offer(offer_id) if catalog is not None and offer_id else None
    offer = found[1] if found else None
    account = proposer or (offer.proposer_account_id if offer else None)
    name = offer.proposer_name if offer and offer.proposer_name else None
    if name is None and catalog is not None and account and account == catalog.seller_account_id:
        name = catalog.seller_name
    return name, account


def list_stale_subscriptions(uow: UnitOfWork, now: datetime | None = None) -> StaleReport:
    """Every superseded agreement still active at AWS, oldest first, with its tenant, offer and seller."""
    read_at = now or now_utc()
    with uow.snapshot():
        ledger = uow.ledger.load(agreement_ids=uow.ledger.superseded_running())
        found = stale_subscriptions(ledger)
        catalog = uow.catalog.get()
        names = {tid: t.name for tid in {s.tenant_id for s in found} if (t := uow.tenants.get(tid)) is not None}
        # the seller's cancellation request for each superseded agreement, kept on the change it was the source of
        requests = {
            c.from_agreement_id: CancellationRequestState(
                c.cancellation_request_id, c.cancellation_request_status or ""
            )
            for c in sorted(ledger.changes, key=lambda c: c.started_at)
            if c.from_agreement_id and c.cancellation_request_id
        }
    rows = []
    for s in found:
        offer = catalog.find_offer(s.offer_id) if catalog is not None and s.offer_id else None
        seller_name, seller_account = _seller(catalog, s.offer_id, s.proposer_account_id)
        rows.append(
            StaleRow(
                tenant_id=s.tenant_id,
                tenant_name=names.get(s.tenant_id, ""),
                aws_account_id=s.aws_account_id,
                agreement_id=s.agreement_id,
                offer_id=s.offer_id,
                offer_name=offer[1].name if offer else None,
                seller_name=seller_name,
                seller_account_id=seller_account,
                since=s.since,
                age=s.age(read_at),
                cancellation_request=requests.get(s.agreement_id),
            )
        )
    return StaleReport(tuple(rows), read_at)
