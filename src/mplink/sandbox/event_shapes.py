"""The EventBridge events AWS Marketplace sends a seller about agreements and licenses, as the sandbox builds them.

Each function returns ``(detail-type, detail, resources)`` triples; delivery is events.py's job.
"""

from __future__ import annotations

import uuid
from typing import Any

from mplink.sandbox.catalog import Offer, Product
from mplink.sandbox.ids import CATALOG_NAME
from mplink.sandbox.model import SbAgreement

Event = tuple[str, dict[str, Any], list[str]]


def agreement_events(kind: str, a: SbAgreement, offer: Offer, product: Product, seller_account_id: str) -> list[Event]:
    """``Purchase Agreement <kind>`` to the manufacturer, and to the proposer when the ISV proposed the offer."""
    detail = {
        "requestId": str(uuid.uuid4()),
        "catalog": CATALOG_NAME,
        "agreement": {
            "id": a.agreement_id,
            "intent": a.intent,
            "status": a.status,
            "acceptanceTime": a.acceptance_time,
            "startTime": a.start_time,
            "endTime": a.end_time,
            "previousAgreementId": a.previous_agreement_id,
            "autoRenewalEnabled": False,
        },
        "product": {"id": product.product_id, "title": product.title},
        "offer": {"id": offer.offer_id},
        "acceptor": {"accountId": a.account_id},
        "proposer": {"accountId": a.proposer_account_id},
        "resaleAuthorization": {"id": offer.resale_authorization_id} if offer.resale_authorization_id else None,
    }
    resources = [f"arn:aws:aws-marketplace:us-east-1:{seller_account_id}:AWSMarketplace/Agreement/{a.agreement_id}"]
    out = [(f"Purchase Agreement {kind} - Manufacturer", detail, resources)]
    if a.proposer_account_id == seller_account_id:
        # the ISV that proposed the offer itself is both manufacturer and proposer
        out.append((f"Purchase Agreement {kind} - Proposer", detail, resources))
    return out


def license_events(kind: str, a: SbAgreement, offer: Offer, product: Product, seller_account_id: str) -> list[Event]:
    """``License Updated`` / ``License Deprovisioned``, to the manufacturer only."""
    detail = {
        "requestId": str(uuid.uuid4()),
        "catalog": CATALOG_NAME,
        "product": {"code": product.product_code, "id": product.product_id},
        "license": {"arn": a.license_arn},
    }
    return [(f"{kind} - Manufacturer", detail, [a.license_arn])]
