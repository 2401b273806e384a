"""Agreement service operations on procurement the sandbox does not model: payment requests, buyer approvals,
billing adjustments, charges, invoices and purchase orders, and the acceptor's contact.

A SaaS seller or buyer can call all of them, so refusing them as "not for SaaS" would be invented. The sandbox
never creates any of these things, so it answers what AWS answers when they do not exist: a
ResourceNotFoundException naming the resource type for an identifier (the Agreement API's error table: "No
payment request found for the given identifier.", and "the same error is returned whether a resource does not
exist or the caller does not have access to it"), and the documented empty list for list operations.
docs/sandbox.md, "Coverage", gives each operation's answer and its source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mplink.sandbox.agreement_errors import invalid, not_found
from mplink.sandbox.errors import SandboxError
from mplink.sandbox.model import SbAgreement

if TYPE_CHECKING:
    from mplink.sandbox.marketplace import Marketplace


def _absent(resource_type: str, resource_id: str, what: str) -> SandboxError:
    """ResourceNotFoundException for one of the model's ResourceType values, in the error table's words."""
    return not_found(resource_type, resource_id, f"No {what} found for the given identifier: {resource_id}")


def _no_pages(p: dict[str, Any]) -> None:
    """These lists are empty, so no nextToken of theirs exists: any token given is not one the service issued."""
    if p.get("nextToken"):
        raise invalid("INVALID_NEXT_TOKEN", "The pagination token is not valid for this request")


class ProcurementApi:
    """The agreement service's operations on payment requests, approvals, billing adjustments, charges, invoices,
    purchase orders and contacts."""

    def __init__(self, market: Marketplace) -> None:
        self.m = market

    def _agreement(self, caller: str, agreement_id: str) -> SbAgreement:
        """An agreement the caller is a party to (acceptor, proposer or manufacturer), else not found."""
        a = self.m.agreements.get(agreement_id)
        if a is None or caller not in (a.account_id, a.proposer_account_id, self.m.catalog.seller_account_id):
            raise _absent("Agreement", agreement_id, "agreement")
        return a

    def _own_request(self, caller: str, request_id: str) -> None:
        """An agreement request of the caller's (only its acceptor may see it), else not found."""
        req = self.m.requests.get(request_id)
        if req is None or req.account_id != caller:
            raise _absent("AgreementRequest", request_id, "agreement request")

    # -- contacts ---------------------------------------------------------------------------------------
    def get_agreement_contacts(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """The model: "If the acceptor's contact information isn't available, the operation succeeds but doesn't
        return acceptorContact." The sandbox keeps no acceptor contact."""
        with self.m.lock:
            self._agreement(caller, p["agreementId"])
            return {}

    # -- payment requests (only for agreements with a VariablePaymentTerm; the sandbox's offers have none) --
    def _payment_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            raise _absent("PaymentRequest", p["paymentRequestId"], "payment request")

    get_agreement_payment_request = _payment_request
    accept_agreement_payment_request = _payment_request
    reject_agreement_payment_request = _payment_request
    cancel_agreement_payment_request = _payment_request

    def send_agreement_payment_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """The model: "The agreement must be active and have a VariablePaymentTerm to support payment requests.";
        no sandbox agreement has one, so the term named is never a variable payment term."""
        with self.m.lock:
            a = self._agreement(caller, p["agreementId"])
            if a.status != "ACTIVE":
                raise invalid("INACTIVE_AGREEMENT", f"Agreement {a.agreement_id} is {a.status}, not ACTIVE")
            raise invalid(
                "INVALID_TERM_ID",
                f"Term {p['termId']} is not a VariablePaymentTerm of agreement {a.agreement_id}: "
                "payment requests need one",
            )

    def list_agreement_payment_requests(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """The model: "PartyType is a required parameter." Its values are Proposer and Acceptor."""
        with self.m.lock:
            if p["partyType"] not in ("Proposer", "Acceptor"):
                raise invalid("INVALID_PARTY_TYPE", f"partyType {p['partyType']!r}: use Proposer or Acceptor")
            _no_pages(p)
            return {"items": []}

    # -- buyer approvals (AWS Organizations procurement approvals; the sandbox has no organizations) -----
    def _approval(self, caller: str, p: dict[str, Any], key: str) -> dict[str, Any]:
        with self.m.lock:
            approval_id = (p.get(key) or {}).get("agreementApprovalId")
            if not approval_id:
                raise invalid("MISSING_AGREEMENT_APPROVAL_ID", f"{key}.agreementApprovalId is required")
            raise _absent("AgreementApproval", approval_id, "agreement approval")

    def accept_agreement_approval(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return self._approval(caller, p, "buyerAgreementApprovalApproverInput")

    def reject_agreement_approval(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return self._approval(caller, p, "buyerAgreementApprovalRejectionInput")

    def get_agreement_approval(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            raise _absent("AgreementApproval", p["agreementApprovalId"], "agreement approval")

    def list_agreement_approvals(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            _no_pages(p)
            return {"items": []}

    def get_agreement_request_approval_plans(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """The output's ``items`` has at least one plan (model: min 1), so "no plan" cannot be an empty answer: an
        agreement request that needs no approval has no approval plan to find."""
        with self.m.lock:
            self._own_request(caller, p["agreementRequestId"])
            raise _absent("AgreementRequestApprovalPlan", p["agreementRequestId"], "approval plan")

    def start_agreement_approvals(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            self._own_request(caller, p["agreementRequestId"])
            plan = p["planInputs"][0].get("buyerAgreementApprovalPlanInput", {}).get("planReference", "")
            raise invalid(
                "INVALID_PLAN_INPUTS",
                f"Plan {plan} is not an approval plan of agreement request {p['agreementRequestId']}: it has none",
            )

    # -- billing adjustments (refunds against invoices; the sandbox issues no invoices) ----------------------
    def batch_create_billing_adjustment_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """The operation answers 200 and reports each entry that failed in ``errors``; every entry names an
        invoice, and the sandbox has none."""
        with self.m.lock:
            errors = [
                {
                    "code": "RESOURCE_NOT_FOUND_EXCEPTION",
                    "message": f"No invoice {e['originalInvoiceId']!r} found for agreement {e['agreementId']}",
                    "clientToken": e["clientToken"],
                }
                for e in p["billingAdjustmentRequestEntries"]
            ]
            return {"items": [], "errors": errors}

    def get_billing_adjustment_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            raise _absent("BillingAdjustmentRequest", p["billingAdjustmentRequestId"], "billing adjustment request")

    def list_billing_adjustment_requests(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            _no_pages(p)
            return {"items": []}

    # -- charges, invoices, purchase orders ---------------------------------------------------------------
    def list_agreement_charges(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """Usage-based SaaS agreements are billed by AWS from metering, with no agreement charge to list."""
        with self.m.lock:
            _no_pages(p)
            return {"items": []}

    def list_agreement_invoice_line_items(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """The sandbox issues no invoices: a known agreement has no line items; an unknown one is not found."""
        with self.m.lock:
            self._agreement(caller, p["agreementId"])
            _no_pages(p)
            return {"agreementInvoiceLineItemGroupSummaries": []}

    def update_purchase_orders(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """Purchase orders attach to charges ("No charge found for the given identifier."), which the sandbox has
        none of."""
        with self.m.lock:
            raise _absent("Charge", p["purchaseOrders"][0]["chargeId"], "charge")
