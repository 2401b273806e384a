"""Every sandbox operation through unmodified boto3 (endpoint_url), each response checked against
botocore's output shape; malformed requests get AWS-style errors botocore parses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import botocore.exceptions
import cbor2
import httpx
import pytest

from tests.support.buyer import checked, subscribe
from tests.support.sandbox_fixtures import (
    DST,
    PRIVATE_OFFER,
    PRODUCT_CODE,
    PRODUCT_ID,
    PUBLIC_OFFER,
    SELLER,
    SRC,
    RunningSandbox,
)
from tests.support.shapes import shape_errors


def test_every_operation_round_trips_through_boto3(running_sandbox: RunningSandbox) -> None:
    sb = running_sandbox
    disc = sb.client("marketplace-discovery", DST)
    options = checked(
        disc,
        "ListPurchaseOptions",
        filters=[
            {"filterType": "PRODUCT_ID", "filterValues": [PRODUCT_ID]},
            {"filterType": "PURCHASE_OPTION_TYPE", "filterValues": ["OFFER"]},
        ],
    )["purchaseOptions"]
    names = {o["purchaseOptionName"]: o for o in options}
    assert set(names) == {"Trend Micro for SaaS", "Classmethod, Inc. for SaaS 2026-01-01- Private Offer"}
    private = names["Classmethod, Inc. for SaaS 2026-01-01- Private Offer"]
    assert private["sellerOfRecord"]["displayName"] == "Classmethod, Inc."
    assert [b["badgeType"] for b in private["badges"]] == ["PRIVATE_PRICING"]

    agreement_id = subscribe(sb, DST, PRIVATE_OFFER, token="client-token-1")
    agr = sb.client("marketplace-agreement", DST)
    ents = checked(agr, "GetAgreementEntitlements", agreementId=agreement_id)["agreementEntitlements"]
    assert ents[0]["status"] == "PROVISIONED" and ents[0]["registrationToken"]

    seller_metering = sb.client("meteringmarketplace", SELLER)
    resolved = checked(seller_metering, "ResolveCustomer", RegistrationToken=ents[0]["registrationToken"])
    assert resolved["CustomerAWSAccountId"] == DST and resolved["Metadata"]["AgreementId"] == agreement_id
    assert resolved["LicenseArn"] == ents[0]["licenseArn"]

    now = datetime.now(UTC)
    batch = checked(
        seller_metering,
        "BatchMeterUsage",
        ProductCode=PRODUCT_CODE,
        UsageRecords=[
            {
                "Timestamp": now,
                "Dimension": "conformity_accounts",
                "Quantity": 3,
                "CustomerAWSAccountId": DST,
                "LicenseArn": resolved["LicenseArn"],
            },
            {
                "Timestamp": now,
                "Dimension": "network_security_gb",
                "QuantityAsDecimal": "1.25",
                "CustomerAWSAccountId": DST,
                "LicenseArn": resolved["LicenseArn"],
            },
        ],
    )
    assert [r["Status"] for r in batch["Results"]] == ["Success", "Success"]

    ent_client = sb.client("marketplace-entitlement", SELLER)
    got = checked(
        ent_client, "GetEntitlements", ProductCode=PRODUCT_CODE, Filter={"CUSTOMER_AWS_ACCOUNT_ID": [DST]}, MaxResults=4
    )
    assert len(got["Entitlements"]) == 4 and got["NextToken"]
    rest = checked(
        ent_client,
        "GetEntitlements",
        ProductCode=PRODUCT_CODE,
        Filter={"CUSTOMER_AWS_ACCOUNT_ID": [DST]},
        NextToken=got["NextToken"],
    )
    assert len(rest["Entitlements"]) == 2 and "NextToken" not in rest

    seller_agr = sb.client("marketplace-agreement", SELLER)
    described = checked(seller_agr, "DescribeAgreement", agreementId=agreement_id)
    assert described["status"] == "ACTIVE" and described["acceptor"]["accountId"] == DST
    assert described["proposalSummary"]["offerId"] == PRIVATE_OFFER
    assert checked(agr, "DescribeAgreement", agreementId=agreement_id)["agreementId"] == agreement_id
    as_seller = checked(
        seller_agr,
        "SearchAgreements",
        catalog="AWSMarketplace",
        filters=[
            {"name": "PartyType", "values": ["Proposer"]},
            {"name": "AgreementType", "values": ["PurchaseAgreement"]},
        ],
    )
    assert [s["agreementId"] for s in as_seller["agreementViewSummaries"]] == [agreement_id]
    as_buyer = checked(
        agr,
        "SearchAgreements",
        filters=[
            {"name": "PartyType", "values": ["Acceptor"]},
            {"name": "AgreementType", "values": ["PurchaseAgreement"]},
            {"name": "Status", "values": ["ACTIVE"]},
            {"name": "ResourceIdentifier", "values": [PRODUCT_ID]},
        ],
    )
    summary = as_buyer["agreementViewSummaries"][0]
    assert summary["agreementId"] == agreement_id and summary["entitlements"][0]["licenseArn"] == resolved["LicenseArn"]
    terms = checked(seller_agr, "GetAgreementTerms", agreementId=agreement_id)["acceptedTerms"]
    pricing = next(t["usageBasedPricingTerm"] for t in terms if "usageBasedPricingTerm" in t)
    assert {c["dimensionKey"] for c in pricing["rateCards"][0]["rateCard"]} >= {"conformity_accounts"}

    checked(agr, "CancelAgreement", agreementId=agreement_id)
    assert checked(agr, "DescribeAgreement", agreementId=agreement_id)["status"] == "CANCELLED"
    offer_terms = checked(disc, "GetOfferTerms", offerId=PUBLIC_OFFER)
    assert {next(iter(t)) for t in offer_terms["offerTerms"]} == {"usageBasedPricingTerm", "legalTerm", "supportTerm"}


def test_client_token_makes_create_agreement_request_idempotent(running_sandbox: RunningSandbox) -> None:
    """[model] CreateAgreementRequest.clientToken ("to ensure the idempotency of the request"); a second accept
    is ValidationException CLOSED_AGREEMENT_REQUEST (model reason enum; which status gives it is SILENT)."""
    agr = running_sandbox.client("marketplace-agreement", DST)
    disc = running_sandbox.client("marketplace-discovery", DST)
    offer = disc.get_offer(offerId=PRIVATE_OFFER)
    terms = [{"id": next(iter(t.values()))["id"]} for t in disc.get_offer_terms(offerId=PRIVATE_OFFER)["offerTerms"]]
    first = agr.create_agreement_request(
        intent="NEW", agreementProposalIdentifier=offer["agreementProposalId"], requestedTerms=terms, clientToken="same"
    )
    again = agr.create_agreement_request(
        intent="NEW", agreementProposalIdentifier=offer["agreementProposalId"], requestedTerms=terms, clientToken="same"
    )
    assert first["agreementRequestId"] == again["agreementRequestId"]
    agr.accept_agreement_request(agreementRequestId=first["agreementRequestId"])
    with pytest.raises(agr.exceptions.ValidationException, match="already ACCEPTED"):
        agr.accept_agreement_request(agreementRequestId=first["agreementRequestId"])
    assert len(running_sandbox.control("GET", "agreements", params={"account_id": DST})) == 1


def _raw(sb: RunningSandbox, target: str, body: bytes, version: str = "1.1", account: str = SELLER) -> httpx.Response:
    return httpx.post(
        sb.url,
        content=body,
        headers={
            "X-Amz-Target": target,
            "Content-Type": f"application/x-amz-json-{version}",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIA{account}/20261127/us-east-1/aws-marketplace/x",
        },
    )


def test_malformed_json_is_a_serialization_error(running_sandbox: RunningSandbox) -> None:
    r = _raw(running_sandbox, "AWSMPMeteringService.ResolveCustomer", b"{not json")
    assert r.status_code == 400 and r.json()["__type"] == "SerializationException"


def test_unknown_operation(running_sandbox: RunningSandbox) -> None:
    r = _raw(running_sandbox, "AWSMPMeteringService.Frobnicate", b"{}")
    assert r.status_code == 400 and r.json()["__type"] == "UnknownOperationException"
    r = _raw(running_sandbox, "NoSuchService.ResolveCustomer", b"{}")
    assert r.status_code == 400 and r.json()["__type"] == "UnknownOperationException"


def test_missing_required_member_through_botocore(running_sandbox: RunningSandbox) -> None:
    """botocore validates client-side by default; with validation off the sandbox itself refuses."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "meteringmarketplace",
        endpoint_url=running_sandbox.url,
        region_name="us-east-1",
        aws_access_key_id=f"AKIA{SELLER}",
        aws_secret_access_key="x",
        config=Config(parameter_validation=False),
    )
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client.resolve_customer()
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "'registrationToken'" in exc.value.response["Error"]["Message"]  # AWS names members lowerCamel
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client.batch_meter_usage(ProductCode=PRODUCT_CODE, UsageRecords=[{"Dimension": "x", "Quantity": "three"}])
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_bad_credentials(running_sandbox: RunningSandbox) -> None:
    import boto3

    client = boto3.client(
        "meteringmarketplace",
        endpoint_url=running_sandbox.url,
        region_name="us-east-1",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="x",
    )
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client.resolve_customer(RegistrationToken="t")
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"
    r = httpx.post(running_sandbox.url, content=b"{}", headers={"X-Amz-Target": "AWSMPMeteringService.ResolveCustomer"})
    assert r.status_code == 403 and r.json()["__type"] == "MissingAuthenticationTokenException"


def _cbor(sb: RunningSandbox, service: str, op: str, body: bytes, account: str = DST) -> httpx.Response:
    return httpx.post(
        f"{sb.url}/service/{service}/operation/{op}",
        content=body,
        headers={
            "smithy-protocol": "rpc-v2-cbor",
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIA{account}/20261127/us-east-1/aws-marketplace/x",
        },
    )


def test_cbor_protocol(running_sandbox: RunningSandbox) -> None:
    agreement_id = subscribe(running_sandbox, DST, PRIVATE_OFFER)
    svc = "AWSMPCommerceService_v20200301"
    r = _cbor(running_sandbox, svc, "DescribeAgreement", cbor2.dumps({"agreementId": agreement_id}))
    assert r.status_code == 200 and r.headers["smithy-protocol"] == "rpc-v2-cbor"
    body = cbor2.loads(r.content)
    assert body["agreementId"] == agreement_id and isinstance(body["acceptanceTime"], datetime)
    from botocore.session import get_session

    op = get_session().get_service_model("marketplace-agreement").operation_model("DescribeAgreement")
    assert shape_errors(body, op.output_shape) == []
    bad = _cbor(running_sandbox, svc, "DescribeAgreement", b"\xff\x00garbage")
    assert bad.status_code == 400 and cbor2.loads(bad.content)["__type"] == "SerializationException"
    missing = _cbor(running_sandbox, svc, "DescribeAgreement", cbor2.dumps({}))
    assert missing.status_code == 400 and cbor2.loads(missing.content)["__type"] == "ValidationException"
    unknown = _cbor(running_sandbox, svc, "Frobnicate", cbor2.dumps({}))
    assert cbor2.loads(unknown.content)["__type"] == "UnknownOperationException"
    ent = _cbor(
        running_sandbox,
        "AWSMPEntitlementService",
        "GetEntitlements",
        cbor2.dumps({"ProductCode": PRODUCT_CODE}),
        account=SELLER,
    )
    assert ent.status_code == 200 and len(cbor2.loads(ent.content)["Entitlements"]) == 6


def test_rest_json_errors(running_sandbox: RunningSandbox) -> None:
    disc = running_sandbox.client("marketplace-discovery", SRC)
    with pytest.raises(disc.exceptions.ResourceNotFoundException):
        disc.get_offer(offerId="offer-nope")
    r = httpx.post(
        f"{running_sandbox.url}/2026-02-05/getOffer",
        content=b"[1,",
        headers={"Authorization": f"AWS4-HMAC-SHA256 Credential=AKIA{SRC}/x/us-east-1/aws-marketplace/x"},
    )
    assert r.status_code == 400 and r.headers["x-amzn-ErrorType"] == "SerializationException"


def test_control_api(running_sandbox: RunningSandbox) -> None:
    catalog = running_sandbox.control("GET", "catalog")
    assert catalog["seller_account_id"] == SELLER and catalog["buyer_accounts"] == [SRC, DST]
    offers = catalog["products"][0]["offers"]
    assert {o["offer_id"]: o["private"] for o in offers} == {PUBLIC_OFFER: False, PRIVATE_OFFER: True}
    assert running_sandbox.control("GET", "agreements") == []
    with pytest.raises(httpx.HTTPStatusError):
        running_sandbox.control("POST", "faults", json={"throttle_pct": 150})
    with pytest.raises(httpx.HTTPStatusError):
        running_sandbox.control("POST", "faults", json={"bogus": 1})
    with pytest.raises(httpx.HTTPStatusError):
        running_sandbox.control("POST", "clock", json={"advance_seconds": -5})
    assert running_sandbox.control("GET", "faults")["throttle_pct"] == 0
    moved = running_sandbox.control("POST", "clock", json={"advance_seconds": 3600})
    assert moved["offset_seconds"] == 3600
    assert (
        json.loads(json.dumps(running_sandbox.control("GET", "metering", params={"product_code": PRODUCT_CODE}))) == []
    )
