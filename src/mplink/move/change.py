"""The account change as the seller reports it (``GET /api/v1/tenants/{id}/account-change``), and the one
rule ``mplink move`` applies to it: the seller, not move, decides whether the change is verified."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mplink.move.errors import SellerApiError


def format_account_id(account_id: str) -> str:
    """The way the AWS console shows an account id: ``2222-2222-2222`` (anything else as it is)."""
    if len(account_id) != 12 or not account_id.isdigit():
        return account_id
    return f"{account_id[0:4]}-{account_id[4:8]}-{account_id[8:12]}"


#: the states the seller's domain reaches (the contract's names)
STATES = ("started", "destination_linked", "verified", "source_cancel_pending", "done", "aborted")
OPEN_STATES = frozenset({"started", "destination_linked", "verified", "source_cancel_pending"})
VERIFIED_OR_LATER = frozenset({"verified", "source_cancel_pending", "done"})
STEP_NAMES = ("link", "check", "cancel")


@dataclass(frozen=True)
class Step:
    name: str
    done: bool
    at: str | None


@dataclass(frozen=True)
class ChangeStatus:
    """One account change: its state, who paid (``from_``), who pays (``to``), its three steps."""

    state: str
    from_account: str | None
    from_agreement: str | None
    to_account: str | None
    to_agreement: str | None
    destination_account_id: str | None
    steps: tuple[Step, ...]
    raw: Mapping[str, Any]

    @property
    def cancellation_request(self) -> tuple[str, str] | None:
        """The seller's agreement cancellation request for the source: (id, status), None if none was sent."""
        found = self.raw.get("cancellation_request")
        if not isinstance(found, Mapping) or not found.get("id"):
            return None
        return str(found["id"]), str(found.get("status") or "")

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ChangeStatus:
        """Read the API's JSON; anything else is the seller's error, reported as such."""
        try:
            state = data["state"]
            src = data.get("from") or {}
            dst = data.get("to") or {}
            steps = tuple(Step(str(s["name"]), bool(s["done"]), s.get("at")) for s in data.get("steps") or [])
        except (KeyError, TypeError, AttributeError) as exc:
            raise SellerApiError(f"the seller's account change has an unexpected form: {exc!r}", 200) from exc
        if state not in STATES:
            raise SellerApiError(f"the seller reports an unknown account-change state {state!r}", 200)
        return cls(
            state=state,
            from_account=src.get("aws_account_id"),
            from_agreement=src.get("agreement_id"),
            to_account=dst.get("aws_account_id"),
            to_agreement=dst.get("agreement_id"),
            destination_account_id=data.get("destination_account_id"),
            steps=steps,
            raw=data,
        )

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def step_done(self, name: str) -> bool:
        return any(s.name == name and s.done for s in self.steps)

    def goes_to(self, account_id: str) -> bool:
        """This change moves the billing to ``account_id`` (once linked, or as asked at its start)."""
        return (self.to_account or self.destination_account_id) == account_id


def is_verified(change: ChangeStatus | None, dst_account: str, agreement_id: str | None = None) -> bool:
    """The gate before anything is cancelled: the seller says the destination pays and every service is
    registered under it (state ``verified`` or later, its ``check`` step done). ``agreement_id``, when
    known, must be the destination agreement the seller linked."""
    if change is None or change.state not in VERIFIED_OR_LATER or not change.step_done("check"):
        return False
    if change.to_account != dst_account:
        return False
    return agreement_id is None or change.to_agreement == agreement_id


def is_done(change: ChangeStatus | None, dst_account: str, agreement_id: str | None = None) -> bool:
    """The seller saw the source agreement end after the destination was linked."""
    if change is None or change.state != "done" or change.to_account != dst_account:
        return False
    return agreement_id is None or change.to_agreement == agreement_id


def why_not_verified(change: ChangeStatus | None, dst_account: str, agreement_id: str | None = None) -> str:
    """What the seller shows instead, for the message when the gate stays closed."""
    if change is None:
        return "the seller has no account change for the tenant"
    if change.to_account != dst_account:
        return f"the change's destination is {format_account_id(change.to_account or '') or 'not linked yet'}"
    if agreement_id is not None and change.to_agreement != agreement_id:
        return f"the seller linked agreement {change.to_agreement}, not {agreement_id}"
    if change.state == "destination_linked":
        return "not every service is registered under the new subscription yet"
    return f"the change is {change.state}"
