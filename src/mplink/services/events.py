"""Marketplace event intake (R8): store the raw event first, dedup by its id, process it in one
transaction, and record a failure instead of losing the event; failed events can be replayed.

What an event lacks and the seller needs is asked of AWS, as AWS recommends: a Created REPLACE or RENEW
that does not name the agreement it follows (AWS shows ``previousAgreementId`` on one RENEW example only)
gets its chain from DescribeAgreement (``initialAgreementId``). The call is made before the event's
transaction; when it fails the event is kept as failed and replayed later, like any other failure."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from mplink.domain.clock import now_utc
from mplink.domain.errors import DomainError, InvalidEvent
from mplink.domain.event_parsing import parse_eventbridge, parse_sns_message
from mplink.domain.events import AgreementEvent, CancellationRequestEvent, LicenseEvent, MarketplaceEvent
from mplink.services.ports import AgreementFacts, MarketplaceUnavailable, SellerMarketplace
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
        ids = [event.agreement_id, event.previous_agreement_id or "", event.initial_agreement_id or ""]
        return {"agreement_ids": ids}
    if isinstance(event, LicenseEvent):
        return {"agreement_ids": [event.agreement_id or ""], "license_arns": [event.license_arn]}
    if isinstance(event, CancellationRequestEvent):
        return {"agreement_ids": [event.agreement_id]}
    return {"legacy_keys": [(event.product_code, event.customer_identifier)]}


def receive_event(
    uow_factory: UnitOfWorkFactory, envelope: Envelope, marketplace: SellerMarketplace | None = None
) -> Receipt:
    """Store, then process. The same event delivered again is recognised and not applied twice.
    ``marketplace`` answers DescribeAgreement for events that need it (without it they fail, kept)."""
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
    return process_event(uow_factory, envelope.dedup_key, marketplace)


def process_event(
    uow_factory: UnitOfWorkFactory, dedup_key: str, marketplace: SellerMarketplace | None = None
) -> Receipt:
    """Apply one stored event in a single transaction; on failure keep it, with its error, for a retry."""
    try:
        facts = _facts_needed(uow_factory, dedup_key, marketplace)
        return _apply_stored(uow_factory, dedup_key, facts)
    except Exception as exc:  # R8: recorded, not lost; `mplink events replay` retries it
        error = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        with uow_factory() as uow:
            uow.inbox.mark(dedup_key, "failed", now_utc(), error[:4000])
            uow.commit()
        return Receipt(dedup_key, "failed", error)


def _facts_needed(
    uow_factory: UnitOfWorkFactory, dedup_key: str, marketplace: SellerMarketplace | None
) -> AgreementFacts | None:
    """DescribeAgreement's answer when the stored event lacks something the seller needs, else None.
    Asked outside any transaction: a slow AWS must not hold the event's row locked."""
    with uow_factory() as uow:
        entry = uow.inbox.get_by_key(dedup_key)
    if entry is None or entry.status in ("processed", "ignored"):
        return None  # _apply_stored says why
    event = parse_stored(entry.channel, json.loads(entry.payload))
    if not isinstance(event, AgreementEvent) or not event.succeeds_unknown:
        return None
    if marketplace is None:
        raise MarketplaceUnavailable(
            f"agreement {event.agreement_id} ({event.intent}) does not name the agreement it follows, "
            "and no AWS Marketplace client was given to ask DescribeAgreement"
        )
    return marketplace.describe_agreement(event.agreement_id)


def _with_facts(event: MarketplaceEvent, facts: AgreementFacts | None) -> MarketplaceEvent:
    if facts is None or not isinstance(event, AgreementEvent):
        return event
    return dataclasses.replace(event, initial_agreement_id=facts.initial_agreement_id or event.agreement_id)


@retry_on_conflict
def _apply_stored(uow_factory: UnitOfWorkFactory, dedup_key: str, facts: AgreementFacts | None = None) -> Receipt:
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
        event = _with_facts(event, facts)
        ledger = uow.ledger.load(**_scope(event))
        ledger.apply(event)
        uow.ledger.save(ledger)
        uow.inbox.mark(dedup_key, "processed", now_utc())
        uow.commit()
        return Receipt(dedup_key, "processed")


def replay_failed(
    uow_factory: UnitOfWorkFactory, limit: int = 1000, marketplace: SellerMarketplace | None = None
) -> list[Receipt]:
    """Process again every stored event that failed or was never processed."""
    with uow_factory() as uow:
        keys = [e.dedup_key for e in uow.inbox.entries(("failed", "pending"), limit)]
    return [process_event(uow_factory, k, marketplace) for k in keys]
