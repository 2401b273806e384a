"""What is sold: products, their services and metering dimensions, and the offers buyers choose from."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    #: private offers are visible only to these buyer accounts; empty for public offers
    buyer_account_ids: tuple[str, ...] = ()
    #: who the buyer sees as seller of record (the reseller for a channel-partner offer)
    proposer_name: str | None = None
    #: price per unit of each dimension, as decimal strings (dimension key -> price)
    prices: tuple[tuple[str, str], ...] = ()
    #: False when AWS refuses CancelAgreement for it (the buyer must cancel in the console)
    api_cancellable: bool = True

    def price_of(self, dimension_key: str) -> str:
        return dict(self.prices).get(dimension_key, "0.00")


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

    def dimension_keys(self) -> frozenset[str]:
        return frozenset(d.key for s in self.services for d in s.dimensions)

    def offer(self, offer_id: str) -> Offer | None:
        return next((o for o in self.offers if o.offer_id == offer_id), None)


@dataclass(frozen=True)
class BuyerAccount:
    account_id: str
    name: str


@dataclass(frozen=True)
class OfferAllowance:
    """Offers a destination may subscribe to without the offer guard's second confirmation: for one tenant, or
    for every tenant whose current offer a reseller (proposer account) sells."""

    offer_ids: tuple[str, ...]
    tenant_id: str | None = None
    reseller_account_id: str | None = None


@dataclass(frozen=True)
class Catalog:
    seller_account_id: str
    products: tuple[Product, ...]
    buyer_accounts: tuple[BuyerAccount, ...] = field(default_factory=tuple)
    seller_name: str = "Seller"
    allowed_offers: tuple[OfferAllowance, ...] = ()

    def offers_allowed(self, tenant_id: str, current_proposer_account_id: str | None) -> frozenset[str]:
        """The offers allowed for this tenant, or for the reseller whose offer it pays through now."""
        return frozenset(
            offer_id
            for a in self.allowed_offers
            if (a.tenant_id is not None and a.tenant_id == tenant_id)
            or (a.reseller_account_id is not None and a.reseller_account_id == current_proposer_account_id)
            for offer_id in a.offer_ids
        )

    def product(self, product_id_or_code: str) -> Product | None:
        return next((p for p in self.products if product_id_or_code in (p.product_id, p.product_code)), None)

    def find_offer(self, offer_id: str) -> tuple[Product, Offer] | None:
        for p in self.products:
            o = p.offer(offer_id)
            if o is not None:
                return p, o
        return None
