"""Which agreement pays for which tenant, when (BillingLink), and changes of the paying account."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from mplink.domain.agreement import Agreement
from mplink.domain.errors import Conflict, InvalidTransition


class LinkEnd(StrEnum):
    #: R2: the tenant linked another agreement (the billing-account change)
    CHANGED = "changed"
    #: R1: the agreement was linked to another tenant
    MOVED = "moved"
    #: R4: the marketplace replaced or renewed the agreement; the link went on to the successor
    REPLACED = "replaced"


@dataclass(eq=False)
class BillingLink:
    """Tenant ``tenant_id`` is paid for by ``agreement_id`` during the half-open interval [starts_at, ends_at)."""

    id: str
    tenant_id: str
    agreement_id: str
    starts_at: datetime
    ends_at: datetime | None = None
    end_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.ends_at is None

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)

    def close(self, at: datetime, reason: LinkEnd) -> None:
        # a link closed before it began would be an empty interval; keep it at zero length instead
        self.ends_at = max(at, self.starts_at)
        self.end_reason = reason.value


class ChangeState(StrEnum):
    """Where a change of the paying AWS account stands; the values are stored and sent by the API."""

    #: someone began the change; nothing links the destination yet
    STARTED = "started"
    #: the destination pays, but its services are not all registered yet (its agreement revokes access)
    DESTINATION_LINKED = "destination_linked"
    #: the destination pays and every service is registered under it
    VERIFIED = "verified"
    #: someone asked AWS to cancel the source agreement; the marketplace has not said it ended yet
    SOURCE_CANCEL_PENDING = "source_cancel_pending"
    #: the source agreement ended after the destination was linked
    DONE = "done"
    #: given up before anything was linked
    ABORTED = "aborted"


_NEXT: dict[ChangeState, frozenset[ChangeState]] = {
    ChangeState.STARTED: frozenset({ChangeState.DESTINATION_LINKED, ChangeState.ABORTED}),
    ChangeState.DESTINATION_LINKED: frozenset({ChangeState.VERIFIED, ChangeState.DONE}),
    ChangeState.VERIFIED: frozenset({ChangeState.SOURCE_CANCEL_PENDING, ChangeState.DONE}),
    #: back to verified when the seller's cancellation request ends without approval (rejected, withdrawn)
    ChangeState.SOURCE_CANCEL_PENDING: frozenset({ChangeState.DONE, ChangeState.VERIFIED}),
    ChangeState.DONE: frozenset(),
    ChangeState.ABORTED: frozenset(),
}

#: cancellation-request statuses that do not change any more (botocore: AgreementCancellationRequestStatus)
CANCELLATION_REQUEST_FINAL = frozenset({"APPROVED", "REJECTED", "CANCELLED", "VALIDATION_FAILED"})
#: statuses of a request that still stands: asking again returns it instead of sending another
CANCELLATION_REQUEST_KEPT = frozenset({"PENDING_APPROVAL", "APPROVED"})

TERMINAL_CHANGE_STATES = frozenset({ChangeState.DONE, ChangeState.ABORTED})
#: the states in which the destination pays for the tenant
LINKED_CHANGE_STATES = frozenset(
    {ChangeState.DESTINATION_LINKED, ChangeState.VERIFIED, ChangeState.SOURCE_CANCEL_PENDING, ChangeState.DONE}
)


def services_registered(agreement: Agreement) -> bool:
    """Every service of the product is registered under ``agreement`` (登録済み): it does not revoke access (R3).

    The one rule behind the subscription view's "registered" and an account change's "verified"."""
    return not agreement.revokes_access


class StepName(StrEnum):
    #: the destination is linked to the tenant
    LINK = "link"
    #: every service is registered under the destination
    CHECK = "check"
    #: the source agreement ended
    CANCEL = "cancel"


@dataclass(frozen=True)
class ChangeStep:
    """One of the seed's three steps, done or not, and when it became done."""

    name: StepName
    done: bool
    at: datetime | None

    def as_api(self) -> dict[str, object]:
        return {"name": self.name.value, "done": self.done, "at": self.at.isoformat() if self.at else None}


@dataclass(eq=False)
class AccountChange:
    """A tenant's move from one paying agreement (and AWS account) to another.

    started -> destination_linked -> verified -> source_cancel_pending -> done; started -> aborted.
    The source agreement ending makes the change done from any state after the destination is linked.
    The ledger moves it from facts (the link, marketplace events, reports); ``history`` keeps each
    transition with its time, and the steps shown to people are derived from it.
    """

    id: str
    tenant_id: str
    from_agreement_id: str | None
    to_agreement_id: str | None
    state: ChangeState
    started_at: datetime
    updated_at: datetime
    source_ended_at: datetime | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    #: the AWS account the change was started for, when the starter named one
    destination_account_id: str | None = None
    #: the agreement cancellation request the seller sent for the source agreement, and its last known status
    #: (PENDING_APPROVAL, APPROVED, REJECTED, CANCELLED, VALIDATION_FAILED)
    cancellation_request_id: str | None = None
    cancellation_request_status: str | None = None

    @property
    def open(self) -> bool:
        return self.state not in TERMINAL_CHANGE_STATES

    @property
    def linked(self) -> bool:
        return self.state in LINKED_CHANGE_STATES

    def advance(self, to: ChangeState, at: datetime) -> None:
        """Move to ``to``; a transition is never recorded before the change began or the step it follows."""
        if to == self.state:
            return
        if to not in _NEXT[self.state]:
            raise InvalidTransition(f"account change {self.id} cannot go from {self.state} to {to}")
        when = max(at, self.started_at, self.last_transition_at() or at)
        self.history = [*self.history, {"from": self.state.value, "to": to.value, "at": when.isoformat()}]
        self.state = to
        self.updated_at = max(self.updated_at, when)

    def reached_at(self, state: ChangeState) -> datetime | None:
        """When the change entered ``state`` (None if it never did)."""
        return next((datetime.fromisoformat(h["at"]) for h in self.history if h.get("to") == state.value), None)

    def last_transition_at(self) -> datetime | None:
        return datetime.fromisoformat(self.history[-1]["at"]) if self.history else None

    def steps(self) -> tuple[ChangeStep, ChangeStep, ChangeStep]:
        """The seed's steps, derived from the history: link, check (all registered), cancel (the source ended)."""
        linked_at = self.reached_at(ChangeState.DESTINATION_LINKED)
        verified_at = self.reached_at(ChangeState.VERIFIED)
        done_at = self.reached_at(ChangeState.DONE)
        return (
            ChangeStep(StepName.LINK, self.linked, linked_at if self.linked else None),
            ChangeStep(StepName.CHECK, verified_at is not None, verified_at),
            ChangeStep(StepName.CANCEL, self.state is ChangeState.DONE, done_at),
        )

    # -- facts the ledger reports ------------------------------------------------------------------------
    def destination_linked(self, agreement_id: str, at: datetime) -> None:
        self.to_agreement_id = agreement_id
        self.advance(ChangeState.DESTINATION_LINKED, at)

    def destination_verified(self, at: datetime) -> None:
        """Every service is registered under the destination; a later state already knows it."""
        if self.state is ChangeState.DESTINATION_LINKED:
            self.advance(ChangeState.VERIFIED, at)

    def source_ended(self, at: datetime) -> None:
        """The marketplace says the source agreement ended: the change is done once the destination is linked."""
        self.source_ended_at = at  # the agreement's current end time: later facts may correct it
        if self.linked:
            self.advance(ChangeState.DONE, at)

    def source_cancellation_requested(self, at: datetime) -> None:
        """Someone asked AWS to cancel the source; only after the destination is verified. Repeats change nothing."""
        if self.state in (ChangeState.SOURCE_CANCEL_PENDING, ChangeState.DONE):
            return
        if self.state is not ChangeState.VERIFIED:
            raise Conflict(
                f"the account change is {self.state.value}: cancel the source only after every service"
                " is registered under the destination"
            )
        self.advance(ChangeState.SOURCE_CANCEL_PENDING, at)

    @property
    def cancellation_request_open(self) -> bool:
        """The seller's request is waiting for the buyer, or was approved: asking again sends nothing."""
        return self.cancellation_request_status in CANCELLATION_REQUEST_KEPT

    def cancellation_request_sent(self, request_id: str, status: str, at: datetime) -> None:
        """The seller sent AWS a cancellation request for the source agreement (only once the change is verified)."""
        if self.state is ChangeState.DONE:
            raise Conflict("the account change is done: the old subscription has ended already")
        if (
            self.cancellation_request_id != request_id
            or self.cancellation_request_status not in CANCELLATION_REQUEST_FINAL
        ):
            self.cancellation_request_id = request_id
            self.cancellation_request_status = status
        # its rejection may have been heard of before this answer to the send: then the source stays active
        if self.cancellation_request_status in CANCELLATION_REQUEST_KEPT:
            self.source_cancellation_requested(at)

    def cancellation_request_moved(self, request_id: str, status: str, at: datetime) -> None:
        """An event about a cancellation request for the source. Only the request this change sent counts (or the
        first one heard of, when its event comes before the answer to the send). A final status stays; a request
        that ends without approval leaves the source active, so the change is verified again."""
        if self.cancellation_request_id not in (None, request_id):
            return
        if self.cancellation_request_status in CANCELLATION_REQUEST_FINAL:
            return
        self.cancellation_request_id = request_id
        self.cancellation_request_status = status
        if status in CANCELLATION_REQUEST_FINAL - {"APPROVED"} and self.state is ChangeState.SOURCE_CANCEL_PENDING:
            self.advance(ChangeState.VERIFIED, at)
        elif status in CANCELLATION_REQUEST_KEPT and self.state is ChangeState.VERIFIED:
            self.advance(ChangeState.SOURCE_CANCEL_PENDING, at)

    def abort(self, at: datetime) -> None:
        """Give up a change that has not linked anything yet. Aborting again changes nothing."""
        if self.state is ChangeState.ABORTED:
            return
        if self.state is not ChangeState.STARTED:
            raise Conflict(f"the account change is {self.state.value}: the destination is linked already")
        self.advance(ChangeState.ABORTED, at)
