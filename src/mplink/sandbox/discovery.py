"""AWS Marketplace Discovery API (marketplace-discovery): what a buyer sees of products and offers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mplink.sandbox.catalog import Offer, Product
from mplink.sandbox.ids import CATALOG_NAME, proposal_id, term_ids
from mplink.sandbox.model import SbAgreement
from mplink.sandbox.paging import page

if TYPE_CHECKING:
    from mplink.sandbox.marketplace import Marketplace


class DiscoveryApi:
    """The discovery service's operations, for buyers."""

    def __init__(self, market: Marketplace) -> None:
        self.m = market

    def _badges(self, caller: str, product: Product, offer: Offer) -> list[dict[str, str]]:
        badges = []
        if offer.private:
            badges.append({"displayName": "Private pricing", "badgeType": "PRIVATE_PRICING"})
        if self._replacement_for(caller, product, offer):
            badges.append({"displayName": "Replacement offer", "badgeType": "REPLACEMENT_OFFER"})
        return badges

    def _replacement_for(self, caller: str, product: Product, offer: Offer) -> SbAgreement | None:
        current = self.m.active_agreements(caller, product.product_id)
        if not offer.private or any(a.offer_id == offer.offer_id for a in current):
            return None
        return next((a for a in current if not self.m.offer(a.offer_id)[1].private), None)

    def _product_entity(self, product: Product) -> dict[str, Any]:
        return {
            "productId": product.product_id,
            "productName": product.title,
            "manufacturer": self.m.seller_profile(self.m.catalog.seller_account_id, self.m.catalog.seller_name),
        }

    def list_purchase_options(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            filters: dict[str, list[str]] = {}
            for f in p.get("filters") or []:
                filters.setdefault(f["filterType"], []).extend(f["filterValues"])
            options = []
            for product in self.m.catalog.products:
                if "PRODUCT_ID" in filters and product.product_id not in filters["PRODUCT_ID"]:
                    continue
                for offer in product.offers:
                    seller = self.m.seller_profile(offer.proposer_account_id, offer.proposer_name)
                    checks = {
                        "PURCHASE_OPTION_TYPE": "OFFER",
                        "VISIBILITY_SCOPE": "PRIVATE" if offer.private else "PUBLIC",
                        "AVAILABILITY_STATUS": "AVAILABLE",
                        "SELLER_OF_RECORD_PROFILE_ID": seller["sellerProfileId"],
                    }
                    if not self.m.visible(caller, offer) or not all(
                        checks[k] in v for k, v in filters.items() if k != "PRODUCT_ID"
                    ):
                        continue
                    options.append(
                        {
                            "purchaseOptionId": offer.offer_id,
                            "catalog": CATALOG_NAME,
                            "purchaseOptionType": "OFFER",
                            "purchaseOptionName": offer.name,
                            "sellerOfRecord": seller,
                            "badges": self._badges(caller, product, offer),
                            "associatedEntities": [
                                {
                                    "product": self._product_entity(product),
                                    "offer": {
                                        "offerId": offer.offer_id,
                                        "offerName": offer.name,
                                        "sellerOfRecord": seller,
                                    },
                                }
                            ],
                        }
                    )
            items_page, token = page(options, p.get("nextToken"), p.get("maxResults", 25))
            out: dict[str, Any] = {"purchaseOptions": items_page}
            if token:
                out["nextToken"] = token
            return out

    def get_offer(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            product, offer = self.m.visible_offer(caller, p["offerId"])
            out: dict[str, Any] = {
                "offerId": offer.offer_id,
                "catalog": CATALOG_NAME,
                "offerName": offer.name,
                "sellerOfRecord": self.m.seller_profile(offer.proposer_account_id, offer.proposer_name),
                "associatedEntities": [{"product": self._product_entity(product)}],
                "agreementProposalId": proposal_id(offer.offer_id),
                "pricingModel": {"pricingModelType": "USAGE", "displayName": "Usage-based"},
                "badges": self._badges(caller, product, offer),
            }
            if p.get("locale"):
                out["locale"] = p["locale"]
            replaced = self._replacement_for(caller, product, offer)
            if replaced:
                out["replacementAgreementId"] = replaced.agreement_id
            return out

    def get_offer_terms(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            product, offer = self.m.visible_offer(caller, p["offerId"])
            ids = term_ids(offer)
            rate_card = [
                {
                    "dimensionKey": d.key,
                    "displayName": d.name,
                    "unit": d.unit,
                    "price": offer.price_of(d.key),
                    "regionalPrices": [],
                }
                for s in product.services
                for d in s.dimensions
            ]
            terms = [
                {
                    "usageBasedPricingTerm": {
                        "id": ids["UsageBasedPricingTerm"],
                        "type": "UsageBasedPricingTerm",
                        "currencyCode": "USD",
                        "rateCards": [{"rateCard": rate_card}],
                    }
                },
                {
                    "legalTerm": {
                        "id": ids["LegalTerm"],
                        "type": "LegalTerm",
                        "documents": [{"type": "StandardEula", "url": "https://example.invalid/eula", "version": "1"}],
                    }
                },
                {
                    "supportTerm": {
                        "id": ids["SupportTerm"],
                        "type": "SupportTerm",
                        "refundPolicy": "Refunds are handled by the seller of record.",
                    }
                },
            ]
            if "RenewalTerm" in ids:
                terms.append({"renewalTerm": {"id": ids["RenewalTerm"], "type": "RenewalTerm"}})
            items_page, token = page(terms, p.get("nextToken"), p.get("maxResults", 25))
            out: dict[str, Any] = {"offerTerms": items_page}
            if token:
                out["nextToken"] = token
            return out
