"""Hourly metering in bulk SQL: an hour's records are written by one INSERT ... SELECT with GROUP BY, so the
cost and the memory do not grow with the number of agreements or usage events (no ORM object per record).

The rules are the domain's (domain.usage: ``active_during``, ``records_for_hour``, ``late_usage_target``),
written here as SQL; tests/integration/test_metering_hours.py holds the two to the same answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from mplink.adapters.store import tables as t
from mplink.adapters.store.types import UTCDateTime
from mplink.domain.agreement import FINAL_METERING_WINDOW, Agreement
from mplink.domain.clock import HOUR
from mplink.domain.usage import LATE_BILLED, RecordStatus, UnbilledReason
from mplink.services.ports import MissedHour, PendingLoad, UsageIssue

STATE = "hours"

ue = t.usage_events.c
ag = t.agreements.c
mr = t.metering_records.c


class new_record_id(FunctionElement[str]):
    """A record id made by the database, for records written by INSERT ... SELECT: the hour's number in hex
    (the argument), then random hex. Ids of one hour sit together in the primary key index, so writing an
    hour touches the end of that index, not pages spread over the whole history."""

    type = String()
    inherit_cache = True


@compiles(new_record_id, "sqlite")
def _sqlite_id(element: Any, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} || substr(lower(hex(randomblob(16))), 9))"


@compiles(new_record_id, "postgresql")
def _pg_id(element: Any, compiler: Any, **kw: Any) -> str:
    # still a UUID's text form: the first group of eight hex digits is the hour's number
    return f"({compiler.process(element.clauses, **kw)} || substr(CAST(gen_random_uuid() AS VARCHAR), 9))"


def _hour_prefix(hour: datetime) -> ColumnElement[str]:
    return literal(f"{int(hour.timestamp()) // 3600:08x}", String())


def _at(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def running_in(hour: datetime) -> ColumnElement[bool]:
    """domain.usage.active_during in SQL: the agreement's buyer is known and it ran for part of ``hour``."""
    begin = func.coalesce(ag.starts_at, ag.accepted_at)
    return and_(
        ag.aws_account_id.is_not(None),
        ag.product_code.is_not(None),
        or_(begin.is_(None), begin < _at(hour + HOUR)),
        or_(ag.ended_at.is_(None), ag.ended_at > _at(hour)),
        or_(ag.deprovisioned_at.is_(None), ag.deprovisioned_at > _at(hour)),
    )


def _unbilled() -> ColumnElement[bool]:
    """Usage routed to an agreement and not yet in a record nor marked unbilled."""
    return and_(ue.metered_hour.is_(None), ue.unbilled_reason.is_(None), ue.agreement_id.is_not(None))


def _record_exists(agreement_id: Any, dimension: Any, hour: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    when = _at(hour) if isinstance(hour, datetime) else hour
    return exists().where(mr.agreement_id == agreement_id, mr.dimension == dimension, mr.hour == when)


_RECORD_COLUMNS = [
    "id",
    "agreement_id",
    "product_code",
    "aws_account_id",
    "license_arn",
    "customer_identifier",
    "dimension",
    "hour",
    "quantity",
    "status",
]


def _record_columns(dimension: Any, quantity: Any, hour: datetime) -> list[Any]:
    return [
        new_record_id(_hour_prefix(hour)),
        ag.agreement_id,
        ag.product_code,
        ag.aws_account_id,
        ag.license_arn,
        ag.customer_identifier,
        dimension,
        _at(hour),
        quantity,
        literal(RecordStatus.PENDING.value),
    ]


def _insert_records(session: Session, rows: Any) -> int:
    """INSERT ... SELECT of new records; a record already there for its (agreement, dimension, hour) is skipped
    by the unique key in the insert itself (ON CONFLICT DO NOTHING), not by a probe per row beforehand."""
    dialect = session.get_bind().dialect.name
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        make(t.metering_records)
        .from_select(_RECORD_COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["agreement_id", "dimension", "hour"])
        .execution_options(preserve_rowcount=True)  # psycopg reports -1 for INSERT ... SELECT otherwise
    )
    done = session.connection().execute(stmt)
    return int(done.rowcount or 0)


def write_hour(session: Session, hour: datetime, agreement_ids: Sequence[str] | None = None) -> int:
    """See ports.MeteringRepository.write_hour: four statements, whatever the hour's size. Usage on time was
    marked with this hour at intake (domain.usage.billed_in_own_hour), so only late usage is written to here.

    On PostgreSQL the statements are planned without nested loops: the hour's rows are new, so the database's
    statistics know nothing of them and would pick a loop over "one" record that is in fact tens of thousands
    (seconds an hour instead of milliseconds). Hash joins cost a pass over the running agreements, whatever
    the statistics say."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(text("SET LOCAL enable_nestloop = off"))
    written = _write_hour(session, hour, agreement_ids)
    # reset after success only: after a failed statement the transaction is aborted, a RESET would raise a
    # second error in place of the first (and hide a conflict that retry_on_conflict retries); SET LOCAL ends
    # with the transaction anyway
    if postgres:
        session.execute(text("RESET enable_nestloop"))
    return written


def _write_hour(session: Session, hour: datetime, agreement_ids: Sequence[str] | None) -> int:
    mine = ag.agreement_id.in_(list(agreement_ids)) if agreement_ids is not None else true()
    dim = t.dimensions.c
    metered_dimension = (
        select(1)
        .select_from(t.agreements.join(t.products, t.products.c.product_code == ag.product_code))
        .join(t.dimensions, dim.product_id == t.products.c.product_id)
        .where(ag.agreement_id == ue.agreement_id, dim.key == ue.dimension, running_in(hour), mine)
        .exists()
    )
    # 1. usage of earlier hours not billed yet (late usage) goes into this hour's records
    session.execute(
        update(t.usage_events)
        .where(
            _unbilled(),
            ue.hour <= _at(hour),
            metered_dimension,
            ~_record_exists(ue.agreement_id, ue.dimension, hour),
        )
        .values(metered_hour=_at(hour), late=ue.hour < _at(hour))
        .execution_options(synchronize_session=False)
    )
    # 2. a record per running agreement and dimension (R7): the sum of the usage marked with this hour, zero
    # when there is none. Joined by keys only, so the plan stays an index probe per row even before the
    # database has statistics about a freshly loaded hour. A record already there (an ended agreement's final
    # hours, written earlier) is skipped by the insert itself.
    totals = (
        select(ue.agreement_id, ue.dimension, func.sum(ue.quantity).label("total"))
        .where(ue.metered_hour == _at(hour))
        .group_by(ue.agreement_id, ue.dimension)
        .subquery()
    )
    records = (
        select(*_record_columns(dim.key, func.coalesce(totals.c.total, 0), hour))
        .select_from(t.agreements.join(t.products, t.products.c.product_code == ag.product_code))
        .join(t.dimensions, dim.product_id == t.products.c.product_id)
        .outerjoin(totals, and_(totals.c.agreement_id == ag.agreement_id, totals.c.dimension == dim.key))
        .where(running_in(hour), mine)
    )
    written = _insert_records(session, records)
    # 3. usage marked with this hour at intake that has no record here (its agreement did not run in the hour
    # after all, or does not meter the dimension): unmarked, so it is settled as late usage is
    session.execute(
        update(t.usage_events)
        .where(
            ue.metered_hour == _at(hour),
            ~metered_dimension,
            *([ue.agreement_id.in_(list(agreement_ids))] if agreement_ids is not None else []),
        )
        .values(metered_hour=None)
        .execution_options(synchronize_session=False)
    )
    # 4. earlier usage that could go into no record: kept as unbilled, with the reason
    ended = (
        select(1)
        .where(
            ag.agreement_id == ue.agreement_id,
            or_(ag.ended_at.is_not(None), ag.deprovisioned_at.is_not(None)),
        )
        .exists()
    )
    stale = [_unbilled(), ue.hour < _at(hour)]
    if agreement_ids is not None:
        stale.append(ue.agreement_id.in_(list(agreement_ids)))
    session.execute(
        update(t.usage_events)
        .where(*stale)
        .values(
            unbilled_reason=case((ended, UnbilledReason.AGREEMENT_ENDED.value), else_=UnbilledReason.NOT_METERED.value),
            late=true(),
        )
        .execution_options(synchronize_session=False)
    )
    return written


def _not_in_a_record() -> ColumnElement[bool]:
    """Usage routed to an agreement, not unbilled, and in no record: not marked yet, or marked at intake with an
    hour whose record is not written."""
    return and_(
        ue.unbilled_reason.is_(None),
        ue.agreement_id.is_not(None),
        or_(ue.metered_hour.is_(None), ~_record_exists(ue.agreement_id, ue.dimension, ue.metered_hour)),
    )


def miss_hour(session: Session, hour: datetime, reason: str, at: datetime) -> MissedHour:
    """Mark the hour's usage unbilled (HOUR_MISSED) and keep the hour with AWS's reason for operators."""
    session.execute(
        update(t.usage_events)
        .where(ue.hour == _at(hour), _not_in_a_record())
        .values(unbilled_reason=UnbilledReason.HOUR_MISSED.value, metered_hour=None)
        .execution_options(synchronize_session=False)
    )
    count, quantity = session.execute(
        select(func.count(), func.coalesce(func.sum(ue.quantity), 0)).where(
            ue.hour == _at(hour), ue.unbilled_reason == UnbilledReason.HOUR_MISSED.value
        )
    ).one()
    missed = MissedHour(hour=hour, reason=reason, usage_events=int(count), quantity=int(quantity), reported_at=at)
    known = session.execute(select(t.missed_metering_hours.c.hour).where(t.missed_metering_hours.c.hour == _at(hour)))
    if known.first() is None:
        session.execute(insert(t.missed_metering_hours).values(**missed.__dict__))
    return missed


def metered_through(session: Session, *, lock: bool = False) -> datetime | None:
    st = t.metering_state.c
    stmt = select(st.metered_through).where(st.name == STATE)
    if lock:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).first()
    if row is None and lock:
        # the first worker ever: the row to lock (a concurrent first insert loses the race and retries)
        session.execute(insert(t.metering_state).values(name=STATE, metered_through=None, updated_at=func.now()))
        return None
    return row.metered_through if row is not None else None


def hold_metered_through(session: Session) -> datetime | None:
    """See ports.MeteringRepository.hold_metered_through. PostgreSQL: FOR KEY SHARE, which conflicts with the
    FOR UPDATE of ``metered_through(lock=True)`` and with nothing else. SQLite: a plain read, as the unit of
    work holds the database's one write lock from its start (BEGIN IMMEDIATE)."""
    st = t.metering_state.c
    postgres = session.get_bind().dialect.name == "postgresql"
    stmt = select(st.metered_through).where(st.name == STATE)
    if postgres:
        stmt = stmt.with_for_update(read=True, key_share=True)
    row = session.execute(stmt).first()
    if row is not None:
        return row.metered_through  # type: ignore[no-any-return]
    # no hour metered ever: insert the row to hold (a concurrent first insert is skipped by the key), then hold it
    make = pg_insert if postgres else sqlite_insert
    first = make(t.metering_state).values(name=STATE, metered_through=None, updated_at=func.now())
    session.execute(first.on_conflict_do_nothing())
    row = session.execute(stmt).first()
    return row.metered_through if row is not None else None


def set_metered_through(session: Session, hour: datetime, at: datetime) -> None:
    st = t.metering_state.c
    done = session.connection().execute(
        update(t.metering_state)
        .where(st.name == STATE, or_(st.metered_through.is_(None), st.metered_through < _at(hour)))
        .values(metered_through=hour, updated_at=at)
    )
    if done.rowcount == 0 and session.execute(select(st.name).where(st.name == STATE)).first() is None:
        session.execute(insert(t.metering_state).values(name=STATE, metered_through=hour, updated_at=at))


def oldest_unmetered_usage_hour(session: Session) -> datetime | None:
    hour: datetime | None = session.execute(select(func.min(ue.hour)).where(_not_in_a_record())).scalar()
    return hour


def agreements_in_final_window(session: Session, now: datetime) -> list[Agreement]:
    stmt = select(Agreement).where(
        ag.aws_account_id.is_not(None),
        ag.ended_at.is_not(None),
        ag.ended_at > _at(now - FINAL_METERING_WINDOW),
        or_(ag.deprovisioned_at.is_(None), ag.deprovisioned_at > _at(now)),
    )
    return [a for a in session.scalars(stmt) if (d := a.final_metering_deadline()) is not None and d > now]


def missed_hours(session: Session, limit: int = 100) -> list[MissedHour]:
    mh = t.missed_metering_hours.c
    rows = session.execute(
        select(mh.hour, mh.reason, mh.usage_events, mh.quantity, mh.reported_at).order_by(mh.hour.desc()).limit(limit)
    )
    return [MissedHour(r.hour, r.reason, r.usage_events, r.quantity, r.reported_at) for r in rows]


def usage_issues(session: Session) -> list[UsageIssue]:
    reason = case(
        (ue.unbilled_reason.is_not(None), ue.unbilled_reason),
        (ue.agreement_id.is_(None), literal_column(f"'{UnbilledReason.NO_AGREEMENT.value}'")),
        else_=literal_column(f"'{LATE_BILLED}'"),
    ).label("reason")
    rows = session.execute(
        select(ue.tenant_id, reason, func.count().label("events"), func.sum(ue.quantity).label("quantity"))
        .where(or_(ue.late, ue.unbilled_reason.is_not(None), ue.agreement_id.is_(None)))
        .group_by(ue.tenant_id, reason)
        .order_by(ue.tenant_id, reason)
    )
    return [UsageIssue(r.tenant_id, str(r.reason), int(r.events), int(r.quantity or 0)) for r in rows]


def pending_load(session: Session) -> PendingLoad:
    ended = or_(ag.ended_at.is_not(None), ag.deprovisioned_at.is_not(None))
    kind = case((ended, "final_window"), (mr.quantity > 0, "usage"), else_="zeros").label("kind")
    rows = session.execute(
        select(kind, func.count().label("n"))
        .select_from(t.metering_records.join(t.agreements, ag.agreement_id == mr.agreement_id))
        .where(mr.status == RecordStatus.PENDING.value)
        .group_by(kind)
    )
    counts = {str(r.kind): int(r.n) for r in rows}
    return PendingLoad(
        final_window=counts.get("final_window", 0), usage=counts.get("usage", 0), zeros=counts.get("zeros", 0)
    )
