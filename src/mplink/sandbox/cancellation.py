"""Agreement cancellation requests (marketplace-agreement): how a seller ends an agreement the buyer cannot cancel.

The seller that proposed the agreement's offer (the proposer) sends a request; the buyer (the acceptor) approves
or rejects it, or it is approved automatically 7 days after it was sent; the proposer may withdraw it while it
waits. Approval ends the agreement as CANCELLED. Sources: the operations' documentation in botocore's
marketplace-agreement model, the developer guide's "Using the AWS Marketplace Agreement API"
(https://docs.aws.amazon.com/marketplace/latest/developerguide/agreement-apis.html) and the seller guide's
"Events for cancellations" (https://docs.aws.amazon.com/marketplace/latest/userguide/notifications-eventbridge.html).

Where AWS is silent the sandbox infers, and says so here:
- the buyer sending or withdrawing a request, the seller approving or rejecting one, and the ISV of a channel
  partner's offer (manufacturer, not proposer) sending one get ``AccessDeniedException`` (INVALID_ACCESS);
- a second request while one waits for approval is a ``ConflictException`` naming the waiting one;
- a clientToken used again with the same members returns the first request; with other members, a
  ``ConflictException``;
- a waiting request whose agreement stopped being ACTIVE some other way (the buyer cancelled it, a private offer
  replaced it) fails its asynchronous validation: VALIDATION_FAILED;
- "7 days" is counted as 168 hours from ``createdAt``; the approval (and the agreement's end) is dated then.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mplink.sandbox.errors import SandboxError
from mplink.sandbox.event_shapes import cancellation_request_events
from mplink.sandbox.ids import AGREEMENT_TYPE, CATALOG_NAME, new_id
from mplink.sandbox.model import SbAgreement, SbCancellationRequest
from mplink.sandbox.paging import page, with_next_token

if TYPE_CHECKING:
    from mplink.sandbox.marketplace import Marketplace

PENDING = "PENDING_APPROVAL"
#: buyer guide, "Cancellation and billing adjustment events": "You have 7 days to approve or deny the request.
#: If you don't respond, the cancellation is automatically approved."
AUTO_APPROVAL_AFTER = timedelta(days=7)
PARTY_TYPES = ("Proposer", "Acceptor")
RESOURCE_TYPE = "AgreementCancellationRequest"
#: statusMessage of a request whose agreement ended before it was approved (the sandbox's words)
INACTIVE_MESSAGE = "The agreement is no longer active"


def _error(code: str, message: str, **members: str) -> SandboxError:
    """An agreement-service error with its modelled members (reason, resourceId, resourceType), which the wire
    writes where the exception's shape declares them; the message names them too."""
    named = ", ".join(f"{k}: {v}" for k, v in members.items())
    return SandboxError(
        code,
        f"{message} ({named})" if named else message,
        reason=members.get("reason"),
        resource_id=members.get("resourceId"),
        resource_type=members.get("resourceType"),
    )


def _not_found(request_id: str) -> SandboxError:
    # developer guide, error codes: the same answer "whether a resource does not exist or the caller does not
    # have access to it"
    return _error(
        "ResourceNotFoundException",
        f"Agreement cancellation request {request_id} not found",
        resourceId=request_id,
        resourceType=RESOURCE_TYPE,
    )


def _event_time(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class CancellationApi:
    """Send/Get/List/Cancel (seller, the proposer) and Accept/Reject/Get/List (buyer, the acceptor)."""

    def __init__(self, market: Marketplace) -> None:
        self.m = market

    # -- lookups and shared steps ------------------------------------------------------------------------------
    def _agreement_for_send(self, caller: str, agreement_id: str) -> SbAgreement:
        a = self.m.agreements.get(agreement_id)
        if a is None or caller not in (a.account_id, a.proposer_account_id, self.m.catalog.seller_account_id):
            raise _error(
                "ResourceNotFoundException",
                f"Agreement {agreement_id} not found",
                resourceId=agreement_id,
                resourceType="Agreement",
            )
        if caller != a.proposer_account_id:
            raise _error(
                "AccessDeniedException",
                f"Only the proposer of agreement {agreement_id} ({a.proposer_account_id}) can send a cancellation "
                "request for it",
                reason="INVALID_ACCESS",
            )
        return a

    def _visible(self, caller: str, p: dict[str, Any]) -> SbCancellationRequest:
        """The request, if the caller is its agreement's acceptor or proposer and it belongs to that agreement."""
        request_id = p["agreementCancellationRequestId"]
        cr = self.m.cancellation_requests.get(request_id)
        if (
            cr is None
            or cr.agreement_id != p["agreementId"]
            or caller not in (cr.acceptor_account_id, cr.proposer_account_id)
        ):
            raise _not_found(request_id)
        return cr

    def _as(self, caller: str, cr: SbCancellationRequest, party: str, action: str) -> None:
        owner = cr.proposer_account_id if party == "Proposer" else cr.acceptor_account_id
        if caller != owner:
            who = "seller (proposer)" if party == "Proposer" else "buyer (acceptor)"
            raise _error(
                "AccessDeniedException",
                f"Only the {who} of agreement {cr.agreement_id} can {action} cancellation request {cr.request_id}",
                reason="INVALID_ACCESS",
            )

    def _pending(self, cr: SbCancellationRequest, action: str) -> None:
        if cr.status != PENDING:
            raise _error(
                "ConflictException",
                f"Cannot {action} agreement cancellation request {cr.request_id}: it is {cr.status}, "
                f"only a {PENDING} request can be",
                resourceId=cr.request_id,
                resourceType=RESOURCE_TYPE,
            )

    def _move(self, cr: SbCancellationRequest, status: str, at: datetime, message: str | None = None) -> None:
        """Change the request's status, keep it, and tell the seller (the documented event)."""
        cr.status = status
        cr.updated_at = at
        if message is not None:
            cr.status_message = message
        self.m.save_cancellation_request(cr)
        a = self.m.agreements[cr.agreement_id]
        self.m.emit_events(
            cancellation_request_events(
                a,
                self.m.catalog.seller_account_id,
                request_id=cr.request_id,
                reason_code=cr.reason_code,
                description=cr.description,
                status=cr.status,
                status_message=cr.status_message,
                created_at=_event_time(cr.created_at),
                updated_at=_event_time(cr.updated_at),
            )
        )

    def _approve(self, cr: SbCancellationRequest, at: datetime) -> None:
        """APPROVED, then the agreement ends as CANCELLED (developer guide: "If accepted, the agreement cancellation
        workflow executes asynchronously and the agreement status changes to cancelled")."""
        self._move(cr, "APPROVED", at)
        a = self.m.agreements[cr.agreement_id]
        if a.status == "ACTIVE":
            self.m.end_agreement(a, "CANCELLED", at)

    # -- outputs, each exactly its operation's output shape ----------------------------------------------------
    @staticmethod
    def _out(cr: SbCancellationRequest, *, status_message: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agreementId": cr.agreement_id,
            "agreementCancellationRequestId": cr.request_id,
            "status": cr.status,
            "reasonCode": cr.reason_code,
            "createdAt": cr.created_at,
            "updatedAt": cr.updated_at,
        }
        if cr.description is not None:
            out["description"] = cr.description
        if status_message and cr.status_message:  # the model's statusMessage has a minimum length of 1
            out["statusMessage"] = cr.status_message
        return out

    @staticmethod
    def _summary(cr: SbCancellationRequest) -> dict[str, Any]:
        return {
            "agreementCancellationRequestId": cr.request_id,
            "agreementId": cr.agreement_id,
            "status": cr.status,
            "reasonCode": cr.reason_code,
            "agreementType": AGREEMENT_TYPE,
            "catalog": CATALOG_NAME,
            "createdAt": cr.created_at,
            "updatedAt": cr.updated_at,
        }

    # -- seller (proposer) -------------------------------------------------------------------------------------
    def send_agreement_cancellation_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """[model] "Allows sellers (proposers) to submit a cancellation request for an active agreement. The
        cancellation request is created in PENDING_APPROVAL status, at which point the buyer can review it." """
        with self.m.lock:
            a = self._agreement_for_send(caller, p["agreementId"])
            token = p.get("clientToken")
            if token:
                for earlier in self.m.cancellation_requests.values():
                    if earlier.proposer_account_id == caller and earlier.client_token == token:
                        same = (earlier.agreement_id, earlier.reason_code, earlier.description) == (
                            a.agreement_id,
                            p["reasonCode"],
                            p.get("description"),
                        )
                        if not same:
                            raise _error(
                                "ConflictException",
                                f"clientToken {token} was already used for cancellation request {earlier.request_id} "
                                "with other parameters",
                                resourceId=earlier.request_id,
                                resourceType=RESOURCE_TYPE,
                            )
                        return self._out(earlier, status_message=False)
            if a.status != "ACTIVE":
                raise _error(
                    "ValidationException",
                    f"Agreement {a.agreement_id} is {a.status}: only an active agreement can be cancelled",
                    reason="INACTIVE_AGREEMENT",
                )
            waiting = next(
                (
                    cr
                    for cr in self.m.cancellation_requests.values()
                    if cr.agreement_id == a.agreement_id and cr.status == PENDING
                ),
                None,
            )
            if waiting is not None:
                raise _error(
                    "ConflictException",
                    f"Agreement {a.agreement_id} already has cancellation request {waiting.request_id} waiting "
                    "for the buyer's approval",
                    resourceId=waiting.request_id,
                    resourceType=RESOURCE_TYPE,
                )
            now = self.m.now()
            cr = SbCancellationRequest(
                request_id=new_id("acr-"),
                agreement_id=a.agreement_id,
                proposer_account_id=a.proposer_account_id,
                acceptor_account_id=a.account_id,
                reason_code=p["reasonCode"],
                status=PENDING,
                created_at=now,
                updated_at=now,
                description=p.get("description"),
                client_token=token,
            )
            self.m.cancellation_requests[cr.request_id] = cr
            self._move(cr, PENDING, now)
            return self._out(cr, status_message=False)

    def cancel_agreement_cancellation_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """[model] "Only cancellation requests in PENDING_APPROVAL status can be cancelled. A ConflictException is
        thrown if the cancellation request is in any other status." """
        with self.m.lock:
            cr = self._visible(caller, p)
            self._as(caller, cr, "Proposer", "withdraw")
            self._pending(cr, "cancel")
            self._move(cr, "CANCELLED", self.m.now(), p["cancellationReason"])
            return self._out(cr, status_message=True)

    # -- buyer (acceptor) --------------------------------------------------------------------------------------
    def accept_agreement_cancellation_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """[model] "Once accepted, the cancellation request transitions to APPROVED status and the agreement
        cancellation will be processed." """
        with self.m.lock:
            cr = self._visible(caller, p)
            self._as(caller, cr, "Acceptor", "accept")
            self._pending(cr, "accept")
            self._approve(cr, self.m.now())
            return self._out(cr, status_message=False)

    def reject_agreement_cancellation_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """[model] "Once rejected, the cancellation request transitions to REJECTED status and the agreement remains
        active." The rejection reason becomes the statusMessage ("visible to the seller")."""
        with self.m.lock:
            cr = self._visible(caller, p)
            self._as(caller, cr, "Acceptor", "reject")
            self._pending(cr, "reject")
            self._move(cr, "REJECTED", self.m.now(), p["rejectionReason"])
            return self._out(cr, status_message=True)

    # -- both --------------------------------------------------------------------------------------------------
    def get_agreement_cancellation_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            return self._out(self._visible(caller, p), status_message=True)

    def list_agreement_cancellation_requests(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """[model] "PartyType is a required parameter": Proposer lists the caller's requests as the seller,
        Acceptor those on the caller's agreements as the buyer; agreementId, status, agreementType and catalog
        filter them. Oldest first (the order is not documented)."""
        with self.m.lock:
            party = p["partyType"]
            if party not in PARTY_TYPES:
                raise _error(
                    "ValidationException",
                    f"partyType must be Proposer or Acceptor, not {party!r}",
                    reason="INVALID_PARTY_TYPE",
                )
            wanted = {
                "agreementId": p.get("agreementId"),
                "status": p.get("status"),
                "agreementType": p.get("agreementType"),
                "catalog": p.get("catalog"),
            }

            def listed(cr: SbCancellationRequest) -> bool:
                owner = cr.proposer_account_id if party == "Proposer" else cr.acceptor_account_id
                summary = self._summary(cr)
                return owner == caller and all(v is None or summary[k] == v for k, v in wanted.items())

            found = sorted(
                (cr for cr in self.m.cancellation_requests.values() if listed(cr)),
                key=lambda cr: (cr.created_at, cr.request_id),
            )
            items, token = page(found, p.get("nextToken"), p.get("maxResults", 50))
            return with_next_token({"items": [self._summary(cr) for cr in items]}, token)

    # -- timed work --------------------------------------------------------------------------------------------
    def tick(self, now: datetime) -> None:
        """Waiting requests: the asynchronous validation fails once their agreement is no longer ACTIVE, and
        the rest are approved 7 days after they were sent (seller guide: "Agreement Cancellation Request Approved -
        Proposer. This event is sent when the buyer approves your cancellation request or when it is
        auto-approved after 7 days"). Called under the marketplace's lock."""
        waiting = sorted(
            (cr for cr in self.m.cancellation_requests.values() if cr.status == PENDING),
            key=lambda cr: (cr.created_at, cr.request_id),
        )
        for cr in waiting:
            a = self.m.agreements.get(cr.agreement_id)
            if a is None or a.status != "ACTIVE":
                self._move(cr, "VALIDATION_FAILED", now, INACTIVE_MESSAGE)
            elif now >= cr.created_at + AUTO_APPROVAL_AFTER:
                self._approve(cr, cr.created_at + AUTO_APPROVAL_AFTER)
