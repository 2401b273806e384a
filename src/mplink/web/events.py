"""Event intake over HTTP: EventBridge API destinations (secret header) and SNS (signature verified)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from mplink.domain.errors import InvalidEvent
from mplink.services.events import envelope_from_eventbridge, envelope_from_sns, receive_event
from mplink.web.limits import parse_json
from mplink.web.state import app_state

router = APIRouter(tags=["events"])
SECRET_HEADER = "X-Mplink-Secret"
EVENTBRIDGE_PATH = "/events/eventbridge"


async def _json_body(request: Request) -> Any:
    """The body's JSON; its size was limited before it was read (MPLINK_MAX_EVENT_BODY_BYTES, web/limits.py)."""
    return parse_json(await request.body(), app_state(request).settings.max_json_depth)


def check_secret(request: Request) -> None:
    """401 unless the EventBridge secret header is right; checked before the body is read (web/limits.py)."""
    state = app_state(request)
    expected = state.settings.eventbridge_secret
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        state.metrics.events.labels("eventbridge", "refused").inc()
        raise HTTPException(401, f"missing or wrong {SECRET_HEADER} header")


@router.post(EVENTBRIDGE_PATH)
async def eventbridge(request: Request) -> dict[str, str]:
    """R8: stored raw first, deduplicated by its id, processed in one transaction; failures kept for retry."""
    state = app_state(request)
    check_secret(request)
    body = await _json_body(request)
    try:
        envelope = envelope_from_eventbridge(body)
    except InvalidEvent as exc:
        raise HTTPException(400, exc.message) from exc
    receipt = await run_in_threadpool(receive_event, state.uow, envelope, state.marketplace)
    state.metrics.events.labels("eventbridge", receipt.status).inc()
    return {"id": receipt.dedup_key, "status": receipt.status}


@router.post("/events/sns")
async def sns(request: Request) -> dict[str, str]:
    """Legacy SNS over HTTP(S). Nothing is trusted before its signature verifies for an expected topic;
    a SubscriptionConfirmation is then answered by fetching its SubscribeURL (how SNS learns the endpoint
    accepts the topic: it delivers nothing before), a Notification goes to the inbox like any event."""
    state = app_state(request)
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise HTTPException(400, "an SNS message must be a JSON object")
    from mplink.adapters.sns import SnsVerificationError, SnsVerifier, confirm_subscription

    # one verifier (it caches certificates) per configuration: the topics and certificate prefixes trusted
    trusted = (state.settings.sns_topic_arns, state.settings.sns_trusted_cert_prefixes)
    cached = getattr(request.app.state, "sns_verifier", None)
    if cached is None or cached[0] != trusted:
        cached = (trusted, SnsVerifier(trusted[0], trusted_cert_url_prefixes=trusted[1]))
        request.app.state.sns_verifier = cached
    verifier = cached[1]
    kind = body.get("Type")
    try:
        # certificate and SubscribeURL fetches block: keep them off the event loop
        await run_in_threadpool(verifier.verify, body)
        if kind == "SubscriptionConfirmation":
            await run_in_threadpool(
                confirm_subscription, body, trusted_cert_url_prefixes=state.settings.sns_trusted_cert_prefixes
            )
            return {"status": "subscription confirmed"}
    except SnsVerificationError as exc:
        state.metrics.events.labels("sns", "refused").inc()
        raise HTTPException(403, f"SNS message refused: {exc.reason}") from exc
    if kind != "Notification":
        return {"status": "ignored"}
    try:
        envelope = envelope_from_sns(body)
    except InvalidEvent as exc:
        raise HTTPException(400, exc.message) from exc
    receipt = await run_in_threadpool(receive_event, state.uow, envelope, state.marketplace)
    state.metrics.events.labels("sns", receipt.status).inc()
    return {"id": receipt.dedup_key, "status": receipt.status}
