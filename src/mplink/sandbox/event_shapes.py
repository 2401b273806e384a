"""The EventBridge events AWS Marketplace sends a seller, as the sandbox builds them.

Every shape here is the shape of an example in AWS's seller guide, "Amazon EventBridge events"
(https://docs.aws.amazon.com/marketplace/latest/userguide/notifications-eventbridge.html); the examples
themselves are kept in ``tests/fixtures/aws/events/``, and a test compares each event built here with
the example of its detail-type, key by key. No key is added and none left out. Where the pages are
silent, the closest example decides; docs/sandbox.md ("Events") lists those choices and why.

Who receives what (the SaaS EventBridge page): an ISV selling its own offer is both manufacturer and
proposer, and then only the ``- Proposer`` agreement events are sent; on a channel partner's offer
(CPPO) the ISV is manufacturer only and gets the ``- Manufacturer`` ones. License events exist only as
``- Manufacturer``. The sandbox delivers the seller's (the ISV's) events only.

Each builder returns ``(detail-type, detail, resources)`` triples; the envelope and the delivery are
events.py's job.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from mplink.sandbox.catalog import Offer, Product
from mplink.sandbox.ids import CATALOG_NAME
from mplink.sandbox.model import SbAgreement

Event = tuple[str, dict[str, Any], list[str]]

#: the ``endTime`` of an agreement without an end date. AWS shows no such example; every example has
#: ``endTime`` as a date, so the sandbox sends a far-future date rather than null (docs/sandbox.md)
OPEN_ENDED = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def aws_time(ts: datetime) -> str:
    """Times as AWS prints them in events: UTC, whole seconds, ``2024-08-30T21:36:03Z``."""
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def agreement_arn(agreement_id: str) -> str:
    """``resources`` of agreement and license events: region empty, account field the literal ``aws``."""
    return f"arn:aws:aws-marketplace::aws:agreement:{agreement_id}"


def request_id() -> str:
    """``detail.requestId``: a UUID, the de-duplication key the buyer guide names."""
    return str(uuid.uuid4())


def seller_role(offer: Offer, seller_account_id: str) -> str:
    """The role the seller's agreement events carry: Proposer for its own offers, Manufacturer on a CPPO."""
    return "Proposer" if offer.proposer_account_id == seller_account_id else "Manufacturer"


def _party(account_id: str) -> dict[str, Any]:
    return {"accountId": account_id}


def _resale(offer: Offer) -> dict[str, Any]:
    # "populated" on a channel partner's offer, "null" on a direct one: the id is null, the key stays
    return {"id": offer.resale_authorization_id}


def _terms(a: SbAgreement) -> dict[str, Any]:
    return {
        "id": a.agreement_id,
        "intent": a.intent,
        "status": a.status,
        "acceptanceTime": aws_time(a.acceptance_time),
        "startTime": aws_time(a.start_time),
        "endTime": aws_time(a.end_time or OPEN_ENDED),
    }


def agreement_events(kind: str, a: SbAgreement, offer: Offer, product: Product, seller_account_id: str) -> list[Event]:
    """``Purchase Agreement <kind> - <role>`` (kind: Created, Amended or Ended), to the seller only."""
    role = seller_role(offer, seller_account_id)
    head: dict[str, Any] = {"requestId": request_id(), "catalog": CATALOG_NAME}
    detail: dict[str, Any]
    if kind == "Ended":
        # the examples (both roles) say only the id and the final status
        detail = {
            **head,
            "agreement": {"id": a.agreement_id, "status": a.status},
            "resaleAuthorization": _resale(offer),
            "acceptor": _party(a.account_id),
            "proposer": _party(a.proposer_account_id),
            "offer": {"id": offer.offer_id},
        }
    elif kind == "Created" and a.intent == "RENEW" and role == "Proposer":
        # "when a renewal creates a new agreement": the only example with previousAgreementId
        detail = {
            **head,
            "agreement": {**_terms(a), "previousAgreementId": a.previous_agreement_id},
            "product": {"id": product.product_id, "title": product.title},
            "acceptor": _party(a.account_id),
            "proposer": {"name": offer.proposer_name or a.proposer_account_id, **_party(a.proposer_account_id)},
            "offer": {"id": offer.offer_id},
        }
    elif kind == "Amended" and role == "Proposer":
        detail = {
            **head,
            # the buyer's RenewalTerm choice (off without one); the sandbox has no renewal lockout (null, as
            # documented), and only the buyer turns auto-renewal off (disabledBy ACCEPTOR)
            "agreement": {**_terms(a), "autoRenewalEnabled": a.auto_renew is True},
            "renewalSummary": {"lockoutStartTime": None, "disabledBy": "ACCEPTOR" if a.auto_renew is False else None},
            "product": {"id": product.product_id, "title": product.title},
            "resaleAuthorization": _resale(offer),
            "acceptor": _party(a.account_id),
            "proposer": _party(a.proposer_account_id),
            "offer": {"id": offer.offer_id},
        }
    else:
        # Created (NEW, and REPLACE, which AWS shows no example of) and Amended - Manufacturer
        detail = {
            **head,
            "agreement": _terms(a),
            "resaleAuthorization": _resale(offer),
            "acceptor": _party(a.account_id),
            "proposer": _party(a.proposer_account_id),
            "offer": {"id": offer.offer_id},
        }
    return [(f"Purchase Agreement {kind} - {role}", detail, [agreement_arn(a.agreement_id)])]


def printed_license_arn(license_arn: str) -> str:
    """``license.arn`` as AWS's examples print it: without the leading ``arn:``."""
    return license_arn.removeprefix("arn:")


def printed_offer_id(offer_id: str) -> str:
    """``offer.id`` in License events: the examples print it without the ``offer-`` prefix."""
    return offer_id.removeprefix("offer-")


def license_events(kind: str, a: SbAgreement, offer: Offer, product: Product, seller_account_id: str) -> list[Event]:
    """``License Updated - Manufacturer`` / ``License Deprovisioned - Manufacturer`` (kind: the first words).
    License events carry no status and no times: what the license grants comes from GetEntitlements."""
    detail = {
        "requestId": request_id(),
        "catalog": CATALOG_NAME,
        "agreement": {"id": a.agreement_id},
        "product": {"code": product.product_code, "id": product.product_id},
        "license": {"arn": printed_license_arn(a.license_arn)},
        "acceptor": _party(a.account_id),
        "proposer": _party(a.proposer_account_id),
        "offer": {"id": printed_offer_id(offer.offer_id)},
    }
    return [(f"{kind} - Manufacturer", detail, [agreement_arn(a.agreement_id)])]


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
