"""Marketplace event intake (R8): store the raw event first, dedup by its id, process it in one
transaction, and record a failure instead of losing the event; failed events can be replayed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mplink.domain.clock import now_utc
from mplink.domain.errors import DomainError, InvalidEvent
from mplink.domain.event_parsing import parse_eventbridge, parse_sns_message
from mplink.domain.events import AgreementEvent, LicenseEvent, MarketplaceEvent
from mplink.services.unit_of_work import UnitOfWorkFactory, retry_on_conflict

EVENTBRIDGE = "eventbridge"
SNS = "sns"


@dataclass(frozen=True)
class Envelope:
    """The part of a delivery needed to store it: its dedup key, channel and kind, and the raw payload."""

    dedup_key: str
    channel: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Receipt:
    dedup_key: str
    #: processed, ignored (well-formed, nothing to do), duplicate (seen before), failed (kept; retried later)
    status: str
    error: str | None = None


def envelope_from_eventbridge(body: object) -> Envelope:
    if not isinstance(body, dict):
        raise InvalidEvent("an EventBridge event must be a JSON object")
    event_id, detail_type = body.get("id"), body.get("detail-type")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidEvent("the event has no 'id', so it cannot be deduplicated")
    if not isinstance(detail_type, str) or not detail_type:
        raise InvalidEvent("the event has no 'detail-type'")
    return Envelope(f"eventbridge:{event_id}", EVENTBRIDGE, detail_type[:128], body)


def envelope_from_sns(body: object) -> Envelope:
    if not isinstance(body, dict):
        raise InvalidEvent("an SNS message must be a JSON object")
    message_id, kind = body.get("MessageId"), body.get("Type")
    if not isinstance(message_id, str) or not message_id:
        raise InvalidEvent("the SNS message has no 'MessageId'")
    if not isinstance(kind, str) or not kind:
        raise InvalidEvent("the SNS message has no 'Type'")
    return Envelope(f"sns:{message_id}", SNS, kind[:128], body)


def parse_stored(channel: str, payload: dict[str, Any]) -> MarketplaceEvent | None:
    if channel == EVENTBRIDGE:
        return parse_eventbridge(payload)
    if channel == SNS:
        return parse_sns_message(payload)
    raise InvalidEvent(f"unknown channel {channel!r}")


def _scope(event: MarketplaceEvent) -> dict[str, Any]:
    if isinstance(event, AgreementEvent):
        return {"agreement_ids": [event.agreement_id, event.previous_agreement_id or ""]}
    if isinstance(event, LicenseEvent):
        return {"agreement_ids": [event.agreement_id or ""], "license_arns": [event.license_arn]}
    return {"legacy_keys": [(event.product_code, event.customer_identifier)]}


def receive_event(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> Receipt:
    """Store, then process. The same event delivered again is recognised and not applied twice."""
    with uow_factory() as uow:
        existing = uow.inbox.get_by_key(envelope.dedup_key)
        if existing is not None and existing.status in ("processed", "ignored"):
            return Receipt(envelope.dedup_key, "duplicate")
        if existing is None:
            try:
                uow.inbox.add(envelope.dedup_key, envelope.channel, envelope.kind, envelope.payload, now_utc())
                uow.commit()
            except Exception:  # a concurrent delivery stored it first (unique dedup key)
                uow.rollback()
                if uow.inbox.get_by_key(envelope.dedup_key) is None:
                    raise
    return process_event(uow_factory, envelope.dedup_key)


def process_event(uow_factory: UnitOfWorkFactory, dedup_key: str) -> Receipt:
    """Apply one stored event in a single transaction; on failure keep it, with its error, for a retry."""
    try:
        return _apply_stored(uow_factory, dedup_key)
    except Exception as exc:  # R8: recorded, not lost; `mplink events replay` retries it
        error = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        with uow_factory() as uow:
            uow.inbox.mark(dedup_key, "failed", now_utc(), error[:4000])
            uow.commit()
        return Receipt(dedup_key, "failed", error)


@retry_on_conflict
def _apply_stored(uow_factory: UnitOfWorkFactory, dedup_key: str) -> Receipt:
    """One attempt at applying a stored event, in one transaction."""
    with uow_factory() as uow:
        entry = uow.inbox.get_by_key(dedup_key, lock=True)
        if entry is None:
            raise InvalidEvent(f"no stored event {dedup_key!r}")
        if entry.status in ("processed", "ignored"):
            return Receipt(dedup_key, "duplicate")
        event = parse_stored(entry.channel, json.loads(entry.payload))
        if event is None:
            uow.inbox.mark(dedup_key, "ignored", now_utc())
            uow.commit()
            return Receipt(dedup_key, "ignored")
        ledger = uow.ledger.load(**_scope(event))
        ledger.apply(event)
        uow.ledger.save(ledger)
        uow.inbox.mark(dedup_key, "processed", now_utc())
        uow.commit()
        return Receipt(dedup_key, "processed")


def replay_failed(uow_factory: UnitOfWorkFactory, limit: int = 1000) -> list[Receipt]:
    """Process again every stored event that failed or was never processed."""
    with uow_factory() as uow:
        keys = [e.dedup_key for e in uow.inbox.entries(("failed", "pending"), limit)]
    return [process_event(uow_factory, k) for k in keys]
