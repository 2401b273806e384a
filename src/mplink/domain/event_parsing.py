"""Turn raw EventBridge events and legacy SNS messages into domain events.

The shapes are AWS's documented examples (seller guide, "Amazon EventBridge events" and "SaaS product
notifications through Amazon SNS"; copies in ``tests/fixtures/aws/events/``). Only what they show is
read, and every field a documented example leaves out is optional: ``product`` (absent from most
agreement events), ``previousAgreementId`` (shown on a RENEW only), the times (absent from Ended),
``resaleAuthorization`` (null, ``{"id": null}`` or absent on a direct offer). ``resources`` and
``account`` are not read: AWS's own examples write them in several ways, or as placeholders."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from mplink.domain.clock import utc
from mplink.domain.errors import InvalidEvent, InvalidValue
from mplink.domain.events import (
    AgreementEvent,
    AgreementEventKind,
    CancellationRequestEvent,
    LegacyAction,
    LegacyEvent,
    LicenseEvent,
    LicenseEventKind,
    MarketplaceEvent,
)
from mplink.domain.ids import normalize_license_arn

EVENTBRIDGE_SOURCE = "aws.agreement-marketplace"

_AGREEMENT_KINDS = {
    "Purchase Agreement Created": AgreementEventKind.CREATED,
    "Purchase Agreement Amended": AgreementEventKind.AMENDED,
    "Purchase Agreement Ended": AgreementEventKind.ENDED,
}
_LICENSE_KINDS = {
    "License Updated": LicenseEventKind.UPDATED,
    "License Deprovisioned": LicenseEventKind.DEPROVISIONED,
}
CANCELLATION_REQUEST_EVENT = "Agreement Cancellation Request"
#: the request statuses AWS's model names (botocore marketplace-agreement, AgreementCancellationRequestStatus)
CANCELLATION_REQUEST_STATUSES = frozenset(
    {"PENDING_APPROVAL", "APPROVED", "REJECTED", "CANCELLED", "VALIDATION_FAILED"}
)
#: the seller's roles: Proposer on its own offers, Manufacturer on a channel partner's (``- Acceptor`` is the buyer's)
SELLER_ROLES = frozenset({"Manufacturer", "Proposer"})


def parse_time(value: object, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return utc(datetime.fromtimestamp(float(value)))
    if not isinstance(value, str):
        raise InvalidEvent(f"{what} must be an ISO 8601 time, got {value!r}")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError as exc:
        raise InvalidEvent(f"{what} must be an ISO 8601 time, got {value!r}") from exc


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidEvent(f"detail.{key} must be an object")
    return value


def _str(parent: dict[str, Any], key: str) -> str | None:
    value = parent.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{key} must be a string, got {value!r}")
    return value


def _text(parent: dict[str, Any], key: str) -> str | None:
    """A string without surrounding blanks: AWS's SNS example prints ``" X01EXAMPLEX"``; no identifier has one."""
    value = _str(parent, key)
    return (value.strip() or None) if value is not None else None


def _required(value: str | None, what: str) -> str:
    if not value:
        raise InvalidEvent(f"{what} is missing")
    return value


def parse_eventbridge(event: dict[str, Any]) -> MarketplaceEvent | None:
    """Parse one EventBridge event; ``None`` for a well-formed event mplink does not act on."""
    if not isinstance(event, dict):
        raise InvalidEvent("an EventBridge event must be a JSON object")
    if event.get("source") != EVENTBRIDGE_SOURCE:
        raise InvalidEvent(f"source must be {EVENTBRIDGE_SOURCE!r}, got {event.get('source')!r}")
    event_id = _required(_str(event, "id"), "id")
    occurred_at = parse_time(event.get("time"), "time")
    if occurred_at is None:
        raise InvalidEvent("time is missing")
    detail_type = _required(_str(event, "detail-type"), "detail-type")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidEvent("detail must be an object")
    base, _, role = detail_type.rpartition(" - ")
    if not base:
        base, role = detail_type, ""
    if role and role not in SELLER_ROLES:
        return None
    if base in _AGREEMENT_KINDS:
        agreement = _obj(detail, "agreement")
        product = _obj(detail, "product")
        return AgreementEvent(
            event_id=event_id,
            occurred_at=occurred_at,
            kind=_AGREEMENT_KINDS[base],
            role=role or "Manufacturer",
            agreement_id=_required(_str(agreement, "id"), "detail.agreement.id"),
            intent=_str(agreement, "intent"),
            status=_str(agreement, "status"),
            accepted_at=parse_time(agreement.get("acceptanceTime"), "detail.agreement.acceptanceTime"),
            starts_at=parse_time(agreement.get("startTime"), "detail.agreement.startTime"),
            ends_at=parse_time(agreement.get("endTime"), "detail.agreement.endTime"),
            previous_agreement_id=_str(agreement, "previousAgreementId"),
            product_id=_str(product, "id"),
            product_title=_str(product, "title"),
            offer_id=_str(_obj(detail, "offer"), "id"),
            acceptor_account_id=_str(_obj(detail, "acceptor"), "accountId"),
            proposer_account_id=_str(_obj(detail, "proposer"), "accountId"),
            resale_authorization_id=_str(_obj(detail, "resaleAuthorization"), "id"),
        )
    if base in _LICENSE_KINDS:
        product = _obj(detail, "product")
        arn = _required(_str(_obj(detail, "license"), "arn"), "detail.license.arn")
        try:
            license_arn = normalize_license_arn(arn)
        except InvalidValue as exc:
            raise InvalidEvent(f"detail.license.arn: {exc.message}") from exc
        return LicenseEvent(
            event_id=event_id,
            occurred_at=occurred_at,
            kind=_LICENSE_KINDS[base],
            license_arn=license_arn,
            product_code=_str(product, "code"),
            product_id=_str(product, "id"),
            agreement_id=_str(_obj(detail, "agreement"), "id"),
            acceptor_account_id=_str(_obj(detail, "acceptor"), "accountId"),
        )
    if base.startswith(CANCELLATION_REQUEST_EVENT + " "):
        request = _obj(detail, "agreementCancellationRequest")
        status = _required(_str(request, "statusCode"), "detail.agreementCancellationRequest.statusCode")
        if status not in CANCELLATION_REQUEST_STATUSES:
            raise InvalidEvent(f"detail.agreementCancellationRequest.statusCode {status!r} is not a known status")
        return CancellationRequestEvent(
            event_id=event_id,
            occurred_at=occurred_at,
            agreement_id=_required(_str(_obj(detail, "agreement"), "id"), "detail.agreement.id"),
            request_id=_required(_str(request, "id"), "detail.agreementCancellationRequest.id"),
            status=status,
        )
    return None


def parse_sns_message(envelope: dict[str, Any]) -> MarketplaceEvent | None:
    """Parse a legacy SNS ``Notification`` envelope (already authenticated) into a domain event."""
    if envelope.get("Type") != "Notification":
        raise InvalidEvent(f"SNS Type must be 'Notification', got {envelope.get('Type')!r}")
    event_id = _required(_str(envelope, "MessageId"), "MessageId")
    occurred_at = parse_time(envelope.get("Timestamp"), "Timestamp")
    if occurred_at is None:
        raise InvalidEvent("Timestamp is missing")
    raw = envelope.get("Message")
    if not isinstance(raw, str):
        raise InvalidEvent("Message must be a JSON string")
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"Message is not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(message, dict):
        raise InvalidEvent("Message must be a JSON object")
    action_text = _required(_text(message, "action"), "Message.action")
    try:
        action = LegacyAction(action_text)
    except ValueError as exc:
        raise InvalidEvent(f"unknown action {action_text!r}") from exc
    return LegacyEvent(
        event_id=event_id,
        occurred_at=occurred_at,
        action=action,
        customer_identifier=_required(_text(message, "customer-identifier"), "Message.customer-identifier"),
        product_code=_required(_text(message, "product-code"), "Message.product-code"),
        offer_id=_text(message, "offer-identifier"),
        free_trial=str(message.get("isFreeTrialTermPresent", "")).lower() == "true",
    )
