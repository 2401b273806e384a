"""Each operation of botocore's installed models answers as its model declares: a success that validates against
the output shape, or one of the errors the operation declares, with the model's HTTP status, the exception's
members and an ``x-amzn-RequestId``. Operations the sandbox does not answer yet are listed in conftest.py's
NOT_IMPLEMENTED (strict xfail).

Source: botocore's service models (each operation's ``output`` and ``errors``; each exception's
``error.httpStatusCode``, ``fault`` and members). Where AWS's API Reference pages give another status for the
agreement service's errors (400 for AccessDenied, Conflict, ResourceNotFound, Throttling), the model's is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mplink.sandbox import protocol
from mplink.sandbox.errors import SandboxError
from tests.support.model_cases import (
    account_for,
    call,
    decode,
    encode,
    error_problems,
    modelled_status,
    operation,
    operations,
    post,
    protocols_of,
    raw_error_problems,
    request,
    request_id_problems,
    service_model,
)
from tests.support.sandbox_fixtures import DST, PRODUCT_CODE, PUBLIC_OFFER, SELLER, SRC, RunningSandbox
from tests.support.shapes import shape_errors

OPS = operations()
IDS = [f"{s}.{o}" for s, o in OPS]
SERVICES = ("meteringmarketplace", "marketplace-entitlement", "marketplace-agreement", "marketplace-discovery")


@pytest.mark.fidelity_answer
@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_the_smallest_valid_request_gets_an_answer_the_model_declares(
    op: tuple[str, str], running_sandbox: RunningSandbox, model_client: Callable[[str, str], Any]
) -> None:
    """botocore's model: the request holds the operation's required members with valid values; the answer is a
    success matching the output shape or an error the operation declares, with its modelled members."""
    service, name = op
    response = call(model_client(service, account_for(service, SELLER, DST)), name, request(service, name))
    if "Error" in response:
        assert error_problems(service, name, response) == []
    else:
        assert shape_errors(response, operation(service, name).output_shape) == []
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert request_id_problems(response) == []


CBOR_OPS = [op for op in OPS if "smithy-rpc-v2-cbor" in protocols_of(op[0])]


@pytest.mark.fidelity_answer
@pytest.mark.parametrize("op", CBOR_OPS, ids=[f"{s}.{o}" for s, o in CBOR_OPS])
def test_the_smallest_valid_request_over_cbor(op: tuple[str, str], running_sandbox: RunningSandbox) -> None:
    """The same over Smithy RPC v2 CBOR, which the agreement and entitlement models also list."""
    service, name = op
    body = encode(request(service, name), "smithy-rpc-v2-cbor")
    response = post(running_sandbox.url, service, name, body, account_for(service, SELLER, DST), "smithy-rpc-v2-cbor")
    assert response.headers["smithy-protocol"] == "rpc-v2-cbor"
    answer = decode(response)
    if response.status_code == 200:
        assert shape_errors(answer, operation(service, name).output_shape) == []
    else:
        declared = {e.name for e in operation(service, name).error_shapes}
        assert answer.get("__type") in declared, answer
        assert raw_error_problems(service, response, answer["__type"]) == []


EXCEPTIONS = [
    (service, name)
    for service in SERVICES
    for name in service_model(service).shape_names
    if service_model(service).shape_for(name).metadata.get("exception")
]


@pytest.mark.parametrize("exception", EXCEPTIONS, ids=[f"{s}.{e}" for s, e in EXCEPTIONS])
def test_every_modelled_exception_has_the_models_http_status(exception: tuple[str, str]) -> None:
    """botocore's model: each exception's ``error.httpStatusCode`` (ThrottlingException is 429 in the agreement and
    discovery models); where the model gives none (metering, entitlement), AWS JSON's default: 500 for a shape the
    model marks ``fault``, else 400 (as the API Reference's Errors sections list them)."""
    service, code = exception
    assert protocol.error_status(service, SandboxError(code, "m")) == modelled_status(service, code)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("fault", ["throttle_pct", "error_pct"])
def test_injected_faults_answer_the_modelled_errors(
    service: str, fault: str, running_sandbox: RunningSandbox, model_client: Callable[[str, str], Any]
) -> None:
    """botocore's model: ThrottlingException (429 for agreement and discovery, 400 for metering and entitlement)
    and the service's fault (InternalServerException or InternalServiceErrorException, 500), with their members."""
    implemented = {
        "meteringmarketplace": ("BatchMeterUsage", {"UsageRecords": []}),
        "marketplace-entitlement": ("GetEntitlements", {"ProductCode": PRODUCT_CODE}),
        "marketplace-agreement": ("DescribeAgreement", {"agreementId": "agmt-1"}),
        "marketplace-discovery": ("GetOffer", {"offerId": PUBLIC_OFFER}),
    }
    name, params = implemented[service]
    running_sandbox.control("POST", "faults", json={fault: 100})
    response = call(model_client(service, account_for(service, SELLER, DST)), name, params)
    code = "ThrottlingException" if fault == "throttle_pct" else protocol.internal_error_code(service)
    assert error_problems(service, name, response, code) == []
    assert error_problems(service, name, response) == []  # and the operation declares it


@pytest.mark.parametrize("service", SERVICES)
def test_an_unknown_operation_is_answered_as_aws_does(service: str, shared_sandbox: RunningSandbox) -> None:
    """An operation no model has: UnknownOperationException, HTTP 400 on AWS JSON and RPC v2 CBOR; a REST path
    nothing is routed to is a 404. Every answer carries x-amzn-RequestId."""
    for wire in protocols_of(service):
        response = post(shared_sandbox.url, service, "Frobnicate", b"{}", SRC, wire)
        body = decode(response)
        assert body["__type"] == "UnknownOperationException"
        assert response.status_code == (404 if wire == "rest-json" else 400)
        assert response.headers["x-amzn-requestid"]


def test_a_request_id_on_every_answer_and_in_agreement_errors(
    running_sandbox: RunningSandbox, model_client: Callable[[str, str], Any]
) -> None:
    """botocore reads x-amzn-RequestId into ResponseMetadata.RequestId; the agreement model's exceptions also carry
    it as ``requestId``. ResourceNotFoundException names the resource (``resourceId``, ``resourceType``)."""
    ok = call(model_client("marketplace-discovery", DST), "GetOffer", {"offerId": PUBLIC_OFFER})
    assert "Error" not in ok and len(ok["ResponseMetadata"]["RequestId"]) == 36
    missing = call(model_client("marketplace-agreement", DST), "DescribeAgreement", {"agreementId": "agmt-nothere"})
    assert error_problems("marketplace-agreement", "DescribeAgreement", missing, "ResourceNotFoundException") == []
    assert (missing["resourceId"], missing["resourceType"]) == ("agmt-nothere", "Agreement")
    assert missing["requestId"] == missing["ResponseMetadata"]["RequestId"]


def test_sts_answers_carry_a_request_id(running_sandbox: RunningSandbox) -> None:
    """STS (AWS Query) puts the request id in the body and, like every AWS answer, in x-amzn-RequestId."""
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=running_sandbox.url,
        region_name="us-east-1",
        aws_access_key_id=f"AKIA{SRC}",
        aws_secret_access_key="x",
    )
    answer = sts.get_caller_identity()
    assert answer["Account"] == SRC and len(answer["ResponseMetadata"]["RequestId"]) == 36


def test_the_validation_reason_names_the_member() -> None:
    """The agreement model's ValidationExceptionReason has MISSING_<MEMBER> and INVALID_<MEMBER> values; a model
    violation is reported with the one for its member, else OTHER. Discovery's has MALFORMED_REQUEST_PARAMETERS."""
    op = protocol.operation("marketplace-agreement", "CreateAgreementRequest")
    cases = {
        "MISSING_INTENT": {"requestedTerms": [{"id": "t"}]},
        "INVALID_INTENT": {"intent": "UPGRADE", "requestedTerms": [{"id": "t"}]},
        "INVALID_REQUESTED_TERM_ID": {"intent": "NEW", "requestedTerms": [{"id": "x" * 300}]},
    }
    for reason, params in cases.items():
        with pytest.raises(SandboxError) as err:
            protocol.validated_input(op, params)
        body, _ = protocol.error_body("marketplace-agreement", op, err.value, "r-1", params)
        assert body["reason"] == reason
    discovery = protocol.operation("marketplace-discovery", "GetOffer")
    with pytest.raises(SandboxError) as err:
        protocol.validated_input(discovery, {})
    body, shape = protocol.error_body("marketplace-discovery", discovery, err.value, "r-1", {})
    assert body["reason"] == "MALFORMED_REQUEST_PARAMETERS"
    assert shape is not None and set(body) == {"message", "reason"} == set(shape.members)


def test_a_refused_operation_is_validated_first_then_refused_with_its_error(
    shared_sandbox: RunningSandbox, model_client: Callable[[str, str], Any]
) -> None:
    """mplink.sandbox.wire.refusals answers a modelled operation the sandbox refuses (MeterUsage is for AMI and
    container products, botocore's meteringmarketplace model says) with the error set there; as on AWS, a request
    that breaks the model is refused with a ValidationException before that."""
    from mplink.sandbox import wire

    key = ("meteringmarketplace", "MeterUsage")
    previous = wire.refusals.get(key)
    wire.refusals[key] = SandboxError("InvalidProductCodeException", "MeterUsage is for AMI and container products")
    try:
        client = model_client("meteringmarketplace", DST)
        refused = call(client, "MeterUsage", request("meteringmarketplace", "MeterUsage"))
        assert error_problems("meteringmarketplace", "MeterUsage", refused, "InvalidProductCodeException") == []
        invalid = call(client, "MeterUsage", {**request("meteringmarketplace", "MeterUsage"), "UsageDimension": ""})
        assert error_problems("meteringmarketplace", "MeterUsage", invalid, "ValidationException") == []
    finally:
        if previous is None:
            wire.refusals.pop(key, None)
        else:
            wire.refusals[key] = previous


def test_a_pagination_token_the_sandbox_never_gave_is_named_by_each_models_reason(
    running_sandbox: RunningSandbox, model_client: Callable[[str, str], Any]
) -> None:
    """The discovery model's ValidationExceptionReason has INVALID_PAGINATION_TOKEN ("The nextToken value is
    malformed, expired, or belongs to a different request"); the agreement model's has INVALID_NEXT_TOKEN."""
    discovery = call(
        model_client("marketplace-discovery", DST), "GetOfferTerms", {"offerId": PUBLIC_OFFER, "nextToken": "Zm9v"}
    )
    assert error_problems("marketplace-discovery", "GetOfferTerms", discovery, "ValidationException") == []
    assert discovery["reason"] == "INVALID_PAGINATION_TOKEN"
    agreement = call(
        model_client("marketplace-agreement", DST),
        "SearchAgreements",
        {
            "catalog": "AWSMarketplace",
            "filters": [
                {"name": "PartyType", "values": ["Acceptor"]},
                {"name": "AgreementType", "values": ["PurchaseAgreement"]},
            ],
            "nextToken": "Zm9v",
        },
    )
    assert error_problems("marketplace-agreement", "SearchAgreements", agreement, "ValidationException") == []
    assert agreement["reason"] == "INVALID_NEXT_TOKEN"


def test_a_reason_the_service_gives_arrives_as_the_modelled_member(
    running_sandbox: RunningSandbox, model_client: Callable[[str, str], Any]
) -> None:
    """The agreement model's ValidationException has ``reason`` (ValidationExceptionReason); the model documents for
    ListAgreementCancellationRequests that partyType is "Proposer" or "Acceptor" (INVALID_PARTY_TYPE otherwise)."""
    response = call(
        model_client("marketplace-agreement", SELLER), "ListAgreementCancellationRequests", {"partyType": "Seller"}
    )
    assert error_problems("marketplace-agreement", "ListAgreementCancellationRequests", response) == []
    assert (response["Error"]["Code"], response["reason"]) == ("ValidationException", "INVALID_PARTY_TYPE")
