"""The preflight of ``mplink move``: check both AWS accounts, the tenant at the seller and the offer, and
decide what step 1 does. It only reads. The decisions are plain functions over what was read, so each
can be tested without AWS or a seller."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mplink.move.change import ChangeStatus, format_account_id
from mplink.move.errors import AwsCallFailed, MoveRefused, SellerApiError

ORGANIZATION_UNKNOWN = "organization_unknown"
OFFER_CHANGE = "offer_change"


@dataclass
class MoveArgs:
    product_id: str
    from_profile: str
    to_profile: str
    seller_url: str
    tenant_id: str
    seller_key: str
    offer_name: str | None = None
    offer_id: str | None = None
    allowed_accounts: Path | None = None
    #: accept a destination on another seller's offer, or on a public offer after a private one
    allow_offer_change: bool = False


@dataclass
class Plan:
    src_account: str
    dst_account: str
    offer_id: str
    offer_name: str
    proposal_id: str
    term_ids: list[str]
    dst_holds_offer: str | None  # agreement id when the destination already has this offer
    replaces: str | None  # the destination's public-offer agreement the new one replaces
    src_agreement_id: str | None
    product_title: str
    warnings: list[str] = field(default_factory=list)
    #: what the offer guard found when the move leaves the current offer's seller or goes public:
    #: ``{"from": {"name", "seller"}, "to": {"name", "seller"}}``
    offer_change: dict[str, dict[str, str]] | None = None

    @property
    def first_step(self) -> str:
        """What step 1 does in the destination: ``use_held`` (it already holds the offer, the seed's
        "current subscription"), ``switch`` (from its public offer, a REPLACE) or ``subscribe``."""
        if self.dst_holds_offer:
            return "use_held"
        if self.replaces:
            return "switch"
        return "subscribe"


class BuyerSide(Protocol):
    """What the preflight reads from one AWS account (``mplink.move.aws.BuyerAccount``)."""

    account_id: str

    def organization_id(self) -> str | None: ...

    def purchase_options(self, product_id: str) -> list[dict[str, Any]]: ...

    def offer(self, offer_id: str) -> dict[str, Any]: ...

    def offer_term_ids(self, offer_id: str) -> list[str]: ...

    def active_agreements(self, product_id: str, offer_id: str | None = None) -> list[dict[str, Any]]: ...


A = TypeVar("A", bound=BuyerSide)


class SellerSide(Protocol):
    """What the preflight reads from the seller (``mplink.move.seller.SellerApi``)."""

    def subscription(self) -> dict[str, Any]: ...

    def account_change(self) -> ChangeStatus | None: ...


# -- the decisions -----------------------------------------------------------------------------------------------
def check_offer_choice(offer_name: str | None, offer_id: str | None) -> None:
    if bool(offer_name) == bool(offer_id):
        raise MoveRefused("give exactly one of --offer-name PATTERN or --offer-id ID")


def match_offer(
    options: list[dict[str, Any]], product_id: str, dst_account: str, offer_name: str | None, offer_id: str | None
) -> dict[str, Any]:
    """The one purchase option chosen by id, or by a name pattern (``*`` for the date that varies per
    license, as in ``Classmethod, Inc. for SaaS * Private Offer``); none or several is refused."""
    if offer_id:
        found = [o for o in options if o["purchaseOptionId"] == offer_id]
    else:
        found = [o for o in options if fnmatch.fnmatchcase(o.get("purchaseOptionName", ""), offer_name or "")]
    if not found:
        wanted = offer_id or offer_name
        names = "; ".join(o.get("purchaseOptionName", o["purchaseOptionId"]) for o in options) or "none"
        raise MoveRefused(
            "no offer '{wanted}' of {product} is available to {account} (its offers: {names})",
            wanted=wanted,
            product=product_id,
            account=format_account_id(dst_account),
            names=names,
        )
    if len(found) > 1:
        raise MoveRefused(
            "{count} offers match '{pattern}': make the pattern narrower or use --offer-id",
            count=len(found),
            pattern=offer_name,
        )
    return found[0]


def parse_allowed_accounts(text: str, where: str) -> set[str]:
    """Account ids separated by spaces, commas or lines, with or without the console's dashes; ``#``
    starts a comment word."""
    found = {w.replace("-", "") for w in text.replace(",", " ").split() if not w.startswith("#")}
    bad = sorted(w for w in found if not (len(w) == 12 and w.isdigit()))
    if bad:
        raise MoveRefused("{where}: '{word}' is not a 12-digit AWS account id", where=where, word=bad[0])
    return found


def check_accounts(
    src: str, dst: str, allowed: set[str] | None, where: str | None, organizations: Callable[[], tuple[Any, Any]]
) -> list[str]:
    """Both accounts must be the customer's: listed in --allowed-accounts, or else in one AWS
    Organization. ``organizations`` is only asked when no list was given. Returns the warnings."""
    if src == dst:
        raise MoveRefused(
            "--from-profile and --to-profile are the same AWS account ({account})", account=format_account_id(src)
        )
    if allowed is not None:
        for acct in (src, dst):
            if acct not in allowed:
                account = format_account_id(acct)
                raise MoveRefused("AWS account {account} is not in {where}", account=account, where=where)
        return []
    orgs = organizations()
    if None in orgs:
        return [ORGANIZATION_UNKNOWN]
    if orgs[0] != orgs[1]:
        raise MoveRefused(
            "the two AWS accounts belong to different AWS Organizations; give "
            "--allowed-accounts to confirm both are yours"
        )
    return []


def check_payer(sub: Mapping[str, Any], tenant_id: str, src: str, dst: str, resuming: bool) -> None:
    """The tenant must pay from the source now; a resumed move may already have moved it to the destination."""
    payers = (src, dst) if resuming else (src,)
    if sub.get("type") != "aws_marketplace" or sub.get("aws_account_id") not in payers:
        now = sub.get("aws_account_id")
        if now:
            raise MoveRefused(
                "tenant {tenant} does not pay from {src} now (it pays from {now})",
                tenant=tenant_id,
                src=format_account_id(src),
                now=format_account_id(now),
            )
        raise MoveRefused(
            "tenant {tenant} does not pay from {src} now (subscription type: {kind})",
            tenant=tenant_id,
            src=format_account_id(src),
            kind=sub.get("type"),
        )


def check_open_change(change: ChangeStatus | None, tenant_id: str, dst: str) -> None:
    """A change the seller has already linked must be finished first, unless it is this one (a resume)."""
    if change is None or not change.is_open or change.state == "started" or change.goes_to(dst):
        return
    to = f" to {format_account_id(change.to_account)}" if change.to_account else ""
    raise MoveRefused(
        "tenant {tenant} has an account change in progress at the seller ({state}{to}); "
        "finish it first (see 'mplink move status')",
        tenant=tenant_id,
        state=change.state,
        to=to,
    )


def held_agreement(held: Iterable[Mapping[str, Any]]) -> str | None:
    """The newest active agreement the destination already has on the offer, if any."""
    newest = next(iter(held), None)
    return str(newest["agreementId"]) if newest else None


@dataclass(frozen=True)
class SeenOffer:
    """An offer as the buyer sees it through the Discovery API (GetOffer): its seller of record is a seller
    profile, not an account id."""

    name: str
    private: bool
    seller_profile: str | None
    seller: str


def seen_offer(detail: Mapping[str, Any], private: bool | None = None) -> SeenOffer:
    """``private``: what the seller says; else the offer's PRIVATE_PRICING badge."""
    profile = detail.get("sellerOfRecord") or {}
    badges = {b.get("badgeType") for b in detail.get("badges") or []}
    return SeenOffer(
        name=str(detail.get("offerName") or detail.get("offerId", "")),
        private=("PRIVATE_PRICING" in badges) if private is None else private,
        seller_profile=profile.get("sellerProfileId"),
        seller=str(profile.get("displayName") or profile.get("sellerProfileId") or "?"),
    )


def current_offer(sub: Mapping[str, Any], read_offer: Callable[[str], dict[str, Any]]) -> tuple[str, SeenOffer] | None:
    """The offer the tenant pays through now (its id and how the source account sees it): named by the seller,
    its seller of record read from AWS in the source account, which holds it. When AWS cannot show it, only
    private -> public is checked."""
    offer = sub.get("offer") or {}
    if not offer.get("id"):
        return None
    offer_id, private = str(offer["id"]), bool(offer.get("private"))
    try:
        return offer_id, seen_offer(read_offer(offer_id), private)
    except AwsCallFailed:
        return offer_id, SeenOffer(str(offer.get("name") or offer_id), private, None, "?")


def check_offer_change(
    current: tuple[str, SeenOffer] | None, offer_id: str, dst: SeenOffer, allowed: bool
) -> dict[str, dict[str, str]] | None:
    """The seller's offer guard, from the buyer's side: leaving the current offer's seller of record, or going
    from a private offer to a public one, is refused unless ``--allow-offer-change`` (then it is returned for
    the plan to show). Public -> private (the seed's "switch") and the same offer pass."""
    if current is None or current[0] == offer_id:
        return None
    cur = current[1]
    other_seller = None not in (cur.seller_profile, dst.seller_profile) and cur.seller_profile != dst.seller_profile
    goes_public = cur.private and not dst.private
    if (not cur.private and dst.private) or not (other_seller or goes_public):
        return None
    why = "a public offer instead of a private one" if goes_public else "an offer of another seller"
    if not allowed:
        raise MoveRefused(
            "the destination would subscribe to {why}: '{to_offer}' sold by {to_seller}, while the tenant pays "
            "through '{from_offer}' sold by {from_seller}; give --allow-offer-change to move anyway",
            why=why,
            to_offer=dst.name,
            to_seller=dst.seller,
            from_offer=cur.name,
            from_seller=cur.seller,
        )
    return {"from": {"name": cur.name, "seller": cur.seller}, "to": {"name": dst.name, "seller": dst.seller}}


def product_title(offer_detail: Mapping[str, Any], product_id: str) -> str:
    entities = offer_detail.get("associatedEntities") or []
    return next((str(e["product"]["productName"]) for e in entities if "product" in e), product_id)


# -- the preflight ----------------------------------------------------------------------------------------------
def preflight(
    args: MoveArgs,
    open_account: Callable[[str], A],
    seller: SellerSide,
    resuming: bool = False,
) -> tuple[Plan, A, A]:
    """Check everything, change nothing; return the plan and the two accounts it was made with.
    ``resuming``: a saved move may already have moved the billing."""
    check_offer_choice(args.offer_name, args.offer_id)
    src_side, dst_side = open_account(args.from_profile), open_account(args.to_profile)
    src, dst = src_side.account_id, dst_side.account_id
    allowed = None
    if args.allowed_accounts is not None and src != dst:
        allowed = parse_allowed_accounts(_read(args.allowed_accounts), str(args.allowed_accounts))
    warnings = check_accounts(
        src,
        dst,
        allowed,
        str(args.allowed_accounts),
        lambda: (src_side.organization_id(), dst_side.organization_id()),
    )
    try:
        sub = seller.subscription()
        check_payer(sub, args.tenant_id, src, dst, resuming)
        check_open_change(seller.account_change(), args.tenant_id, dst)
    except SellerApiError as exc:
        raise MoveRefused(exc.message) from exc
    try:
        options = dst_side.purchase_options(args.product_id)
    except AwsCallFailed as exc:
        raise MoveRefused(
            "cannot list the offers of {product} for the destination: {reason}",
            product=args.product_id,
            reason=exc.message,
        ) from exc
    offer = match_offer(options, args.product_id, dst, args.offer_name, args.offer_id)
    offer_id = str(offer["purchaseOptionId"])
    detail = dst_side.offer(offer_id)
    offer_change = check_offer_change(
        current_offer(sub, src_side.offer), offer_id, seen_offer(detail), args.allow_offer_change
    )
    plan = Plan(
        src_account=src,
        dst_account=dst,
        offer_id=offer_id,
        offer_name=offer.get("purchaseOptionName") or offer_id,
        proposal_id=detail["agreementProposalId"],
        term_ids=dst_side.offer_term_ids(offer_id),
        dst_holds_offer=held_agreement(dst_side.active_agreements(args.product_id, offer_id=offer_id)),
        replaces=detail.get("replacementAgreementId"),
        # known only while the source pays; a resumed move reads it from the seller's account change
        src_agreement_id=sub.get("agreement_id") if sub.get("aws_account_id") == src else None,
        product_title=product_title(detail, args.product_id),
        warnings=warnings + ([OFFER_CHANGE] if offer_change else []),
        offer_change=offer_change,
    )
    return plan, src_side, dst_side


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MoveRefused("cannot read --allowed-accounts {path}: {reason}", path=path, reason=exc.strerror) from exc
