"""AWS Marketplace Discovery API (marketplace-discovery): what a buyer sees of listings, products and offers.

Everything comes from the sandbox's catalog, shaped as the Discovery model's outputs, in the service's default
locale (the catalog has no translations). A product, its listing and its offers are visible to an account when
one of the product's offers is: a public offer to everyone, a private offer only to the accounts it is extended
to. What the catalog does not hold (reviews, media, case studies, trust centers, offer sets) is answered as
absent, never invented.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from mplink.sandbox.catalog import Offer, Product
from mplink.sandbox.errors import SandboxError, validation
from mplink.sandbox.ids import CATALOG_NAME, proposal_id, term_ids
from mplink.sandbox.model import SbAgreement
from mplink.sandbox.paging import with_next_token
from mplink.sandbox.protocol import DISCOVERY, service_model

if TYPE_CHECKING:
    from mplink.sandbox.marketplace import Marketplace

#: the model's Locale: "en-US English (service default, also resolves from en), fr, es, ko, ja"
DEFAULT_LOCALE = "en-US"
SUPPORTED_LANGUAGES = frozenset({"en", "fr", "es", "ko", "ja"})
#: the model's nextToken: "Each pagination token expires after 24 hours."
TOKEN_LIFETIME = timedelta(hours=24)

SAAS = {"fulfillmentOptionType": "SAAS", "displayName": "SaaS"}
USAGE = {"pricingModelType": "USAGE", "displayName": "Usage-based"}
UNITS = {"pricingUnitType": "UNITS", "displayName": "Units"}
DEPLOYED_BADGE = {"displayName": "Deployed on AWS", "badgeType": "DEPLOYED_ON_AWS"}
NO_REVIEWS: dict[str, Any] = {"reviewSourceSummaries": []}

#: ListPurchaseOptions' closed filter values (the model's PurchaseOptionFilter.filterValues)
_PURCHASE_OPTION_VALUES = {
    "PURCHASE_OPTION_TYPE": frozenset({"OFFER", "OFFERSET"}),
    "VISIBILITY_SCOPE": frozenset({"PRIVATE"}),
    "AVAILABILITY_STATUS": frozenset({"AVAILABLE", "EXPIRED"}),
}
_RANGE_FILTERS = ("MIN_AVERAGE_CUSTOMER_RATING", "MAX_AVERAGE_CUSTOMER_RATING")
_WORD = re.compile(r"\w+")


@cache
def _enum(shape: str) -> frozenset[str]:
    """The values of one of the model's string enums."""
    return frozenset(service_model(DISCOVERY).shape_for(shape).enum)


@cache
def _facet_types() -> frozenset[str]:
    """SearchFacets' facet types: the keys of the model's TypeToFacetMap."""
    return frozenset(service_model(DISCOVERY).shape_for("TypeToFacetMap").key.enum)


def _malformed(message: str) -> SandboxError:
    """The model's ValidationException reason MALFORMED_REQUEST_PARAMETERS: "One or more request parameters have an
    invalid value."."""
    return validation(message, reason="MALFORMED_REQUEST_PARAMETERS")


def _bad_token() -> SandboxError:
    """The model's ValidationException reason INVALID_PAGINATION_TOKEN."""
    return validation(
        "The nextToken value is malformed, expired, or belongs to a different request. Start the pagination "
        "again from the first page.",
        reason="INVALID_PAGINATION_TOKEN",
    )


def _not_found(what: str, identifier: str) -> SandboxError:
    """The model's ResourceNotFoundException ("The specified resource doesn't exist."), which has only a message:
    the same for an id that does not exist and for one the caller may not see."""
    return SandboxError(
        "ResourceNotFoundException", f"{what} {identifier} not found. Verify that the identifier is correct."
    )


def content_locale(requested: str | None) -> str:
    """The locale of an answer's content. The catalog is written in the default locale only, and the model's Locale
    says content falls back to it when the preferred locale's is unavailable; a preferred locale the service does
    not support (``fr-CA`` resolves to ``fr``, ``en`` to ``en-US``) is a ValidationException unless the default
    locale follows it as the fallback (``xx, en-US``). At most two language tags."""
    if requested is None:
        return DEFAULT_LOCALE
    tags = [t.strip() for t in requested.split(",")]
    if len(tags) > 2 or not all(tags):
        raise _malformed(f"locale {requested!r}: give one language tag, or two separated by a comma")

    def language(tag: str) -> str:
        return tag.split("-")[0].split("_")[0].lower()

    if language(tags[0]) in SUPPORTED_LANGUAGES or (len(tags) == 2 and language(tags[1]) == "en"):
        return DEFAULT_LOCALE
    raise _malformed(
        f"locale {requested!r} is not supported and names no fallback: use en-US, fr, es, ko or ja, "
        "or add en-US as the fallback"
    )


class DiscoveryApi:
    """The discovery service's operations, for buyers."""

    def __init__(self, market: Marketplace) -> None:
        self.m = market

    # -- what the caller may see ------------------------------------------------------------------------
    def _visible_products(self, caller: str) -> list[Product]:
        return [p for p in self.m.catalog.products if any(self.m.visible(caller, o) for o in p.offers)]

    def _visible_product(self, caller: str, product_id: str) -> Product:
        found = next((p for p in self._visible_products(caller) if p.product_id == product_id), None)
        if found is None:
            raise _not_found("Product", product_id)
        return found

    def _visible_listing(self, caller: str, listing_id: str) -> Product:
        found = next((p for p in self._visible_products(caller) if p.listing_id == listing_id), None)
        if found is None:
            raise _not_found("Listing", listing_id)
        return found

    # -- pagination -------------------------------------------------------------------------------------
    def _page(
        self, caller: str, operation: str, p: dict[str, Any], items: list[Any], default_size: int
    ) -> tuple[list[Any], str | None]:
        """One page of ``items`` and the token of the next. The token names the request it belongs to (caller,
        operation, every argument but nextToken and maxResults) and when it was issued: the model says "Keep all
        other arguments unchanged. Each pagination token expires after 24 hours."."""
        request = {k: v for k, v in p.items() if k not in ("nextToken", "maxResults")}
        fingerprint = hashlib.sha256(
            json.dumps([caller, operation, request], sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        start = 0
        if p.get("nextToken"):
            try:
                token = json.loads(base64.b64decode(p["nextToken"], validate=True))
                start, issued, owner = int(token["o"]), float(token["t"]), str(token["f"])
            except (ValueError, TypeError, KeyError, binascii.Error):
                raise _bad_token() from None
            age = self.m.now().timestamp() - issued
            if owner != fingerprint or not 0 <= age < TOKEN_LIFETIME.total_seconds() or not 0 <= start <= len(items):
                raise _bad_token()
        end = start + int(p.get("maxResults", default_size))
        if end >= len(items):
            return items[start:], None
        token_json = json.dumps({"o": end, "t": self.m.now().timestamp(), "f": fingerprint})
        return items[start:end], base64.b64encode(token_json.encode()).decode()

    # -- what a listing shows ---------------------------------------------------------------------------
    def _manufacturer(self) -> dict[str, str]:
        return self.m.seller_profile(self.m.catalog.seller_account_id, self.m.catalog.seller_name)

    def _product_entity(self, product: Product) -> dict[str, Any]:
        return {"productId": product.product_id, "productName": product.title, "manufacturer": self._manufacturer()}

    def _offer_entity(self, offer: Offer) -> dict[str, Any]:
        return {
            "offerId": offer.offer_id,
            "offerName": offer.name,
            "sellerOfRecord": self.m.seller_profile(offer.proposer_account_id, offer.proposer_name),
        }

    @staticmethod
    def _texts(product: Product) -> tuple[str, str, str]:
        """Short description, long description, logo URL: the catalog's, else the title and a reserved-domain URL."""
        short = product.listing.short_description or product.title
        logo = product.listing.logo_url or f"https://example.invalid/{product.product_id}/logo.png"
        return short, product.listing.long_description or short, logo

    @staticmethod
    def _categories(product: Product) -> list[dict[str, str]]:
        return [{"categoryId": c.category_id, "displayName": c.name} for c in product.listing.categories]

    @staticmethod
    def _pricing(product: Product) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Pricing models and units: every sandbox offer is usage-based, priced per unit of its dimensions."""
        return [USAGE], [UNITS] if product.dimension_keys() else []

    def _facets(self, product: Product) -> dict[str, dict[str, str]]:
        """What SearchListings' filters and SearchFacets' facets see of a listing: filter type -> value -> display
        name. Types the catalog has nothing for (ratings, certificates, specializations, trust centers, seller
        engagements) are empty, so their filters match no listing."""
        publisher = self._manufacturer()
        models, units = self._pricing(product)
        return {
            "CATEGORY": {c.category_id: c.name for c in product.listing.categories},
            "PUBLISHER": {publisher["sellerProfileId"]: publisher["displayName"]},
            "FULFILLMENT_OPTION_TYPE": {SAAS["fulfillmentOptionType"]: SAAS["displayName"]},
            "PRICING_MODEL": {m["pricingModelType"]: m["displayName"] for m in models},
            "PRICING_UNIT": {u["pricingUnitType"]: u["displayName"] for u in units},
            "DEPLOYED_ON_AWS": {"DEPLOYED_ON_AWS": "Deployed on AWS"} if product.listing.deployed_on_aws else {},
            "NUMBER_OF_PRODUCTS": {"SINGLE_PRODUCT": "Single product"},
            "PRODUCT_ID": {product.product_id: product.title},
        }

    def _listing_summary(self, product: Product) -> dict[str, Any]:
        short, _, logo = self._texts(product)
        models, units = self._pricing(product)
        return {
            "listingId": product.listing_id,
            "listingName": product.title,
            "publisher": self._manufacturer(),
            "fulfillmentOptionSummaries": [SAAS],
            "catalog": CATALOG_NAME,
            "shortDescription": short,
            "logoThumbnailUrl": logo,
            "categories": self._categories(product),
            "badges": [DEPLOYED_BADGE] if product.listing.deployed_on_aws else [],
            "reviewSummary": NO_REVIEWS,
            "pricingModels": models,
            "pricingUnits": units,
            "associatedEntities": [{"product": self._product_entity(product)}],
        }

    # -- search -----------------------------------------------------------------------------------------
    def _filters(self, raw: Iterable[dict[str, Any]]) -> list[tuple[str, set[str]]]:
        """SearchListings/SearchFacets filters, checked against the values the model documents for each type."""
        closed = {
            "FULFILLMENT_OPTION_TYPE": _enum("FulfillmentOptionType"),
            "PRICING_MODEL": _enum("PricingModelType"),
            "PRICING_UNIT": _enum("PricingUnitType"),
            "SELLER_ENGAGEMENT": _enum("SellerEngagementType"),
            "NUMBER_OF_PRODUCTS": frozenset({"SINGLE_PRODUCT", "MULTI_PRODUCT"}),
            "DEPLOYED_ON_AWS": frozenset({"DEPLOYED_ON_AWS"}),
            "TRUST_CENTER": frozenset({"HAS_TRUST_CENTER"}),
        }
        out = []
        for f in raw:
            kind, values = f["filterType"], list(f["filterValues"])
            if kind in _RANGE_FILTERS:
                try:
                    rating = float(values[0])
                except ValueError:
                    rating = -1.0
                if len(values) != 1 or not 0.0 <= rating <= 5.0:
                    raise _malformed(f"{kind} takes a single rating between 0.0 and 5.0")
            bad = sorted(set(values) - closed[kind]) if kind in closed else []
            if bad:
                raise _malformed(f"{kind} does not take the value {bad[0]!r}: use one of {sorted(closed[kind])}")
            out.append((kind, set(values)))
        return out

    def _search(self, caller: str, p: dict[str, Any]) -> list[tuple[Product, int]]:
        """The visible listings that match the search text and every filter, with a relevance score. Listings have
        no customer ratings here, so a rating filter matches none."""
        filters = self._filters(p.get("filters") or [])
        words = _WORD.findall((p.get("searchText") or "").lower())
        found = []
        for product in self._visible_products(caller):
            facets = self._facets(product)
            if not all(kind not in _RANGE_FILTERS and facets.get(kind, {}).keys() & values for kind, values in filters):
                continue
            short, long, _ = self._texts(product)
            title = _WORD.findall(product.title.lower())
            rest = _WORD.findall(
                " ".join(
                    [short, long, *product.listing.highlights, *(c.name for c in product.listing.categories)]
                ).lower()
            )
            if not all(w in title or w in rest for w in words):
                continue
            found.append((product, sum(3 * title.count(w) + rest.count(w) for w in words)))
        return found

    def search_listings(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            content_locale(p.get("locale"))
            found = self._search(caller, p)
            if p.get("sortBy", "RELEVANCE") == "RELEVANCE":
                descending = p.get("sortOrder", "DESCENDING") == "DESCENDING"
                found.sort(key=lambda hit: -hit[1] if descending else hit[1])
            summaries = [self._listing_summary(product) for product, _ in found]
            items, token = self._page(caller, "SearchListings", p, summaries, 25)
            return with_next_token({"totalResults": len(found), "listingSummaries": items}, token)

    def search_facets(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            content_locale(p.get("locale"))
            found = self._search(caller, p)
            self._page(caller, "SearchFacets", p, [], 1)  # the sandbox never pages facets: any token is not its own
            requested = list(p.get("facetTypes") or [])
            counts: dict[str, dict[str, tuple[str, int]]] = {}
            for product, _ in found:
                for kind, values in self._facets(product).items():
                    for value, name in values.items():
                        seen = counts.setdefault(kind, {}).get(value, (name, 0))
                        counts[kind][value] = (name, seen[1] + 1)
            kinds = requested or [k for k in counts if k in _facet_types()]
            return {
                "totalResults": len(found),
                "listingFacets": {
                    kind: [
                        {"value": value, "displayName": name, "count": n}
                        for value, (name, n) in sorted(counts.get(kind, {}).items(), key=lambda kv: (-kv[1][1], kv[0]))
                    ]
                    for kind in kinds
                },
            }

    # -- listings and products --------------------------------------------------------------------------
    def get_listing(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            locale = content_locale(p.get("locale"))
            product = self._visible_listing(caller, p["listingId"])
            short, long, logo = self._texts(product)
            models, units = self._pricing(product)
            entity: dict[str, Any] = {"product": self._product_entity(product)}
            default_offer = next((o for o in product.offers if not o.private), None)
            if default_offer is not None:
                entity["offer"] = self._offer_entity(default_offer)
            return {
                "locale": locale,
                "associatedEntities": [entity],
                "badges": [DEPLOYED_BADGE] if product.listing.deployed_on_aws else [],
                "catalog": CATALOG_NAME,
                "categories": self._categories(product),
                "fulfillmentOptionSummaries": [SAAS],
                "highlights": list(product.listing.highlights),
                "listingId": product.listing_id,
                "listingName": product.title,
                "logoThumbnailUrl": logo,
                "longDescription": long,
                "pricingModels": models,
                "pricingUnits": units,
                "promotionalMedia": [],
                "publisher": self._manufacturer(),
                "resources": [],
                "reviewSummary": NO_REVIEWS,
                "sellerEngagements": [],
                "shortDescription": short,
                "useCases": [],
                "purchaseIndicators": [],
            }

    def get_product(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            locale = content_locale(p.get("locale"))
            product = self._visible_product(caller, p["productId"])
            short, long, logo = self._texts(product)
            return {
                "locale": locale,
                "productId": product.product_id,
                "catalog": CATALOG_NAME,
                "productName": product.title,
                "manufacturer": self._manufacturer(),
                "deployedOnAws": "DEPLOYED" if product.listing.deployed_on_aws else "NOT_DEPLOYED",
                "shortDescription": short,
                "longDescription": long,
                "logoThumbnailUrl": logo,
                "fulfillmentOptionSummaries": [SAAS],
                "categories": self._categories(product),
                "highlights": list(product.listing.highlights),
                "promotionalMedia": [],
                "resources": [],
                "sellerEngagements": [],
                "listingId": product.listing_id,
                "purchaseIndicators": [],
            }

    def list_fulfillment_options(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """A SaaS product's one fulfillment option: its registration (fulfillment) URL."""
        with self.m.lock:
            locale = content_locale(p.get("locale"))
            product = self._visible_product(caller, p["productId"])
            option = {
                "saasFulfillmentOption": {
                    "fulfillmentOptionId": "fo-" + hashlib.sha256(product.product_id.encode()).hexdigest()[:20],
                    "fulfillmentOptionType": SAAS["fulfillmentOptionType"],
                    "fulfillmentOptionDisplayName": SAAS["displayName"],
                    "fulfillmentUrl": self.m.fulfillment_url(product),
                    "quickLaunch": "DISABLED",
                    "deploymentTemplates": [],
                }
            }
            items, token = self._page(caller, "ListFulfillmentOptions", p, [option], 25)
            return with_next_token({"locale": locale, "fulfillmentOptions": items}, token)

    def list_listing_attributes(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """The catalog holds no case studies, specializations or trust center: a known listing has no attributes."""
        with self.m.lock:
            locale = content_locale(p.get("locale"))
            self._visible_listing(caller, p["listingId"])
            items, _ = self._page(caller, "ListListingAttributes", p, [], 25)
            return {"locale": locale, "listingAttributes": items}

    def get_offer_set(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """Offer sets bundle private offers across products; the catalog has none, so no id exists here."""
        with self.m.lock:
            content_locale(p.get("locale"))
            raise _not_found("Offer set", p["offerSetId"])

    # -- offers -----------------------------------------------------------------------------------------
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

    def list_purchase_options(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """The model: "You must include at least one of the following filters in the request: a PRODUCT_ID filter
        ... or a VISIBILITY_SCOPE filter"; VISIBILITY_SCOPE takes only PRIVATE."""
        with self.m.lock:
            content_locale(p.get("locale"))
            filters: dict[str, list[str]] = {}
            for f in p.get("filters") or []:
                filters.setdefault(f["filterType"], []).extend(f["filterValues"])
            if "PRODUCT_ID" not in filters and "VISIBILITY_SCOPE" not in filters:
                raise _malformed("Include a PRODUCT_ID or a VISIBILITY_SCOPE filter")
            for kind, allowed in _PURCHASE_OPTION_VALUES.items():
                bad = sorted(set(filters.get(kind, [])) - allowed)
                if bad:
                    raise _malformed(f"{kind} does not take the value {bad[0]!r}: use one of {sorted(allowed)}")
            options = []
            for product in self.m.catalog.products:
                if "PRODUCT_ID" in filters and product.product_id not in filters["PRODUCT_ID"]:
                    continue
                for offer in product.offers:
                    seller = self.m.seller_profile(offer.proposer_account_id, offer.proposer_name)
                    has = {
                        "PURCHASE_OPTION_TYPE": "OFFER",
                        "VISIBILITY_SCOPE": "PRIVATE" if offer.private else "PUBLIC",
                        "AVAILABILITY_STATUS": "AVAILABLE",
                        "SELLER_OF_RECORD_PROFILE_ID": seller["sellerProfileId"],
                    }
                    if not self.m.visible(caller, offer) or not all(
                        has[k] in v for k, v in filters.items() if k != "PRODUCT_ID"
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
                                {"product": self._product_entity(product), "offer": self._offer_entity(offer)}
                            ],
                        }
                    )
            items, token = self._page(caller, "ListPurchaseOptions", p, options, 25)
            return with_next_token({"purchaseOptions": items}, token)

    def get_offer(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            locale = content_locale(p.get("locale"))
            product, offer = self.m.visible_offer(caller, p["offerId"])
            out: dict[str, Any] = {
                "locale": locale,
                "offerId": offer.offer_id,
                "catalog": CATALOG_NAME,
                "offerName": offer.name,
                "sellerOfRecord": self.m.seller_profile(offer.proposer_account_id, offer.proposer_name),
                "associatedEntities": [{"product": self._product_entity(product)}],
                "agreementProposalId": proposal_id(offer.offer_id),
                "pricingModel": USAGE,
                "badges": self._badges(caller, product, offer),
            }
            replaced = self._replacement_for(caller, product, offer)
            if replaced:
                out["replacementAgreementId"] = replaced.agreement_id
            return out

    def get_offer_terms(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            content_locale(p.get("locale"))
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
            items, token = self._page(caller, "GetOfferTerms", p, terms, 10)
            return with_next_token({"offerTerms": items}, token)
