"""The terms of the sandbox's offers as the agreement service shows them, and the rules for requesting them.

Every offer of the catalog has a UsageBasedPricingTerm (pay-as-you-go), a LegalTerm and a SupportTerm; an
offer marked ``"renewal_term": true`` also has a RenewalTerm, the one term whose configuration a buyer
chooses (``enableAutoRenew``) and may change later with intent AMEND. Sources: ``RequestedTerm``,
``RequestedTermConfiguration`` and ``RenewalTerm`` in botocore's marketplace-agreement model; the dev guide
pages work-with-agreement-api-buyer.html (which terms a request must carry, what AMEND may change) and
agreement-apis.html (the reason codes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from mplink.sandbox.agreement_errors import invalid
from mplink.sandbox.catalog import Offer, Product
from mplink.sandbox.ids import term_ids

#: term type -> its member in the AcceptedTerm / AgreementRequestTerm unions
_MEMBER = {
    "UsageBasedPricingTerm": "usageBasedPricingTerm",
    "LegalTerm": "legalTerm",
    "SupportTerm": "supportTerm",
    "RenewalTerm": "renewalTerm",
}
#: term type -> the RequestedTermConfiguration member it takes; the other terms take none
CONFIGURATION = {"RenewalTerm": "renewalTermConfiguration"}
#: [dev guide work-with-agreement-api-buyer] "The following terms must be included in every agreement when
#: present in the offer: LegalTerm, SupportTerm, ValidityTerm, and RenewalTerm." and, for usage offers, the
#: first agreement accepts "UsageBasedPricingTerm and/or RecurringPaymentTerm ... along with the mandatory terms"
MANDATORY = ("UsageBasedPricingTerm", "LegalTerm", "SupportTerm", "RenewalTerm")


def term_items(product: Product, offer: Offer, auto_renew: bool | None, only: list[str] | None = None) -> list[Any]:
    """The offer's terms as AcceptedTerm (and AgreementRequestTerm) union items, in the offer's order;
    ``only`` keeps the terms with these ids. The RenewalTerm carries the buyer's ``enableAutoRenew``."""
    ids = term_ids(offer)
    rate_card = [
        {"dimensionKey": d.key, "price": offer.price_of(d.key)} for s in product.services for d in s.dimensions
    ]
    bodies: dict[str, dict[str, Any]] = {
        "UsageBasedPricingTerm": {"currencyCode": "USD", "rateCards": [{"rateCard": rate_card}]},
        "LegalTerm": {"documents": [{"type": "StandardEula", "url": "https://example.invalid/eula", "version": "1"}]},
        "SupportTerm": {"refundPolicy": "Refunds are handled by the seller of record."},
        "RenewalTerm": {"configuration": {"enableAutoRenew": bool(auto_renew)}},
    }
    return [
        {_MEMBER[kind]: {"type": kind, "id": term_id, **bodies[kind]}}
        for kind, term_id in ids.items()
        if only is None or term_id in only
    ]


@dataclass(frozen=True)
class RequestedTerms:
    """What a checked ``requestedTerms`` asks for."""

    term_ids: list[str]
    #: the auto-renewal choice (RenewalTerm's configuration); None when the request makes none
    auto_renew: bool | None


def _kinds(offer: Offer, requested: list[dict[str, Any]]) -> dict[str, str]:
    """term id -> term type for each requested term, refusing repeated and unknown ids."""
    repeated = [t for t, n in Counter(t["id"] for t in requested).items() if n > 1]
    if repeated:
        raise invalid("INVALID_REQUESTED_TERMS", f"requestedTerms names term {repeated[0]} more than once")
    by_id = {term_id: kind for kind, term_id in term_ids(offer).items()}
    unknown = [t["id"] for t in requested if t["id"] not in by_id]
    if unknown:
        raise invalid("INVALID_REQUESTED_TERM_ID", f"term {unknown[0]} is not a term of offer {offer.offer_id}")
    return {t["id"]: by_id[t["id"]] for t in requested}


def _configuration(kind: str, term: dict[str, Any]) -> dict[str, Any] | None:
    """The term's configuration, refusing one "provided for a term that does not accept one" or of another kind
    [dev guide, INVALID_REQUESTED_TERM_CONFIGURATION]."""
    configuration = term.get("configuration")
    if not configuration:
        return None
    member = CONFIGURATION.get(kind)
    if member is None:
        raise invalid(
            "INVALID_REQUESTED_TERM_CONFIGURATION", f"term {term['id']} is a {kind}, which takes no configuration"
        )
    if set(configuration) != {member}:
        raise invalid(
            "INVALID_REQUESTED_TERM_CONFIGURATION", f"term {term['id']} is a {kind}: configure it with {member}"
        )
    value: dict[str, Any] = configuration[member]
    return value


def check_new(offer: Offer, requested: list[dict[str, Any]]) -> RequestedTerms:
    """``requestedTerms`` of intent NEW or REPLACE: every mandatory term of the offer, each at most once.

    SILENT: whether RenewalTerm must come with a configuration. The model: "The acceptor will have the option
    to accept or decline auto-renewal at the offer acceptance"; the sandbox takes no configuration as declined.
    """
    kinds = _kinds(offer, requested)
    auto_renew: bool | None = None
    for term in requested:
        configuration = _configuration(kinds[term["id"]], term)
        if kinds[term["id"]] == "RenewalTerm":
            auto_renew = bool(configuration["enableAutoRenew"]) if configuration else False
    offered = term_ids(offer)
    missing = [kind for kind in MANDATORY if kind in offered and offered[kind] not in kinds]
    if missing:
        raise invalid(
            "MISSING_MANDATORY_TERMS", f"requestedTerms must include the offer's {missing[0]} ({offered[missing[0]]})"
        )
    return RequestedTerms([t["id"] for t in requested], auto_renew)


def check_amendment(offer: Offer, auto_renew: bool | None, requested: list[dict[str, Any]]) -> RequestedTerms:
    """``requestedTerms`` of intent AMEND against the agreement's terms (its offer's; current ``auto_renew``).

    [dev guide work-with-agreement-api-buyer] "The acceptor is only permitted to modify the configuration for
    the accepted terms" and "Only include the terms whose configuration you want to change." So a term named
    without a configuration changes nothing. An agreement with no configurable term (pure pay-as-you-go) has
    nothing to amend: UNSUPPORTED_ACTION ("the resource type and term type combination does not support the
    requested intent"). A configuration on a term that takes none, a configurable term without one, and a
    configuration equal to the agreement's are INVALID_REQUESTED_TERM_CONFIGURATION, whose documented cases
    include "A required configuration is missing" and "The configuration does not differ from the source
    agreement".
    """
    kinds = _kinds(offer, requested)
    configured = {term["id"]: _configuration(kinds[term["id"]], term) for term in requested}
    if not any(kind in CONFIGURATION for kind in term_ids(offer)):
        raise invalid(
            "UNSUPPORTED_ACTION",
            f"offer {offer.offer_id} has no term a buyer configures (pay-as-you-go): the agreement has nothing "
            "to amend",
        )
    new_auto_renew = auto_renew
    for term_id, kind in kinds.items():
        configuration = configured[term_id]
        if kind == "RenewalTerm":
            if configuration is None:
                raise invalid(
                    "INVALID_REQUESTED_TERM_CONFIGURATION", f"term {term_id} needs renewalTermConfiguration to amend"
                )
            new_auto_renew = bool(configuration["enableAutoRenew"])
    if new_auto_renew == auto_renew:
        raise invalid(
            "INVALID_REQUESTED_TERM_CONFIGURATION", "the configuration does not differ from the source agreement"
        )
    return RequestedTerms(list(kinds), new_auto_renew)
