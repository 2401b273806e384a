"""What the sandbox sells: its own model of products, offers and buyer accounts, read from a catalog file.

The sandbox reads the same catalog file format as the seller, but keeps its own model of it: an emulator
that shared the product's model would hide the product's mistakes about AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

_ACCOUNT = re.compile(r"^\d{12}$")
#: the Discovery model's ListingId and URL shapes; a category id is also a SearchListings CATEGORY filter value
_LISTING_ID = re.compile(r"[A-Za-z0-9_\-]{1,255}")
_CATEGORY_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_URL = re.compile(r"https?://\S{1,2040}")
_LISTING_KEYS = frozenset(
    {"listing_id", "short_description", "long_description", "logo_url", "categories", "highlights", "deployed_on_aws"}
)


class CatalogError(ValueError):
    """The catalog file cannot be used; the message names the file and the field at fault."""


@dataclass(frozen=True)
class Dimension:
    key: str
    name: str
    unit: str = "Units"


@dataclass(frozen=True)
class Service:
    name: str
    dimensions: tuple[Dimension, ...] = ()


@dataclass(frozen=True)
class Offer:
    offer_id: str
    name: str
    private: bool
    proposer_account_id: str
    resale_authorization_id: str | None = None
    buyer_account_ids: tuple[str, ...] = ()
    proposer_name: str | None = None
    prices: tuple[tuple[str, str], ...] = ()
    #: False when AWS refuses CancelAgreement for it (the buyer must cancel in the console)
    api_cancellable: bool = True
    #: the offer has a RenewalTerm: the buyer chooses auto-renewal, and may change it later (intent AMEND)
    renewal_term: bool = False

    def price_of(self, dimension_key: str) -> str:
        return dict(self.prices).get(dimension_key, "0.00")


@dataclass(frozen=True)
class Category:
    category_id: str
    name: str


@dataclass(frozen=True)
class Listing:
    """How a product is shown to buyers (the Discovery API's product and listing). Every field is optional in
    the file: the descriptions default to the title (discovery.py), the id to one derived from the product id."""

    listing_id: str | None = None
    short_description: str | None = None
    long_description: str | None = None
    logo_url: str | None = None
    categories: tuple[Category, ...] = ()
    highlights: tuple[str, ...] = ()
    deployed_on_aws: bool = False


@dataclass(frozen=True)
class Product:
    product_id: str
    product_code: str
    title: str
    fulfillment_url: str
    services: tuple[Service, ...]
    offers: tuple[Offer, ...]
    #: legacy products identify buyers by CustomerIdentifier (and get SNS messages)
    legacy: bool = False
    listing: Listing = field(default_factory=Listing)

    @property
    def listing_id(self) -> str:
        """The product's listing: the catalog's ``listing.listing_id``, else ``prodview-`` and the product id's
        tail (``prod-g232pyu6l55l4`` is listed as ``prodview-g232pyu6l55l4``, the form of AWS's listing pages)."""
        return self.listing.listing_id or "prodview-" + self.product_id.removeprefix("prod-")

    def dimension_keys(self) -> frozenset[str]:
        return frozenset(d.key for s in self.services for d in s.dimensions)

    def offer(self, offer_id: str) -> Offer | None:
        return next((o for o in self.offers if o.offer_id == offer_id), None)


@dataclass(frozen=True)
class BuyerAccount:
    account_id: str
    name: str


@dataclass(frozen=True)
class Catalog:
    seller_account_id: str
    products: tuple[Product, ...]
    buyer_accounts: tuple[BuyerAccount, ...] = field(default_factory=tuple)
    seller_name: str = "Seller"

    def product(self, product_id_or_code: str) -> Product | None:
        return next((p for p in self.products if product_id_or_code in (p.product_id, p.product_code)), None)

    def product_by_listing(self, listing_id: str) -> Product | None:
        return next((p for p in self.products if p.listing_id == listing_id), None)

    def find_offer(self, offer_id: str) -> tuple[Product, Offer] | None:
        for p in self.products:
            o = p.offer(offer_id)
            if o is not None:
                return p, o
        return None


class _Reader:
    """Reads one JSON object, naming the field at fault (``products[0].offers[1].name``) when it is wrong."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, what: str) -> CatalogError:
        return CatalogError(f"{self.source}: {where}: {what}")

    def obj(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be an object")
        return value

    def text(self, o: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = o.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{where}.{key}" if where else key, "must be a non-empty string")
        return value

    def account(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _ACCOUNT.match(value):
            raise self.fail(where, "must be a 12-digit AWS account id")
        return value

    def items(self, o: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> list[Any]:
        value = o.get(key, [] if not required else None)
        if not isinstance(value, list) or (required and not value):
            raise self.fail(f"{where}.{key}" if where else key, "must be a non-empty list")
        return value

    def shown(self, o: Mapping[str, Any], key: str, where: str, max_len: int = 1024) -> str | None:
        """Optional text shown to buyers: when given, 1 to ``max_len`` characters, not only spaces (the Discovery
        model's NonEmptyString)."""
        if key not in o:
            return None
        value = o[key]
        if not isinstance(value, str) or not value.strip() or len(value) > max_len:
            raise self.fail(f"{where}.{key}", f"must be a string of 1 to {max_len} characters, not only spaces")
        return value

    def listing(self, value: Any, where: str) -> Listing:
        if value is None:
            return Listing()
        o = self.obj(value, where)
        unknown = sorted(set(o) - _LISTING_KEYS)
        if unknown:
            raise self.fail(f"{where}.{unknown[0]}", "is not a listing field")
        listing_id = o.get("listing_id")
        if listing_id is not None and (not isinstance(listing_id, str) or not _LISTING_ID.fullmatch(listing_id)):
            raise self.fail(f"{where}.listing_id", "must be 1-255 letters, digits, '_' or '-'")
        logo_url = o.get("logo_url")
        if logo_url is not None and (not isinstance(logo_url, str) or not _URL.fullmatch(logo_url)):
            raise self.fail(f"{where}.logo_url", "must be an http(s) URL of at most 2048 characters")
        categories = []
        for i, c_raw in enumerate(self.items(o, "categories", where, required=False)):
            cw = f"{where}.categories[{i}]"
            c = self.obj(c_raw, cw)
            category_id, name = c.get("id"), self.shown(c, "name", cw)
            if not isinstance(category_id, str) or not _CATEGORY_ID.fullmatch(category_id):
                raise self.fail(f"{cw}.id", "must be 1-128 letters, digits, '_', '-' or '.'")
            if name is None or set(c) - {"id", "name"}:
                raise self.fail(cw, "takes an id and a name, nothing else")
            categories.append(Category(category_id, name))
        highlights = []
        for i, h in enumerate(self.items(o, "highlights", where, required=False)):
            if not isinstance(h, str) or not h.strip() or len(h) > 1024:
                raise self.fail(f"{where}.highlights[{i}]", "must be a string of 1 to 1024 characters")
            highlights.append(h)
        if len(categories) > 30 or len(highlights) > 10:
            raise self.fail(where, "has at most 30 categories and 10 highlights")
        deployed = o.get("deployed_on_aws", False)
        if not isinstance(deployed, bool):
            raise self.fail(f"{where}.deployed_on_aws", "must be true or false")
        return Listing(
            listing_id=listing_id,
            short_description=self.shown(o, "short_description", where),
            long_description=self.shown(o, "long_description", where, 32768),
            logo_url=logo_url,
            categories=tuple(categories),
            highlights=tuple(highlights),
            deployed_on_aws=deployed,
        )


def read_catalog(text: str, source: str = "catalog") -> Catalog:
    """Read catalog JSON (the format of ``mplink/data/catalog.json``) into the sandbox's model."""
    r = _Reader(source)
    try:
        raw = r.obj(json.loads(text), "(top level)")
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{source}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    products = []
    for i, p_raw in enumerate(r.items(raw, "products", "")):
        where = f"products[{i}]"
        p = r.obj(p_raw, where)
        services = []
        for j, s_raw in enumerate(r.items(p, "services", where)):
            s = r.obj(s_raw, f"{where}.services[{j}]")
            dims = tuple(
                Dimension(
                    r.text(d, "key", f"{where}.services[{j}].dimensions[{k}]"),
                    r.text(d, "name", f"{where}.services[{j}].dimensions[{k}]"),
                    r.text(d, "unit", f"{where}.services[{j}].dimensions[{k}]", "Units"),
                )
                for k, d in enumerate(r.obj(x, where) for x in r.items(s, "dimensions", where, required=False))
            )
            services.append(Service(r.text(s, "name", f"{where}.services[{j}]"), dims))
        offers = []
        for j, o_raw in enumerate(r.items(p, "offers", where)):
            ow = f"{where}.offers[{j}]"
            o = r.obj(o_raw, ow)
            prices = r.obj(o.get("prices", {}), f"{ow}.prices")
            offers.append(
                Offer(
                    offer_id=r.text(o, "offer_id", ow),
                    name=r.text(o, "name", ow),
                    private=bool(o.get("private")),
                    proposer_account_id=r.account(o.get("proposer_account_id"), f"{ow}.proposer_account_id"),
                    resale_authorization_id=o.get("resale_authorization_id"),
                    buyer_account_ids=tuple(
                        r.account(b, f"{ow}.buyer_account_ids[{k}]")
                        for k, b in enumerate(r.items(o, "buyer_account_ids", ow, required=False))
                    ),
                    proposer_name=o.get("proposer_name"),
                    prices=tuple(sorted((str(k), str(v)) for k, v in prices.items())),
                    api_cancellable=bool(o.get("api_cancellable", True)),
                    renewal_term=bool(o.get("renewal_term", False)),
                )
            )
        products.append(
            Product(
                product_id=r.text(p, "product_id", where),
                product_code=r.text(p, "product_code", where),
                title=r.text(p, "title", where),
                fulfillment_url=r.text(p, "fulfillment_url", where),
                services=tuple(services),
                offers=tuple(offers),
                legacy=bool(p.get("legacy", False)),
                listing=r.listing(p.get("listing"), f"{where}.listing"),
            )
        )
    listing_ids = [p.listing_id for p in products]
    for i, listing_id in enumerate(listing_ids):
        if listing_id in listing_ids[:i]:
            raise CatalogError(f"{source}: products[{i}].listing: duplicate listing id {listing_id!r}")
    buyers = tuple(
        BuyerAccount(r.account(b.get("account_id"), f"buyer_accounts[{i}].account_id"), str(b.get("name", "")))
        for i, b in enumerate(r.obj(x, "buyer_accounts") for x in r.items(raw, "buyer_accounts", "", required=False))
    )
    return Catalog(
        seller_account_id=r.account(raw.get("seller_account_id"), "seller_account_id"),
        products=tuple(products),
        buyer_accounts=buyers,
        seller_name=r.text(raw, "seller_name", "", "Seller"),
    )


def seed_catalog() -> Catalog:
    """The seed's scenario, the catalog shipped inside the package."""
    text = resources.files("mplink").joinpath("data/catalog.json").read_text(encoding="utf-8")
    return read_catalog(text, "built-in catalog")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """A catalog file, or the shipped seed scenario when ``path`` is None."""
    if path is None:
        return seed_catalog()
    p = Path(path)
    try:
        return read_catalog(p.read_text(encoding="utf-8"), str(p))
    except FileNotFoundError as exc:
        raise CatalogError(f"{p}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{p}: cannot read it ({exc})") from exc


def format_account_id(account_id: str) -> str:
    """The way the AWS console shows an account id: ``2222-2222-2222``."""
    return f"{account_id[0:4]}-{account_id[4:8]}-{account_id[8:12]}" if len(account_id) == 12 else account_id
