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


#: cancellation-request status -> the words AWS puts in the event's detail-type
CANCELLATION_REQUEST_EVENT_NAMES = {
    "PENDING_APPROVAL": "Pending Approval",
    "APPROVED": "Approved",
    "REJECTED": "Rejected",
    "CANCELLED": "Cancelled",
    "VALIDATION_FAILED": "Validation Failed",
}


def cancellation_request_events(
    a: SbAgreement,
    seller_account_id: str,
    *,
    request_id: str,
    reason_code: str,
    description: str | None,
    status: str,
    status_message: str | None,
    created_at: str,
    updated_at: str,
) -> list[Event]:
    """``Agreement Cancellation Request <status> - Proposer|Manufacturer`` as the seller guide's "Events for
    cancellations" shows them (https://docs.aws.amazon.com/marketplace/latest/userguide/notifications-eventbridge.html
    #events-for-cancellations): flat agreement ids, unused messages as ``""``, times as ``YYYY-MM-DDTHH:MM:SSZ``
    (``created_at``/``updated_at`` come formatted), and ``resources: []``.

    The sandbox's events go to the ISV. When the ISV proposed the offer it gets the documented ``- Proposer``
    events. In a channel partner's offer (CPPO) the partner is the proposer; the page says ISVs get the
    ``Manufacturer`` detail types but prints neither their names nor an example, so the ISV gets the same detail
    under ``- Manufacturer``, except for Validation Failed, which the page says "is sent only to the seller"
    (the proposer that submitted the request)."""
    detail = {
        "requestId": str(uuid.uuid4()),
        "catalog": CATALOG_NAME,
        "agreement": {
            "id": a.agreement_id,
            "acceptorId": a.account_id,
            "productId": a.product_id,
            "offerId": a.offer_id,
        },
        "agreementCancellationRequest": {
            "id": request_id,
            "reasonCode": reason_code,
            "reasonMessage": description or "",
            "statusCode": status,
            "statusMessage": status_message or "",
            "createdAt": created_at,
            "updatedAt": updated_at,
        },
    }
    name = f"Agreement Cancellation Request {CANCELLATION_REQUEST_EVENT_NAMES[status]}"
    if a.proposer_account_id == seller_account_id:
        return [(f"{name} - Proposer", detail, [])]
    if status == "VALIDATION_FAILED":
        return []
    return [(f"{name} - Manufacturer", detail, [])]
