"""The state of a move and its resume, in memory: a re-run continues where the last run stopped, never
asks AWS for a second agreement nor sends a second cancel, and refuses another move's state. The AWS
side and the seller are small fakes of those external systems; the state store is an in-memory one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from mplink.move.change import ChangeStatus
from mplink.move.errors import AwsCallFailed, BadStateFile, SellerApiError, VerificationFailed
from mplink.move.plan import MoveArgs, Plan
from mplink.move.runner import Observer, Runner
from mplink.move.state import STEPS, MoveState, resume

SRC, DST = "111111111111", "222222222222"


class MemoryStore:
    """A state store in memory; it keeps every saved version as JSON, as the file would hold it."""

    where = "memory"

    def __init__(self) -> None:
        self.saved: list[str] = []

    def load(self) -> MoveState | None:
        return MoveState.from_json(self.saved[-1], self.where) if self.saved else None

    def save(self, state: MoveState) -> None:
        self.saved.append(state.to_json())


@dataclass
class FakeBuyer:
    """One AWS account's agreements, enough for a run; ``calls`` lists the writes it received."""

    account_id: str
    agreements: dict[str, str] = field(default_factory=dict)  # id -> status
    requests: dict[str, str] = field(default_factory=dict)  # clientToken -> request id
    accepted: dict[str, str] = field(default_factory=dict)  # request id -> agreement id
    calls: list[str] = field(default_factory=list)
    refuse_cancel: str = ""

    def organization_id(self) -> str | None:
        return None

    def purchase_options(self, product_id: str) -> list[dict[str, Any]]:
        return []

    def offer(self, offer_id: str) -> dict[str, Any]:
        return {}

    def offer_term_ids(self, offer_id: str) -> list[str]:
        return []

    def active_agreements(self, product_id: str, offer_id: str | None = None) -> list[dict[str, Any]]:
        return [{"agreementId": a} for a, s in reversed(self.agreements.items()) if s == "ACTIVE"]

    def entitlements(self, agreement_id: str) -> list[dict[str, Any]]:
        return [{"status": "PROVISIONED", "registrationToken": f"token-{agreement_id}"}]

    def agreement_status(self, agreement_id: str) -> str:
        return self.agreements[agreement_id]

    def create_agreement_request(self, params: dict[str, Any]) -> str:
        self.calls.append("CreateAgreementRequest")
        return self.requests.setdefault(params["clientToken"], f"req-{len(self.requests) + 1}")

    def agreement_request(self, request_id: str) -> dict[str, Any]:
        self.calls.append("GetAgreementRequest")
        if request_id in self.accepted:
            return {"status": "ACCEPTED", "agreementId": self.accepted[request_id]}
        return {"status": "DRAFT"}

    def accept_agreement_request(self, request_id: str) -> str:
        self.calls.append("AcceptAgreementRequest")
        if request_id in self.accepted:
            raise AwsCallFailed("AcceptAgreementRequest failed: CLOSED_AGREEMENT_REQUEST", "ValidationException")
        agreement = self.accepted[request_id] = f"agmt-dst-{len(self.accepted) + 1}"
        self.agreements[agreement] = "ACTIVE"
        return agreement

    def cancel_agreement(self, agreement_id: str) -> None:
        self.calls.append("CancelAgreement")
        if self.refuse_cancel:
            raise AwsCallFailed("CancelAgreement failed", self.refuse_cancel)
        self.agreements[agreement_id] = "CANCELLED"

    def accept_cancellation_request(self, agreement_id: str, request_id: str) -> None:
        self.calls.append(f"AcceptAgreementCancellationRequest {request_id}")
        self.agreements[agreement_id] = "CANCELLED"


@dataclass
class FakeSeller:
    """The seller's account change, moved by the link and the cancellation report as the contract says."""

    state: str | None = None
    to_agreement: str | None = None
    verify_on_link: bool = True
    calls: list[str] = field(default_factory=list)
    #: the seller cannot send AWS a cancellation request for the source (409: a channel partner's offer)
    refuse_request: bool = False
    request: dict[str, str] | None = None

    def _status(self) -> ChangeStatus:
        assert self.state is not None
        linked = self.to_agreement is not None
        return ChangeStatus.from_api(
            {
                "state": self.state,
                "from": {"aws_account_id": SRC, "agreement_id": "agmt-src"},
                "to": {"aws_account_id": DST if linked else None, "agreement_id": self.to_agreement},
                "steps": [
                    {"name": "link", "done": linked, "at": None},
                    {"name": "check", "done": self.state in ("verified", "source_cancel_pending", "done"), "at": None},
                    {"name": "cancel", "done": self.state == "done", "at": None},
                ],
                "destination_account_id": DST,
                "cancellation_request": self.request,
            }
        )

    def subscription(self) -> dict[str, Any]:
        return {"type": "aws_marketplace", "aws_account_id": DST if self.to_agreement else SRC}

    def link(self, token: str, allow_offer_change: bool = False) -> dict[str, Any]:
        self.calls.append("link")
        self.to_agreement = token.removeprefix("token-")
        self.state = "verified" if self.verify_on_link else "destination_linked"
        return self.subscription()

    def account_change(self) -> ChangeStatus | None:
        return self._status() if self.state else None

    def start_account_change(self, destination_account_id: str) -> ChangeStatus:
        self.calls.append("start")
        assert self.state in (None, "started", "done"), "409: a change past started is open"
        self.state = "started"
        return self._status()

    def report_source_cancellation(self, agreement_id: str) -> ChangeStatus:
        self.calls.append("source-cancellation")
        self.state = "done"  # the marketplace's event already arrived
        return self._status()

    def request_source_end(self) -> ChangeStatus:
        self.calls.append("cancellation-request")
        if self.refuse_request:
            raise SellerApiError("AWS refused the cancellation request", 409)
        self.request = self.request or {"id": "acr-1", "status": "PENDING_APPROVAL"}
        self.state = "source_cancel_pending"
        return self._status()


class Stop(Exception):
    """Ends a run at a chosen point, as a crash would (the crash tests end a real process)."""


class StopAt(Observer):
    def __init__(self, step: str, when: str) -> None:
        self.step, self.when = step, when

    def step_finished(self, step: str, values: Mapping[str, Any]) -> None:
        if self.when == "before" and step == self.step:
            raise Stop

    def step_saved(self, step: str, values: Mapping[str, Any]) -> None:
        if self.when == "after" and step == self.step:
            raise Stop


ARGS = MoveArgs("prod-1", "source", "destination", "http://seller", "t-1", "key", offer_id="offer-1")


def make_plan(**changes: Any) -> Plan:
    values: dict[str, Any] = {
        "src_account": SRC,
        "dst_account": DST,
        "offer_id": "offer-1",
        "offer_name": "Private Offer",
        "proposal_id": "proposal-1",
        "term_ids": ["term-1"],
        "dst_holds_offer": None,
        "replaces": None,
        "src_agreement_id": "agmt-src",
        "product_title": "Product",
        **changes,
    }
    return Plan(**values)


@dataclass
class Move:
    src: FakeBuyer = field(default_factory=lambda: FakeBuyer(SRC, {"agmt-src": "ACTIVE"}))
    dst: FakeBuyer = field(default_factory=lambda: FakeBuyer(DST))
    seller: FakeSeller = field(default_factory=FakeSeller)
    store: MemoryStore = field(default_factory=MemoryStore)
    plan: Plan = field(default_factory=make_plan)

    def run(self, *observers: Observer) -> MoveState:
        runner = Runner(ARGS, self.plan, self.src, self.dst, self.seller, observers=observers, poll=0)
        return runner.apply(self.store, wait_seconds=0)


# -- the state and its resume -------------------------------------------------------------------------------------
def test_nothing_saved_starts_a_fresh_state_with_a_new_client_token() -> None:
    first = resume(None, "t-1", SRC, DST, "offer-1", "m.json")
    second = resume(None, "t-1", SRC, DST, "offer-1", "m.json")
    assert first.done == {} and first.client_token.startswith("mplink-") and first.client_token != second.client_token


def test_the_saved_state_of_this_move_is_resumed_as_it_is() -> None:
    saved = MoveState("t-1", SRC, DST, "offer-1", "mplink-token", {"requested": {"agreement_request_id": "req-1"}})
    assert resume(saved, "t-1", SRC, DST, "offer-1", "m.json") is saved


@pytest.mark.parametrize(
    "other", [("t-2", SRC, DST, "offer-1"), ("t-1", DST, SRC, "offer-1"), ("t-1", SRC, DST, "offer-2")]
)
def test_another_moves_state_is_refused_not_overwritten(other: tuple[str, str, str, str]) -> None:
    saved = MoveState(*other, client_token="mplink-token")
    with pytest.raises(BadStateFile, match="belongs to another move"):
        resume(saved, "t-1", SRC, DST, "offer-1", "m.json")


@pytest.mark.parametrize("text", ["{not json", "[]", '{"tenant_id": "t-1"}', '{"unknown": 1}'])
def test_a_file_that_is_not_a_state_is_refused(text: str) -> None:
    with pytest.raises(BadStateFile, match="is not a move state file"):
        MoveState.from_json(text, "m.json")


def test_the_state_reads_back_as_it_was_written_and_lists_its_steps_in_order() -> None:
    state = MoveState("t-1", SRC, DST, "offer-1", "mplink-token", {"linked": {}, "requested": {"x": 1}})
    again = MoveState.from_json(state.to_json(), "m.json")
    assert again == state and again.steps_done() == ["requested", "linked"]


# -- a run and its re-runs, in memory ------------------------------------------------------------------------------
def test_a_run_saves_every_step_in_order_and_reports_the_cancel() -> None:
    move = Move()
    state = move.run()
    assert state.steps_done() == list(STEPS)
    saved = [MoveState.from_json(s, "m").steps_done() for s in move.store.saved]
    assert saved[0] == []  # the clientToken is saved before AWS first sees it
    assert [steps[-1] for steps in saved[1:]] == list(STEPS)
    assert move.dst.calls == ["CreateAgreementRequest", "GetAgreementRequest", "AcceptAgreementRequest"]
    assert move.src.calls == ["CancelAgreement"] and move.src.agreements["agmt-src"] == "CANCELLED"
    assert move.seller.calls == ["start", "link", "source-cancellation"]
    assert state.done["source_cancel"] == {"agreement_id": "agmt-src", "mode": "api"}


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("step", STEPS[:-1])
def test_a_rerun_after_a_stop_at_any_step_makes_one_agreement_and_one_cancel(step: str, when: str) -> None:
    move = Move()
    with pytest.raises(Stop):
        move.run(StopAt(step, when))
    state = move.run()
    assert state.steps_done() == list(STEPS)
    assert list(move.dst.accepted.values()) == ["agmt-dst-1"]  # one agreement
    assert len(set(move.dst.requests.values())) == 1  # the same clientToken each time
    assert move.src.calls == ["CancelAgreement"]


def test_a_rerun_of_a_finished_move_calls_nothing() -> None:
    move = Move()
    move.run()
    calls = (list(move.src.calls), list(move.dst.calls), list(move.seller.calls))
    move.run()
    assert (move.src.calls, move.dst.calls, move.seller.calls) == calls


def test_a_destination_holding_the_offer_is_linked_without_a_new_agreement() -> None:
    move = Move(plan=make_plan(dst_holds_offer="agmt-held"), dst=FakeBuyer(DST, {"agmt-held": "ACTIVE"}))
    state = move.run()
    assert move.dst.calls == [] and state.done["accepted"] == {"agreement_id": "agmt-held"}
    assert move.seller.to_agreement == "agmt-held"


def test_nothing_is_cancelled_until_the_seller_reports_the_change_verified() -> None:
    move = Move(seller=FakeSeller(verify_on_link=False))
    with pytest.raises(VerificationFailed, match="not every service is registered"):
        move.run()
    assert move.src.calls == [] and move.src.agreements["agmt-src"] == "ACTIVE"
    loaded = move.store.load()
    assert loaded is not None and "verified" not in loaded.done


def test_a_cancel_neither_aws_nor_the_seller_can_do_leaves_the_console_step_and_no_report() -> None:
    move = Move(
        src=FakeBuyer(SRC, {"agmt-src": "ACTIVE"}, refuse_cancel="ValidationException"),
        seller=FakeSeller(refuse_request=True),
    )
    notices: list[str] = []

    class Notices(Observer):
        def notice(self, key: str, values: Mapping[str, Any]) -> None:
            notices.append(key)

    state = move.run(Notices())
    assert state.done["source_cancel"]["mode"] == "console" and notices == ["console_cancel"]
    assert "source-cancellation" not in move.seller.calls and not state.step_done("completed")


def test_a_cancel_aws_refuses_the_buyer_goes_through_the_sellers_request() -> None:
    move = Move(src=FakeBuyer(SRC, {"agmt-src": "ACTIVE"}, refuse_cancel="ValidationException"))
    notices: list[str] = []

    class Notices(Observer):
        def notice(self, key: str, values: Mapping[str, Any]) -> None:
            notices.append(key)

    state = move.run(Notices())
    assert state.done["source_cancel"] == {"agreement_id": "agmt-src", "mode": "seller_request", "request_id": "acr-1"}
    assert notices == ["cancel.seller_request"]
    assert move.src.calls == ["CancelAgreement", "AcceptAgreementCancellationRequest acr-1"]
    assert move.seller.calls.count("cancellation-request") == 1 and "source-cancellation" not in move.seller.calls
    assert move.src.agreements["agmt-src"] == "CANCELLED"
