"""The agreement-request lifecycle, intents, clientToken and SearchAgreements, through unmodified boto3 against
the sandbox; every answer checked against botocore's output shape.

Sources: botocore's marketplace-agreement model (2020-03-01), the dev guide pages
https://docs.aws.amazon.com/marketplace/latest/developerguide/agreement-apis.html (error codes) and
https://docs.aws.amazon.com/marketplace/latest/developerguide/work-with-agreement-api-buyer.html (requests,
AMEND). Each test names the passage it checks; "SILENT" marks the sandbox's choice where AWS says nothing.

The sandbox here sells the seed catalog with one change: the public offer has a RenewalTerm, the one term a
buyer configures (``enableAutoRenew``) and so the one an AMEND can change. The private offer stays pure
pay-as-you-go.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from mplink.sandbox.errors import SandboxError
from tests.support.buyer import checked
from tests.support.sandbox_fixtures import (
    DST,
    PRIVATE_OFFER,
    PRODUCT_ID,
    PUBLIC_OFFER,
    SELLER,
    SRC,
    RunningSandbox,
    immediate_provisioning,
)

STRANGER = "333333333333"
PURCHASE = {"name": "AgreementType", "values": ["PurchaseAgreement"]}


@pytest.fixture
def sb(renewal_sandbox: RunningSandbox) -> RunningSandbox:
    renewal_sandbox.reset(immediate_provisioning())
    return renewal_sandbox


def reason(exc: Any) -> str | None:
    """The error's ``reason``: the modelled member (botocore puts it at the top of ``response``; a SandboxError
    holds it as an attribute), else the reason code its message ends with."""
    response = getattr(exc, "response", None)
    found = response.get("reason") if response is not None else getattr(exc, "reason", None)
    if found:
        return str(found)
    message = response["Error"]["Message"] if response is not None else exc.message
    m = re.search(r"\(([A-Z_]+)\)$", message)
    return m.group(1) if m else None


def status_of(exc: Any) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def offer_terms(sb: RunningSandbox, account: str, offer_id: str) -> tuple[str, dict[str, str]]:
    """The offer's agreement proposal and its term ids by term member (``renewalTerm`` -> id)."""
    disc = sb.client("marketplace-discovery", account)
    proposal = checked(disc, "GetOffer", offerId=offer_id)["agreementProposalId"]
    terms = checked(disc, "GetOfferTerms", offerId=offer_id)["offerTerms"]
    return proposal, {member: body["id"] for t in terms for member, body in t.items()}


def new_params(sb: RunningSandbox, account: str, offer_id: str, auto_renew: bool | None = None) -> dict[str, Any]:
    """CreateAgreementRequest's parameters for every term of the offer (auto-renewal chosen when given)."""
    proposal, ids = offer_terms(sb, account, offer_id)
    requested: list[dict[str, Any]] = []
    for member, term_id in ids.items():
        term: dict[str, Any] = {"id": term_id}
        if member == "renewalTerm" and auto_renew is not None:
            term["configuration"] = {"renewalTermConfiguration": {"enableAutoRenew": auto_renew}}
        requested.append(term)
    return {"intent": "NEW", "agreementProposalIdentifier": proposal, "requestedTerms": requested}


def create(sb: RunningSandbox, account: str, **params: Any) -> dict[str, Any]:
    return checked(sb.client("marketplace-agreement", account), "CreateAgreementRequest", **params)


def accept(sb: RunningSandbox, account: str, request_id: str) -> str:
    out = checked(sb.client("marketplace-agreement", account), "AcceptAgreementRequest", agreementRequestId=request_id)
    return str(out["agreementId"])


def subscribe(sb: RunningSandbox, account: str, offer_id: str, auto_renew: bool | None = None) -> str:
    request = create(sb, account, **new_params(sb, account, offer_id, auto_renew))
    return accept(sb, account, request["agreementRequestId"])


def renewal_term_id(sb: RunningSandbox) -> str:
    return offer_terms(sb, DST, PUBLIC_OFFER)[1]["renewalTerm"]


def amend_params(agreement_id: str, term_id: str, auto_renew: bool | None) -> dict[str, Any]:
    term: dict[str, Any] = {"id": term_id}
    if auto_renew is not None:
        term["configuration"] = {"renewalTermConfiguration": {"enableAutoRenew": auto_renew}}
    return {"intent": "AMEND", "sourceAgreementIdentifier": agreement_id, "requestedTerms": [term]}


def refused(client: Any, exception: str, operation: str, **params: Any) -> Any:
    with pytest.raises(getattr(client.exceptions, exception)) as info:
        getattr(client, re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower())(**params)
    return info.value


# -- the lifecycle ---------------------------------------------------------------------------------------------
def test_a_request_is_a_draft_needing_no_approval_until_accepted(sb: RunningSandbox) -> None:
    """[model] AgreementRequestStatus: "DRAFT – The agreement request has been created but not yet submitted for
    approval ... ACCEPTED – The agreement request has been accepted and the resulting agreement has been
    created." The sandbox has no approvals (approvalRequirement NOT_REQUIRED). GetAgreementRequestOutput's
    agreementId is "the agreement that the agreement request is for": SILENT before acceptance, absent here."""
    agr = sb.client("marketplace-agreement", DST)
    created = create(sb, DST, **new_params(sb, DST, PRIVATE_OFFER))
    assert created["status"] == "DRAFT" and created["approvalRequirement"] == "NOT_REQUIRED"
    assert created["agreementType"] == "PurchaseAgreement" and created["chargeSummary"]["currencyCode"] == "USD"
    request_id = created["agreementRequestId"]

    got = checked(agr, "GetAgreementRequest", agreementRequestId=request_id)
    assert (got["status"], got["intent"], got["approvalRequirement"]) == ("DRAFT", "NEW", "NOT_REQUIRED")
    assert "agreementId" not in got
    assert got["proposer"] == {"accountId": "888888888888"}  # Classmethod proposes the private offer
    assert got["proposalSummary"] == {
        "resources": [{"id": PRODUCT_ID, "type": "SaaSProduct"}],
        "offerId": PRIVATE_OFFER,
    }

    agreement_id = accept(sb, DST, request_id)
    got = checked(agr, "GetAgreementRequest", agreementRequestId=request_id)
    assert (got["status"], got["agreementId"]) == ("ACCEPTED", agreement_id)


def test_a_request_is_only_the_requesting_buyers(sb: RunningSandbox) -> None:
    """[dev guide, ResourceNotFound AgreementRequest] "No agreement request found for the given identifier. /
    The agreement request belongs to another caller." (the seller included: GetAgreementRequest is for "The
    acceptor, or the management account or a delegated administrator of the acceptor's AWS organization")."""
    request_id = create(sb, DST, **new_params(sb, DST, PUBLIC_OFFER))["agreementRequestId"]
    for account in (SRC, SELLER):
        other = sb.client("marketplace-agreement", account)
        for operation in ("GetAgreementRequest", "AcceptAgreementRequest", "GetAgreementRequestTerms"):
            exc = refused(other, "ResourceNotFoundException", operation, agreementRequestId=request_id)
            assert status_of(exc) == 404
        assert checked(other, "ListAgreementRequests")["items"] == []
    own = sb.client("marketplace-agreement", DST)
    exc = refused(own, "ResourceNotFoundException", "GetAgreementRequest", agreementRequestId="ar-nosuchrequest")
    assert status_of(exc) == 404


def test_list_agreement_requests_filters_and_pages(sb: RunningSandbox) -> None:
    """[model] ListAgreementRequests: "Lists agreement requests available to you as a buyer (acceptor). You can
    filter the results by catalog, status, and resourceId."; status: "If you don't specify a status, agreement
    requests of all statuses are returned."; maxResults: "(1-50). Default is 20."; nextToken (output): "null if
    there are no more results". [dev guide] INVALID_NEXT_TOKEN: "... or when request parameters have changed
    between paginated calls." """
    agr = sb.client("marketplace-agreement", DST)
    accepted = create(sb, DST, **new_params(sb, DST, PRIVATE_OFFER))["agreementRequestId"]
    agreement_id = accept(sb, DST, accepted)
    drafts = [create(sb, DST, **new_params(sb, DST, PUBLIC_OFFER))["agreementRequestId"] for _ in range(21)]
    create(sb, SRC, **new_params(sb, SRC, PUBLIC_OFFER))

    first = checked(agr, "ListAgreementRequests")
    assert len(first["items"]) == 20 and first["nextToken"]
    rest = checked(agr, "ListAgreementRequests", nextToken=first["nextToken"])
    assert "nextToken" not in rest
    listed = [i["agreementRequestId"] for i in first["items"] + rest["items"]]
    assert listed == [accepted, *drafts]

    only_accepted = checked(agr, "ListAgreementRequests", status="ACCEPTED")["items"]
    assert only_accepted == [
        {
            "agreementRequestId": accepted,
            "agreementType": "PurchaseAgreement",
            "status": "ACCEPTED",
            "agreementId": agreement_id,
            "proposalSummary": {"resources": [{"id": PRODUCT_ID, "type": "SaaSProduct"}], "offerId": PRIVATE_OFFER},
        }
    ]
    assert len(checked(agr, "ListAgreementRequests", status="DRAFT", maxResults=50)["items"]) == 21
    assert checked(agr, "ListAgreementRequests", status="CANCELLED")["items"] == []
    by_product = checked(agr, "ListAgreementRequests", resourceId=PRODUCT_ID, catalog="AWSMarketplace", maxResults=50)
    assert len(by_product["items"]) == 22
    assert checked(agr, "ListAgreementRequests", resourceId="prod-other")["items"] == []
    assert checked(agr, "ListAgreementRequests", catalog="OtherCatalog")["items"] == []

    page = checked(agr, "ListAgreementRequests", status="DRAFT", maxResults=5)
    exc = refused(agr, "ValidationException", "ListAgreementRequests", status="ACCEPTED", nextToken=page["nextToken"])
    assert reason(exc) == "INVALID_NEXT_TOKEN"


def test_cancel_agreement_request_only_while_awaiting_approval(sb: RunningSandbox) -> None:
    """[model] CancelAgreementRequest: "cancel an agreement request that is in PENDING_APPROVAL status, or in
    APPROVED status when no agreement has been created from it." SILENT for DRAFT and ACCEPTED: the sandbox
    answers ConflictException (HTTP 409 in the model), and the request is unchanged."""
    agr = sb.client("marketplace-agreement", DST)
    draft = create(sb, DST, **new_params(sb, DST, PUBLIC_OFFER))["agreementRequestId"]
    exc = refused(agr, "ConflictException", "CancelAgreementRequest", agreementRequestId=draft)
    assert status_of(exc) == 409 and "DRAFT" in exc.response["Error"]["Message"]
    assert checked(agr, "GetAgreementRequest", agreementRequestId=draft)["status"] == "DRAFT"

    accept(sb, DST, draft)
    refused(agr, "ConflictException", "CancelAgreementRequest", agreementRequestId=draft)
    assert checked(agr, "GetAgreementRequest", agreementRequestId=draft)["status"] == "ACCEPTED"
    refused(agr, "ResourceNotFoundException", "CancelAgreementRequest", agreementRequestId="ar-nosuchrequest")


def test_accepting_a_request_twice_is_a_closed_request(sb: RunningSandbox) -> None:
    """[model] ValidationExceptionReason CLOSED_AGREEMENT_REQUEST; which status gives it is SILENT: the sandbox
    answers it for ACCEPTED (and REJECTED, CANCELLED) requests, and makes no second agreement."""
    agr = sb.client("marketplace-agreement", DST)
    request_id = create(sb, DST, **new_params(sb, DST, PRIVATE_OFFER))["agreementRequestId"]
    agreement_id = accept(sb, DST, request_id)
    exc = refused(agr, "ValidationException", "AcceptAgreementRequest", agreementRequestId=request_id)
    assert reason(exc) == "CLOSED_AGREEMENT_REQUEST" and status_of(exc) == 400
    assert agreement_id in exc.response["Error"]["Message"]
    assert [a["agreement_id"] for a in sb.control("GET", "agreements", params={"account_id": DST})] == [agreement_id]


def test_request_terms_are_the_requested_ones_fixed_at_creation(sb: RunningSandbox) -> None:
    """[model] GetAgreementRequestTerms.terms: "The terms proposed for the agreement request. The terms are fixed
    when the agreement request is created." maxResults is 10..50. RenewalTerm.configuration: "Additional
    parameters specified by the acceptor while accepting the term." """
    agr = sb.client("marketplace-agreement", DST)
    request_id = create(sb, DST, **new_params(sb, DST, PUBLIC_OFFER, auto_renew=True))["agreementRequestId"]
    terms = checked(agr, "GetAgreementRequestTerms", agreementRequestId=request_id, maxResults=10)
    assert "nextToken" not in terms
    by_member = {member: body for t in terms["terms"] for member, body in t.items()}
    assert set(by_member) == {"usageBasedPricingTerm", "legalTerm", "supportTerm", "renewalTerm"}
    assert by_member["renewalTerm"]["configuration"] == {"enableAutoRenew": True}
    assert by_member["renewalTerm"]["type"] == "RenewalTerm"
    rates = by_member["usageBasedPricingTerm"]["rateCards"][0]["rateCard"]
    assert "conformity_accounts" in {r["dimensionKey"] for r in rates}


# -- intents ---------------------------------------------------------------------------------------------------
def test_an_unknown_intent_is_refused_and_not_taken_as_new(sb: RunningSandbox) -> None:
    """[model] Intent is the enum NEW, AMEND, REPLACE (botocore does not check enums: the server must);
    ValidationExceptionReason has INVALID_INTENT and MISSING_INTENT. Nothing is created."""
    agr = sb.client("marketplace-agreement", DST)
    params = new_params(sb, DST, PRIVATE_OFFER) | {"intent": "UPGRADE"}
    exc = refused(agr, "ValidationException", "CreateAgreementRequest", **params)
    assert "UPGRADE" in exc.response["Error"]["Message"] and status_of(exc) == 400
    assert exc.response.get("reason", "INVALID_INTENT") == "INVALID_INTENT"
    assert checked(agr, "ListAgreementRequests")["items"] == []
    # the operation's own check, as a client that skips the model's enum would meet it
    for wrong, expected in (
        (params, "INVALID_INTENT"),
        ({k: v for k, v in params.items() if k != "intent"}, "MISSING_INTENT"),
    ):
        with pytest.raises(SandboxError) as info:
            sb.box.market.agreement.create_agreement_request(DST, wrong)
        assert (info.value.code, reason(info.value)) == ("ValidationException", expected)
    assert sb.control("GET", "agreements", params={"account_id": DST}) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sourceAgreementIdentifier": "agmt-whatever"}, "INVALID_SOURCE_AGREEMENT_IDENTIFIER"),
        ({"agreementProposalIdentifier": None}, "MISSING_AGREEMENT_PROPOSAL_IDENTIFIER"),
        ({"intent": "REPLACE"}, "MISSING_SOURCE_AGREEMENT_IDENTIFIER"),
        ({"intent": "AMEND", "sourceAgreementIdentifier": "agmt-x"}, "INVALID_AGREEMENT_PROPOSAL_IDENTIFIER"),
        ({"intent": "AMEND", "agreementProposalIdentifier": None}, "MISSING_SOURCE_AGREEMENT_IDENTIFIER"),
        (
            {
                "intent": "AMEND",
                "agreementProposalIdentifier": None,
                "sourceAgreementIdentifier": "agmt-x",
                "acceptorContact": {
                    "firstName": "A",
                    "lastName": "B",
                    "emailAddress": "a@example.com",
                    "companyName": "C",
                    "countryCode": "JP",
                },
            },
            "INVALID_ACCEPTOR_CONTACT",
        ),
    ],
)
def test_each_intent_takes_its_own_identifiers(sb: RunningSandbox, change: dict[str, Any], expected: str) -> None:
    """[model] sourceAgreementIdentifier: "required for all non-NEW intents (i.e., AMEND or REPLACE). Don't
    provide this parameter if the intent is NEW."; agreementProposalIdentifier: "required if the intent is not
    AMEND."; acceptorContact: "Don't provide this parameter if the intent is AMEND." [dev guide] the reasons
    INVALID_/MISSING_SOURCE_AGREEMENT_IDENTIFIER and INVALID_/MISSING_AGREEMENT_PROPOSAL_IDENTIFIER ("provided
    for an intent that does not require one (such as AMEND)")."""
    params = {k: v for k, v in (new_params(sb, DST, PRIVATE_OFFER) | change).items() if v is not None}
    exc = refused(sb.client("marketplace-agreement", DST), "ValidationException", "CreateAgreementRequest", **params)
    assert reason(exc) == expected


def test_a_proposal_the_buyer_cannot_see_is_not_found(sb: RunningSandbox) -> None:
    """[dev guide, ResourceNotFound AgreementProposal] "No agreement proposal found for the given identifier. /
    The offer is not targeted to the acceptor." """
    params = new_params(sb, DST, PRIVATE_OFFER)
    stranger = sb.client("marketplace-agreement", STRANGER)
    assert status_of(refused(stranger, "ResourceNotFoundException", "CreateAgreementRequest", **params)) == 404
    params["agreementProposalIdentifier"] = "ap-nosuchproposal"
    refused(sb.client("marketplace-agreement", DST), "ResourceNotFoundException", "CreateAgreementRequest", **params)


def test_requested_terms_must_be_the_offers_mandatory_ones(sb: RunningSandbox) -> None:
    """[dev guide work-with-agreement-api-buyer] "The following terms must be included in every agreement when
    present in the offer: LegalTerm, SupportTerm, ValidityTerm, and RenewalTerm." and a usage offer's first
    agreement accepts its UsageBasedPricingTerm. [dev guide] INVALID_REQUESTED_TERM_CONFIGURATION: "A
    configuration is provided for a term that does not accept one." Reasons INVALID_REQUESTED_TERM_ID and
    INVALID_REQUESTED_TERMS are in the model's enum."""
    agr = sb.client("marketplace-agreement", DST)
    proposal, ids = offer_terms(sb, DST, PUBLIC_OFFER)

    def refusal(requested: list[dict[str, Any]]) -> str | None:
        return reason(
            refused(
                agr,
                "ValidationException",
                "CreateAgreementRequest",
                intent="NEW",
                agreementProposalIdentifier=proposal,
                requestedTerms=requested,
            )
        )

    every = [{"id": i} for i in ids.values()]
    assert refusal([t for t in every if t["id"] != ids["renewalTerm"]]) == "MISSING_MANDATORY_TERMS"
    assert refusal([t for t in every if t["id"] != ids["legalTerm"]]) == "MISSING_MANDATORY_TERMS"
    assert refusal([*every, {"id": "term-nosuchterm"}]) == "INVALID_REQUESTED_TERM_ID"
    assert refusal([*every, {"id": ids["legalTerm"]}]) == "INVALID_REQUESTED_TERMS"
    usage = {
        "id": ids["usageBasedPricingTerm"],
        "configuration": {"renewalTermConfiguration": {"enableAutoRenew": True}},
    }
    assert refusal([usage, *[t for t in every if t["id"] != usage["id"]]]) == "INVALID_REQUESTED_TERM_CONFIGURATION"
    assert checked(agr, "ListAgreementRequests")["items"] == []


def test_replace_ends_the_source_agreement_and_chains_the_new_one(sb: RunningSandbox) -> None:
    """[model] Intent: "REPLACE – Creates a new agreement with accepted terms and replaces the existing
    agreement."; AgreementStatus "REPLACED". [dev guide] UNSUPPORTED_ACTION: "the agreement proposal must refer
    to the same resource as the source agreement, the agreement proposal must differ from the source
    agreement"; ResourceNotFound Agreement: "The caller is neither the acceptor nor the proposer"."""
    agr = sb.client("marketplace-agreement", DST)
    public_id = subscribe(sb, DST, PUBLIC_OFFER)
    same = new_params(sb, DST, PUBLIC_OFFER) | {"intent": "REPLACE", "sourceAgreementIdentifier": public_id}
    assert reason(refused(agr, "ValidationException", "CreateAgreementRequest", **same)) == "UNSUPPORTED_ACTION"
    replace = new_params(sb, DST, PRIVATE_OFFER) | {"intent": "REPLACE", "sourceAgreementIdentifier": public_id}
    refused(sb.client("marketplace-agreement", SRC), "ResourceNotFoundException", "CreateAgreementRequest", **replace)

    request_id = create(sb, DST, **replace)["agreementRequestId"]
    private_id = accept(sb, DST, request_id)
    assert private_id != public_id
    assert checked(agr, "DescribeAgreement", agreementId=public_id)["status"] == "REPLACED"
    described = checked(agr, "DescribeAgreement", agreementId=private_id)
    assert (described["status"], described["initialAgreementId"]) == ("ACTIVE", public_id)
    got = checked(agr, "GetAgreementRequest", agreementRequestId=request_id)
    assert (got["intent"], got["agreementId"]) == ("REPLACE", private_id)

    stale = new_params(sb, DST, PRIVATE_OFFER) | {"intent": "REPLACE", "sourceAgreementIdentifier": public_id}
    assert reason(refused(agr, "ValidationException", "CreateAgreementRequest", **stale)) == "INACTIVE_AGREEMENT"


def test_amend_changes_the_same_agreement_and_sends_amended_events(sb: RunningSandbox) -> None:
    """[model] Intent: "AMEND – Modifies an existing agreement with terms that are accepted in the request.";
    AcceptAgreementRequestOutput.agreementId: "the agreement created or modified"; RenewalTerm: "The acceptor can
    also change this flag from True to False or False to True". [dev guide work-with-agreement-api-buyer] "set
    intent to AMEND and provide sourceAgreementIdentifier ... Only include the terms whose configuration you
    want to change." The seller guide's "Purchase Agreement Amended - Proposer/Manufacturer" examples
    (https://docs.aws.amazon.com/marketplace/latest/userguide/notifications-eventbridge.html) carry the
    agreement's own id and "intent": "AMEND"."""
    agr = sb.client("marketplace-agreement", DST)
    agreement_id = subscribe(sb, DST, PUBLIC_OFFER, auto_renew=False)
    before = checked(agr, "DescribeAgreement", agreementId=agreement_id)
    sb.control("POST", "clock", json={"advance_seconds": 3600})
    events_before = len(sb.control("GET", "events"))

    created = create(sb, DST, **amend_params(agreement_id, renewal_term_id(sb), True))
    assert created["status"] == "DRAFT"
    got = checked(agr, "GetAgreementRequest", agreementRequestId=created["agreementRequestId"])
    assert (got["intent"], got["agreementId"], got["proposalSummary"]["offerId"]) == (
        "AMEND",
        agreement_id,
        PUBLIC_OFFER,
    )
    request_terms = checked(agr, "GetAgreementRequestTerms", agreementRequestId=created["agreementRequestId"])
    assert request_terms["terms"] == [
        {
            "renewalTerm": {
                "type": "RenewalTerm",
                "id": renewal_term_id(sb),
                "configuration": {"enableAutoRenew": True},
            }
        }
    ]

    assert accept(sb, DST, created["agreementRequestId"]) == agreement_id
    after = checked(agr, "DescribeAgreement", agreementId=agreement_id)
    assert after["status"] == "ACTIVE" and after["acceptanceTime"] == before["acceptanceTime"]
    terms = checked(agr, "GetAgreementTerms", agreementId=agreement_id)["acceptedTerms"]
    renewal = next(t["renewalTerm"] for t in terms if "renewalTerm" in t)
    assert renewal["configuration"] == {"enableAutoRenew": True}
    summary = checked(
        agr,
        "SearchAgreements",
        filters=[
            {"name": "PartyType", "values": ["Acceptor"]},
            PURCHASE,
            {"name": "OfferId", "values": [PUBLIC_OFFER]},
        ],
    )["agreementViewSummaries"][0]
    assert summary["agreementId"] == agreement_id and summary["lastUpdateTime"] > summary["acceptanceTime"]
    assert len(sb.control("GET", "agreements", params={"account_id": DST})) == 1

    sent = [e["event"] for e in sb.control("GET", "events")[events_before:]]
    # the ISV's own offer: AWS sends an ISV that is manufacturer and proposer the Proposer events only
    assert [e["detail-type"] for e in sent] == ["Purchase Agreement Amended - Proposer"]
    for event in sent:
        assert event["detail"]["agreement"]["id"] == agreement_id
        assert event["detail"]["agreement"]["intent"] == "AMEND"
        assert event["detail"]["agreement"]["status"] == "ACTIVE"
        assert event["detail"]["agreement"]["autoRenewalEnabled"] is True


def test_a_pay_as_you_go_agreement_has_nothing_to_amend(sb: RunningSandbox) -> None:
    """[dev guide work-with-agreement-api-buyer] "The acceptor is only permitted to modify the configuration for
    the accepted terms." A pure pay-as-you-go agreement has no configurable term: UNSUPPORTED_ACTION ("the
    resource type and term type combination does not support the requested intent"); a configuration on a
    usage term is INVALID_REQUESTED_TERM_CONFIGURATION ("A configuration is provided for a term that does not
    accept one"). [dev guide agreement-apis] both reasons. No event is sent."""
    agr = sb.client("marketplace-agreement", DST)
    agreement_id = subscribe(sb, DST, PRIVATE_OFFER)
    usage_id = offer_terms(sb, DST, PRIVATE_OFFER)[1]["usageBasedPricingTerm"]
    events_before = len(sb.control("GET", "events"))
    plain = {"intent": "AMEND", "sourceAgreementIdentifier": agreement_id, "requestedTerms": [{"id": usage_id}]}
    assert reason(refused(agr, "ValidationException", "CreateAgreementRequest", **plain)) == "UNSUPPORTED_ACTION"
    configured = plain | {
        "requestedTerms": [{"id": usage_id, "configuration": {"renewalTermConfiguration": {"enableAutoRenew": True}}}]
    }
    exc = refused(agr, "ValidationException", "CreateAgreementRequest", **configured)
    assert reason(exc) == "INVALID_REQUESTED_TERM_CONFIGURATION"
    assert len(sb.control("GET", "events")) == events_before
    (only,) = checked(agr, "ListAgreementRequests")["items"]  # the request that made the agreement, nothing more
    assert (only["status"], only["agreementId"]) == ("ACCEPTED", agreement_id)


def test_amend_must_change_something_on_an_active_agreement_of_the_caller(sb: RunningSandbox) -> None:
    """[dev guide] INVALID_REQUESTED_TERM_CONFIGURATION: "A required configuration is missing. / ... / The
    configuration does not differ from the source agreement."; ResourceNotFound Agreement: "No agreement found
    for the given identifier. / The caller is neither the acceptor nor the proposer of the agreement."
    ValidationExceptionReason INACTIVE_AGREEMENT (enum only) for a cancelled one."""
    agr = sb.client("marketplace-agreement", DST)
    agreement_id = subscribe(sb, DST, PUBLIC_OFFER, auto_renew=True)
    term_id = renewal_term_id(sb)
    for params in (amend_params(agreement_id, term_id, True), amend_params(agreement_id, term_id, None)):
        exc = refused(agr, "ValidationException", "CreateAgreementRequest", **params)
        assert reason(exc) == "INVALID_REQUESTED_TERM_CONFIGURATION"
    other = sb.client("marketplace-agreement", SRC)
    refused(other, "ResourceNotFoundException", "CreateAgreementRequest", **amend_params(agreement_id, term_id, False))
    checked(agr, "CancelAgreement", agreementId=agreement_id)
    exc = refused(agr, "ValidationException", "CreateAgreementRequest", **amend_params(agreement_id, term_id, False))
    assert reason(exc) == "INACTIVE_AGREEMENT"


def test_a_request_superseded_by_an_accepted_one_is_not_found_on_accept(sb: RunningSandbox) -> None:
    """[dev guide, ResourceNotFound AgreementRequest] "The agreement request has been superseded by a subsequent
    accepted request on the same product or offer." """
    agr = sb.client("marketplace-agreement", DST)
    agreement_id = subscribe(sb, DST, PUBLIC_OFFER, auto_renew=False)
    params = amend_params(agreement_id, renewal_term_id(sb), True)
    first = create(sb, DST, **params | {"clientToken": "amend-1"})["agreementRequestId"]
    second = create(sb, DST, **params | {"clientToken": "amend-2"})["agreementRequestId"]
    assert first != second
    accept(sb, DST, first)
    exc = refused(agr, "ResourceNotFoundException", "AcceptAgreementRequest", agreementRequestId=second)
    assert first in exc.response["Error"]["Message"]


# -- clientToken -----------------------------------------------------------------------------------------------
def test_client_token_returns_the_same_request_and_refuses_other_parameters(sb: RunningSandbox) -> None:
    """[model] clientToken: "A unique, case-sensitive identifier that you provide to ensure the idempotency of
    the request." SILENT on the same token with other parameters: the sandbox answers ConflictException (the
    model's Conflict shape names "the resource involved in the conflict"; IdempotencyConflictException exists
    only in the metering model). Tokens belong to the account that sent them."""
    agr = sb.client("marketplace-agreement", DST)
    params = new_params(sb, DST, PRIVATE_OFFER) | {"clientToken": "move-1"}
    first = create(sb, DST, **params)
    assert create(sb, DST, **params)["agreementRequestId"] == first["agreementRequestId"]

    other = new_params(sb, DST, PUBLIC_OFFER) | {"clientToken": "move-1"}
    exc = refused(agr, "ConflictException", "CreateAgreementRequest", **other)
    assert status_of(exc) == 409 and first["agreementRequestId"] in exc.response["Error"]["Message"]
    assert exc.response.get("resourceId", first["agreementRequestId"]) == first["agreementRequestId"]
    assert exc.response.get("resourceType", "AgreementRequest") == "AgreementRequest"
    assert [i["agreementRequestId"] for i in checked(agr, "ListAgreementRequests")["items"]] == [
        first["agreementRequestId"]
    ]

    theirs = create(sb, SRC, **new_params(sb, SRC, PRIVATE_OFFER) | {"clientToken": "move-1"})
    assert theirs["agreementRequestId"] != first["agreementRequestId"]

    agreement_id = accept(sb, DST, first["agreementRequestId"])
    again = create(sb, DST, **params)
    assert (again["agreementRequestId"], again["status"]) == (first["agreementRequestId"], "ACCEPTED")
    assert checked(agr, "GetAgreementRequest", agreementRequestId=again["agreementRequestId"])["agreementId"] == (
        agreement_id
    )


# -- SearchAgreements ------------------------------------------------------------------------------------------
def test_search_agreements_answers_the_documented_acceptor_queries_only(sb: RunningSandbox) -> None:
    """[model] SearchAgreements.filters: AgreementType is required; for PartyType Acceptor "AgreementType +
    ResourceIdentifier + Status" and "AgreementType + OfferId + Status" are listed, "ResourceType + Status" and
    "ResourceIdentifier + OfferId" are not; AcceptorId (an AWS sample's name) is no filter. [dev guide]
    UNSUPPORTED_FILTERS, INVALID_FILTER_NAME."""
    agr = sb.client("marketplace-agreement", DST)
    public_id = subscribe(sb, DST, PUBLIC_OFFER)
    private_id = subscribe(sb, DST, PRIVATE_OFFER)  # a REPLACE: the public one ends REPLACED
    subscribe(sb, SRC, PRIVATE_OFFER)
    acceptor = {"name": "PartyType", "values": ["Acceptor"]}

    def search(*filters: dict[str, Any], **extra: Any) -> list[str]:
        out = checked(
            agr, "SearchAgreements", catalog="AWSMarketplace", filters=[acceptor, PURCHASE, *filters], **extra
        )
        return [s["agreementId"] for s in out["agreementViewSummaries"]]

    status = {"name": "Status", "values": ["ACTIVE"]}
    assert search({"name": "ResourceIdentifier", "values": [PRODUCT_ID]}, status) == [private_id]
    assert search({"name": "OfferId", "values": [PUBLIC_OFFER]}, {"name": "Status", "values": ["REPLACED"]}) == [
        public_id
    ]
    assert search({"name": "ResourceType", "values": ["SaaSProduct"]}) == [public_id, private_id]  # EndTime order

    for filters, expected in (
        ([{"name": "ResourceType", "values": ["SaaSProduct"]}, status], "UNSUPPORTED_FILTERS"),
        (
            [{"name": "ResourceIdentifier", "values": [PRODUCT_ID]}, {"name": "OfferId", "values": [PRIVATE_OFFER]}],
            "UNSUPPORTED_FILTERS",
        ),
        ([{"name": "AcceptorId", "values": [DST]}], "INVALID_FILTER_NAME"),
    ):
        exc = refused(agr, "ValidationException", "SearchAgreements", filters=[acceptor, PURCHASE, *filters])
        assert reason(exc) == expected and status_of(exc) == 400
    exc = refused(agr, "ValidationException", "SearchAgreements", filters=[acceptor, status])
    assert reason(exc) == "UNSUPPORTED_FILTERS"
    exc = refused(agr, "ValidationException", "SearchAgreements", filters=[acceptor, PURCHASE], catalog="Other")
    assert reason(exc) == "INVALID_CATALOG"


def test_search_agreements_sorts_and_pages_as_documented(sb: RunningSandbox) -> None:
    """[model] sort: "SortBy supports EndTime for both party types, and StartTime and LastUpdateTime only when
    PartyType is Proposer. The default SortBy value is EndTime."; sortOrder "The default value is ASCENDING.";
    nextToken: "The field is null if there are no more results." [dev guide] INVALID_SORT_BY (enum) and
    INVALID_NEXT_TOKEN: "... when request parameters have changed between paginated calls." """
    ids = [subscribe(sb, account, PRIVATE_OFFER) for account in (SRC, DST)]
    seller = sb.client("marketplace-agreement", SELLER)
    proposer = [{"name": "PartyType", "values": ["Proposer"]}, PURCHASE]

    def search(**extra: Any) -> dict[str, Any]:
        return checked(seller, "SearchAgreements", filters=proposer, **extra)

    newest_first = search(sort={"sortBy": "StartTime", "sortOrder": "DESCENDING"})["agreementViewSummaries"]
    assert [s["agreementId"] for s in newest_first] == ids[::-1]
    first = search(maxResults=1)
    assert len(first["agreementViewSummaries"]) == 1 and first["nextToken"]
    rest = search(maxResults=1, nextToken=first["nextToken"])
    assert "nextToken" not in rest
    assert [s["agreementId"] for s in first["agreementViewSummaries"] + rest["agreementViewSummaries"]] == ids
    exc = refused(
        seller,
        "ValidationException",
        "SearchAgreements",
        filters=[*proposer, {"name": "AcceptorAccountId", "values": [DST]}],
        nextToken=first["nextToken"],
    )
    assert reason(exc) == "INVALID_NEXT_TOKEN"

    buyer = sb.client("marketplace-agreement", DST)
    acceptor = [{"name": "PartyType", "values": ["Acceptor"]}, PURCHASE]
    exc = refused(buyer, "ValidationException", "SearchAgreements", filters=acceptor, sort={"sortBy": "StartTime"})
    assert reason(exc) == "INVALID_SORT_BY"
    only = checked(buyer, "SearchAgreements", filters=acceptor, sort={"sortBy": "EndTime"})["agreementViewSummaries"]
    assert [s["agreementId"] for s in only] == [ids[1]]


def test_search_shows_the_acceptor_contact_and_a_proposer_filters_by_it(sb: RunningSandbox) -> None:
    """[model] AgreementViewSummary.includesContactOfType: "ACCEPTOR indicates that the acceptor's contact
    information is on file"; filter IncludesContactOfType (a Proposer may combine any filter)."""
    contact = {
        "firstName": "Hanako",
        "lastName": "Yamada",
        "emailAddress": "hanako@example.com",
        "companyName": "Example KK",
        "countryCode": "JP",
    }
    request = create(sb, DST, **new_params(sb, DST, PRIVATE_OFFER) | {"acceptorContact": contact})
    with_contact = accept(sb, DST, request["agreementRequestId"])
    subscribe(sb, SRC, PRIVATE_OFFER)
    seller = sb.client("marketplace-agreement", SELLER)
    found = checked(
        seller,
        "SearchAgreements",
        filters=[
            {"name": "PartyType", "values": ["Proposer"]},
            PURCHASE,
            {"name": "IncludesContactOfType", "values": ["ACCEPTOR"]},
        ],
    )["agreementViewSummaries"]
    assert [(s["agreementId"], s["includesContactOfType"]) for s in found] == [(with_contact, ["ACCEPTOR"])]
