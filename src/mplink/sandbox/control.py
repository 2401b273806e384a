"""The sandbox's control API (``/_sandbox/...``): what tests and demos use to see and steer the marketplace."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from mplink.sandbox.errors import SandboxError, validation
from mplink.sandbox.events import EventDispatcher, SnsPublisher, sns_query
from mplink.sandbox.marketplace import Faults, Marketplace


def mount_control(
    app: FastAPI, market: Marketplace, dispatcher: EventDispatcher | None = None, sns: SnsPublisher | None = None
) -> None:
    """Add the control routes; keep their names and shapes (tests outside the repository use them)."""

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
            market.agreement.set_cancellable(agreement_id, body["cancellable"])
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
                "request": _plain(c.request),
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

    @app.get("/_sandbox/sns/")
    def sns_action(request: Request) -> Response:
        """SNS's SubscribeURL and UnsubscribeURL (``?Action=ConfirmSubscription|Unsubscribe&...``), in SNS's XML."""
        status, body = sns_query(sns, dict(request.query_params))
        return Response(body, status_code=status, media_type="text/xml")

    @app.get("/_sandbox/sns/subscriptions")
    def sns_subscriptions() -> list[dict[str, Any]]:
        """The seller endpoint's subscription to each legacy topic (PendingConfirmation until it GETs SubscribeURL)."""
        return sns.subscriptions_view() if sns else []

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


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _plain(value: Any) -> Any:
    """Request members as JSON: timestamps in ISO 8601."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _control_error(exc: SandboxError) -> Response:
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)
