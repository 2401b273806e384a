"""The metering send queue in SQL: workers lease pages of pending records and record each batch's ends in one
statement (implements services.ports.SendQueueRepository).

Claims: on PostgreSQL a page is chosen ``FOR UPDATE SKIP LOCKED``, so two workers claiming at once take
different records without waiting for each other, and leased with an expiry, so a killed worker's page is
free again once its lease runs out. SQLite's unit of work holds the database's write lock (one writer), so the
same statements serialise there. Every query reads the pending records through the partial index
``ix_metering_records_send_queue``: the sent history never costs anything."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, case, literal_column, or_, select, update
from sqlalchemy.orm import Session

from mplink.adapters.store import tables as t
from mplink.domain.agreement import FINAL_METERING_WINDOW, Agreement
from mplink.domain.usage import MeteringRecord, RecordStatus, SendPriority
from mplink.services.ports import Settlement

mr = t.metering_records
#: the partial index's own predicate, as a literal: a bound parameter would not prove the index usable
_PENDING = mr.c.status == literal_column("'pending'")


class SendQueueRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def prioritize(self, now: datetime) -> None:
        """domain.usage.send_priority in SQL: new records by quantity, ended agreements' records first."""
        self.session.execute(
            update(mr)
            .where(_PENDING, mr.c.send_priority.is_(None))
            .values(
                send_priority=case(
                    (mr.c.quantity > 0, int(SendPriority.USAGE)),
                    else_=int(SendPriority.ZERO),
                )
            )
        )
        a = t.agreements.c
        # agreements whose final window is still open (Agreement.final_metering_deadline() > now)
        in_final_window = select(a.agreement_id).where(
            or_(
                and_(a.deprovisioned_at.is_not(None), a.deprovisioned_at > now),
                and_(a.deprovisioned_at.is_(None), a.ended_at.is_not(None), a.ended_at > now - FINAL_METERING_WINDOW),
            )
        )
        self.session.execute(
            update(mr)
            .where(
                _PENDING,
                mr.c.send_priority != int(SendPriority.FINAL_WINDOW),
                mr.c.agreement_id.in_(in_final_window),
            )
            .values(send_priority=int(SendPriority.FINAL_WINDOW))
            .execution_options(synchronize_session=False)
        )

    def expire_before(self, cutoff: datetime, reason: str) -> int:
        result = self.session.execute(
            update(mr)
            .where(_PENDING, mr.c.hour < cutoff)
            .values(status=RecordStatus.EXPIRED, detail=reason, claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def claim(self, worker_id: str, now: datetime, lease_until: datetime, limit: int) -> list[MeteringRecord]:
        free = select(mr.c.id).where(
            _PENDING,
            mr.c.send_priority.is_not(None),
            or_(mr.c.claimed_until.is_(None), mr.c.claimed_until < now),
        )
        page = free.order_by(mr.c.send_priority, mr.c.hour, mr.c.id).limit(limit)
        if self.session.get_bind().dialect.name == "postgresql":
            page = page.with_for_update(skip_locked=True)
        claimed = self.session.execute(
            update(mr)
            .where(mr.c.id.in_(page.scalar_subquery()))
            .values(claimed_by=worker_id, claimed_until=lease_until)
            .returning(mr.c.id)
            .execution_options(synchronize_session=False)
        )
        ids = list(claimed.scalars())
        if not ids:
            return []
        records = list(self.session.scalars(select(MeteringRecord).where(mr.c.id.in_(ids))))
        return sorted(records, key=lambda r: (r.send_priority, r.hour, r.id))  # type: ignore[attr-defined]

    def agreements(self, agreement_ids: Iterable[str]) -> dict[str, Agreement]:
        ids = sorted(set(agreement_ids))
        if not ids:
            return {}
        found = self.session.scalars(select(Agreement).where(t.agreements.c.agreement_id.in_(ids)))
        return {a.agreement_id: a for a in found}

    def settle(self, worker_id: str, settlements: Sequence[Settlement], retry_at: datetime) -> None:
        ends = [s for s in settlements if s.status is not RecordStatus.PENDING]
        again = [s.record_id for s in settlements if s.status is RecordStatus.PENDING]
        if ends:
            ids = [s.record_id for s in ends]
            self.session.execute(
                update(mr)
                .where(mr.c.id.in_(ids), _PENDING)
                .values(
                    status=case({s.record_id: s.status.value for s in ends}, value=mr.c.id, else_=mr.c.status),
                    detail=case({s.record_id: s.detail for s in ends}, value=mr.c.id, else_=mr.c.detail),
                    claimed_by=None,
                    claimed_until=None,
                )
                .execution_options(synchronize_session=False)
            )
        if again:
            # only this worker's claims: a record whose lease ran out may be another worker's by now
            self.session.execute(
                update(mr)
                .where(mr.c.id.in_(again), _PENDING, mr.c.claimed_by == worker_id)
                .values(claimed_by=None, claimed_until=retry_at)
                .execution_options(synchronize_session=False)
            )
