"""Which agreement pays for which tenant, when (BillingLink), and changes of the paying account."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from mplink.domain.errors import InvalidTransition


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
    STARTED = "started"
    DESTINATION_LINKED = "destination_linked"
    VERIFIED = "verified"
    SOURCE_CANCEL_PENDING = "source_cancel_pending"
    COMPLETED = "completed"
    ABORTED = "aborted"


_NEXT: dict[ChangeState, frozenset[ChangeState]] = {
    ChangeState.STARTED: frozenset({ChangeState.DESTINATION_LINKED, ChangeState.ABORTED}),
    ChangeState.DESTINATION_LINKED: frozenset({ChangeState.VERIFIED, ChangeState.COMPLETED, ChangeState.ABORTED}),
    ChangeState.VERIFIED: frozenset({ChangeState.SOURCE_CANCEL_PENDING, ChangeState.COMPLETED}),
    ChangeState.SOURCE_CANCEL_PENDING: frozenset({ChangeState.COMPLETED}),
    ChangeState.COMPLETED: frozenset(),
    ChangeState.ABORTED: frozenset(),
}

TERMINAL_CHANGE_STATES = frozenset({ChangeState.COMPLETED, ChangeState.ABORTED})


@dataclass(eq=False)
class AccountChange:
    """A tenant's move from one paying agreement (and AWS account) to another.

    started -> destination_linked -> verified -> source_cancel_pending -> completed, or aborted.
    The source agreement ending completes the change from any state after the destination is linked.
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

    @property
    def open(self) -> bool:
        return self.state not in TERMINAL_CHANGE_STATES

    def advance(self, to: ChangeState, at: datetime) -> None:
        if to == self.state:
            return
        if to not in _NEXT[self.state]:
            raise InvalidTransition(f"account change {self.id} cannot go from {self.state} to {to}")
        self.history = [*self.history, {"from": self.state.value, "to": to.value, "at": at.isoformat()}]
        self.state = to
        self.updated_at = max(self.updated_at, at)

    def destination_linked(self, agreement_id: str, at: datetime) -> None:
        self.to_agreement_id = agreement_id
        self.advance(ChangeState.DESTINATION_LINKED, at)
        if self.source_ended_at is not None:
            self.advance(ChangeState.COMPLETED, at)

    def source_ended(self, at: datetime) -> None:
        """The marketplace says the source agreement ended: the change is done once the destination is linked."""
        self.source_ended_at = at  # the agreement's current end time: later facts may correct it
        if self.state in (
            ChangeState.DESTINATION_LINKED,
            ChangeState.VERIFIED,
            ChangeState.SOURCE_CANCEL_PENDING,
        ):
            self.advance(ChangeState.COMPLETED, at)
