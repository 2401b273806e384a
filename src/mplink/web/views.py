"""What the seller's pages show, as typed values: pure functions from the domain's objects (a subscription view,
the catalog, a pending registration, the logged-in user) to frozen dataclasses that the templates read.

No I/O here: the route modules load the objects, these functions decide what the page says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from babel.dates import format_timedelta

from mplink.domain.billing import CANCELLATION_REQUEST_KEPT, ChangeState
from mplink.domain.catalog import Catalog, Offer, Product
from mplink.domain.clock import utc
from mplink.domain.errors import InvalidValue
from mplink.domain.ids import format_account_id, parse_account_id
from mplink.domain.offer_guard import OfferCheck, OfferMove
from mplink.domain.subscription import PendingCancellation, ServiceStatus, SubscriptionType, SubscriptionView
from mplink.domain.tenant import BILLING_ROLES
from mplink.services.account_change import AccountChangeView
from mplink.services.auth import LoggedIn, Membership
from mplink.services.registration import LINK_WINDOW, PendingRegistration
from mplink.services.stale_subscriptions import StaleReport

AWS_MARKETPLACE = "https://aws.amazon.com/marketplace/pp/{product_id}"
AWS_MARKETPLACE_HOME = "https://aws.amazon.com/marketplace"


# -- small formats ---------------------------------------------------------------------------------------------------
def account_label(account_id: str | None) -> str:
    """An AWS account as the console shows it (1111-1111-1111); anything else as it is; "" for none."""
    return format_account_id(account_id) if account_id and len(account_id) == 12 else (account_id or "")


@dataclass(frozen=True)
class Moment:
    """A time a page shows: the template renders it with ``|time`` in the viewer's time zone, UTC on hover.
    False when there is none; as text, UTC to the minute."""

    at: datetime | None

    def __bool__(self) -> bool:
        return self.at is not None

    def __str__(self) -> str:
        return utc(self.at).strftime("%Y-%m-%d %H:%M UTC") if self.at else ""


def when(ts: datetime | None) -> Moment:
    """A time as the pages show it (see ``Moment``)."""
    return Moment(utc(ts) if ts else None)


def duration(span: timedelta, lang: str) -> str:
    """How long, in the page's language, rounded to its largest unit ("4 days", "4 日")."""
    return format_timedelta(max(span, timedelta(0)), threshold=1, locale=lang)


def safe_next(value: str | None, default: str = "/subscription") -> str:
    """Only paths of this site: no scheme, no host, no protocol-relative ``//host`` (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n\\"):
        return default
    return value


def proposer_label(catalog: Catalog, offer: Offer | None, account_id: str | None) -> str:
    """Who offers it: the offer's proposer name (the seller's own name for its account) and the account."""
    name = offer.proposer_name if offer and offer.proposer_name else None
    if name is None and account_id and account_id == catalog.seller_account_id:
        name = catalog.seller_name
    if name and account_id:
        return f"{name} ({account_label(account_id)})"
    return name or account_label(account_id)


# -- the marketplace's pages -----------------------------------------------------------------------------------------
def marketplace_product_url(template: str | None, product_id: str, account: str | None = None) -> str | None:
    """Where a buyer finds the product. ``template`` (settings.marketplace_url) may name ``{account}`` and
    ``{product_id}``; without placeholders ``/marketplace/pp/{product_id}`` is appended. None when the template
    needs an account that is not known yet."""
    if not template:
        return AWS_MARKETPLACE.replace("{product_id}", quote(product_id, safe=""))
    if "{account}" in template and not account:
        return None
    if "{product_id}" not in template:
        template = template.rstrip("/") + "/marketplace/pp/{product_id}"
    return template.replace("{account}", quote(account or "", safe="")).replace(
        "{product_id}", quote(product_id, safe="")
    )


def marketplace_home_url(template: str | None) -> str:
    """The marketplace's entry point when no account is known (the sandbox console's sign-in page)."""
    if not template:
        return AWS_MARKETPLACE_HOME
    return template.split("{account}", 1)[0].split("{product_id}", 1)[0].rstrip("/") or template


def market_url(template: str | None, product: Product | None, account: str | None = None) -> str:
    """The product's page when it can be named, else the marketplace's entry point."""
    url = marketplace_product_url(template, product.product_id, account) if product else None
    return url or marketplace_home_url(template)


# -- who is logged in ------------------------------------------------------------------------------------------------
def by_name(memberships: Iterable[Membership]) -> list[Membership]:
    """Tenants in the order the pages list them: by name, case-insensitively, then by id."""
    return sorted(memberships, key=lambda m: (m.tenant_name.lower(), m.tenant_id))


@dataclass(frozen=True)
class Who:
    """The logged-in user and the tenant they act for now."""

    user: LoggedIn
    membership: Membership | None

    @property
    def tenant_id(self) -> str:
        assert self.membership is not None
        return self.membership.tenant_id

    @property
    def can_bill(self) -> bool:
        """Owners, admins and billing users may link a subscription or change billing."""
        return self.membership is not None and self.membership.role in BILLING_ROLES

    @property
    def memberships(self) -> list[Membership]:
        return by_name(self.user.memberships)


@dataclass(frozen=True)
class Flash:
    """A one-time message shown at the top of the next page."""

    kind: str
    text: str


# -- the subscription -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shown:
    """A tenant's subscription as the pages show it: with the product (the only one when nothing pays) and
    every service of it ("not registered" when nothing pays)."""

    view: SubscriptionView
    catalog: Catalog
    product: Product | None
    services: tuple[ServiceStatus, ...]

    @property
    def registered(self) -> int:
        return sum(1 for s in self.services if s.registered)


def shown(view: SubscriptionView, catalog: Catalog) -> Shown:
    product = view.product or (catalog.products[0] if len(catalog.products) == 1 else None)
    services = view.services
    if not services and product is not None:  # nothing pays: every service is "not registered"
        services = tuple(ServiceStatus(s.name, False, None) for s in product.services)
    return Shown(view, catalog, product, services)


@dataclass(frozen=True)
class ServiceRow:
    name: str
    registered: bool
    since: Moment


@dataclass(frozen=True)
class PendingRow:
    """An agreement that no longer pays but still runs: the buyer cancels it in that account."""

    account: str
    account_id: str
    agreement_id: str
    since: Moment


@dataclass(frozen=True)
class SubscriptionSummary:
    """The subscription management page's facts (and the account-change page's "right now")."""

    type: str
    account: str
    account_id: str
    offer_name: str
    offer_private: bool
    proposer: str
    product_title: str
    since: Moment
    services: tuple[ServiceRow, ...]
    registered: int
    total: int
    pending: tuple[PendingRow, ...]
    #: the account whose subscription was the last to pay and ended ("" while one pays), and when it ended
    ended_account: str = ""
    ended_at: Moment = Moment(None)
    #: subscriptions left running while nothing pays: linking one again is the way back, cancelling it is not
    running: tuple[PendingRow, ...] = ()


def pending_rows(items: Iterable[PendingCancellation]) -> tuple[PendingRow, ...]:
    return tuple(
        PendingRow(account_label(p.aws_account_id), p.aws_account_id or "", p.agreement_id, when(p.superseded_at))
        for p in items
    )


def subscription_summary(s: Shown) -> SubscriptionSummary:
    view, offer = s.view, s.view.offer
    paying = view.paying_account_id
    ended = view.aws_account_id if paying is None and view.type is SubscriptionType.EXPIRED else None
    return SubscriptionSummary(
        type=view.type.value,
        account=account_label(paying),
        account_id=paying or "",
        offer_name=offer.name if offer else (view.offer_id or ""),
        offer_private=bool(offer and offer.private),
        proposer=proposer_label(s.catalog, offer, offer.proposer_account_id if offer else None),
        product_title=s.product.title if s.product else "",
        since=when(view.since),
        services=tuple(ServiceRow(x.name, x.registered, when(x.since)) for x in s.services),
        registered=s.registered,
        total=len(s.services),
        pending=pending_rows(view.pending_cancellations),
        ended_account=account_label(ended),
        ended_at=when(view.ended_at if ended else None),
        running=pending_rows(view.still_running),
    )


@dataclass(frozen=True)
class Status:
    """What ``/subscription/status.json`` answers (the account-change page polls it): the subscription's facts
    and the account change as the API shows it."""

    aws_account_id: str | None
    type: str
    pending_cancellations: tuple[tuple[str | None, str], ...]
    services_registered: int
    services_total: int
    account_change: AccountChangeView | None

    def as_json(self) -> dict[str, object]:
        return {
            "aws_account_id": self.aws_account_id,
            "type": self.type,
            "pending_cancellations": [
                {"aws_account_id": account, "agreement_id": agreement}
                for account, agreement in self.pending_cancellations
            ],
            "services_registered": self.services_registered,
            "services_total": self.services_total,
            "account_change": self.account_change.as_api() if self.account_change else None,
        }


def status(s: Shown, change: AccountChangeView | None) -> Status:
    return Status(
        aws_account_id=s.view.paying_account_id,
        type=s.view.type.value,
        pending_cancellations=tuple((p.aws_account_id, p.agreement_id) for p in s.view.pending_cancellations),
        services_registered=s.registered,
        services_total=len(s.services),
        account_change=change,
    )


# -- the confirmation of a registration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Confirmation:
    """What linking the pending registration to the current tenant would do."""

    account: str
    offer: str
    private: bool
    proposer: str
    product: str
    agreement_id: str
    expires: Moment
    tenant_name: str
    tenant_id: str
    #: the account that pays now and would stop paying ("" when none, or when it is this very agreement)
    instead_of: str
    instead_expired: bool
    already_here: bool
    #: the agreement pays for another tenant now: confirming moves it (R1)
    elsewhere: bool
    elsewhere_name: str
    can_confirm: bool
    role: str
    #: the offer guard's note: an offer change (needs the second confirmation) or the expected switch
    offer_note: OfferCheck | None = None


def offer_note(check: OfferCheck | None) -> OfferCheck | None:
    """What the confirmation page says about the offer: an offer change, or the expected switch; else nothing."""
    shown = (OfferMove.OFFER_CHANGE, OfferMove.TO_PRIVATE)
    if check is None or check.current is None or check.destination is None or check.move not in shown:
        return None
    return check


def confirmation(who: Who, pending: PendingRegistration, s: Shown, check: OfferCheck | None = None) -> Confirmation:
    view = s.view
    found = s.catalog.find_offer(pending.offer_id) if pending.offer_id else None
    offer = found[1] if found else None
    current_account = view.aws_account_id if view.agreement_id and view.agreement_id != pending.agreement_id else None
    elsewhere = pending.linked_tenant_id if pending.linked_tenant_id not in (None, who.tenant_id) else None
    elsewhere_name = next((m.tenant_name for m in who.user.memberships if m.tenant_id == elsewhere), None)
    return Confirmation(
        account=account_label(pending.aws_account_id),
        offer=pending.offer_name or "",
        private=pending.offer_private,
        proposer=proposer_label(s.catalog, offer, pending.proposer_account_id),
        product=pending.product_title or (s.product.title if s.product else ""),
        agreement_id=pending.agreement_id,
        expires=when(pending.redeemed_at + LINK_WINDOW),
        tenant_name=who.membership.tenant_name if who.membership else "",
        tenant_id=who.tenant_id,
        instead_of=account_label(current_account) if current_account else "",
        instead_expired=view.type is SubscriptionType.EXPIRED,
        already_here=pending.linked_tenant_id == who.tenant_id,
        elsewhere=bool(elsewhere),
        elsewhere_name=elsewhere_name or "",
        can_confirm=who.can_bill,
        role=who.membership.role.value if who.membership else "",
        offer_note=offer_note(check),
    )


# -- the account-change wizard ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OfferChoice:
    """The offer the destination account must choose, and the others it may see (the public offer)."""

    name: str
    others: tuple[str, ...]


def offer_to_choose(view: SubscriptionView, product: Product | None) -> OfferChoice:
    """The private offer that pays now; else a private offer extended to the paying account; else the offer that
    pays now; else the public offer."""
    if product is None:
        return OfferChoice("", ())
    public = tuple(o.name for o in product.offers if not o.private)
    if view.offer is not None and view.offer.private:
        return OfferChoice(view.offer.name, public)
    privates = [
        o.name
        for o in product.offers
        if o.private and view.aws_account_id and view.aws_account_id in o.buyer_account_ids
    ]
    if privates:
        return OfferChoice(privates[0], public)
    if view.offer is not None:
        return OfferChoice(view.offer.name, tuple(n for n in public if n != view.offer.name))
    return OfferChoice(public[0] if public else "", public[1:])


@dataclass(frozen=True)
class Destination:
    """The destination account typed into the wizard: its 12 digits when valid, and what the field shows."""

    account_id: str | None
    typed: str
    invalid: bool

    @property
    def label(self) -> str:
        return account_label(self.account_id) if self.account_id else ""


def destination(raw: str | None) -> Destination:
    """An empty field means no destination yet; a bad one is shown again as typed (at most 40 characters)."""
    if not raw or not raw.strip():
        return Destination(None, "", False)
    try:
        account_id = parse_account_id(raw)
    except InvalidValue:
        return Destination(None, raw[:40], True)
    return Destination(account_id, account_label(account_id), False)


def source_accounts(
    view: SubscriptionView, destination_id: str | None, change: AccountChangeView | None = None
) -> tuple[str, ...]:
    """The accounts the wizard's step 3 cancels in: those left to cancel; else the source of the change the
    wizard shows; else the one that pays now (unless it is the destination)."""
    pending = tuple(account_label(p.aws_account_id) for p in view.pending_cancellations if p.aws_account_id)
    if pending:
        return pending
    if change is not None and follows(change, destination_id) and change.from_.aws_account_id:
        return (account_label(change.from_.aws_account_id),)
    if view.aws_account_id and view.aws_account_id != destination_id:
        return (account_label(view.aws_account_id),)
    return ()


#: the steps whose mark reads "waiting" while not done but the step before is (cancel: until AWS says it ended)
MAY_WAIT = frozenset({"cancel"})


@dataclass(frozen=True)
class StepMarks:
    """Each step's mark on the wizard: "todo", "waiting" or "done"."""

    link: str
    check: str
    cancel: str


def follows(change: AccountChangeView | None, destination_id: str | None) -> bool:
    """Whether the wizard shows ``change``'s steps. With no destination typed it shows the current or last change;
    with one, only a change to that account: a new destination after a finished change starts afresh."""
    if change is None:
        return False
    return destination_id is None or destination_id in (change.to.aws_account_id, change.destination_account_id)


def step_marks(change: AccountChangeView | None, destination_id: str | None) -> StepMarks:
    """The marks of the change's steps as the domain derives them (the page's script applies the same rules)."""
    done = {step.name.value: step.done for step in change.steps} if change and follows(change, destination_id) else {}
    marks: dict[str, str] = {}
    before = False
    for name in ("link", "check", "cancel"):
        now = done.get(name, False)
        marks[name] = "done" if now else ("waiting" if before and name in MAY_WAIT else "todo")
        before = now
    return StepMarks(**marks)


@dataclass(frozen=True)
class ChangePage:
    """The account-change wizard (関連付け変更): the seed's runbook as three steps, for one destination."""

    summary: SubscriptionSummary
    steps: StepMarks
    destination: Destination
    sources: tuple[str, ...]
    product_title: str
    #: the product's page for the destination account; None when the marketplace URL needs the account first
    product_url: str | None
    market_home: str
    offer: OfferChoice
    check_again_url: str
    #: the seller's cancellation request for the source agreement, when the change is far enough to ask for one
    seller_cancel: SellerCancel | None = None


@dataclass(frozen=True)
class SellerCancel:
    """Step 3 done by the seller: AWS's agreement cancellation request for the source, which the source account
    approves (or which is approved after 7 days); for an agreement its buyer cannot cancel."""

    #: the request's status (PENDING_APPROVAL, APPROVED, REJECTED, CANCELLED, VALIDATION_FAILED); None: not asked
    status: str | None
    #: the admin may ask (again): the change is verified and no request waits or was approved
    can_ask: bool


#: the change states in which the seller may be asked to end the source agreement
_SELLER_CANCEL_STATES = frozenset({ChangeState.VERIFIED, ChangeState.SOURCE_CANCEL_PENDING})


def seller_cancel(change: AccountChangeView | None) -> SellerCancel | None:
    if change is None:
        return None
    status = change.cancellation_request[1] if change.cancellation_request else None
    if change.state not in _SELLER_CANCEL_STATES and status is None:
        return None
    can_ask = change.state in _SELLER_CANCEL_STATES and status not in CANCELLATION_REQUEST_KEPT
    return SellerCancel(status, can_ask)


def change_page(
    s: Shown, dest: Destination, marketplace_url: str | None, change: AccountChangeView | None
) -> ChangePage:
    """The wizard for ``dest``, its steps marked from the tenant's current or last account change."""
    product = s.product
    query = f"?destination={quote(dest.account_id)}" if dest.account_id else ""
    return ChangePage(
        summary=subscription_summary(s),
        steps=step_marks(change, dest.account_id),
        destination=dest,
        sources=source_accounts(s.view, dest.account_id, change),
        product_title=product.title if product else "",
        product_url=marketplace_product_url(marketplace_url, product.product_id, dest.account_id) if product else None,
        market_home=marketplace_home_url(marketplace_url),
        offer=offer_to_choose(s.view, product),
        check_again_url="/subscription/change" + query,
        seller_cancel=seller_cancel(change),
    )


# -- how long superseded subscriptions have been left running -------------------------------------------------------
def left_running(pending: Iterable[PendingCancellation], now: datetime, lang: str) -> dict[str, str]:
    """For the change page: each agreement left to cancel, and how long it has run since it stopped paying."""
    return {p.agreement_id: duration(now - p.superseded_at, lang) for p in pending if p.superseded_at is not None}


@dataclass(frozen=True)
class StaleLine:
    """A row of the operator's stale-subscription page."""

    tenant_id: str
    tenant_name: str
    account: str
    agreement_id: str
    offer_id: str
    offer_name: str
    seller: str
    since: Moment
    left_for: str
    request_id: str
    request_status: str


def stale_lines(report: StaleReport, lang: str) -> tuple[StaleLine, ...]:
    lines = []
    for r in report.rows:
        account = account_label(r.seller_account_id)
        seller = f"{r.seller_name} ({account})" if r.seller_name and account else (r.seller_name or account)
        request = r.cancellation_request
        lines.append(
            StaleLine(
                tenant_id=r.tenant_id,
                tenant_name=r.tenant_name,
                account=account_label(r.aws_account_id),
                agreement_id=r.agreement_id,
                offer_id=r.offer_id or "",
                offer_name=r.offer_name or "",
                seller=seller,
                since=when(r.since),
                left_for=duration(r.age, lang),
                request_id=request.id if request else "",
                request_status=request.status if request else "",
            )
        )
    return tuple(lines)
