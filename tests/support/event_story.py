"""One marketplace story told as raw events (EventBridge and SNS), and a ledger snapshot to compare endings."""

from __future__ import annotations

import dataclasses
from typing import Any

from mplink.domain.event_parsing import parse_eventbridge, parse_sns_message
from mplink.domain.events import MarketplaceEvent
from mplink.domain.ledger import Ledger
from tests.support.factories import (
    DST,
    PUBLIC_OFFER,
    SELLER,
    SRC,
    at,
    eventbridge,
    license_arn,
    license_event,
    registered,
    sns_envelope,
    tenant,
)

RAW_EVENTBRIDGE = [
    eventbridge("Purchase Agreement Created", "A", account=SRC, offer=PUBLIC_OFFER, proposer=SELLER, time=at(0)),
    eventbridge("Purchase Agreement Created", "B", account=DST, time=at(55)),
    eventbridge("Purchase Agreement Amended", "B", event_id="amend-1", offer="offer-x", time=at(70)),
    eventbridge("Purchase Agreement Amended", "B", event_id="amend-2", offer="offer-y", time=at(80)),
    eventbridge("Purchase Agreement Ended", "A", account=SRC, status="CANCELLED", time=at(90)),
    eventbridge("Purchase Agreement Created", "C", account=DST, intent="REPLACE", previous="B", time=at(100)),
    eventbridge("Purchase Agreement Ended", "B", account=DST, status="REPLACED", time=at(100)),
    eventbridge("Purchase Agreement Created", "D", account=DST, intent="RENEW", previous="C", time=at(200)),
    eventbridge("Purchase Agreement Ended", "C", account=DST, status="RENEWED", time=at(200)),
    license_event("Updated", license_arn("B"), event_id="lic-upd-B", time=at(56), drop_prefix=True),
    license_event("Deprovisioned", license_arn("A"), event_id="lic-dep-A", time=at(95)),
    license_event("Deprovisioned", license_arn("A"), event_id="lic-dep-A2", time=at(93)),
]


RAW_SNS = [
    sns_envelope("subscribe-success", "cust-A", message_id="sns-1", time=at(0)),
    sns_envelope("unsubscribe-pending", "cust-A", message_id="sns-2", time=at(85)),
    sns_envelope("unsubscribe-success", "cust-A", message_id="sns-3", time=at(91)),
    sns_envelope("entitlement-updated", "cust-A", message_id="sns-4", time=at(10)),
]


def _events() -> list[MarketplaceEvent]:
    out: list[MarketplaceEvent] = []
    for raw in RAW_EVENTBRIDGE:
        ev = parse_eventbridge(raw)
        assert ev is not None
        out.append(ev)
    for raw in RAW_SNS:
        ev = parse_sns_message(raw)
        assert ev is not None
        out.append(ev)
    return out


EVENTS = _events()


def _start() -> Ledger:
    """Tenant t1 pays from SRC (agreement A), then links DST (agreement B): the billing-account change."""
    ledger = Ledger()
    t = tenant()
    registered(ledger, "A", SRC).customer_identifier = "cust-A"
    ledger.link(t, "u1", "A", at(1))
    registered(ledger, "B", DST)
    ledger.link(t, "u1", "B", at(60))
    return ledger


def snapshot(ledger: Ledger) -> dict[str, Any]:
    return {
        "agreements": {k: dataclasses.asdict(v) for k, v in sorted(ledger.agreements.items())},
        "links": sorted(
            (lk.tenant_id, lk.agreement_id, lk.starts_at, lk.ends_at or at(10**6), lk.end_reason or "")
            for lk in ledger.links
        ),
        # history and updated_at record when things were processed, not what the state is
        "changes": sorted(
            (c.tenant_id, c.from_agreement_id or "", c.to_agreement_id or "", c.state.value, c.source_ended_at)
            for c in ledger.changes
        ),
        "licenses": {k: dataclasses.asdict(v) for k, v in sorted(ledger.licenses.items())},
        "legacy": {k: dataclasses.asdict(v) for k, v in sorted(ledger.legacy.items())},
    }
