"""The SQL unit of work: one transaction per use case, rolled back unless committed.

It implements ``mplink.services.ports.UnitOfWork``: a lost race (unique row inserted first, lock timeout,
serialization failure) leaves it as ``ConcurrentUpdate``, and ``snapshot()`` gives a read-only
transaction in which every query sees the same committed state (REPEATABLE READ on PostgreSQL, one
read transaction on SQLite's WAL).
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mplink.adapters.store.engine import make_engine
from mplink.adapters.store.orm import start_mappers
from mplink.adapters.store.repositories import (
    AccessRepository,
    CatalogRepository,
    EntitlementRepository,
    InboxRepository,
    LedgerRepository,
    MeteringRepository,
    TenantRepository,
)
from mplink.adapters.store.send_queue import SendQueueRepository
from mplink.services.ports import ConcurrentUpdate

#: PostgreSQL SQLSTATEs of a lost race: serialization failure, deadlock, lock not available
_RACE_STATES = frozenset({"40001", "40P01", "55P03"})


def lost_race(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, OperationalError):
        state = getattr(exc.orig, "sqlstate", None)
        if state in _RACE_STATES:
            return True
        return "database is locked" in str(exc.orig)  # SQLite's busy timeout ran out
    return False


class SqlUnitOfWork:
    tenants: TenantRepository
    catalog: CatalogRepository
    ledger: LedgerRepository
    inbox: InboxRepository
    access: AccessRepository
    entitlements: EntitlementRepository
    metering: MeteringRepository
    send_queue: SendQueueRepository
    session: Session

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._snapshot = False

    def snapshot(self) -> SqlUnitOfWork:
        """Make the next ``with`` block a read-only transaction that sees one consistent state."""
        self._snapshot = True
        return self

    def __enter__(self) -> SqlUnitOfWork:
        self.session = self._factory()
        reading = self._snapshot
        if reading:
            self._begin_snapshot()
        elif self.session.get_bind().dialect.name == "sqlite":
            # SQLite has no row locks: take the write lock before the first read, or a concurrent writer's
            # commit between this one's read and its write is lost (e.g. an account change that an
            # "Agreement Ended" event made done, then a source-cancellation report moved on from "verified")
            self.session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        self.tenants = TenantRepository(self.session)
        self.catalog = CatalogRepository(self.session)
        self.ledger = LedgerRepository(self.session, lock=not reading)
        self.inbox = InboxRepository(self.session)
        self.access = AccessRepository(self.session)
        self.entitlements = EntitlementRepository(self.session)
        self.metering = MeteringRepository(self.session)
        self.send_queue = SendQueueRepository(self.session)
        return self

    def _begin_snapshot(self) -> None:
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            self.session.execute(text("SET TRANSACTION READ ONLY"))
        else:
            # pysqlite starts a transaction only before a write; open one now so every read shares the snapshot
            self.session.connection().exec_driver_sql("BEGIN")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._snapshot = False
        try:
            self.session.rollback()
        finally:
            self.session.close()
        if exc is not None and lost_race(exc):
            raise ConcurrentUpdate(str(exc)) from exc

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


class Store:
    """An engine and the unit-of-work factory bound to it."""

    def __init__(self, url: str) -> None:
        start_mappers()
        self.url = url
        self.engine: Engine = make_engine(url)
        self._factory = sessionmaker(bind=self.engine, expire_on_commit=False)

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._factory)

    def dispose(self) -> None:
        self.engine.dispose()
