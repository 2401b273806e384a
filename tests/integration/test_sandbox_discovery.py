"""The Discovery API (marketplace-discovery) as the sandbox answers it from its catalog, through boto3: every
answer checked against botocore's output shape, private offers shown only to their buyers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from mplink.adapters.catalog_file import seed_catalog_text
from mplink.sandbox.catalog import read_catalog
from tests.support.buyer import checked, subscribe
from tests.support.sandbox_fixtures import (
    DST,
    PRIVATE_OFFER,
    PRODUCT_ID,
    PUBLIC_OFFER,
    SRC,
    RunningSandbox,
    immediate_provisioning,
    serve_sandbox,
)

STRANGER = "333333333333"
LISTING_ID = "prodview-g232pyu6l55l4"
#: the second and third products of ``shop``: a public one, and one sold only by a private offer to DST
SCANNER, PRIVATE_ONLY = "prod-scanner00001", "prod-privateonly1"


def shop_catalog() -> str:
    """The seed catalog, plus a public product with its own listing and a product with only a private offer."""
    data = json.loads(seed_catalog_text())
    base = data["products"][0]
    scanner = json.loads(json.dumps(base))
    scanner.update(product_id=SCANNER, product_code="scannercode0001", title="Log Scanner")
    scanner["listing"] = {
        "listing_id": "prodview-logscanner",
        "short_description": "Scans application logs for leaked secrets.",
        "categories": [{"id": "devops", "name": "DevOps"}],
        "highlights": ["Finds security problems in logs"],
        "deployed_on_aws": False,
    }
    scanner["offers"] = [dict(base["offers"][0], offer_id="offer-public-scanner", name="Log Scanner")]
    private = json.loads(json.dumps(base))
    private.update(product_id=PRIVATE_ONLY, product_code="privatecode0001", title="Private Vault")
    private.pop("listing")
    private["offers"] = [dict(base["offers"][1], offer_id="offer-private-vault", buyer_account_ids=[DST])]
    data["products"] += [scanner, private]
    return json.dumps(data)


@pytest.fixture(scope="module")
def shop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    yield from serve_sandbox(read_catalog(shop_catalog()), tmp_path_factory.mktemp("shop"), immediate_provisioning())


@pytest.fixture
def shop(shop_server: RunningSandbox) -> RunningSandbox:
    """A sandbox selling three products, reset for each test."""
    shop_server.reset(immediate_provisioning())
    return shop_server


def error_of(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, int, str]:
    response: dict[str, Any] = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def reason_of(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str | None:
    """The ValidationException's modelled ``reason``, which botocore puts next to ``Error``."""
    reason: str | None = exc.value.response.get("reason")
    return reason


# -- products and listings --------------------------------------------------------------------------------
def test_get_product_shows_the_catalogs_product(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-discovery model, GetProduct: every required member of GetProductOutput; the product's
    default listing id (``listingId``), its manufacturer and its SaaS fulfillment option."""
    disc = running_sandbox.client("marketplace-discovery", SRC)
    product = checked(disc, "GetProduct", productId=PRODUCT_ID)
    assert product["productName"] == "Trend Micro Cloud One" and product["listingId"] == LISTING_ID
    assert product["manufacturer"] == {"sellerProfileId": "seller-999999999999", "displayName": "Trend Micro"}
    assert product["fulfillmentOptionSummaries"] == [{"fulfillmentOptionType": "SAAS", "displayName": "SaaS"}]
    assert product["categories"] == [{"categoryId": "security", "displayName": "Security"}]
    assert product["deployedOnAws"] == "DEPLOYED" and len(product["highlights"]) == 3
    assert product["locale"] == "en-US" and product["catalog"] == "AWSMarketplace"


def test_get_listing_shows_the_product_and_its_default_offer(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-discovery model, ListingAssociatedEntity.offer: "Information about the default offer
    associated with the listing." The public offer, never a private one, even for a buyer it is extended to."""
    disc = running_sandbox.client("marketplace-discovery", DST)
    listing = checked(disc, "GetListing", listingId=LISTING_ID)
    (entity,) = listing["associatedEntities"]
    assert entity["product"]["productId"] == PRODUCT_ID
    assert entity["offer"]["offerId"] == PUBLIC_OFFER
    assert listing["listingName"] == "Trend Micro Cloud One"
    assert listing["publisher"]["displayName"] == "Trend Micro"
    assert listing["pricingModels"] == [{"pricingModelType": "USAGE", "displayName": "Usage-based"}]
    assert listing["badges"] == [{"displayName": "Deployed on AWS", "badgeType": "DEPLOYED_ON_AWS"}]
    assert listing["reviewSummary"] == {"reviewSourceSummaries": []}


def test_a_product_sold_only_privately_is_seen_only_by_its_buyers(shop: RunningSandbox) -> None:
    """A private offer is visible only to the accounts it is extended to; a product with no other offer is not
    seen by anyone else: GetProduct and GetListing answer ResourceNotFoundException (404, the model's code for
    it), the same as for an id that does not exist."""
    buyer = shop.client("marketplace-discovery", DST)
    product = checked(buyer, "GetProduct", productId=PRIVATE_ONLY)
    listing = checked(buyer, "GetListing", listingId=product["listingId"])
    # no public offer, so no default offer: the listing names only its product
    assert [set(e) for e in listing["associatedEntities"]] == [{"product"}]
    for account in (SRC, STRANGER):
        other = shop.client("marketplace-discovery", account)
        for operation, params in (
            ("get_product", {"productId": PRIVATE_ONLY}),
            ("get_listing", {"listingId": product["listingId"]}),
            ("get_product", {"productId": "prod-nosuchproduct"}),
        ):
            with pytest.raises(other.exceptions.ResourceNotFoundException) as exc:
                getattr(other, operation)(**params)
            assert error_of(exc)[:2] == ("ResourceNotFoundException", 404)


# -- search ---------------------------------------------------------------------------------------------------
def test_search_listings_matches_words_and_every_filter(shop: RunningSandbox) -> None:
    """botocore's marketplace-discovery model, SearchListings.filters: "A result must match every filter. Within
    one filter, a result matches if it has any of the values."; ``totalResults`` counts all matches."""
    disc = shop.client("marketplace-discovery", SRC)

    def names(**params: Any) -> list[str]:
        result = checked(disc, "SearchListings", **params)
        assert result["totalResults"] == len(result["listingSummaries"])
        return [s["listingName"] for s in result["listingSummaries"]]

    assert names() == ["Trend Micro Cloud One", "Log Scanner"]  # SRC is not offered Private Vault
    assert names(searchText="posture management") == ["Trend Micro Cloud One"]
    assert names(searchText="LOGS secrets") == ["Log Scanner"]
    assert names(searchText="quantum") == []
    assert names(filters=[{"filterType": "CATEGORY", "filterValues": ["devops", "security"]}]) == [
        "Trend Micro Cloud One",
        "Log Scanner",
    ]
    assert names(
        filters=[
            {"filterType": "CATEGORY", "filterValues": ["devops", "security"]},
            {"filterType": "DEPLOYED_ON_AWS", "filterValues": ["DEPLOYED_ON_AWS"]},
        ]
    ) == ["Trend Micro Cloud One"]
    assert names(filters=[{"filterType": "PRODUCT_ID", "filterValues": [SCANNER]}]) == ["Log Scanner"]
    assert names(filters=[{"filterType": "PRICING_MODEL", "filterValues": ["USAGE"]}]) == [
        "Trend Micro Cloud One",
        "Log Scanner",
    ]
    # the catalog holds no certifications or ratings: such filters match nothing
    assert names(filters=[{"filterType": "CERTIFICATES", "filterValues": ["SOC2_TYPE_2"]}]) == []
    assert names(filters=[{"filterType": "MIN_AVERAGE_CUSTOMER_RATING", "filterValues": ["0.0"]}]) == []
    buyer = shop.client("marketplace-discovery", DST)
    assert "Private Vault" in [s["listingName"] for s in buyer.search_listings()["listingSummaries"]]


def test_search_listings_orders_by_relevance(shop: RunningSandbox) -> None:
    """botocore's marketplace-discovery model, SearchListings.sortBy: "If you do not specify a value, the service
    sorts by RELEVANCE", in DESCENDING order unless sortOrder says ASCENDING."""
    disc = shop.client("marketplace-discovery", SRC)
    # "security" is all over Cloud One's listing and in one highlight of the Log Scanner's
    found = disc.search_listings(searchText="security")["listingSummaries"]
    assert [s["listingName"] for s in found] == ["Trend Micro Cloud One", "Log Scanner"]
    ascending = disc.search_listings(searchText="security", sortOrder="ASCENDING")["listingSummaries"]
    assert [s["listingName"] for s in ascending] == ["Log Scanner", "Trend Micro Cloud One"]
    # every word of the search text must be found
    found = disc.search_listings(searchText="scanner security")["listingSummaries"]
    assert [s["listingName"] for s in found] == ["Log Scanner"]


@pytest.mark.parametrize(
    "bad",
    [
        {"filterType": "MIN_AVERAGE_CUSTOMER_RATING", "filterValues": ["6.0"]},
        {"filterType": "MAX_AVERAGE_CUSTOMER_RATING", "filterValues": ["1.0", "2.0"]},
        {"filterType": "DEPLOYED_ON_AWS", "filterValues": ["YES"]},
        {"filterType": "PRICING_MODEL", "filterValues": ["SUBSCRIPTION"]},
        {"filterType": "NUMBER_OF_PRODUCTS", "filterValues": ["TWO"]},
        {"filterType": "TRUST_CENTER", "filterValues": ["NONE"]},
    ],
)
def test_search_filter_values_are_checked(running_sandbox: RunningSandbox, bad: dict[str, Any]) -> None:
    """botocore's marketplace-discovery model, SearchFilter.filterValues: range filters take "A single rating
    between 0.0 and 5.0"; DEPLOYED_ON_AWS "The single value DEPLOYED_ON_AWS"; PRICING_MODEL "One or more of BYOL,
    CONTRACT, FREE, and USAGE"; NUMBER_OF_PRODUCTS "SINGLE_PRODUCT or MULTI_PRODUCT"; TRUST_CENTER "The single
    value HAS_TRUST_CENTER". Anything else is a ValidationException (MALFORMED_REQUEST_PARAMETERS)."""
    disc = running_sandbox.client("marketplace-discovery", SRC)
    with pytest.raises(disc.exceptions.ValidationException) as exc:
        disc.search_listings(filters=[bad])
    code, status, message = error_of(exc)
    assert (code, status) == ("ValidationException", 400) and bad["filterType"] in message
    assert reason_of(exc) == "MALFORMED_REQUEST_PARAMETERS"


def test_search_pages_and_tokens_belong_to_their_request(shop: RunningSandbox) -> None:
    """botocore's marketplace-discovery model, SearchListings.nextToken: "Keep all other arguments unchanged. Each
    pagination token expires after 24 hours. An expired pagination token returns a ValidationException." and
    ValidationException.reason INVALID_PAGINATION_TOKEN: "The nextToken value is malformed, expired, or belongs
    to a different request.". boto3's paginator keeps ``totalResults`` (paginators-1.sdk-extras.json)."""
    disc = shop.client("marketplace-discovery", DST)
    first = checked(disc, "SearchListings", maxResults=2)
    assert first["totalResults"] == 3 and len(first["listingSummaries"]) == 2 and first["nextToken"]
    rest = checked(disc, "SearchListings", maxResults=2, nextToken=first["nextToken"])
    assert [s["listingName"] for s in rest["listingSummaries"]] == ["Private Vault"] and "nextToken" not in rest
    pages = list(disc.get_paginator("search_listings").paginate(PaginationConfig={"PageSize": 1}))
    assert [len(p["listingSummaries"]) for p in pages] == [1, 1, 1] and pages[0]["totalResults"] == 3
    for call in (
        lambda: disc.search_listings(searchText="vault", nextToken=first["nextToken"]),  # another request
        lambda: shop.client("marketplace-discovery", SRC).search_listings(maxResults=2, nextToken=first["nextToken"]),
        lambda: disc.search_listings(nextToken="bm90LWEtdG9rZW4="),  # base64 of "not-a-token"
    ):
        with pytest.raises(disc.exceptions.ValidationException) as exc:
            call()
        assert reason_of(exc) == "INVALID_PAGINATION_TOKEN"
    shop.control("POST", "clock", json={"advance_seconds": 24 * 3600})
    with pytest.raises(disc.exceptions.ValidationException, match="expired") as exc:
        disc.search_listings(maxResults=2, nextToken=first["nextToken"])
    assert reason_of(exc) == "INVALID_PAGINATION_TOKEN"


def test_search_facets_count_the_matching_listings(shop: RunningSandbox) -> None:
    """botocore's marketplace-discovery model, SearchFacets: "Each facet value includes a count of matching
    listings."; facetTypes: "If you omit this field or leave it empty, the service returns all available facets"."""
    disc = shop.client("marketplace-discovery", DST)
    every = checked(disc, "SearchFacets")
    assert every["totalResults"] == 3
    facets = every["listingFacets"]
    assert {f["value"]: f["count"] for f in facets["CATEGORY"]} == {"security": 1, "devops": 1}
    assert facets["FULFILLMENT_OPTION_TYPE"] == [{"value": "SAAS", "displayName": "SaaS", "count": 3}]
    assert facets["DEPLOYED_ON_AWS"] == [{"value": "DEPLOYED_ON_AWS", "displayName": "Deployed on AWS", "count": 1}]
    assert "PRODUCT_ID" not in facets and "CERTIFICATES" not in facets
    narrowed = checked(
        disc,
        "SearchFacets",
        searchText="scanner",
        facetTypes=["CATEGORY", "CERTIFICATES"],
    )
    assert narrowed == {
        "totalResults": 1,
        "listingFacets": {"CATEGORY": [{"value": "devops", "displayName": "DevOps", "count": 1}], "CERTIFICATES": []},
        "ResponseMetadata": narrowed["ResponseMetadata"],
    }
    with pytest.raises(disc.exceptions.ValidationException) as exc:
        disc.search_facets(nextToken="bm90LWEtdG9rZW4=")
    assert reason_of(exc) == "INVALID_PAGINATION_TOKEN"


# -- fulfillment options, listing attributes, offer sets ------------------------------------------------------
def test_list_fulfillment_options_gives_the_saas_registration_url(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-discovery model, SaasFulfillmentOption.fulfillmentUrl: "The URL of the seller's
    software registration landing page."; an unknown product is a ResourceNotFoundException."""
    disc = running_sandbox.client("marketplace-discovery", SRC)
    (option,) = checked(disc, "ListFulfillmentOptions", productId=PRODUCT_ID)["fulfillmentOptions"]
    saas = option["saasFulfillmentOption"]
    assert saas["fulfillmentOptionType"] == "SAAS"
    assert saas["fulfillmentUrl"] == running_sandbox.box.market.fulfillment_url(
        running_sandbox.box.market.product(PRODUCT_ID)
    )
    with pytest.raises(disc.exceptions.ResourceNotFoundException):
        disc.list_fulfillment_options(productId="prod-nosuchproduct")


def test_list_listing_attributes_is_empty_for_a_known_listing(running_sandbox: RunningSandbox) -> None:
    """The catalog keeps no case studies, specializations or trust center, so a listing has none of them; an
    unknown listing is a ResourceNotFoundException (the operation's modelled errors)."""
    disc = running_sandbox.client("marketplace-discovery", SRC)
    got = checked(disc, "ListListingAttributes", listingId=LISTING_ID, attributeTypes=["CASE_STUDY"])
    assert got["listingAttributes"] == [] and "nextToken" not in got
    with pytest.raises(disc.exceptions.ResourceNotFoundException):
        disc.list_listing_attributes(listingId="prodview-nope", attributeTypes=["CASE_STUDY"])


def test_get_offer_set_finds_no_offer_set(running_sandbox: RunningSandbox) -> None:
    """Offer sets bundle private offers across several products; the sandbox's catalog has none, so every id is
    answered as botocore's marketplace-discovery model answers an unknown one: ResourceNotFoundException, 404."""
    disc = running_sandbox.client("marketplace-discovery", DST)
    with pytest.raises(disc.exceptions.ResourceNotFoundException) as exc:
        disc.get_offer_set(offerSetId="os-abc123")
    assert error_of(exc)[:2] == ("ResourceNotFoundException", 404)


# -- offers and locales ---------------------------------------------------------------------------------------
def test_private_offer_is_visible_only_to_its_buyers(running_sandbox: RunningSandbox) -> None:
    """A private offer is listed (ListPurchaseOptions) and readable (GetOffer) only by the accounts it is
    extended to; to anyone else it does not exist (ResourceNotFoundException)."""
    other = running_sandbox.client("marketplace-discovery", STRANGER)
    by_product = [{"filterType": "PRODUCT_ID", "filterValues": [PRODUCT_ID]}]
    options = checked(other, "ListPurchaseOptions", filters=by_product)["purchaseOptions"]
    assert [o["purchaseOptionName"] for o in options] == ["Trend Micro for SaaS"]
    private_only = [{"filterType": "VISIBILITY_SCOPE", "filterValues": ["PRIVATE"]}]
    assert checked(other, "ListPurchaseOptions", filters=private_only)["purchaseOptions"] == []
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.get_offer(offerId=PRIVATE_OFFER)
    buyer = running_sandbox.client("marketplace-discovery", DST)
    mine = checked(buyer, "ListPurchaseOptions", filters=private_only)["purchaseOptions"]
    assert [o["purchaseOptionId"] for o in mine] == [PRIVATE_OFFER]


def test_list_purchase_options_needs_a_product_or_visibility_filter(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-discovery model, ListPurchaseOptions: "You must include at least one of the following
    filters in the request: a PRODUCT_ID filter ... or a VISIBILITY_SCOPE filter"; VISIBILITY_SCOPE takes PRIVATE."""
    disc = running_sandbox.client("marketplace-discovery", DST)
    for filters in (
        [],
        [{"filterType": "PURCHASE_OPTION_TYPE", "filterValues": ["OFFER"]}],
        [{"filterType": "VISIBILITY_SCOPE", "filterValues": ["PUBLIC"]}],
    ):
        with pytest.raises(disc.exceptions.ValidationException) as exc:
            disc.list_purchase_options(**({"filters": filters} if filters else {}))
        assert error_of(exc)[:2] == ("ValidationException", 400)
        assert reason_of(exc) == "MALFORMED_REQUEST_PARAMETERS"


def test_purchase_option_pages_use_tokens_of_their_request(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-discovery model, ListPurchaseOptions.nextToken (as SearchListings'): the token
    serves only the request it came from."""
    disc = running_sandbox.client("marketplace-discovery", DST)
    by_product = [{"filterType": "PRODUCT_ID", "filterValues": [PRODUCT_ID]}]
    first = checked(disc, "ListPurchaseOptions", filters=by_product, maxResults=1)
    rest = checked(disc, "ListPurchaseOptions", filters=by_product, maxResults=1, nextToken=first["nextToken"])
    ids = [o["purchaseOptionId"] for o in first["purchaseOptions"] + rest["purchaseOptions"]]
    assert ids == [PUBLIC_OFFER, PRIVATE_OFFER] and "nextToken" not in rest
    private_only = [{"filterType": "VISIBILITY_SCOPE", "filterValues": ["PRIVATE"]}]
    with pytest.raises(disc.exceptions.ValidationException) as exc:
        disc.list_purchase_options(filters=private_only, nextToken=first["nextToken"])
    assert reason_of(exc) == "INVALID_PAGINATION_TOKEN"


@pytest.mark.parametrize("locale", [None, "en", "en-US", "ja", "fr-CA", "ko, en-US", "xx, en-US"])
def test_content_comes_in_the_default_locale(running_sandbox: RunningSandbox, locale: str | None) -> None:
    """botocore's marketplace-discovery model, Locale: supported en-US (also from en), fr, es, ko, ja; "If
    translated content for the preferred locale is unavailable, the service returns content in the default
    locale." and "The locale field in Get API responses indicates the locale of the returned content." The
    catalog has only default-locale content."""
    disc = running_sandbox.client("marketplace-discovery", DST)
    params = {"locale": locale} if locale else {}
    assert checked(disc, "GetProduct", productId=PRODUCT_ID, **params)["locale"] == "en-US"
    assert checked(disc, "GetOffer", offerId=PRIVATE_OFFER, **params)["locale"] == "en-US"


@pytest.mark.parametrize("locale", ["xx", "de-DE", "xx, fr", "ja, en-US, fr"])
def test_an_unsupported_locale_without_the_default_as_fallback_is_refused(
    running_sandbox: RunningSandbox, locale: str
) -> None:
    """botocore's marketplace-discovery model, Locale: "If the preferred locale is not supported and you provide
    no fallback, the service returns a ValidationException." The field "accepts a maximum of two language tags",
    the second being the default locale."""
    disc = running_sandbox.client("marketplace-discovery", DST)
    with pytest.raises(disc.exceptions.ValidationException) as exc:
        disc.get_listing(listingId=LISTING_ID, locale=locale)
    assert reason_of(exc) == "MALFORMED_REQUEST_PARAMETERS"


def test_the_buyer_journey_through_discovery(running_sandbox: RunningSandbox) -> None:
    """Search, read the listing and product, list the product's offers and subscribe: the ids each answer gives
    lead to the next call."""
    disc = running_sandbox.client("marketplace-discovery", DST)
    (summary,) = disc.search_listings(searchText="cloud one")["listingSummaries"]
    listing = disc.get_listing(listingId=summary["listingId"])
    product_id = listing["associatedEntities"][0]["product"]["productId"]
    assert disc.get_product(productId=product_id)["listingId"] == summary["listingId"]
    options = disc.list_purchase_options(filters=[{"filterType": "PRODUCT_ID", "filterValues": [product_id]}])
    private = next(o for o in options["purchaseOptions"] if o["purchaseOptionId"] == PRIVATE_OFFER)
    agreement_id = subscribe(running_sandbox, DST, private["purchaseOptionId"])
    assert agreement_id.startswith("agmt-")


# -- the catalog file's listing fields -----------------------------------------------------------------------
def test_listing_fields_are_optional_and_checked() -> None:
    """The catalog format stays backward compatible: a product without ``listing`` gets a listing from its title
    and id. Listing fields the Discovery model would refuse to carry are refused when the file is read."""
    data = json.loads(seed_catalog_text())
    data["products"][0].pop("listing")
    bare = read_catalog(json.dumps(data)).products[0]
    assert bare.listing_id == LISTING_ID and bare.listing.short_description is None
    for listing, field in (
        ({"listing_id": "has space"}, "listing_id"),
        ({"logo_url": "ftp://x"}, "logo_url"),
        ({"categories": [{"id": "a b", "name": "A"}]}, "categories[0].id"),
        ({"highlights": ["   "]}, "highlights[0]"),
        ({"colour": "blue"}, "colour"),
    ):
        data["products"][0]["listing"] = listing
        with pytest.raises(ValueError, match=field.replace("[", r"\[")):
            read_catalog(json.dumps(data), "c.json")


def test_two_products_cannot_share_a_listing() -> None:
    data = json.loads(shop_catalog())
    data["products"][2]["listing"] = {"listing_id": "prodview-logscanner"}
    with pytest.raises(ValueError, match="duplicate listing id"):
        read_catalog(json.dumps(data))
