"""What the services need from the store, as a protocol (the SQL unit of work implements it)."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from mplink.adapters.store.repositories import (
    AccessRepository,
    CatalogRepository,
    EntitlementRepository,
    InboxRepository,
    LedgerRepository,
    TenantRepository,
)


class UnitOfWork(Protocol):
    tenants: TenantRepository
    catalog: CatalogRepository
    ledger: LedgerRepository
    inbox: InboxRepository
    access: AccessRepository
    entitlements: EntitlementRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
