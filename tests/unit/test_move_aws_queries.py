"""``mplink move``'s AWS queries against botocore's Stubber: only the SearchAgreements filter combinations
AWS documents, and every page read."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.stub import Stubber

from mplink.move.aws import BuyerAccount

FILTERS = [
    {"name": "PartyType", "values": ["Acceptor"]},
    {"name": "AgreementType", "values": ["PurchaseAgreement"]},
    {"name": "ResourceIdentifier", "values": ["prod-abcdef123"]},
    {"name": "Status", "values": ["ACTIVE"]},
]


def summary(agreement_id: str, offer_id: str, day: int) -> dict[str, object]:
    return {
        "agreementId": agreement_id,
        "acceptanceTime": datetime(2026, 11, day, tzinfo=UTC),
        "proposalSummary": {"offerId": offer_id},
        "status": "ACTIVE",
    }


def test_active_agreements_use_a_documented_acceptor_query_and_read_every_page() -> None:
    """botocore's SearchAgreements documentation (marketplace-agreement, member ``filters``): as Acceptor,
    ``AgreementType + ResourceIdentifier + Status`` is a supported combination, ``+ OfferId`` on top of it
    is not, and AgreementType is required. So the offer is filtered here, after reading all pages."""
    session = boto3.session.Session(aws_access_key_id="AKIA111111111111", aws_secret_access_key="x")
    client = session.client("marketplace-agreement", region_name="us-east-1")
    buyer = BuyerAccount("p", session, "111111111111", {"marketplace-agreement": client})
    with Stubber(client) as stub:
        first = {"catalog": "AWSMarketplace", "filters": FILTERS}
        stub.add_response(
            "search_agreements",
            {"agreementViewSummaries": [summary("agmt-old", "offer-a", 1)], "nextToken": "page-2"},
            first,
        )
        stub.add_response(
            "search_agreements",
            {"agreementViewSummaries": [summary("agmt-new", "offer-a", 2), summary("agmt-other", "offer-b", 3)]},
            {**first, "nextToken": "page-2"},
        )
        found = buyer.active_agreements("prod-abcdef123", "offer-a")
        stub.assert_no_pending_responses()
    assert [s["agreementId"] for s in found] == ["agmt-new", "agmt-old"]
