"""The unit of work: one transaction per use case, rolled back unless committed."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.engine import Engine
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


class SqlUnitOfWork:
    tenants: TenantRepository
    catalog: CatalogRepository
    ledger: LedgerRepository
    inbox: InboxRepository
    access: AccessRepository
    entitlements: EntitlementRepository
    metering: MeteringRepository
    session: Session

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory

    def __enter__(self) -> SqlUnitOfWork:
        self.session = self._factory()
        self.tenants = TenantRepository(self.session)
        self.catalog = CatalogRepository(self.session)
        self.ledger = LedgerRepository(self.session)
        self.inbox = InboxRepository(self.session)
        self.access = AccessRepository(self.session)
        self.entitlements = EntitlementRepository(self.session)
        self.metering = MeteringRepository(self.session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.session.rollback()
        self.session.close()

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
