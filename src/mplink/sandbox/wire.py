"""The AWS side of the sandbox: each service's operations on their real wire protocols (JSON 1.0/1.1, REST JSON,
Smithy RPC v2 CBOR), plus STS GetCallerIdentity."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.model import OperationModel
from fastapi import FastAPI, Request
from fastapi.responses import Response

from mplink.sandbox import protocol
from mplink.sandbox.errors import SandboxError
from mplink.sandbox.marketplace import Marketplace
from mplink.sandbox.metering import REFUSALS as metering_refusals
from mplink.sandbox.procurement import ProcurementApi

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
        **_coverage(market, agreement, discovery),
    }


def _coverage(market: Marketplace, agreement: str, discovery: str) -> dict[tuple[str, str], tuple[Handler, str]]:
    """The rest of the four services' operations (docs/sandbox.md, "Coverage"): discovery from the catalog, and the
    agreement operations on things the sandbox never creates (procurement.py). The metering operations AWS refuses
    a SaaS product are in ``refusals``."""
    proc = ProcurementApi(market)
    d = market.discovery
    ops: dict[tuple[str, str], tuple[Handler, str]] = {
        ("marketplace-discovery", "GetProduct"): (d.get_product, discovery),
        ("marketplace-discovery", "GetListing"): (d.get_listing, discovery),
        ("marketplace-discovery", "SearchListings"): (d.search_listings, discovery),
        ("marketplace-discovery", "SearchFacets"): (d.search_facets, discovery),
        ("marketplace-discovery", "ListFulfillmentOptions"): (d.list_fulfillment_options, discovery),
        ("marketplace-discovery", "ListListingAttributes"): (d.list_listing_attributes, discovery),
        ("marketplace-discovery", "GetOfferSet"): (d.get_offer_set, discovery),
    }
    for op in (
        "GetAgreementContacts",
        "GetAgreementPaymentRequest",
        "AcceptAgreementPaymentRequest",
        "RejectAgreementPaymentRequest",
        "CancelAgreementPaymentRequest",
        "SendAgreementPaymentRequest",
        "ListAgreementPaymentRequests",
        "AcceptAgreementApproval",
        "RejectAgreementApproval",
        "GetAgreementApproval",
        "ListAgreementApprovals",
        "GetAgreementRequestApprovalPlans",
        "StartAgreementApprovals",
        "BatchCreateBillingAdjustmentRequest",
        "GetBillingAdjustmentRequest",
        "ListBillingAdjustmentRequests",
        "ListAgreementCharges",
        "ListAgreementInvoiceLineItems",
        "UpdatePurchaseOrders",
    ):
        ops[("marketplace-agreement", op)] = (getattr(proc, _snake(op)), agreement)
    return ops


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


#: (botocore service, operation) -> the error the sandbox answers for an operation of the model it refuses, as
#: AWS refuses it (MeterUsage for a SaaS product, say). The request is validated against the model first, as AWS
#: validates it. An operation neither in handlers() nor here answers UnknownOperationException.
refusals: dict[tuple[str, str], SandboxError] = {
    ("meteringmarketplace", name): error for name, error in metering_refusals.items()
}

#: set to 1 (the test suite does) to check every answer against the operation's output or error shape: a
#: member the shape does not declare, a required one missing, a wrong type or enum becomes a 500 naming its path
STRICT_OUTPUT_ENV = "MPLINK_SANDBOX_STRICT_OUTPUT"

log = logging.getLogger(__name__)


def strict_output() -> bool:
    return os.environ.get(STRICT_OUTPUT_ENV, "") not in ("", "0")


@dataclass
class _Exchange:
    """One AWS request as the wire sees it: what is known of it when an error must be answered."""

    service: str | None
    op_name: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    op: OperationModel | None = None
    params: Any = None


@dataclass(frozen=True)
class _Format:
    """How one protocol writes a body and names an error."""

    content_type: str
    encode: Callable[[Any], bytes]
    extra_headers: tuple[tuple[str, str], ...] = ()
    error_type_header: bool = True
    #: AWS JSON and RPC v2 CBOR answer an unknown operation with 400; a REST path nothing is routed to is a 404
    unknown_operation_status: int = 400


def mount_aws(app: FastAPI, market: Marketplace) -> None:
    """Route boto3's requests to the services' operations."""
    table = handlers(market)
    strict = strict_output()

    def call(
        x: _Exchange, request: Request, body: bytes, parse: Callable[[bytes], Any], unknown_status: int
    ) -> dict[str, Any]:
        account = "unknown"
        args: dict[str, Any] | None = None
        try:
            account = protocol.caller_account({k.lower(): v for k, v in request.headers.items()})
            if x.service is None:
                raise SandboxError("UnknownOperationException", f"Unknown operation {x.op_name!r}", unknown_status)
            x.op = protocol.operation(x.service, x.op_name)
            x.params = parse(body)
            args = protocol.validated_input(x.op, x.params)
            entry = table.get((x.service, x.op_name))
            if entry is None:
                refusal = refusals.get((x.service, x.op_name))
                if refusal is not None:
                    raise refusal.copy()
                raise SandboxError("UnknownOperationException", f"{x.op_name} is not implemented by the sandbox")
            handler, internal = entry
            market.tick()
            market.inject_faults(account, internal)
            result = handler(account, args)
            if strict:
                problems = protocol.output_errors(result, x.op.output_shape)
                if problems:
                    raise _shape_bug(x, internal, "answer", problems)
            market.record_call(account, x.service or "unknown", x.op_name, "ok", args)
            return result
        except SandboxError as exc:
            market.record_call(account, x.service or "unknown", x.op_name, exc.code, args)
            raise

    def answer(x: _Exchange, fmt: _Format, result: dict[str, Any]) -> Response:
        headers = {"x-amzn-RequestId": x.request_id, "Content-Type": fmt.content_type, **dict(fmt.extra_headers)}
        return Response(fmt.encode(result), headers=headers)

    def error(x: _Exchange, fmt: _Format, exc: SandboxError) -> Response:
        body, shape = protocol.error_body(x.service, x.op, exc, x.request_id, x.params)
        if strict and shape is not None:
            problems = protocol.output_errors(body, shape)
            if problems:
                exc = _shape_bug(x, protocol.internal_error_code(x.service), f"{exc.code} error", problems)
                body, shape = protocol.error_body(x.service, x.op, exc, x.request_id, x.params)
        else:
            body = protocol.fit_error_body(body, shape)
        headers = {"x-amzn-RequestId": x.request_id, "Content-Type": fmt.content_type, **dict(fmt.extra_headers)}
        if fmt.error_type_header:
            headers["x-amzn-ErrorType"] = exc.code
        return Response(
            fmt.encode({"__type": exc.code, **body}),
            status_code=protocol.error_status(x.service, exc),
            headers=headers,
        )

    async def exchange(x: _Exchange, fmt: _Format, request: Request, parse: Callable[[bytes], Any]) -> Response:
        body = await request.body()
        try:
            return answer(x, fmt, call(x, request, body, parse, fmt.unknown_operation_status))
        except SandboxError as exc:
            return error(x, fmt, exc)
        except Exception:  # a sandbox bug: answered as the service's modelled internal error, traceback logged
            log.exception("the sandbox failed on %s (request %s)", x.op_name, x.request_id)
            failed = SandboxError(protocol.internal_error_code(x.service), f"The sandbox failed ({x.request_id})", 500)
            return error(x, fmt, failed)

    @app.post("/")
    async def aws_json(request: Request) -> Response:
        """AWS JSON 1.0 / 1.1: the operation is named by the X-Amz-Target header."""
        content_type = request.headers.get("content-type", "application/x-amz-json-1.1")
        target = request.headers.get("x-amz-target", "")
        if not target and content_type.startswith("application/x-www-form-urlencoded"):
            return await _sts(request)
        prefix, _, op_name = target.partition(".")
        service = protocol.TARGET_PREFIXES.get(prefix)
        x = _Exchange(service if op_name else None, op_name or target)
        return await exchange(x, _Format(content_type, protocol.json_body), request, protocol.parse_json)

    @app.post("/service/{service_name}/operation/{op_name}")
    async def aws_cbor(service_name: str, op_name: str, request: Request) -> Response:
        """Smithy RPC v2 CBOR, as SDKs that prefer it send."""
        fmt = _Format("application/cbor", protocol.cbor_body, (("smithy-protocol", "rpc-v2-cbor"),), False)
        x = _Exchange(protocol.TARGET_PREFIXES.get(service_name), op_name)
        return await exchange(x, fmt, request, protocol.parse_cbor)

    @app.post("/2026-02-05/{op_path:path}")
    async def aws_rest_json(op_path: str, request: Request) -> Response:
        """REST JSON (marketplace-discovery): the operation is named by the path."""
        op_name = protocol.discovery_routes().get(f"/2026-02-05/{op_path}")
        x = _Exchange(protocol.DISCOVERY if op_name else None, op_name or f"/2026-02-05/{op_path}")
        fmt = _Format("application/json", protocol.json_body, unknown_operation_status=404)
        return await exchange(x, fmt, request, protocol.parse_json)


def _shape_bug(x: _Exchange, internal: str, what: str, problems: list[str]) -> SandboxError:
    """A sandbox answer that breaks the model: loud in strict mode, with the path of every bad member."""
    message = f"the sandbox's {x.op_name} {what} does not match botocore's model: " + "; ".join(problems)
    log.error("%s (request %s)", message, x.request_id)
    return SandboxError(internal, message, 500)


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
        return Response(body, status_code=status, media_type="text/xml", headers={"x-amzn-RequestId": request_id})

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
    return Response(body, media_type="text/xml", headers={"x-amzn-RequestId": request_id})
