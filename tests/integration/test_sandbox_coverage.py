"""Every operation of the four Marketplace services gets an answer AWS gives, never an invented error: the
operations a SaaS product cannot use are refused as AWS refuses them, and the agreement operations on things the
sandbox never creates (payment requests, approvals, billing adjustments, charges, invoices) answer as AWS does when
such a thing does not exist. docs/sandbox.md's coverage table lists them all, and a test holds it to the code.

Sources: botocore's installed models; the Agreement API's error table,
https://docs.aws.amazon.com/marketplace/latest/developerguide/agreement-apis.html ("Possible scenarios" per
resource type, and "For security reasons, the same error is returned whether a resource does not exist or the
caller does not have access to it."); the API Reference's "Errors" sections for the HTTP statuses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import botocore.exceptions
import botocore.session
import pytest

from mplink.sandbox.wire import handlers, refusals
from tests.support.buyer import checked, subscribe
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, PRODUCT_CODE, SELLER, SRC, RunningSandbox

SERVICES = ("meteringmarketplace", "marketplace-entitlement", "marketplace-agreement", "marketplace-discovery")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"


def error_of(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, int]:
    response: dict[str, Any] = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def members_of(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> dict[str, Any]:
    """The modelled members of the error (``reason``, ``resourceId``, ``resourceType``), which botocore puts next
    to ``Error`` in the response."""
    return {k: v for k, v in exc.value.response.items() if k in ("reason", "resourceId", "resourceType")}


def agreement_request(sb: RunningSandbox, account: str) -> str:
    """An agreement request of ``account``'s, not accepted."""
    disc = sb.client("marketplace-discovery", account)
    offer = disc.get_offer(offerId=PRIVATE_OFFER)
    terms = disc.get_offer_terms(offerId=PRIVATE_OFFER)["offerTerms"]
    created = sb.client("marketplace-agreement", account).create_agreement_request(
        intent="NEW",
        agreementProposalIdentifier=offer["agreementProposalId"],
        requestedTerms=[{"id": next(iter(t.values()))["id"]} for t in terms],
    )
    return str(created["agreementRequestId"])


# -- metering operations for AMI and container products ---------------------------------------------------------
def test_meter_usage_is_refused_for_a_saas_product(running_sandbox: RunningSandbox) -> None:
    """botocore's meteringmarketplace model: MeterUsage's "Supported product types: Amazon Machine Images (AMIs) and
    containers". What AWS answers for a SaaS product code is not documented; InvalidProductCodeException ("The
    product code passed does not match the product code used for publishing the product.") is MeterUsage's only
    product-code error, HTTP 400 (API ref MeterUsage, Errors)."""
    from datetime import UTC, datetime

    buyer = running_sandbox.client("meteringmarketplace", DST)
    with pytest.raises(buyer.exceptions.InvalidProductCodeException) as exc:
        buyer.meter_usage(ProductCode=PRODUCT_CODE, Timestamp=datetime.now(UTC), UsageDimension="conformity_accounts")
    assert error_of(exc) == ("InvalidProductCodeException", 400)
    assert running_sandbox.control("GET", "metering") == []


def test_register_usage_is_refused_outside_ecs_eks_and_fargate(running_sandbox: RunningSandbox) -> None:
    """botocore's meteringmarketplace model: RegisterUsage is for paid containers; PlatformNotSupportedException:
    "AWS Marketplace does not support metering usage from the underlying platform. Currently, Amazon ECS, Amazon
    EKS, and AWS Fargate are supported." HTTP 400 (API ref RegisterUsage, Errors). Its documentation's
    CustomerNotSubscribedException is not in the model, so it is never sent."""
    buyer = running_sandbox.client("meteringmarketplace", DST)
    with pytest.raises(buyer.exceptions.PlatformNotSupportedException) as exc:
        buyer.register_usage(ProductCode=PRODUCT_CODE, PublicKeyVersion=1)
    assert error_of(exc) == ("PlatformNotSupportedException", 400)


# -- agreement operations on things the sandbox never creates -------------------------------------------------------
NOT_FOUND = [
    ("GetAgreementPaymentRequest", {"paymentRequestId": "pr-abc", "agreementId": "agmt-x"}, "PaymentRequest"),
    ("AcceptAgreementPaymentRequest", {"paymentRequestId": "pr-abc", "agreementId": "agmt-x"}, "PaymentRequest"),
    ("RejectAgreementPaymentRequest", {"paymentRequestId": "pr-abc", "agreementId": "agmt-x"}, "PaymentRequest"),
    ("CancelAgreementPaymentRequest", {"paymentRequestId": "pr-abc", "agreementId": "agmt-x"}, "PaymentRequest"),
    ("GetAgreementApproval", {"agreementApprovalId": "apr-abc"}, "AgreementApproval"),
    (
        "AcceptAgreementApproval",
        {"buyerAgreementApprovalApproverInput": {"agreementApprovalId": "apr-abc"}},
        "AgreementApproval",
    ),
    (
        "RejectAgreementApproval",
        {"buyerAgreementApprovalRejectionInput": {"agreementApprovalId": "apr-abc", "note": "no"}},
        "AgreementApproval",
    ),
    (
        "GetBillingAdjustmentRequest",
        {"agreementId": "agmt-x", "billingAdjustmentRequestId": "ba-abc"},
        "BillingAdjustmentRequest",
    ),
    ("UpdatePurchaseOrders", {"purchaseOrders": [{"chargeId": "ch-abc", "purchaseOrderReference": "PO-1"}]}, "Charge"),
    ("GetAgreementContacts", {"agreementId": "agmt-nosuchagreement"}, "Agreement"),
    ("ListAgreementInvoiceLineItems", {"agreementId": "agmt-nosuch", "groupBy": "INVOICE_ID"}, "Agreement"),
    (
        "SendAgreementPaymentRequest",
        {"agreementId": "agmt-x", "termId": "t", "name": "Usage", "chargeAmount": "1"},
        "Agreement",
    ),
]


@pytest.mark.parametrize(("operation", "params", "resource_type"), NOT_FOUND, ids=[n[0] for n in NOT_FOUND])
def test_an_id_of_a_thing_the_sandbox_never_creates_is_not_found(
    running_sandbox: RunningSandbox, operation: str, params: dict[str, Any], resource_type: str
) -> None:
    """The Agreement API's error table: ResourceNotFoundException per resource type, for example PaymentRequest
    "No payment request found for the given identifier.", BillingAdjustmentRequest "No billing adjustment request
    found for the given identifier.", Charge "No charge found for the given identifier."; AgreementApproval has no
    row (ResourceType enum value; the sandbox's inference). HTTP 404 is the model's httpStatusCode."""
    agr = running_sandbox.client("marketplace-agreement", DST)
    with pytest.raises(agr.exceptions.ResourceNotFoundException) as exc:
        getattr(agr, _snake(operation))(**params)
    assert error_of(exc) == ("ResourceNotFoundException", 404)
    assert members_of(exc)["resourceType"] == resource_type


def test_approval_operations_need_the_approval_id(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-agreement model: AcceptAgreementApproval's input has no required member, so an empty
    request reaches the service; ValidationExceptionReason MISSING_AGREEMENT_APPROVAL_ID."""
    agr = running_sandbox.client("marketplace-agreement", DST)
    with pytest.raises(agr.exceptions.ValidationException) as exc:
        agr.accept_agreement_approval()
    assert members_of(exc) == {"reason": "MISSING_AGREEMENT_APPROVAL_ID"}


def test_approval_plans_of_an_agreement_request(running_sandbox: RunningSandbox) -> None:
    """GetAgreementRequestApprovalPlans' ``items`` has at least one plan (model: min 1), so a request that needs no
    approval has no plan to find: ResourceNotFoundException (AgreementRequestApprovalPlan, an enum value without a
    documented row; the sandbox's inference). Another account's request is not found as an AgreementRequest ("The
    agreement request belongs to another caller."). StartAgreementApprovals names a plan that does not exist:
    ValidationException INVALID_PLAN_INPUTS (inference)."""
    request_id = agreement_request(running_sandbox, DST)
    mine = running_sandbox.client("marketplace-agreement", DST)
    with pytest.raises(mine.exceptions.ResourceNotFoundException) as exc:
        mine.get_agreement_request_approval_plans(agreementRequestId=request_id)
    assert members_of(exc) == {"resourceId": request_id, "resourceType": "AgreementRequestApprovalPlan"}
    with pytest.raises(mine.exceptions.ValidationException) as exc:
        mine.start_agreement_approvals(
            agreementRequestId=request_id,
            planInputs=[{"buyerAgreementApprovalPlanInput": {"planReference": "aplan-abc"}}],
        )
    assert members_of(exc) == {"reason": "INVALID_PLAN_INPUTS"}
    other = running_sandbox.client("marketplace-agreement", SRC)
    with pytest.raises(other.exceptions.ResourceNotFoundException) as exc:
        other.get_agreement_request_approval_plans(agreementRequestId=request_id)
    assert members_of(exc) == {"resourceId": request_id, "resourceType": "AgreementRequest"}


def test_payment_requests_need_a_variable_payment_term(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-agreement model, SendAgreementPaymentRequest: "The agreement must be active and have a
    VariablePaymentTerm to support payment requests." The sandbox's offers have none, so any term named is not one
    (ValidationException INVALID_TERM_ID; which reason AWS gives is not documented)."""
    agreement_id = subscribe(running_sandbox, DST, PRIVATE_OFFER)
    seller = running_sandbox.client("marketplace-agreement", SELLER)
    term = checked(seller, "GetAgreementTerms", agreementId=agreement_id)["acceptedTerms"][0]
    term_id = next(iter(term.values()))["id"]
    with pytest.raises(seller.exceptions.ValidationException) as exc:
        seller.send_agreement_payment_request(
            agreementId=agreement_id, termId=term_id, name="Extra usage", chargeAmount="10.00"
        )
    assert error_of(exc) == ("ValidationException", 400) and members_of(exc) == {"reason": "INVALID_TERM_ID"}


@pytest.mark.parametrize(
    ("operation", "params", "key"),
    [
        ("ListAgreementApprovals", {"partyType": "REQUESTER"}, "items"),
        ("ListAgreementPaymentRequests", {"partyType": "Proposer"}, "items"),
        ("ListAgreementPaymentRequests", {"partyType": "Acceptor"}, "items"),
        ("ListBillingAdjustmentRequests", {}, "items"),
        ("ListAgreementCharges", {}, "items"),
    ],
)
def test_lists_of_things_the_sandbox_never_creates_are_empty(
    running_sandbox: RunningSandbox, operation: str, params: dict[str, Any], key: str
) -> None:
    """A list operation has a documented empty answer (HTTP 200, no items), and the sandbox truthfully has nothing
    to list; a nextToken it never issued is refused (INVALID_NEXT_TOKEN: "the pagination token is malformed,
    expired, cannot be decrypted", the Agreement API's error table)."""
    agr = running_sandbox.client("marketplace-agreement", DST)
    assert checked(agr, operation, **params)[key] == []
    with pytest.raises(agr.exceptions.ValidationException) as exc:
        getattr(agr, _snake(operation))(**params, nextToken="abc")
    assert members_of(exc) == {"reason": "INVALID_NEXT_TOKEN"}


def test_list_payment_requests_takes_proposer_or_acceptor(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-agreement model, ListAgreementPaymentRequests.partyType: "Use Proposer ... or
    Acceptor"; another value: ValidationException INVALID_PARTY_TYPE."""
    agr = running_sandbox.client("marketplace-agreement", DST)
    with pytest.raises(agr.exceptions.ValidationException) as exc:
        agr.list_agreement_payment_requests(partyType="Reseller")
    assert members_of(exc) == {"reason": "INVALID_PARTY_TYPE"}


def test_invoice_line_items_and_contacts_of_a_known_agreement(running_sandbox: RunningSandbox) -> None:
    """ListAgreementInvoiceLineItems: the sandbox issues no invoices, so a known agreement has no line items.
    GetAgreementContacts (model): "If the acceptor's contact information isn't available, the operation succeeds
    but doesn't return acceptorContact." Both only for the agreement's parties."""
    agreement_id = subscribe(running_sandbox, DST, PRIVATE_OFFER)
    seller = running_sandbox.client("marketplace-agreement", SELLER)
    items = checked(seller, "ListAgreementInvoiceLineItems", agreementId=agreement_id, groupBy="INVOICE_ID")
    assert items["agreementInvoiceLineItemGroupSummaries"] == []
    for account in (SELLER, DST):
        contacts = checked(
            running_sandbox.client("marketplace-agreement", account), "GetAgreementContacts", agreementId=agreement_id
        )
        assert "acceptorContact" not in contacts
    stranger = running_sandbox.client("marketplace-agreement", SRC)
    with pytest.raises(stranger.exceptions.ResourceNotFoundException):
        stranger.get_agreement_contacts(agreementId=agreement_id)


def test_billing_adjustments_report_each_entry_in_errors(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-agreement model, BatchCreateBillingAdjustmentRequest: "The operation returns
    successfully created adjustment request IDs and any errors for entries that failed to process." Every entry
    names an invoice, and the sandbox issues none: each is in ``errors`` with RESOURCE_NOT_FOUND_EXCEPTION (the
    per-entry code is not documented; the model's ResourceType has Invoice)."""
    agreement_id = subscribe(running_sandbox, DST, PRIVATE_OFFER)
    seller = running_sandbox.client("marketplace-agreement", SELLER)
    entries = [
        {
            "agreementId": agreement_id,
            "originalInvoiceId": f"inv-{i}",
            "adjustmentAmount": "5.00",
            "currencyCode": "USD",
            "adjustmentReasonCode": "INCORRECT_METERING",
            "clientToken": f"token-{i}",
        }
        for i in range(2)
    ]
    result = checked(seller, "BatchCreateBillingAdjustmentRequest", billingAdjustmentRequestEntries=entries)
    assert result["items"] == []
    assert [(e["code"], e["clientToken"]) for e in result["errors"]] == [
        ("RESOURCE_NOT_FOUND_EXCEPTION", "token-0"),
        ("RESOURCE_NOT_FOUND_EXCEPTION", "token-1"),
    ]


# -- the coverage table ------------------------------------------------------------------------------------------
def coverage_table() -> dict[tuple[str, str], str]:
    """docs/sandbox.md's coverage table: (service, operation) -> how the sandbox answers it."""
    section = DOCS.read_text(encoding="utf-8").split("## Coverage", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w-]+)` \| (\w+) \| (implemented|empty list|refused|not yet) \|", section, re.M)
    return {(service, op): how for service, op, how in rows}


def test_the_coverage_table_lists_every_operation_and_the_code_answers_each(running_sandbox: RunningSandbox) -> None:
    """Every operation of the four services' installed botocore models is in docs/sandbox.md's coverage table once;
    the sandbox answers every one the table lists as implemented, empty list or refused, and none it lists as not
    yet (so the table changes with the code)."""
    session = botocore.session.get_session()
    modelled = {(service, op) for service in SERVICES for op in session.get_service_model(service).operation_names}
    table = coverage_table()
    assert set(table) == modelled and len(modelled) == 51
    answered = set(handlers(running_sandbox.box.market)) | set(refusals)
    assert sorted(op for op, how in table.items() if how != "not yet" and op not in answered) == []
    assert sorted(op for op, how in table.items() if how == "not yet" and op in answered) == []


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
