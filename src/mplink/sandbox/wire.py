"""The AWS side of the sandbox: each service's operations on their real wire protocols (JSON 1.0/1.1, REST JSON,
Smithy RPC v2 CBOR), plus STS GetCallerIdentity."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from mplink.sandbox import protocol
from mplink.sandbox.errors import SandboxError
from mplink.sandbox.marketplace import Marketplace

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]


def handlers(market: Marketplace) -> dict[tuple[str, str], tuple[Handler, str]]:
    """(botocore service, operation) -> (handler, the service's internal-error code)."""
    metering, entitlement, agreement, discovery = (
        "InternalServiceErrorException",
        "InternalServiceErrorException",
        "InternalServerException",
        "InternalServerException",
    )
    return {
        ("meteringmarketplace", "ResolveCustomer"): (market.metering.resolve_customer, metering),
        ("meteringmarketplace", "BatchMeterUsage"): (market.metering.batch_meter_usage, metering),
        ("marketplace-entitlement", "GetEntitlements"): (market.entitlement.get_entitlements, entitlement),
        ("marketplace-agreement", "DescribeAgreement"): (market.agreement.describe_agreement, agreement),
        ("marketplace-agreement", "SearchAgreements"): (market.agreement.search_agreements, agreement),
        ("marketplace-agreement", "GetAgreementTerms"): (market.agreement.get_agreement_terms, agreement),
        ("marketplace-agreement", "CreateAgreementRequest"): (market.agreement.create_agreement_request, agreement),
        ("marketplace-agreement", "AcceptAgreementRequest"): (market.agreement.accept_agreement_request, agreement),
        ("marketplace-agreement", "GetAgreementRequest"): (market.agreement.get_agreement_request, agreement),
        ("marketplace-agreement", "ListAgreementRequests"): (market.agreement.list_agreement_requests, agreement),
        ("marketplace-agreement", "CancelAgreementRequest"): (market.agreement.cancel_agreement_request, agreement),
        ("marketplace-agreement", "GetAgreementRequestTerms"): (
            market.agreement.get_agreement_request_terms,
            agreement,
        ),
        ("marketplace-agreement", "GetAgreementEntitlements"): (market.agreement.get_agreement_entitlements, agreement),
        ("marketplace-agreement", "CancelAgreement"): (market.agreement.cancel_agreement, agreement),
        ("marketplace-agreement", "SendAgreementCancellationRequest"): (
            market.cancellation.send_agreement_cancellation_request,
            agreement,
        ),
        ("marketplace-agreement", "GetAgreementCancellationRequest"): (
            market.cancellation.get_agreement_cancellation_request,
            agreement,
        ),
        ("marketplace-agreement", "ListAgreementCancellationRequests"): (
            market.cancellation.list_agreement_cancellation_requests,
            agreement,
        ),
        ("marketplace-agreement", "CancelAgreementCancellationRequest"): (
            market.cancellation.cancel_agreement_cancellation_request,
            agreement,
        ),
        ("marketplace-agreement", "AcceptAgreementCancellationRequest"): (
            market.cancellation.accept_agreement_cancellation_request,
            agreement,
        ),
        ("marketplace-agreement", "RejectAgreementCancellationRequest"): (
            market.cancellation.reject_agreement_cancellation_request,
            agreement,
        ),
        ("marketplace-discovery", "ListPurchaseOptions"): (market.discovery.list_purchase_options, discovery),
        ("marketplace-discovery", "GetOffer"): (market.discovery.get_offer, discovery),
        ("marketplace-discovery", "GetOfferTerms"): (market.discovery.get_offer_terms, discovery),
    }


def mount_aws(app: FastAPI, market: Marketplace) -> None:
    """Route boto3's requests to the services' operations."""
    table = handlers(market)

    def call(service: str, op_name: str, request: Request, params: Any) -> dict[str, Any]:
        account = "unknown"
        args: dict[str, Any] | None = None
        try:
            account = protocol.caller_account({k.lower(): v for k, v in request.headers.items()})
            op = protocol.operation(service, op_name)
            entry = table.get((service, op_name))
            if entry is None:
                raise SandboxError("UnknownOperationException", f"{op_name} is not implemented by the sandbox")
            handler, internal = entry
            args = protocol.validated_input(op, params)
            market.tick()
            market.inject_faults(account, internal)
            result = handler(account, args)
            market.record_call(account, service, op_name, "ok", args)
            return result
        except SandboxError as exc:
            market.record_call(account, service, op_name, exc.code, args)
            raise

    def json_error(exc: SandboxError, content_type: str) -> Response:
        return Response(
            protocol.json_body({"__type": exc.code, "message": exc.message}),
            status_code=exc.status,
            headers={"x-amzn-ErrorType": exc.code, "Content-Type": content_type},
        )

    @app.post("/")
    async def aws_json(request: Request) -> Response:
        """AWS JSON 1.0 / 1.1: the operation is named by the X-Amz-Target header."""
        content_type = request.headers.get("content-type", "application/x-amz-json-1.1")
        target = request.headers.get("x-amz-target", "")
        if not target and content_type.startswith("application/x-www-form-urlencoded"):
            return await _sts(request)
        prefix, _, op_name = target.partition(".")
        body = await request.body()
        try:
            service = protocol.TARGET_PREFIXES.get(prefix)
            if service is None or not op_name:
                raise SandboxError("UnknownOperationException", f"Unknown X-Amz-Target {target!r}")
            result = call(service, op_name, request, protocol.parse_json(body))
        except SandboxError as exc:
            return json_error(exc, content_type)
        return Response(protocol.json_body(result), headers={"Content-Type": content_type})

    @app.post("/service/{service_name}/operation/{op_name}")
    async def aws_cbor(service_name: str, op_name: str, request: Request) -> Response:
        """Smithy RPC v2 CBOR, as SDKs that prefer it send."""
        headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
        body = await request.body()
        try:
            service = protocol.TARGET_PREFIXES.get(service_name)
            if service is None:
                raise SandboxError("UnknownOperationException", f"Unknown service {service_name!r}")
            result = call(service, op_name, request, protocol.parse_cbor(body))
        except SandboxError as exc:
            return Response(
                protocol.cbor_body({"__type": exc.code, "message": exc.message}),
                status_code=exc.status,
                headers=headers,
            )
        return Response(protocol.cbor_body(result), headers=headers)

    @app.post("/2026-02-05/{op_path}")
    async def aws_rest_json(op_path: str, request: Request) -> Response:
        """REST JSON (marketplace-discovery): the operation is named by the path."""
        body = await request.body()
        try:
            op_name = protocol.discovery_routes().get(f"/2026-02-05/{op_path}")
            if op_name is None:
                raise SandboxError("UnknownOperationException", f"Unknown operation path /2026-02-05/{op_path}")
            result = call(protocol.DISCOVERY, op_name, request, protocol.parse_json(body))
        except SandboxError as exc:
            return json_error(exc, "application/json")
        return Response(protocol.json_body(result), headers={"Content-Type": "application/json"})


STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


async def _sts(request: Request) -> Response:
    """STS GetCallerIdentity (AWS Query protocol, XML), so buyer tools can check who a profile is."""
    from urllib.parse import parse_qs
    from xml.sax.saxutils import escape

    form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
    request_id = str(uuid.uuid4())

    def error(code: str, message: str, status: int) -> Response:
        body = (
            f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Response(body, status_code=status, media_type="text/xml")

    if form.get("Action") != "GetCallerIdentity":
        return error("InvalidAction", f"The sandbox answers only GetCallerIdentity, not {form.get('Action')!r}", 400)
    try:
        account = protocol.caller_account({k.lower(): v for k, v in request.headers.items()})
    except SandboxError as exc:
        return error("InvalidClientTokenId", exc.message, 403)
    body = (
        f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
        f"<Arn>arn:aws:iam::{account}:user/sandbox</Arn><UserId>AIDA{account}SANDBOX</UserId>"
        f"<Account>{account}</Account></GetCallerIdentityResult>"
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    )
    return Response(body, media_type="text/xml")
