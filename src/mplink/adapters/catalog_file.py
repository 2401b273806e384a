"""Read and validate catalog files (JSON). A bad file is refused whole, naming the line or field at fault."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mplink.domain.catalog import BuyerAccount, Catalog, Dimension, Offer, OfferAllowance, Product, Service
from mplink.domain.errors import InvalidCatalog

AccountId = Annotated[str, Field(pattern=r"^\d{12}$", description="12-digit AWS account id")]
_DIMENSION_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DimensionIn(_Model):
    key: str
    name: str = Field(min_length=1, max_length=255)
    unit: str = "Units"

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _DIMENSION_KEY.match(v):
            raise ValueError("must be 1-255 letters, digits, '_', '-' or '.'")
        return v


class ServiceIn(_Model):
    name: str = Field(min_length=1, max_length=200)
    dimensions: list[DimensionIn] = []


class OfferIn(_Model):
    offer_id: str = Field(min_length=1, max_length=255)
    name: str = Field(min_length=1, max_length=255)
    private: bool
    proposer_account_id: AccountId
    resale_authorization_id: str | None = None
    buyer_account_ids: list[AccountId] = []
    proposer_name: str | None = Field(default=None, min_length=1, max_length=255)
    prices: dict[str, Annotated[str, Field(pattern=r"^\d{1,10}(\.\d{1,8})?$")]] = {}
    api_cancellable: bool = True
    #: the offer has a RenewalTerm a buyer configures (and may change with intent AMEND); a sandbox setting
    renewal_term: bool = False

    @model_validator(mode="after")
    def _private_offer(self) -> OfferIn:
        if not self.private and self.buyer_account_ids:
            raise ValueError("a public offer cannot name buyer_account_ids")
        if self.private and not self.buyer_account_ids:
            raise ValueError("a private offer must name the buyer_account_ids it is extended to")
        return self


ShownText = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"\S")]


class CategoryIn(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,128}$")
    name: ShownText


class ListingIn(_Model):
    """How the product is shown to buyers (the sandbox's Discovery API); the seller keeps none of it."""

    listing_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-]{1,255}$")
    short_description: ShownText | None = None
    long_description: str | None = Field(default=None, min_length=1, max_length=32768, pattern=r"\S")
    logo_url: str | None = Field(default=None, pattern=r"^https?://\S{1,2040}$")
    categories: list[CategoryIn] = Field(default=[], max_length=30)
    highlights: list[ShownText] = Field(default=[], max_length=10)
    deployed_on_aws: bool = False


class ProductIn(_Model):
    product_id: str = Field(pattern=r"^prod-[a-z0-9]{6,}$")
    product_code: str = Field(pattern=r"^[A-Za-z0-9]{1,255}$")
    title: str = Field(min_length=1, max_length=255)
    fulfillment_url: str = Field(pattern=r"^https?://\S+$")
    services: list[ServiceIn] = Field(min_length=1)
    offers: list[OfferIn] = Field(min_length=1)
    legacy: bool = False
    listing: ListingIn | None = None

    @model_validator(mode="after")
    def _unique(self) -> ProductIn:
        _no_duplicates("services", [s.name for s in self.services])
        keys = [d.key for s in self.services for d in s.dimensions]
        _no_duplicates("dimension keys", keys)
        _no_duplicates("offer ids", [o.offer_id for o in self.offers])
        for o in self.offers:
            unknown = sorted(set(o.prices) - set(keys))
            if unknown:
                raise ValueError(f"offer {o.offer_id!r} prices unknown dimension {unknown[0]!r}")
        return self


class BuyerAccountIn(_Model):
    account_id: AccountId
    name: str = ""


class OfferAllowanceIn(_Model):
    """Offers the offer guard lets a destination take without a second confirmation, for one tenant or for the
    tenants of one reseller (the proposer of the offer they pay through now)."""

    tenant_id: str | None = Field(default=None, min_length=1, max_length=36)
    reseller_account_id: AccountId | None = None
    offer_ids: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_subject(self) -> OfferAllowanceIn:
        if (self.tenant_id is None) == (self.reseller_account_id is None):
            raise ValueError("name exactly one of tenant_id or reseller_account_id")
        return self


class CatalogIn(_Model):
    seller_account_id: AccountId
    seller_name: str = Field(default="Seller", min_length=1, max_length=255)
    products: list[ProductIn] = Field(min_length=1)
    buyer_accounts: list[BuyerAccountIn] = []
    #: optional; catalogs without it stay valid
    allowed_offers: list[OfferAllowanceIn] = []

    @model_validator(mode="after")
    def _rules(self) -> CatalogIn:
        _no_duplicates("product ids", [p.product_id for p in self.products])
        _no_duplicates("product codes", [p.product_code for p in self.products])
        _no_duplicates(
            "listing ids", [lst.listing_id for lst in (p.listing for p in self.products) if lst and lst.listing_id]
        )
        _no_duplicates("offer ids", [o.offer_id for p in self.products for o in p.offers])
        _no_duplicates("buyer accounts", [b.account_id for b in self.buyer_accounts])
        for p in self.products:
            for o in p.offers:
                resold = o.proposer_account_id != self.seller_account_id
                if resold and not o.resale_authorization_id:
                    raise ValueError(
                        f"offer {o.offer_id!r} is proposed by a channel partner "
                        f"({o.proposer_account_id}), so it needs a resale_authorization_id"
                    )
                if not resold and o.resale_authorization_id:
                    raise ValueError(f"offer {o.offer_id!r} is the seller's own; drop its resale_authorization_id")
        known = {o.offer_id for p in self.products for o in p.offers}
        for a in self.allowed_offers:
            unknown = sorted(set(a.offer_ids) - known)
            if unknown:
                raise ValueError(f"allowed_offers names an offer the catalog does not have: {unknown[0]!r}")
        return self


def _no_duplicates(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"duplicate {what}: {v!r}")
        seen.add(v)


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_catalog(text: str, source: str = "catalog") -> Catalog:
    """Validate catalog JSON; raise InvalidCatalog naming the line (syntax) or the field (content)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidCatalog(f"{source}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    try:
        model = CatalogIn.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch" and isinstance(err.get("input"), str):
            msg = f"{msg}, got {err['input']!r}"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidCatalog(f"{source}: {_location(tuple(err['loc']))}: {msg}{more}") from exc
    return to_domain(model)


def to_domain(model: CatalogIn) -> Catalog:
    return Catalog(
        seller_account_id=model.seller_account_id,
        products=tuple(
            Product(
                product_id=p.product_id,
                product_code=p.product_code,
                title=p.title,
                fulfillment_url=p.fulfillment_url,
                services=tuple(
                    Service(s.name, tuple(Dimension(d.key, d.name, d.unit) for d in s.dimensions)) for s in p.services
                ),
                offers=tuple(
                    Offer(
                        offer_id=o.offer_id,
                        name=o.name,
                        private=o.private,
                        proposer_account_id=o.proposer_account_id,
                        resale_authorization_id=o.resale_authorization_id,
                        buyer_account_ids=tuple(o.buyer_account_ids),
                        proposer_name=o.proposer_name,
                        prices=tuple(sorted(o.prices.items())),
                        api_cancellable=o.api_cancellable,
                    )
                    for o in p.offers
                ),
                legacy=p.legacy,
            )
            for p in model.products
        ),
        buyer_accounts=tuple(BuyerAccount(b.account_id, b.name) for b in model.buyer_accounts),
        seller_name=model.seller_name,
        allowed_offers=tuple(
            OfferAllowance(tuple(a.offer_ids), a.tenant_id, a.reseller_account_id) for a in model.allowed_offers
        ),
    )


def seed_catalog_text() -> str:
    """The seed's scenario, shipped inside the package."""
    return resources.files("mplink").joinpath("data/catalog.json").read_text(encoding="utf-8")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load a catalog file, or the shipped seed scenario when ``path`` is None."""
    if path is None:
        return parse_catalog(seed_catalog_text(), "built-in catalog")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidCatalog(f"{p}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidCatalog(f"{p}: cannot read it ({exc})") from exc
    return parse_catalog(text, str(p))
