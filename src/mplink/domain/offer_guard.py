"""The offer guard: a destination subscribed to another seller's offer, or to a public offer after a private one,
is an "offer change" (the seed's main warning: the reseller's price, support and license no longer apply).
Public -> the reseller's private offer (the seed's "switch") is the expected case.

Pure: both the seller (proposer account ids) and ``mplink move`` (the Discovery API's seller profile ids) fill in
who sells an offer in their own terms; the rule only compares them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class OfferFacts:
    """An offer as the guard sees it."""

    offer_id: str
    name: str
    private: bool
    #: who sells it (its seller of record): the proposer account id, or a seller profile id; None when unknown
    seller_id: str | None
    #: how the seller of record is shown to people
    seller_name: str


class OfferMove(StrEnum):
    #: nothing to compare: the tenant has no current offer, or the destination's offer is not known
    FIRST = "first"
    #: the same offer, or another offer of the same seller that keeps a private offer private
    SAME = "same"
    #: public -> private offer: the seed's "switch", the expected case
    TO_PRIVATE = "to_private"
    #: an offer change the catalog allows for this tenant or its reseller
    ALLOWED = "allowed"
    #: another seller of record, or private -> public: refused unless confirmed
    OFFER_CHANGE = "offer_change"


class ChangeReason(StrEnum):
    OTHER_SELLER = "other_seller"
    TO_PUBLIC = "to_public"


@dataclass(frozen=True)
class OfferCheck:
    move: OfferMove
    current: OfferFacts | None
    destination: OfferFacts | None
    reasons: tuple[ChangeReason, ...] = ()

    @property
    def needs_confirmation(self) -> bool:
        return self.move is OfferMove.OFFER_CHANGE

    def message(self) -> str:
        """One English sentence naming both offers and their sellers (the API's and the log's words)."""
        cur, dst = self.current, self.destination
        if cur is None or dst is None:
            return ""
        why = (
            "a public offer instead of a private one"
            if ChangeReason.TO_PUBLIC in self.reasons
            else "an offer of another seller"
        )
        return (
            f"the destination subscribes to {why}: '{dst.name}' sold by {dst.seller_name}, while the tenant pays "
            f"through '{cur.name}' sold by {cur.seller_name}; the current offer's price, support and license "
            "no longer apply"
        )


def check_offer_move(
    current: OfferFacts | None, destination: OfferFacts | None, allowed_offer_ids: frozenset[str] = frozenset()
) -> OfferCheck:
    """Compare the offer the tenant pays through now with the destination's offer.

    ``allowed_offer_ids``: offers the catalog allows for this tenant or its current offer's reseller."""
    if current is None or destination is None:
        return OfferCheck(OfferMove.FIRST, current, destination)
    if current.offer_id == destination.offer_id:
        return OfferCheck(OfferMove.SAME, current, destination)
    if not current.private and destination.private:
        return OfferCheck(OfferMove.TO_PRIVATE, current, destination)
    reasons: list[ChangeReason] = []
    if current.seller_id and destination.seller_id and current.seller_id != destination.seller_id:
        reasons.append(ChangeReason.OTHER_SELLER)
    if current.private and not destination.private:
        reasons.append(ChangeReason.TO_PUBLIC)
    if not reasons:
        return OfferCheck(OfferMove.SAME, current, destination)
    if destination.offer_id in allowed_offer_ids:
        return OfferCheck(OfferMove.ALLOWED, current, destination, tuple(reasons))
    return OfferCheck(OfferMove.OFFER_CHANGE, current, destination, tuple(reasons))
