"""``mplink move apply``: the seed's runbook, step by step, resumable.

Subscribe in the destination, link it at the seller, wait until the seller reports the change verified,
and only then cancel the source. Every step is saved (``state``) before the next begins, so a re-run
after a crash continues where it stopped, without a second agreement or a second CancelAgreement.

Observers see each step as it finishes and as it is saved, and the notices meant for the user. The CLI's
progress lines are one observer; ``add_observer`` adds one to every run in this process (an audit log,
or a test that ends the process at a chosen step to prove the resume)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from mplink.move.change import ChangeStatus, is_done, is_verified, why_not_verified
from mplink.move.errors import AwsCallFailed, SellerApiError, SourceNotEnded, VerificationFailed
from mplink.move.plan import BuyerSide, MoveArgs, Plan
from mplink.move.state import MoveState, StateStore, resume


class Observer:
    """Sees a run. Override what you need; every method does nothing by default."""

    def step_finished(self, step: str, values: Mapping[str, Any]) -> None:
        """The step's work is done (its AWS or seller call returned); it is not saved yet."""

    def step_saved(self, step: str, values: Mapping[str, Any]) -> None:
        """The step is saved in the state file; a re-run will not do it again."""

    def notice(self, key: str, values: Mapping[str, Any]) -> None:
        """Something for the user to know or do: ``cancel.api``, ``cancel.seller_request``, ``console_cancel``
        (which of the three ways ends the old subscription), ``manual.subscribe``, ``manual.verified``,
        ``manual.cancel``, ``manual.done``."""


_process_observers: list[Observer] = []


def add_observer(observer: Observer) -> None:
    """Report every run started in this process to ``observer`` as well."""
    _process_observers.append(observer)


def remove_observer(observer: Observer) -> None:
    _process_observers.remove(observer)


class Buyer(BuyerSide, Protocol):
    """The buyer's calls a run makes (``mplink.move.aws.BuyerAccount``)."""

    def entitlements(self, agreement_id: str) -> list[dict[str, Any]]: ...

    def agreement_status(self, agreement_id: str) -> str: ...

    def create_agreement_request(self, params: dict[str, Any]) -> str: ...

    def agreement_request(self, request_id: str) -> dict[str, Any]: ...

    def accept_agreement_request(self, request_id: str) -> str: ...

    def cancel_agreement(self, agreement_id: str) -> None: ...

    def accept_cancellation_request(self, agreement_id: str, request_id: str) -> None: ...


class Seller(Protocol):
    """The seller's calls a run makes (``mplink.move.seller.SellerApi``)."""

    def subscription(self) -> dict[str, Any]: ...

    def link(self, token: str, allow_offer_change: bool = False) -> dict[str, Any]: ...

    def account_change(self) -> ChangeStatus | None: ...

    def start_account_change(self, destination_account_id: str) -> ChangeStatus: ...

    def report_source_cancellation(self, agreement_id: str) -> ChangeStatus: ...

    def request_source_end(self) -> ChangeStatus: ...


class Runner:
    def __init__(
        self,
        args: MoveArgs,
        plan: Plan,
        src: Buyer,
        dst: Buyer,
        seller: Seller,
        observers: Iterable[Observer] = (),
        poll: float = 1.0,
    ) -> None:
        self.args = args
        self.plan = plan
        self.src = src
        self.dst = dst
        self.seller = seller
        self.observers = list(observers)
        self.poll = poll
        #: the account change as the seller last reported it
        self.change: ChangeStatus | None = None

    def _all_observers(self) -> list[Observer]:
        return [*self.observers, *_process_observers]

    def _notice(self, key: str, **values: Any) -> None:
        for o in self._all_observers():
            o.notice(key, values)

    def _read_change(self) -> ChangeStatus | None:
        self.change = self.seller.account_change()
        return self.change

    # -- apply ---------------------------------------------------------------------------------------------------
    def apply(self, store: StateStore, wait_seconds: float) -> MoveState:
        """Run the steps not saved yet; ``wait_seconds`` bounds each wait (provisioning, verification, the
        source's end). Returns the state: without ``completed`` when the source has not ended yet."""
        plan, args = self.plan, self.args
        saved = store.load()
        state = resume(saved, args.tenant_id, plan.src_account, plan.dst_account, plan.offer_id, store.where)
        if saved is None:
            store.save(state)  # the clientToken is kept before AWS first sees it

        def save(step: str, **values: Any) -> None:
            for o in self._all_observers():
                o.step_finished(step, values)
            state.done[step] = values
            store.save(state)
            for o in self._all_observers():
                o.step_saved(step, values)

        if not state.step_done("linked"):
            self.start()
        if not state.step_done("requested"):
            if plan.dst_holds_offer:
                save("requested", agreement_request_id=None, existing_agreement_id=plan.dst_holds_offer)
            else:
                save("requested", agreement_request_id=self.dst.create_agreement_request(self._request(state)))
        if not state.step_done("accepted"):
            existing = state.done["requested"].get("existing_agreement_id")
            save("accepted", agreement_id=existing or self._accept(state.done["requested"]["agreement_request_id"]))
        agreement_id = str(state.done["accepted"]["agreement_id"])
        if not state.step_done("linked"):
            token = self._wait_provisioned(agreement_id, wait_seconds)
            if not state.step_done("provisioned"):
                save("provisioned", agreement_id=agreement_id)
            save("linked", subscription=self._link(token, agreement_id))
        if not state.step_done("verified"):
            change = self.wait_verified(agreement_id, wait_seconds)
            save("verified", aws_account_id=change.to_account, agreement_id=change.to_agreement, state=change.state)
        if not state.step_done("source_cancel"):
            save("source_cancel", **self._cancel_source())
        if not state.step_done("completed") and self.wait_source_ended(wait_seconds, agreement_id):
            save("completed", aws_account_id=plan.dst_account)
        return state

    def start(self) -> ChangeStatus:
        """Tell the seller the change to the destination begins. Idempotent: the seller keeps one started
        change per destination, and a change it already linked to the destination is this move's."""
        dst = self.plan.dst_account
        current = self._read_change()
        if current is not None and current.state not in ("started", "aborted") and current.to_account == dst:
            return current
        try:
            self.change = self.seller.start_account_change(dst)
        except SellerApiError as exc:
            raise SellerApiError(f"the seller did not start the account change: {exc.message}", exc.status) from exc
        return self.change

    def _request(self, state: MoveState) -> dict[str, Any]:
        """CreateAgreementRequest's parameters: the saved clientToken makes a repeat the same request."""
        plan = self.plan
        params: dict[str, Any] = {
            "intent": "REPLACE" if plan.replaces else "NEW",
            "clientToken": state.client_token,
            "agreementProposalIdentifier": plan.proposal_id,
            "requestedTerms": [{"id": t} for t in plan.term_ids],
        }
        if plan.replaces:
            params["sourceAgreementIdentifier"] = plan.replaces
        return params

    def _accept(self, request_id: str) -> str:
        """Accept the request, unless a run that crashed accepted it already: GetAgreementRequest then names
        the agreement it made (botocore's GetAgreementRequest: ``status`` ACCEPTED, ``agreementId``), and
        accepting again would be refused (a closed request)."""
        request = self.dst.agreement_request(request_id)
        if request.get("status") == "ACCEPTED" and request.get("agreementId"):
            return str(request["agreementId"])
        return self.dst.accept_agreement_request(request_id)

    def _wait_provisioned(self, agreement_id: str, wait_seconds: float) -> str:
        deadline = time.monotonic() + wait_seconds
        while True:
            ents = self.dst.entitlements(agreement_id)
            ready = [e for e in ents if e.get("status") == "PROVISIONED" and e.get("registrationToken")]
            if ready:
                return str(ready[0]["registrationToken"])
            failed = [e for e in ents if e.get("status") in ("FAILED", "DEPROVISIONED")]
            if failed:
                raise AwsCallFailed(
                    f"the new agreement's entitlement is {failed[0]['status']} "
                    f"({failed[0].get('statusReasonCode', 'no reason given')})"
                )
            if time.monotonic() > deadline:
                raise AwsCallFailed("the new agreement was not provisioned in time; run the command again later")
            time.sleep(self.poll)

    def _link(self, token: str, agreement_id: str) -> dict[str, Any]:
        try:
            return self.seller.link(token, self.args.allow_offer_change)
        except SellerApiError as exc:
            sub = self.seller.subscription()
            if sub.get("agreement_id") == agreement_id:
                return sub  # linked before a crash
            raise SellerApiError(f"the seller refused the link: {exc.message}", exc.status) from exc

    def _cancel_source(self) -> dict[str, Any]:
        """End the agreement the change moved away from, once, in the first of three ways that works: the buyer's
        CancelAgreement (reported to the seller); else the seller's cancellation request, accepted from the source
        account; else the console steps, printed for the user. Says which way applies."""
        plan = self.plan
        change = self._read_change()
        target = plan.src_agreement_id
        if change is not None and change.from_account == plan.src_account and change.from_agreement:
            target = change.from_agreement
        if not target:
            return {"agreement_id": None, "mode": "none"}
        if change is not None and change.state == "done":
            return {"agreement_id": target, "mode": "already_ended"}  # the seller saw it end
        try:
            # a cancel sent just before a crash is not sent again
            if self.src.agreement_status(target) != "ACTIVE":
                mode = "already_ended"
            else:
                self.src.cancel_agreement(target)
                mode = "api"
                self._notice("cancel.api", account=plan.src_account)
        except AwsCallFailed as exc:
            if exc.aws_code == "ConflictException":
                mode = "already_ended"
            elif exc.aws_code in ("ValidationException", "AccessDeniedException"):
                by_seller = self._seller_request(target)
                if by_seller is not None:
                    return by_seller
                self._notice("console_cancel", account=plan.src_account, product=plan.product_title, reason=exc.message)
                return {"agreement_id": target, "mode": "console"}
            else:
                raise
        self.change = self.seller.report_source_cancellation(target)
        return {"agreement_id": target, "mode": mode}

    def _seller_request(self, target: str) -> dict[str, Any] | None:
        """AWS does not let the buyer cancel ``target``: ask the seller to send its cancellation request (the same
        one when asked again), and accept it with the source account's credentials. None when either side
        refuses (a channel partner's offer, whose seller of record is the partner, or a seller without it)."""
        try:
            self.change = self.seller.request_source_end()
        except SellerApiError:
            return None
        request = self.change.cancellation_request
        if request is None or request[1] not in ("PENDING_APPROVAL", "APPROVED"):
            return None
        request_id, status = request
        if status == "PENDING_APPROVAL":
            try:
                self.src.accept_cancellation_request(target, request_id)
            except AwsCallFailed as exc:
                if exc.aws_code != "ConflictException":  # accepted already (a run that crashed): not again
                    return None
        self._notice("cancel.seller_request", account=self.plan.src_account, request_id=request_id)
        return {"agreement_id": target, "mode": "seller_request", "request_id": request_id}

    # -- what the seller reports (apply and the manual mode alike) ----------------------------------------------
    def _poll(self, until: Callable[[ChangeStatus | None], bool], wait_seconds: float, poll: float) -> bool:
        deadline = time.monotonic() + wait_seconds
        while True:
            if until(self._read_change()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(poll)

    def wait_verified(self, agreement_id: str | None, wait_seconds: float, poll: float | None = None) -> ChangeStatus:
        """Wait until the seller reports the change verified (``change.is_verified``): the gate before
        anything is cancelled. ``agreement_id``: the destination agreement, when move made it."""
        dst = self.plan.dst_account

        def settled(change: ChangeStatus | None) -> bool:
            return is_verified(change, dst, agreement_id) or (change is not None and change.state == "aborted")

        self._poll(settled, wait_seconds, self.poll if poll is None else poll)
        if self.change is None or not is_verified(self.change, dst, agreement_id):
            raise VerificationFailed(
                "the seller does not show the change yet ({why}); nothing was cancelled",
                why=why_not_verified(self.change, dst, agreement_id),
            )
        return self.change

    def wait_source_ended(self, wait_seconds: float, agreement_id: str | None, poll: float | None = None) -> bool:
        """Wait until the seller reports the change done: the source agreement ended."""
        dst = self.plan.dst_account
        return self._poll(lambda c: is_done(c, dst, agreement_id), wait_seconds, self.poll if poll is None else poll)

    # -- manual mode -----------------------------------------------------------------------------------------
    def manual(self, wait_seconds: float, poll: float = 2.0) -> ChangeStatus:
        """The buyer does each step in the AWS console; move shows it and checks it through the seller."""
        plan = self.plan
        self.start()
        self._notice("manual.subscribe", dst=plan.dst_account, product=plan.product_title, offer=plan.offer_name)
        try:
            change = self.wait_verified(None, wait_seconds, poll)
        except VerificationFailed as exc:
            raise VerificationFailed(
                "the seller does not show the destination account verified yet ({why}); run the command again "
                "when done",
                why=why_not_verified(self.change, plan.dst_account),
            ) from exc
        self._notice("manual.verified", dst=plan.dst_account)
        self._notice("manual.cancel", src=plan.src_account, product=plan.product_title)
        if not self.wait_source_ended(wait_seconds, change.to_agreement, poll):
            raise SourceNotEnded("the old subscription has not ended yet; run the command again when it is cancelled")
        self._notice("manual.done", dst=plan.dst_account, src=plan.src_account)
        assert self.change is not None
        return self.change
