"""Names and identifiers the sandbox gives out the way AWS writes them."""

from __future__ import annotations

import hashlib
import secrets

from mplink.sandbox.catalog import Offer

CATALOG_NAME = "AWSMarketplace"
AGREEMENT_TYPE = "PurchaseAgreement"
RESOURCE_TYPE = "SaaSProduct"


def new_id(prefix: str, n: int = 20) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def proposal_id(offer_id: str) -> str:
    """The agreement proposal a buyer accepts to take an offer (GetOffer's ``agreementProposalId``)."""
    return "ap-" + hashlib.sha256(offer_id.encode()).hexdigest()[:24]


def term_ids(offer: Offer) -> dict[str, str]:
    """Stable ids of the offer's terms, by term kind."""
    h = hashlib.sha256(offer.offer_id.encode()).hexdigest()[:16]
    kinds = ("UsageBasedPricingTerm", "LegalTerm", "SupportTerm") + (("RenewalTerm",) if offer.renewal_term else ())
    return {kind: f"term-{kind[:5].lower()}-{h}" for kind in kinds}
