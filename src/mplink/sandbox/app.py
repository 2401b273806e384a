"""The sandbox's HTTP app: AWS protocol endpoints, the control API and the buyer console."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from mplink.sandbox import protocol
from mplink.sandbox.errors import SandboxError, validation
from mplink.sandbox.events import EventDispatcher, SnsPublisher
from mplink.sandbox.marketplace import Faults, Marketplace

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
        ("meteringmarketplace", "ResolveCustomer"): (market.resolve_customer, metering),
        ("meteringmarketplace", "BatchMeterUsage"): (market.batch_meter_usage, metering),
        ("marketplace-entitlement", "GetEntitlements"): (market.get_entitlements, entitlement),
        ("marketplace-agreement", "DescribeAgreement"): (market.describe_agreement, agreement),
        ("marketplace-agreement", "SearchAgreements"): (market.search_agreements, agreement),
        ("marketplace-agreement", "GetAgreementTerms"): (market.get_agreement_terms, agreement),
        ("marketplace-agreement", "CreateAgreementRequest"): (market.create_agreement_request, agreement),
        ("marketplace-agreement", "AcceptAgreementRequest"): (market.accept_agreement_request, agreement),
        ("marketplace-agreement", "GetAgreementEntitlements"): (market.get_agreement_entitlements, agreement),
        ("marketplace-agreement", "CancelAgreement"): (market.cancel_agreement, agreement),
        ("marketplace-discovery", "ListPurchaseOptions"): (market.list_purchase_options, discovery),
        ("marketplace-discovery", "GetOffer"): (market.get_offer, discovery),
        ("marketplace-discovery", "GetOfferTerms"): (market.get_offer_terms, discovery),
    }


def create_app(
    market: Marketplace, dispatcher: EventDispatcher | None = None, sns: SnsPublisher | None = None
) -> FastAPI:
    app = FastAPI(title="mplink AWS Marketplace sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    table = handlers(market)

    def call(service: str, op_name: str, request: Request, params: Any) -> dict[str, Any]:
        account = "unknown"
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
            market.record_call(account, service, op_name, "ok")
            return result
        except SandboxError as exc:
            market.record_call(account, service, op_name, exc.code)
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

    # -- control API for tests and demos ------------------------------------------------------------------
    @app.get("/_sandbox/catalog")
    def control_catalog() -> dict[str, Any]:
        c = market.catalog
        return {
            "seller_account_id": c.seller_account_id,
            "products": [
                {
                    "product_id": p.product_id,
                    "product_code": p.product_code,
                    "title": p.title,
                    "fulfillment_url": market.fulfillment_url(p),
                    "offers": [
                        {
                            "offer_id": o.offer_id,
                            "name": o.name,
                            "private": o.private,
                            "proposer_account_id": o.proposer_account_id,
                        }
                        for o in p.offers
                    ],
                }
                for p in c.products
            ],
            "buyer_accounts": [b.account_id for b in c.buyer_accounts],
        }

    @app.get("/_sandbox/metering")
    def control_metering(product_code: str | None = None) -> list[dict[str, Any]]:
        return market.metering_view(product_code)

    @app.get("/_sandbox/agreements")
    def control_agreements(account_id: str | None = None) -> list[dict[str, Any]]:
        return market.agreements_view(account_id)

    @app.post("/_sandbox/agreements/{agreement_id}/cancellable")
    async def control_cancellable(agreement_id: str, request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body.get("cancellable"), bool):
            return _control_error(validation('send {"cancellable": true|false}'))
        try:
            market.set_cancellable(agreement_id, body["cancellable"])
        except SandboxError as exc:
            return _control_error(exc)
        return JSONResponse({"agreement_id": agreement_id, "api_cancellable": body["cancellable"]})

    @app.get("/_sandbox/faults")
    def control_faults_get() -> dict[str, Any]:
        return asdict(market.faults)

    @app.post("/_sandbox/faults")
    async def control_faults(request: Request) -> Response:
        body = await _json(request)
        known = {f.name for f in fields(Faults)}
        unknown = sorted(set(body) - known)
        if unknown:
            return _control_error(validation(f"unknown fault {unknown[0]!r}: use {', '.join(sorted(known))}"))
        for name, value in body.items():
            if name == "shuffle_events" and not isinstance(value, bool):
                return _control_error(validation("shuffle_events must be true or false"))
            if name == "seed" and value is not None and not isinstance(value, int):
                return _control_error(validation("seed must be a whole number"))
            if name not in ("shuffle_events", "seed") and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100
            ):
                return _control_error(validation(f"{name} must be a percentage from 0 to 100"))
        market.set_faults(Faults(**{**asdict(market.faults), **body}))
        return JSONResponse(asdict(market.faults))

    @app.post("/_sandbox/clock")
    async def control_clock(request: Request) -> Response:
        body = await _json(request)
        seconds = body.get("advance_seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return _control_error(validation('send {"advance_seconds": <seconds>}'))
        try:
            now = market.advance_clock(float(seconds))
        except SandboxError as exc:
            return _control_error(exc)
        return JSONResponse({"now": now.isoformat(), "offset_seconds": market.clock_offset})

    @app.get("/_sandbox/clock")
    def control_clock_get() -> dict[str, Any]:
        return {"now": market.now().isoformat(), "offset_seconds": market.clock_offset}

    @app.get("/_sandbox/calls")
    def control_calls(operation: str | None = None, account_id: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "at": c.at.isoformat(),
                "account_id": c.account_id,
                "service": c.service,
                "operation": c.operation,
                "outcome": c.outcome,
            }
            for c in list(market.calls)
            if (operation is None or c.operation == operation) and (account_id is None or c.account_id == account_id)
        ]

    @app.get("/_sandbox/events")
    def control_events() -> list[dict[str, Any]]:
        if dispatcher is None:
            return []
        return [dict(e) for e in list(dispatcher.log)]

    @app.get("/_sandbox/sns/cert.pem")
    def sns_certificate() -> Response:
        """The certificate legacy SNS messages are signed with (trust it with MPLINK_SNS_TRUSTED_CERT_PREFIXES)."""
        if sns is None:
            return _control_error(SandboxError("ResourceNotFoundException", "start the sandbox with --sns-endpoint"))
        return Response(sns.signer().cert_pem(), media_type="application/x-pem-file")

    @app.get("/_sandbox/sns/log")
    def sns_log() -> list[dict[str, Any]]:
        return [dict(e) for e in list(sns.log)] if sns else []

    @app.post("/_sandbox/reset")
    def control_reset() -> dict[str, str]:
        """Everything a test can change goes back to how the sandbox started (see Marketplace.reset)."""
        with market.lock:
            market.reset()
            if dispatcher is not None:
                dispatcher.reset()
            if sns is not None:
                sns.reset()
        return {"status": "reset"}

    @app.get("/_sandbox/health")
    def control_health() -> dict[str, Any]:
        return {
            "status": "ok",
            "now": market.now().isoformat(),
            "events_pending": dispatcher.pending() if dispatcher else 0,
        }

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/console")

    from mplink.sandbox.console import mount_console

    mount_console(app, market)
    return app


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


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _control_error(exc: SandboxError) -> Response:
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)
