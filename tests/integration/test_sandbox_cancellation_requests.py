"""The agreement cancellation-request flow, through unmodified boto3 against the running sandbox: the seller
(the proposer) sends, lists, reads and withdraws requests; the buyer (the acceptor) approves or rejects them; a
request left unanswered is approved after 7 days; and the seller gets the documented EventBridge events.

Sources: the operations' documentation in botocore's marketplace-agreement model (2020-03-01); the developer
guide's "Using the AWS Marketplace Agreement API" (https://docs.aws.amazon.com/marketplace/latest/developerguide/
agreement-apis.html); the seller guide's "Events for cancellations"
(https://docs.aws.amazon.com/marketplace/latest/userguide/notifications-eventbridge.html#events-for-cancellations);
the buyer guide's "Cancellation and billing adjustment events"
(https://docs.aws.amazon.com/marketplace/latest/buyerguide/cancellation-adjustment-eventbridge.html).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from mplink.sandbox.catalog import seed_catalog
from mplink.sandbox.server import build_sandbox
from tests.support.buyer import checked, subscribe
from tests.support.sandbox_fixtures import (
    DST,
    PRIVATE_OFFER,
    PUBLIC_OFFER,
    SELLER,
    SRC,
    RunningSandbox,
    immediate_provisioning,
)
from tests.support.servers import serve_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aws" / "events"
#: the channel partner that proposed the seed catalog's private offer (a CPPO); the ISV (SELLER) only makes it
PARTNER = "888888888888"
SEVEN_DAYS = 7 * 24 * 3600
EVENT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def agreement_client(sb: RunningSandbox, account: str) -> Any:
    return sb.client("marketplace-agreement", account)


def send(sb: RunningSandbox, account: str, agreement_id: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"agreementId": agreement_id, "reasonCode": "INCORRECT_TERMS_ACCEPTED", **extra}
    return checked(agreement_client(sb, account), "SendAgreementCancellationRequest", **params)


def ids(cr: dict[str, Any]) -> dict[str, str]:
    return {"agreementId": cr["agreementId"], "agreementCancellationRequestId": cr["agreementCancellationRequestId"]}


def aws_error(call: Callable[[], Any]) -> tuple[str, int, str]:
    """Run a call that must fail; its error code, HTTP status and message."""
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        call()
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"].get("Message", "")


def events(sb: RunningSandbox, prefix: str = "") -> list[dict[str, Any]]:
    """The EventBridge events the sandbox sent the seller so far, in order."""
    return [e["event"] for e in sb.control("GET", "events") if e["event"]["detail-type"].startswith(prefix)]


def cancellation_events(sb: RunningSandbox) -> list[dict[str, Any]]:
    return events(sb, "Agreement Cancellation Request")


def event_time(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def advance(sb: RunningSandbox, seconds: float) -> None:
    sb.control("POST", "clock", json={"advance_seconds": seconds})


def test_seller_sends_buyer_approves_and_the_agreement_ends(running_sandbox: RunningSandbox) -> None:
    """[model] SendAgreementCancellationRequest: "The cancellation request is created in PENDING_APPROVAL status";
    AcceptAgreementCancellationRequest: "Once accepted, the cancellation request transitions to APPROVED status and
    the agreement cancellation will be processed"; [dev guide agreement-apis] "the agreement status changes to
    cancelled" (DescribeAgreement: "CANCELLED – The acceptor ended the agreement before the defined end date")."""
    sb = running_sandbox
    agreement_id = subscribe(sb, DST, PUBLIC_OFFER)
    seller, buyer = agreement_client(sb, SELLER), agreement_client(sb, DST)

    sent = send(sb, SELLER, agreement_id, description="The terms accepted in agreement had wrong rate")
    assert sent["status"] == "PENDING_APPROVAL"
    assert sent["agreementId"] == agreement_id and sent["reasonCode"] == "INCORRECT_TERMS_ACCEPTED"
    assert sent["description"] == "The terms accepted in agreement had wrong rate"
    assert re.fullmatch(r"acr-[a-zA-Z0-9]+", sent["agreementCancellationRequestId"])
    assert sent["createdAt"] == sent["updatedAt"]

    # both parties see it, each under its own party type
    for client in (seller, buyer):
        got = checked(client, "GetAgreementCancellationRequest", **ids(sent))
        assert {k: got[k] for k in ("status", "reasonCode", "description")} == {
            "status": "PENDING_APPROVAL",
            "reasonCode": "INCORRECT_TERMS_ACCEPTED",
            "description": sent["description"],
        }
        assert "statusMessage" not in got  # nothing to say yet; the model's statusMessage has min length 1
    for client, party in ((seller, "Proposer"), (buyer, "Acceptor")):
        listed = checked(client, "ListAgreementCancellationRequests", partyType=party)["items"]
        assert [i["agreementCancellationRequestId"] for i in listed] == [sent["agreementCancellationRequestId"]]
        assert listed[0]["agreementType"] == "PurchaseAgreement" and listed[0]["catalog"] == "AWSMarketplace"
    assert checked(agreement_client(sb, SELLER), "DescribeAgreement", agreementId=agreement_id)["status"] == "ACTIVE"

    accepted = checked(buyer, "AcceptAgreementCancellationRequest", **ids(sent))
    assert accepted["status"] == "APPROVED"
    assert accepted["createdAt"] == sent["createdAt"] and accepted["updatedAt"] >= sent["updatedAt"]
    assert checked(seller, "GetAgreementCancellationRequest", **ids(sent))["status"] == "APPROVED"

    described = checked(buyer, "DescribeAgreement", agreementId=agreement_id)
    assert described["status"] == "CANCELLED"
    assert described["endTime"] == accepted["updatedAt"]

    kinds = [e["detail-type"] for e in events(sb) if "Cancellation" in e["detail-type"] or "Ended" in e["detail-type"]]
    assert kinds[:2] == [
        "Agreement Cancellation Request Pending Approval - Proposer",
        "Agreement Cancellation Request Approved - Proposer",
    ]
    ended = [e for e in events(sb, "Purchase Agreement Ended") if e["detail"]["agreement"]["id"] == agreement_id]
    assert ended and all(e["detail"]["agreement"]["status"] == "CANCELLED" for e in ended)
    approved = cancellation_events(sb)[1]["detail"]
    assert approved["agreement"] == {
        "id": agreement_id,
        "acceptorId": DST,
        "productId": described["proposalSummary"]["resources"][0]["id"],
        "offerId": PUBLIC_OFFER,
    }
    assert approved["agreementCancellationRequest"]["reasonMessage"] == sent["description"]
    assert approved["agreementCancellationRequest"]["createdAt"] == event_time(sent["createdAt"])


def test_buyer_rejects_and_the_agreement_stays_active(running_sandbox: RunningSandbox) -> None:
    """[model] RejectAgreementCancellationRequest: "Once rejected, the cancellation request transitions to REJECTED
    status and the agreement remains active"; the rejection reason "is visible to the seller" (statusMessage:
    "The rejection reason provided by the buyer."). [dev guide agreement-apis] "If rejected, the agreement remains
    active and the seller can submit a new cancellation request." """
    sb = running_sandbox
    agreement_id = subscribe(sb, DST, PUBLIC_OFFER)
    sent = send(sb, SELLER, agreement_id)
    assert "description" not in sent
    rejected = checked(
        agreement_client(sb, DST),
        "RejectAgreementCancellationRequest",
        rejectionReason="We still need this product",
        **ids(sent),
    )
    assert rejected["status"] == "REJECTED" and rejected["statusMessage"] == "We still need this product"
    got = checked(agreement_client(sb, SELLER), "GetAgreementCancellationRequest", **ids(sent))
    assert got["status"] == "REJECTED" and got["statusMessage"] == "We still need this product"
    assert agreement_client(sb, DST).describe_agreement(agreementId=agreement_id)["status"] == "ACTIVE"

    again = send(sb, SELLER, agreement_id, reasonCode="OTHER")
    assert again["status"] == "PENDING_APPROVAL"
    assert again["agreementCancellationRequestId"] != sent["agreementCancellationRequestId"]
    rejected_event = cancellation_events(sb)[1]
    assert rejected_event["detail-type"] == "Agreement Cancellation Request Rejected - Proposer"
    assert rejected_event["detail"]["agreementCancellationRequest"]["statusMessage"] == "We still need this product"
    assert rejected_event["detail"]["agreementCancellationRequest"]["reasonMessage"] == ""
    assert not events(sb, "Purchase Agreement Ended")


def test_seller_withdraws_a_waiting_request(running_sandbox: RunningSandbox) -> None:
    """[model] CancelAgreementCancellationRequest: "Once cancelled, the cancellation request transitions to
    CANCELLED status and can no longer be approved or rejected by the buyer"; its output status "is CANCELLED"."""
    sb = running_sandbox
    agreement_id = subscribe(sb, DST, PUBLIC_OFFER)
    sent = send(sb, SELLER, agreement_id, description="Sent by mistake")
    withdrawn = checked(
        agreement_client(sb, SELLER),
        "CancelAgreementCancellationRequest",
        cancellationReason="Seller withdrew the request",
        **ids(sent),
    )
    assert withdrawn["status"] == "CANCELLED" and withdrawn["statusMessage"] == "Seller withdrew the request"
    assert withdrawn["description"] == "Sent by mistake"
    buyer = agreement_client(sb, DST)
    got = checked(buyer, "GetAgreementCancellationRequest", **ids(sent))
    assert got["status"] == "CANCELLED" and got["statusMessage"] == "Seller withdrew the request"
    assert buyer.describe_agreement(agreementId=agreement_id)["status"] == "ACTIVE"
    assert [e["detail-type"] for e in cancellation_events(sb)] == [
        "Agreement Cancellation Request Pending Approval - Proposer",
        "Agreement Cancellation Request Cancelled - Proposer",
    ]


def test_unanswered_request_is_approved_after_seven_days(running_sandbox: RunningSandbox) -> None:
    """[buyer guide cancellation-adjustment-eventbridge] "You have 7 days to approve or deny the request. If you
    don't respond, the cancellation is automatically approved." [seller guide events-for-cancellations]
    "Agreement Cancellation Request Approved - Proposer. This event is sent when the buyer approves your
    cancellation request or when it is auto-approved after 7 days." (No separate auto-approved detail-type.)"""
    sb = running_sandbox
    agreement_id = subscribe(sb, DST, PUBLIC_OFFER)
    sent = send(sb, SELLER, agreement_id)
    seller = agreement_client(sb, SELLER)

    advance(sb, SEVEN_DAYS - 60)
    assert checked(seller, "GetAgreementCancellationRequest", **ids(sent))["status"] == "PENDING_APPROVAL"
    assert seller.describe_agreement(agreementId=agreement_id)["status"] == "ACTIVE"

    advance(sb, 120)
    got = checked(seller, "GetAgreementCancellationRequest", **ids(sent))
    assert got["status"] == "APPROVED"
    # approved when it fell due, 168 hours after it was sent (to the microsecond botocore's float times keep)
    assert abs(got["updatedAt"] - got["createdAt"] - timedelta(days=7)) <= timedelta(microseconds=1)
    described = seller.describe_agreement(agreementId=agreement_id)
    assert described["status"] == "CANCELLED" and described["endTime"] == got["updatedAt"]
    assert [e["detail-type"] for e in cancellation_events(sb)] == [
        "Agreement Cancellation Request Pending Approval - Proposer",
        "Agreement Cancellation Request Approved - Proposer",
    ]
    assert [e["detail"]["agreement"]["status"] for e in events(sb, "Purchase Agreement Ended")][:1] == ["CANCELLED"]
    # the buyer can no longer answer it
    code, status, _ = aws_error(lambda: agreement_client(sb, DST).accept_agreement_cancellation_request(**ids(sent)))
    assert (code, status) == ("ConflictException", 409)


def _settle(sb: RunningSandbox, final: str, account: str = DST) -> tuple[dict[str, Any], str]:
    """A cancellation request on a new agreement of ``account`` brought to ``final``; with its agreement id."""
    agreement_id = subscribe(sb, account, PUBLIC_OFFER)
    sent = send(sb, SELLER, agreement_id)
    seller, buyer = agreement_client(sb, SELLER), agreement_client(sb, account)
    if final == "APPROVED":
        buyer.accept_agreement_cancellation_request(**ids(sent))
    elif final == "REJECTED":
        buyer.reject_agreement_cancellation_request(rejectionReason="no", **ids(sent))
    elif final == "CANCELLED":
        seller.cancel_agreement_cancellation_request(cancellationReason="withdrawn", **ids(sent))
    elif final == "VALIDATION_FAILED":
        # the buyer ends the agreement itself while the request waits: the request can no longer be carried out
        buyer.cancel_agreement(agreementId=agreement_id)
    assert seller.get_agreement_cancellation_request(**ids(sent))["status"] == final
    return sent, agreement_id


@pytest.mark.parametrize("final", ["APPROVED", "REJECTED", "CANCELLED", "VALIDATION_FAILED"])
def test_only_a_waiting_request_can_be_answered_or_withdrawn(running_sandbox: RunningSandbox, final: str) -> None:
    """[model] Accept/Reject/CancelAgreementCancellationRequest: "Only cancellation requests in PENDING_APPROVAL
    status can be accepted/rejected/cancelled. A ConflictException is thrown if the cancellation request is in any
    other status." (ConflictException is HTTP 409 in the model.)"""
    sb = running_sandbox
    sent, _ = _settle(sb, final)
    seller, buyer = agreement_client(sb, SELLER), agreement_client(sb, DST)
    attempts: dict[str, Callable[[], Any]] = {
        "accept": lambda: buyer.accept_agreement_cancellation_request(**ids(sent)),
        "reject": lambda: buyer.reject_agreement_cancellation_request(rejectionReason="no", **ids(sent)),
        "cancel": lambda: seller.cancel_agreement_cancellation_request(cancellationReason="x", **ids(sent)),
    }
    for action, attempt in attempts.items():
        code, status, message = aws_error(attempt)
        assert (code, status) == ("ConflictException", 409), action
        assert final in message and sent["agreementCancellationRequestId"] in message
    assert seller.get_agreement_cancellation_request(**ids(sent))["status"] == final


def test_validation_fails_when_the_agreement_ended_another_way(running_sandbox: RunningSandbox) -> None:
    """[seller guide events-for-cancellations] "Agreement Cancellation Request Validation Failed - Proposer. This
    event is sent only to the seller when an async validation fails after submission." What AWS validates is not
    listed; the sandbox fails a waiting request whose agreement the buyer cancelled meanwhile."""
    sb = running_sandbox
    sent, _ = _settle(sb, "VALIDATION_FAILED")
    got = checked(agreement_client(sb, DST), "GetAgreementCancellationRequest", **ids(sent))
    assert got["statusMessage"]
    last = cancellation_events(sb)[-1]
    assert last["detail-type"] == "Agreement Cancellation Request Validation Failed - Proposer"
    assert last["detail"]["agreementCancellationRequest"]["statusCode"] == "VALIDATION_FAILED"
    assert last["detail"]["agreementCancellationRequest"]["statusMessage"] == got["statusMessage"]
    # no approval followed: the agreement ended once, by the buyer
    assert len(events(sb, "Purchase Agreement Ended - Proposer")) == 1


def test_send_needs_an_active_agreement_and_no_waiting_request(running_sandbox: RunningSandbox) -> None:
    """[model] Send is "for an active agreement" (ValidationException reason INACTIVE_AGREEMENT in the model's
    enum); a second request while one waits for the buyer is a ConflictException (AWS does not say; the Conflict
    error is in the operation's model)."""
    sb = running_sandbox
    agreement_id = subscribe(sb, DST, PUBLIC_OFFER)
    first = send(sb, SELLER, agreement_id)
    code, status, message = aws_error(lambda: send(sb, SELLER, agreement_id))
    assert (code, status) == ("ConflictException", 409) and first["agreementCancellationRequestId"] in message

    ended = subscribe(sb, SRC, PUBLIC_OFFER)
    agreement_client(sb, SRC).cancel_agreement(agreementId=ended)
    code, status, message = aws_error(lambda: send(sb, SELLER, ended))
    assert (code, status) == ("ValidationException", 400) and "INACTIVE_AGREEMENT" in message


def test_client_token_makes_send_idempotent(running_sandbox: RunningSandbox) -> None:
    """[model] clientToken: "A unique, case-sensitive identifier that you provide to ensure the idempotency of the
    request." The same token with the same members returns the first request; with other members the sandbox
    answers ConflictException (AWS does not say which error)."""
    sb = running_sandbox
    agreement_id = subscribe(sb, DST, PUBLIC_OFFER)
    first = send(sb, SELLER, agreement_id, clientToken="retry-1", description="d")
    again = send(sb, SELLER, agreement_id, clientToken="retry-1", description="d")
    assert {k: v for k, v in again.items() if k != "ResponseMetadata"} == {
        k: v for k, v in first.items() if k != "ResponseMetadata"
    }
    code, status, _ = aws_error(lambda: send(sb, SELLER, agreement_id, clientToken="retry-1", reasonCode="OTHER"))
    assert (code, status) == ("ConflictException", 409)
    items = agreement_client(sb, SELLER).list_agreement_cancellation_requests(partyType="Proposer")["items"]
    assert len(items) == 1


def test_each_party_acts_only_on_its_side_and_others_see_nothing(running_sandbox: RunningSandbox) -> None:
    """[dev guide agreement-apis, error codes] ResourceNotFoundException for an AgreementCancellationRequest: "No
    agreement cancellation request found for the given identifier. / The caller is neither the acceptor nor the
    proposer of the agreement associated with the cancellation request." "For security reasons, the same error is
    returned whether a resource does not exist or the caller does not have access to it." [model] Send and Cancel
    are for "sellers (proposers)", Accept and Reject for "buyers (acceptors)"; a party calling the other side's
    operation gets AccessDeniedException (the sandbox's choice: AWS does not say)."""
    sb = running_sandbox
    agreement_id = subscribe(sb, DST, PUBLIC_OFFER)
    sent = send(sb, SELLER, agreement_id)
    seller, buyer, stranger = (agreement_client(sb, a) for a in (SELLER, DST, SRC))
    other_agreement = subscribe(sb, SRC, PUBLIC_OFFER)
    missing = {"agreementId": agreement_id, "agreementCancellationRequestId": "acr-doesnotexist"}
    wrong_agreement = {**ids(sent), "agreementId": other_agreement}

    not_found: list[Callable[[], Any]] = [
        lambda: stranger.get_agreement_cancellation_request(**ids(sent)),
        lambda: stranger.accept_agreement_cancellation_request(**ids(sent)),
        lambda: stranger.reject_agreement_cancellation_request(rejectionReason="no", **ids(sent)),
        lambda: stranger.cancel_agreement_cancellation_request(cancellationReason="x", **ids(sent)),
        lambda: seller.get_agreement_cancellation_request(**missing),
        lambda: buyer.accept_agreement_cancellation_request(**missing),
        lambda: seller.get_agreement_cancellation_request(**wrong_agreement),
        lambda: stranger.accept_agreement_cancellation_request(**wrong_agreement),
        lambda: stranger.send_agreement_cancellation_request(agreementId=agreement_id, reasonCode="OTHER"),
        lambda: seller.send_agreement_cancellation_request(agreementId="agmt-unknown", reasonCode="OTHER"),
    ]
    for i, call in enumerate(not_found):
        assert aws_error(call)[:2] == ("ResourceNotFoundException", 404), i

    denied: list[Callable[[], Any]] = [
        lambda: buyer.send_agreement_cancellation_request(agreementId=agreement_id, reasonCode="OTHER"),
        lambda: buyer.cancel_agreement_cancellation_request(cancellationReason="x", **ids(sent)),
        lambda: seller.accept_agreement_cancellation_request(**ids(sent)),
        lambda: seller.reject_agreement_cancellation_request(rejectionReason="no", **ids(sent)),
    ]
    for i, call in enumerate(denied):
        code, status, message = aws_error(call)
        assert (code, status) == ("AccessDeniedException", 403), i
        assert "INVALID_ACCESS" in message

    assert stranger.list_agreement_cancellation_requests(partyType="Acceptor")["items"] == []
    assert stranger.list_agreement_cancellation_requests(partyType="Proposer")["items"] == []
    assert buyer.list_agreement_cancellation_requests(partyType="Proposer")["items"] == []
    assert seller.list_agreement_cancellation_requests(partyType="Acceptor")["items"] == []
    assert seller.get_agreement_cancellation_request(**ids(sent))["status"] == "PENDING_APPROVAL"


def test_channel_partner_offer_only_the_partner_sends(running_sandbox: RunningSandbox) -> None:
    """CPPO: the channel partner proposed the offer, the ISV only makes the product. [model] Send is for "sellers
    (proposers)", and Get for "sellers (proposers) and buyers (acceptors)"; the developer guide's
    ResourceNotFound scenario covers a caller who is "neither the acceptor nor the proposer". [seller guide
    events-for-cancellations] ISVs in a CPPO get Manufacturer detail types; AWS prints neither their names nor an
    example, so the sandbox sends the ISV the Proposer example's detail under ``- Manufacturer``."""
    sb = running_sandbox
    agreement_id = subscribe(sb, DST, PRIVATE_OFFER)
    isv, partner, buyer = (agreement_client(sb, a) for a in (SELLER, PARTNER, DST))

    code, status, _ = aws_error(
        lambda: isv.send_agreement_cancellation_request(agreementId=agreement_id, reasonCode="OTHER")
    )
    assert (code, status) == ("AccessDeniedException", 403)
    sent = send(sb, PARTNER, agreement_id)
    assert aws_error(lambda: isv.get_agreement_cancellation_request(**ids(sent)))[:2] == (
        "ResourceNotFoundException",
        404,
    )
    assert isv.list_agreement_cancellation_requests(partyType="Proposer")["items"] == []
    assert [i["agreementId"] for i in partner.list_agreement_cancellation_requests(partyType="Proposer")["items"]] == [
        agreement_id
    ]
    checked(buyer, "AcceptAgreementCancellationRequest", **ids(sent))
    assert isv.describe_agreement(agreementId=agreement_id)["status"] == "CANCELLED"
    assert [e["detail-type"] for e in cancellation_events(sb)] == [
        "Agreement Cancellation Request Pending Approval - Manufacturer",
        "Agreement Cancellation Request Approved - Manufacturer",
    ]


def test_list_filters_and_pages(running_sandbox: RunningSandbox) -> None:
    """[model] ListAgreementCancellationRequests: "PartyType is a required parameter"; agreementId, status,
    agreementType and catalog are optional filters; maxResults 1..50 and nextToken page the items. The dev guide
    lists INVALID_PARTY_TYPE for a party type other than Proposer or Acceptor."""
    sb = running_sandbox
    first_agreement = subscribe(sb, DST, PUBLIC_OFFER)
    second_agreement = subscribe(sb, SRC, PUBLIC_OFFER)
    rejected = send(sb, SELLER, first_agreement)
    agreement_client(sb, DST).reject_agreement_cancellation_request(rejectionReason="no", **ids(rejected))
    waiting = send(sb, SELLER, first_agreement)
    other = send(sb, SELLER, second_agreement)
    seller = agreement_client(sb, SELLER)

    pages, token = [], None
    while True:
        kwargs: dict[str, Any] = {"partyType": "Proposer", "maxResults": 1}
        if token:
            kwargs["nextToken"] = token
        page = checked(seller, "ListAgreementCancellationRequests", **kwargs)
        pages.append([i["agreementCancellationRequestId"] for i in page["items"]])
        token = page.get("nextToken")
        if not token:
            break
    all_ids = [cr["agreementCancellationRequestId"] for cr in (rejected, waiting, other)]
    assert pages == [[i] for i in all_ids]

    def listed(**filters: Any) -> list[str]:
        items = checked(seller, "ListAgreementCancellationRequests", partyType="Proposer", **filters)["items"]
        return [i["agreementCancellationRequestId"] for i in items]

    assert listed(agreementId=first_agreement) == all_ids[:2]
    assert listed(status="PENDING_APPROVAL") == all_ids[1:]
    assert listed(status="REJECTED", agreementId=first_agreement) == all_ids[:1]
    assert listed(agreementType="PurchaseAgreement", catalog="AWSMarketplace") == all_ids
    assert listed(catalog="OtherCatalog") == []
    assert [
        i["agreementCancellationRequestId"]
        for i in agreement_client(sb, SRC).list_agreement_cancellation_requests(partyType="Acceptor")["items"]
    ] == [other["agreementCancellationRequestId"]]
    code, status, message = aws_error(lambda: seller.list_agreement_cancellation_requests(partyType="Seller"))
    assert (code, status) == ("ValidationException", 400) and "INVALID_PARTY_TYPE" in message


def _structure(value: Any) -> Any:
    """Keys (in order) and value types, recursively: what must match between an event and AWS's example."""
    if isinstance(value, dict):
        return [(k, _structure(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_structure(v) for v in value]
    return type(value).__name__


def test_events_have_the_documented_shapes(running_sandbox: RunningSandbox) -> None:
    """Every cancellation-request event equals, key for key and in order, AWS's example in the seller guide's
    "Events for cancellations" (https://docs.aws.amazon.com/marketplace/latest/userguide/notifications-eventbridge.html
    #events-for-cancellations; fixtures in tests/fixtures/aws/events, provenance in SOURCES.md): flat agreement ids,
    unused messages as "", times as YYYY-MM-DDTHH:MM:SSZ, and ``"resources": []``."""
    sb = running_sandbox
    # APPROVED and VALIDATION_FAILED end the account's agreement, so it can subscribe again
    for final, account in (("APPROVED", DST), ("VALIDATION_FAILED", DST), ("REJECTED", DST), ("CANCELLED", SRC)):
        _settle(sb, final, account)
    sent: dict[str, dict[str, Any]] = {}
    for e in cancellation_events(sb):
        sent.setdefault(e["detail-type"], e)
    for name in ("pending-approval", "approved", "rejected", "cancelled", "validation-failed"):
        fixture = json.loads((FIXTURES / f"cancellation-request-{name}-proposer.json").read_text())
        event = sent.pop(fixture["detail-type"])
        assert _structure(event) == _structure(fixture), name
        assert event["resources"] == [] and event["source"] == "aws.agreement-marketplace"
        cr = event["detail"]["agreementCancellationRequest"]
        assert cr["statusCode"] == fixture["detail"]["agreementCancellationRequest"]["statusCode"]
        for t in (event["time"], cr["createdAt"], cr["updatedAt"]):
            assert EVENT_TIME.match(t), t
    assert sent == {}  # no detail-type beyond the documented five


def test_requests_survive_a_restart(tmp_path: Path) -> None:
    """A restarted sandbox (same --state file) still knows its cancellation requests, and still approves a waiting
    one when its 7 days are up (buyer guide cancellation-adjustment-eventbridge: "If you don't respond, the
    cancellation is automatically approved")."""
    state = tmp_path / "sandbox.db"
    box = build_sandbox(seed_catalog(), state, immediate_provisioning())
    try:
        with serve_app(box.app) as url:
            sb = RunningSandbox(box, url)
            agreement_id = subscribe(sb, DST, PUBLIC_OFFER)
            sent = send(sb, SELLER, agreement_id, description="kept")
    finally:
        box.close()
    box = build_sandbox(seed_catalog(), state, immediate_provisioning())
    try:
        with serve_app(box.app) as url:
            sb = RunningSandbox(box, url)
            seller = agreement_client(sb, SELLER)
            kept = checked(seller, "GetAgreementCancellationRequest", **ids(sent))
            assert {k: kept[k] for k in sent if k != "ResponseMetadata"} == {
                k: v for k, v in sent.items() if k != "ResponseMetadata"
            }
            advance(sb, SEVEN_DAYS)
            assert seller.get_agreement_cancellation_request(**ids(sent))["status"] == "APPROVED"
    finally:
        box.close()
