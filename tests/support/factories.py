"""Builders for tests: tenants, agreements and raw marketplace events in the shapes AWS sends."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mplink.domain.agreement import Agreement
from mplink.domain.ledger import Ledger
from mplink.domain.tenant import Membership, Role, Tenant

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
PRODUCT_ID = "prod-g232pyu6l55l4"
PRODUCT_CODE = "c1saasproductcode0001"
PUBLIC_OFFER = "offer-public-tm4saas"
PRIVATE_OFFER = "offer-cm-sppo-20260101"
SELLER = "999999999999"
RESELLER = "888888888888"
SRC = "111111111111"
DST = "222222222222"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def license_arn(n: int | str) -> str:
    return f"arn:aws:license-manager::{SELLER}:license:l-{n}"


def tenant(tid: str = "t1", role: Role = Role.OWNER, user: str = "u1") -> Tenant:
    t = Tenant(id=tid, name=f"Tenant {tid}", created_at=T0)
    t.memberships.append(Membership(tenant_id=tid, user_id=user, role=role))
    return t


def registered(ledger: Ledger, agreement_id: str, account: str, n: int | str | None = None) -> Agreement:
    return ledger.record_registration(
        agreement_id=agreement_id,
        aws_account_id=account,
        license_arn=license_arn(n if n is not None else agreement_id),
        product_code=PRODUCT_CODE,
        product_id=PRODUCT_ID,
    )


#: ``endTime`` of an agreement without an end date, as the sandbox sends it (docs/sandbox.md, "Events")
OPEN_ENDED = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _aws_time(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def eventbridge(
    detail_type: str,
    agreement_id: str,
    *,
    event_id: str | None = None,
    time: datetime = T0,
    account: str = DST,
    offer: str = PRIVATE_OFFER,
    intent: str = "NEW",
    status: str = "ACTIVE",
    previous: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    proposer: str = RESELLER,
    role: str | None = None,
) -> dict[str, Any]:
    """An ``aws.agreement-marketplace`` agreement event in the shape of AWS's examples (seller guide,
    "Amazon EventBridge events"; tests/fixtures/aws/events): Ended says only the agreement's id and status;
    ``previousAgreementId`` is there only when ``previous`` is given (where the RENEW example has it). The
    role is Proposer on the seller's own offer and Manufacturer on a channel partner's, as AWS sends them."""
    role = role or ("Proposer" if proposer == SELLER else "Manufacturer")
    event_id = event_id or f"{detail_type}-{agreement_id}"
    agreement: dict[str, Any]
    if detail_type.startswith("Purchase Agreement Ended"):
        agreement = {"id": agreement_id, "status": status}
    else:
        agreement = {
            "id": agreement_id,
            "intent": intent,
            "status": status,
            "acceptanceTime": _aws_time(start or time),
            "startTime": _aws_time(start or time),
            "endTime": _aws_time(end or OPEN_ENDED),
        }
        if previous is not None:
            agreement["previousAgreementId"] = previous
    return {
        "version": "0",
        "id": event_id,
        "detail-type": f"{detail_type} - {role}",
        "source": "aws.agreement-marketplace",
        "account": SELLER,
        "time": _aws_time(time),
        "region": "us-east-1",
        "resources": [f"arn:aws:aws-marketplace::aws:agreement:{agreement_id}"],
        "detail": {
            "requestId": str(uuid.uuid5(uuid.NAMESPACE_URL, event_id)),
            "catalog": "AWSMarketplace",
            "agreement": agreement,
            "resaleAuthorization": {"id": "resaleauthz-cm-20260101" if proposer == RESELLER else None},
            "acceptor": {"accountId": account},
            "proposer": {"accountId": proposer},
            "offer": {"id": offer},
        },
    }


def license_event(
    kind: str,
    arn: str,
    *,
    event_id: str,
    time: datetime = T0,
    drop_prefix: bool = False,
    agreement: str | None = None,
    account: str = DST,
) -> dict[str, Any]:
    """``License <kind> - Manufacturer`` as AWS's examples show it; the agreement is ``agreement``, else the
    one ``license_arn(n)`` was made for (``n``)."""
    agreement_id = agreement or arn.rsplit(":license:l-", 1)[-1]
    return {
        "version": "0",
        "id": event_id,
        "detail-type": f"License {kind} - Manufacturer",
        "source": "aws.agreement-marketplace",
        "account": SELLER,
        "time": _aws_time(time),
        "region": "us-east-1",
        "resources": [f"arn:aws:aws-marketplace::aws:agreement:{agreement_id}"],
        "detail": {
            "requestId": str(uuid.uuid5(uuid.NAMESPACE_URL, event_id)),
            "catalog": "AWSMarketplace",
            "agreement": {"id": agreement_id},
            "product": {"code": PRODUCT_CODE, "id": PRODUCT_ID},
            "license": {"arn": arn.removeprefix("arn:") if drop_prefix else arn},
            "acceptor": {"accountId": account},
            "proposer": {"accountId": RESELLER},
            "offer": {"id": PRIVATE_OFFER.removeprefix("offer-")},
        },
    }


def sns_envelope(action: str, customer: str, *, message_id: str, time: datetime = T0) -> dict[str, Any]:
    message = {
        "action": action,
        "customer-identifier": customer,
        "product-code": PRODUCT_CODE,
        "offer-identifier": PUBLIC_OFFER,
        "isFreeTrialTermPresent": "false",
    }
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": f"arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-{PRODUCT_CODE}",
        "Message": json.dumps(message),
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SignatureVersion": "2",
        "Signature": "",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
    }
