"""The account change as the pages, the API and ``mplink move`` read it, and its three writes: start, abort,
and the report that someone asked AWS to cancel the source. The ledger decides every state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mplink.domain.billing import AccountChange, ChangeState, ChangeStep
from mplink.domain.clock import now_utc
from mplink.domain.errors import NotFound
from mplink.domain.ledger import Ledger
from mplink.domain.tenant import Role, Tenant
from mplink.services.ports import UnitOfWork
from mplink.services.unit_of_work import retry_on_conflict


@dataclass(frozen=True)
class AccountSide:
    """One end of the change: an AWS account and the agreement it pays with (None while unknown)."""

    aws_account_id: str | None
    agreement_id: str | None

    def as_api(self) -> dict[str, object]:
        return {"aws_account_id": self.aws_account_id, "agreement_id": self.agreement_id}


@dataclass(frozen=True)
class AccountChangeView:
    state: ChangeState
    from_: AccountSide
    #: null values until the destination is linked
    to: AccountSide
    steps: tuple[ChangeStep, ...]
    started_at: datetime
    updated_at: datetime
    destination_account_id: str | None

    def as_api(self) -> dict[str, object]:
        """The JSON of ``GET /api/v1/tenants/{id}/account-change``."""
        return {
            "state": self.state.value,
            "from": self.from_.as_api(),
            "to": self.to.as_api(),
            "steps": [s.as_api() for s in self.steps],
            "started_at": self.started_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "destination_account_id": self.destination_account_id,
        }


def change_view(change: AccountChange, ledger: Ledger) -> AccountChangeView:
    def side(agreement_id: str | None) -> AccountSide:
        agreement = ledger.agreement(agreement_id) if agreement_id else None
        return AccountSide(agreement.aws_account_id if agreement else None, agreement_id)

    return AccountChangeView(
        state=change.state,
        from_=side(change.from_agreement_id),
        to=side(change.to_agreement_id) if change.linked else AccountSide(None, None),
        steps=change.steps(),
        started_at=change.started_at,
        updated_at=change.updated_at,
        destination_account_id=change.destination_account_id,
    )


def account_change(uow: UnitOfWork, tenant_id: str) -> AccountChangeView | None:
    """The tenant's open change, else its most recent one; None when the tenant never changed accounts.
    Read in one snapshot, so the change and the agreements it names agree."""
    with uow.snapshot():
        if uow.tenants.get(tenant_id) is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")
        ledger = uow.ledger.load(tenant_ids=[tenant_id])
        change = ledger.account_change_of_tenant(tenant_id)
        return change_view(change, ledger) if change is not None else None


Write = Callable[[Ledger, Tenant, datetime], AccountChange]


def _write(uow: UnitOfWork, tenant_id: str, at: datetime | None, write: Write) -> AccountChangeView:
    """One write on the tenant's ledger, in one transaction, answered with the change as it is afterwards."""
    with uow:
        tenant = uow.tenants.get(tenant_id, lock=True)
        if tenant is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")
        ledger = uow.ledger.load(tenant_ids=[tenant_id])
        change = write(ledger, tenant, at or now_utc())
        uow.ledger.save(ledger)
        view = change_view(change, ledger)
        uow.commit()
        return view


@retry_on_conflict
def start_account_change(
    uow: UnitOfWork, tenant_id: str, destination_account_id: str | None, role: Role, at: datetime | None = None
) -> AccountChangeView:
    """Begin moving the tenant's billing to ``destination_account_id``; the same destination again changes nothing."""
    return _write(
        uow, tenant_id, at, lambda ledger, t, when: ledger.start_account_change(t, role, destination_account_id, when)
    )


@retry_on_conflict
def abort_account_change(uow: UnitOfWork, tenant_id: str, role: Role, at: datetime | None = None) -> AccountChangeView:
    """Give up the tenant's started change (before its destination is linked)."""
    return _write(uow, tenant_id, at, lambda ledger, t, when: ledger.abort_account_change(t, role, when))


@retry_on_conflict
def report_source_cancellation(
    uow: UnitOfWork, tenant_id: str, agreement_id: str, role: Role, at: datetime | None = None
) -> AccountChangeView:
    """Someone asked AWS to cancel ``agreement_id``, the change's source: verified -> source_cancel_pending."""
    return _write(
        uow,
        tenant_id,
        at,
        lambda ledger, t, when: ledger.report_source_cancellation(t, role, agreement_id, when),
    )
