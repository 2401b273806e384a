"""The state of one move, saved after every step so that a re-run after a crash continues where it
stopped: the same ``clientToken`` (no second agreement request), the agreement already accepted, the
cancel already sent (no second CancelAgreement)."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mplink.move.change import format_account_id
from mplink.move.errors import BadStateFile

#: the steps of ``apply``, in order; each is saved with what it produced before the next begins
NOT_A_STATE_FILE = "{where} is not a move state file; remove it or give another --state"
STEPS = ("requested", "accepted", "provisioned", "linked", "verified", "source_cancel", "completed")


@dataclass
class MoveState:
    tenant_id: str
    src_account: str
    dst_account: str
    offer_id: str
    client_token: str
    done: dict[str, dict[str, Any]] = field(default_factory=dict)

    def step_done(self, step: str) -> bool:
        return step in self.done

    def steps_done(self) -> list[str]:
        """The saved steps in the order of ``STEPS``."""
        return [s for s in STEPS if s in self.done]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str, where: str) -> MoveState:
        try:
            data = json.loads(text)
            state = cls(**data)
        except (ValueError, TypeError) as exc:
            raise BadStateFile(NOT_A_STATE_FILE, where=where) from exc
        if not isinstance(state.done, dict):
            raise BadStateFile(NOT_A_STATE_FILE, where=where)
        return state

    def belongs_to(self, tenant_id: str, src_account: str, dst_account: str, offer_id: str) -> bool:
        return (self.tenant_id, self.src_account, self.dst_account, self.offer_id) == (
            tenant_id,
            src_account,
            dst_account,
            offer_id,
        )


def new_client_token() -> str:
    return f"mplink-{uuid.uuid4()}"


def resume(
    saved: MoveState | None,
    tenant_id: str,
    src_account: str,
    dst_account: str,
    offer_id: str,
    where: str,
    client_token: str | None = None,
) -> MoveState:
    """The saved state when it is this move's, a fresh one when nothing was saved; another move's state
    is refused rather than overwritten."""
    if saved is None:
        return MoveState(tenant_id, src_account, dst_account, offer_id, client_token or new_client_token())
    if not saved.belongs_to(tenant_id, src_account, dst_account, offer_id):
        raise BadStateFile(
            "{where} belongs to another move ({tenant}: {src} -> {dst}); give another --state",
            where=where,
            tenant=saved.tenant_id,
            src=format_account_id(saved.src_account),
            dst=format_account_id(saved.dst_account),
        )
    return saved


class StateStore(Protocol):
    """Where a move's state lives between runs."""

    where: str

    def load(self) -> MoveState | None: ...

    def save(self, state: MoveState) -> None: ...


class StateFile:
    """A JSON file, written then renamed, so a crash leaves the old state or the new one, never half."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> MoveState | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BadStateFile("cannot read {path}: {reason}", path=self.path, reason=exc.strerror) from exc
        return MoveState.from_json(text, self.where)

    def save(self, state: MoveState) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(state.to_json(), encoding="utf-8")
        os.replace(tmp, self.path)
