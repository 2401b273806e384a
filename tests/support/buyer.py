"""The buyer's side through boto3: every response checked against botocore's output shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.support.sandbox_fixtures import DST, RunningSandbox
from tests.support.shapes import assert_valid_output


def checked(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    method = getattr(client, _snake(operation))
    response: dict[str, Any] = method(**params)
    assert_valid_output(client, operation, response)
    return response


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def subscribe(sb: RunningSandbox, account: str, offer_id: str, token: str | None = None) -> str:
    """The buyer APIs end to end: find the offer, request and accept an agreement."""
    disc = sb.client("marketplace-discovery", account)
    offer = checked(disc, "GetOffer", offerId=offer_id)
    terms = checked(disc, "GetOfferTerms", offerId=offer_id)["offerTerms"]
    agr = sb.client("marketplace-agreement", account)
    params: dict[str, Any] = {
        "intent": "NEW",
        "agreementProposalIdentifier": offer["agreementProposalId"],
        "requestedTerms": [{"id": next(iter(t.values()))["id"]} for t in terms],
    }
    if token:
        params["clientToken"] = token
    request = checked(agr, "CreateAgreementRequest", **params)
    accepted = checked(agr, "AcceptAgreementRequest", agreementRequestId=request["agreementRequestId"])
    return str(accepted["agreementId"])


def registration(sb: RunningSandbox, account: str, offer: str) -> tuple[str, dict[str, Any]]:
    """Subscribe ``account`` to ``offer``: the agreement id and its (provisioned) entitlement."""
    agreement_id = subscribe(sb, account, offer)
    ent = sb.client("marketplace-agreement", account).get_agreement_entitlements(agreementId=agreement_id)
    return agreement_id, ent["agreementEntitlements"][0]


def record(
    license_arn: str, account: str = DST, dim: str = "conformity_accounts", qty: int = 1, at: datetime | None = None
) -> dict[str, Any]:
    """A BatchMeterUsage record for a LicenseArn integration."""
    return {
        "Timestamp": at or datetime.now(UTC),
        "Dimension": dim,
        "Quantity": qty,
        "CustomerAWSAccountId": account,
        "LicenseArn": license_arn,
    }
