"""The account change as the pages, the API and ``mplink move`` read it, and its three writes: start, abort,
and the report that someone asked AWS to cancel the source. The ledger decides every state."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mplink.domain.billing import AccountChange, ChangeState, ChangeStep
from mplink.domain.clock import now_utc
from mplink.domain.errors import NotFound
from mplink.domain.ledger import Ledger
from mplink.domain.tenant import Role, Tenant
from mplink.services.ports import SellerMarketplace, UnitOfWork
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
    #: the cancellation request the seller sent for the source agreement: (id, status), None if none was sent
    cancellation_request: tuple[str, str] | None = None

    def as_api(self) -> dict[str, object]:
        """The JSON of ``GET /api/v1/tenants/{id}/account-change``."""
        request = self.cancellation_request
        return {
            "state": self.state.value,
            "from": self.from_.as_api(),
            "to": self.to.as_api(),
            "steps": [s.as_api() for s in self.steps],
            "started_at": self.started_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "destination_account_id": self.destination_account_id,
            "cancellation_request": {"id": request[0], "status": request[1]} if request else None,
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
        cancellation_request=(
            (change.cancellation_request_id, change.cancellation_request_status or "PENDING_APPROVAL")
            if change.cancellation_request_id
            else None
        ),
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


#: namespace of the clientTokens of the seller's cancellation requests (uuid5 of the change and the request before)
_REQUEST_TOKENS = uuid.UUID("1f0c8f43-5a8e-4e0e-9d9a-5d2f7c1b6a10")


def request_source_end(
    uow: UnitOfWork, marketplace: SellerMarketplace, tenant_id: str, role: Role, at: datetime | None = None
) -> AccountChangeView:
    """Ask AWS, as the seller, to end the change's source agreement (SendAgreementCancellationRequest): for an
    agreement the buyer cannot cancel. Allowed once the change is verified. Asking again while the request waits
    for the buyer, or after it was approved, returns that request; after a rejection it sends a new one.

    The request's clientToken is derived from the change and the request it follows, so a retry after a failure
    between AWS's answer and the write here gets the same request back from AWS."""
    with uow.snapshot():
        tenant = uow.tenants.get(tenant_id)
        if tenant is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")
        ledger = uow.ledger.load(tenant_ids=[tenant_id])
        change = ledger.change_to_end_source(tenant, role)
        if change.cancellation_request_open:
            return change_view(change, ledger)
        agreement_id = str(change.from_agreement_id)
        token = str(uuid.uuid5(_REQUEST_TOKENS, f"{change.id}/{change.cancellation_request_id or ''}"))
    sent = marketplace.send_cancellation_request(agreement_id, token)
    return _record_request(uow, tenant_id, role, agreement_id, sent.request_id, sent.status, at)


@retry_on_conflict
def _record_request(
    uow: UnitOfWork, tenant_id: str, role: Role, agreement_id: str, request_id: str, status: str, at: datetime | None
) -> AccountChangeView:
    return _write(
        uow,
        tenant_id,
        at,
        lambda ledger, t, when: ledger.record_cancellation_request(t, role, agreement_id, request_id, status, when),
    )
