"""What the services need from the store, as a protocol (the SQL unit of work implements it)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from types import TracebackType
from typing import ParamSpec, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError

from mplink.adapters.store.repositories import (
    AccessRepository,
    CatalogRepository,
    EntitlementRepository,
    InboxRepository,
    LedgerRepository,
    MeteringRepository,
    TenantRepository,
)


class UnitOfWork(Protocol):
    tenants: TenantRepository
    catalog: CatalogRepository
    ledger: LedgerRepository
    inbox: InboxRepository
    access: AccessRepository
    entitlements: EntitlementRepository
    metering: MeteringRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


P = ParamSpec("P")
R = TypeVar("R")


def retry_on_conflict(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a use case again when a concurrent transaction won a race (the same new agreement inserted by an
    event and by a registration, a row lock timed out): the retry reloads and sees the winner's rows."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(4):
            try:
                return fn(*args, **kwargs)
            except (IntegrityError, OperationalError):
                if attempt == 3:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper
