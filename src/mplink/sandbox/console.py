"""The sandbox's buyer console: the AWS Marketplace pages a buyer clicks through in the seed's runbook, as plain
HTML in English and Japanese (no JavaScript).

Product page -> "Continue to Subscribe" -> choose the offer -> "Subscribe" -> "Set up your account" (a form that
POSTs a registration token to the seller's fulfilment URL, as AWS does); and "AWS Marketplace Subscriptions" ->
"Manage" -> "Actions" -> "Cancel", and on "Manage" the seller's pending cancellation request, which the buyer
approves or rejects (AcceptAgreementCancellationRequest / RejectAgreementCancellationRequest). The account acted
as is part of every URL (``/console/{account_id}/...``): the sandbox has no sign-in, so a test or a demo can open
any account's console directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mplink.rendering import N_, Renderer
from mplink.sandbox.cancellation import AUTO_APPROVAL_AFTER
from mplink.sandbox.catalog import Offer, Product, format_account_id
from mplink.sandbox.errors import SandboxError
from mplink.sandbox.marketplace import Marketplace
from mplink.sandbox.model import SbAgreement, SbCancellationRequest

ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
#: pages carry registration tokens and change with every click: never cache them; no scripts at all
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action *; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PAGES = Renderer(
    package="mplink.sandbox",
    locale_dir=str(Path(__file__).parent / "locales"),
    domain="console",
    headers=lambda _nonce: HEADERS,
)


@dataclass
class PageError(Exception):
    """A page that explains what went wrong (bad input, unknown page) with a 4xx status and changes nothing.

    ``title`` and ``message`` are msgids, formatted with ``params`` after translation; ``detail`` is the
    marketplace's own (English) message, shown next to its error code.
    """

    status: int
    title: str
    message: str
    params: Mapping[str, str] | None = None
    code: str = ""
    detail: str = ""
    account: str | None = None


#: the buyer accounts' names in the shipped catalog, shown in the page's language (other names as they are)
ACCOUNT_NAMES = (N_("Source account"), N_("Destination account"))


def _account_name(gettext: Callable[[str], str], name: str | None) -> str:
    """A buyer account's name in the page's language ("" stays "": gettext would answer the catalog's header)."""
    return gettext(name) if name else ""


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _when(ts: datetime | None) -> datetime | None:
    """A time for a page: its template shows it with ``|time`` (the viewer's time zone, UTC on hover)."""
    return ts


def _refused(exc: SandboxError, title: str, message: str) -> PageError:
    """A page for what the marketplace refused: its error code and (English) message next to ours."""
    return PageError(exc.status if 400 <= exc.status < 500 else 409, title, message, code=exc.code, detail=exc.message)


def _prices(product: Product, offer: Offer) -> list[dict[str, str]]:
    return [
        {"service": s.name, "key": d.key, "name": d.name, "unit": d.unit, "price": offer.price_of(d.key)}
        for s in product.services
        for d in s.dimensions
    ]


def _error_view(error: PageError | None, gettext: Callable[[str], str]) -> dict[str, str] | None:
    """The error as the page shows it: title and message translated, then filled in."""
    if error is None:
        return None
    params = dict(error.params or {})
    return {
        "title": gettext(error.title) % params if params else gettext(error.title),
        "message": gettext(error.message) % params if params else gettext(error.message),
        "code": error.code,
        "detail": error.detail,
    }


def mount_console(app: FastAPI, market: Marketplace) -> None:
    """Add the console's pages to the sandbox app."""
    catalog = market.catalog
    names = {b.account_id: b.name for b in catalog.buyer_accounts}

    # -- rendering ---------------------------------------------------------------------------------------------
    def render(
        request: Request, template: str, *, account: str | None = None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        error = context.pop("error", None)
        return PAGES.render(
            request,
            template,
            status=status,
            account=account,
            account_display=format_account_id(account) if account else "",
            account_name=_account_name(PAGES.gettext(request), names.get(account or "")),
            account_home=f"/console/{account}" if account else "",
            error=_error_view(error, PAGES.gettext(request)),
            **context,
        )

    async def page_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, PageError):  # registered for PageError only
            raise exc
        account = exc.account
        back_url, back_label = (
            (f"/console/{account}", N_("Back to Discover products")) if account else ("/console", N_("Back to sign in"))
        )
        gettext = PAGES.gettext(request)
        return render(
            request,
            "message.html",
            account=account,
            status=exc.status,
            error=exc,
            back_url=back_url,
            back_label=gettext(back_label),
        )

    app.add_exception_handler(PageError, page_error)

    # -- lookups that answer 404 pages ---------------------------------------------------------------------------
    def checked_account(account_id: str) -> str:
        if not ACCOUNT_ID.match(account_id):
            raise PageError(
                404,
                N_("Page not found"),
                N_("%(account)s is not an AWS account ID: an account ID has 12 digits."),
                {"account": account_id[:40]},
            )
        return account_id

    def checked_product(account: str, product_id: str) -> Product:
        product = catalog.product(product_id)
        if product is None or product.product_id != product_id:
            raise PageError(
                404,
                N_("Product not found"),
                N_("There is no product %(product)s in AWS Marketplace."),
                {"product": product_id[:80]},
                code="ResourceNotFoundException",
                account=account,
            )
        return product

    def checked_agreement(account: str, agreement_id: str) -> SbAgreement:
        a = market.agreements.get(agreement_id)
        if a is None or a.account_id != account:
            raise PageError(
                404,
                N_("Subscription not found"),
                N_("Account %(account)s has no subscription with agreement ID %(agreement)s."),
                {"account": format_account_id(account), "agreement": agreement_id[:80]},
                code="ResourceNotFoundException",
                account=account,
            )
        return a

    def offer_seller(offer: Offer) -> str:
        return offer.proposer_name or catalog.seller_name

    # -- sign in -----------------------------------------------------------------------------------------------
    def signin_page(request: Request, *, typed: str = "", error: PageError | None = None) -> HTMLResponse:
        gettext = PAGES.gettext(request)
        accounts = [
            {
                "account_id": b.account_id,
                "name": _account_name(gettext, b.name),
                "display": format_account_id(b.account_id),
            }
            for b in catalog.buyer_accounts
        ]
        return render(
            request,
            "signin.html",
            status=error.status if error else 200,
            buyer_accounts=accounts,
            typed=typed,
            error=error,
        )

    @app.get("/console", response_class=HTMLResponse)
    def console_signin(request: Request) -> Response:
        """Pick the AWS account to act as: the sandbox's stand-in for signing in to the AWS console."""
        return signin_page(request)

    @app.post("/console", response_class=HTMLResponse)
    async def console_signin_post(request: Request) -> Response:
        """Any 12-digit account may act as a buyer; dashes and spaces (2222-2222-2222) are allowed."""
        form = await _form(request)
        typed = _text(form, "account_id")
        account = re.sub(r"[\s-]", "", typed)
        if not ACCOUNT_ID.match(account):
            error = PageError(
                400,
                N_("Not an AWS account ID"),
                N_("Enter the 12 digits of an AWS account ID, such as 2222-2222-2222."),
                code="ValidationException",
            )
            return signin_page(request, typed=typed[:40], error=error)
        return RedirectResponse(f"/console/{account}", status_code=303)

    @app.get("/console/{account_id}", response_class=HTMLResponse)
    def console_home(request: Request, account_id: str) -> Response:
        """The account's start page: the products it can subscribe to."""
        account = checked_account(account_id)
        with market.lock:
            products = [
                {
                    "product_id": p.product_id,
                    "title": p.title,
                    "current": ", ".join(
                        market.offer(a.offer_id)[1].name for a in market.active_agreements(account, p.product_id)
                    ),
                }
                for p in catalog.products
            ]
        return render(request, "home.html", account=account, products=products, seller_name=catalog.seller_name)

    # -- product page and subscribing ---------------------------------------------------------------------------
    @app.get("/console/{account_id}/marketplace/pp/{product_id}", response_class=HTMLResponse)
    def product_page(request: Request, account_id: str, product_id: str) -> Response:
        """The product's Marketplace page, with the "Continue to Subscribe" button."""
        account = checked_account(account_id)
        product = checked_product(account, product_id)
        with market.lock:
            current = [
                {"agreement_id": a.agreement_id, "offer_name": market.offer(a.offer_id)[1].name}
                for a in market.active_agreements(account, product.product_id)
            ]
        offers = [
            {"name": o.name, "private": o.private, "seller": offer_seller(o)}
            for o in product.offers
            if market.visible(account, o)
        ]
        base = f"/console/{account}/marketplace/pp/{product.product_id}"
        return render(
            request,
            "product.html",
            account=account,
            product=product,
            seller_name=catalog.seller_name,
            subscribe_url=f"{base}/subscribe",
            current=current,
            offers=offers,
        )

    def offers_page(
        request: Request, account: str, product: Product, *, selected: str = "", error: PageError | None = None
    ) -> HTMLResponse:
        with market.lock:
            held = market.active_agreements(account, product.product_id)
            held_offers = {a.offer_id for a in held}
            public_held = next(
                (market.offer(a.offer_id)[1].name for a in held if not market.offer(a.offer_id)[1].private), None
            )
        offers = [
            {
                "offer_id": o.offer_id,
                "name": o.name,
                "private": o.private,
                "seller": offer_seller(o),
                "current": o.offer_id in held_offers,
                # holding the public offer, subscribing to a private one is a REPLACE (the marketplace does it)
                "replaces": public_held if o.private and o.offer_id not in held_offers else None,
                "prices": _prices(product, o),
            }
            for o in product.offers
            if market.visible(account, o)
        ]
        base = f"/console/{account}/marketplace/pp/{product.product_id}"
        return render(
            request,
            "offers.html",
            account=account,
            status=error.status if error else 200,
            product=product,
            offers=offers,
            subscribable=any(not o["current"] for o in offers),
            selected=selected,
            product_url=base,
            subscribe_url=f"{base}/subscribe",
            error=error,
        )

    @app.get("/console/{account_id}/marketplace/pp/{product_id}/subscribe", response_class=HTMLResponse)
    def subscribe_page(request: Request, account_id: str, product_id: str) -> Response:
        """After "Continue to Subscribe": the offers this account can see, by name, with their prices."""
        account = checked_account(account_id)
        return offers_page(request, account, checked_product(account, product_id))

    @app.post("/console/{account_id}/marketplace/pp/{product_id}/subscribe", response_class=HTMLResponse)
    async def subscribe(request: Request, account_id: str, product_id: str) -> Response:
        """The "Subscribe" button: accept the chosen offer, then show "Set up your account" (POST-redirect-GET)."""
        account = checked_account(account_id)
        product = checked_product(account, product_id)
        offer_id = _text(await _form(request), "offer_id")
        result = await run_in_threadpool(_subscribe, account, product, offer_id)
        if isinstance(result, PageError):
            return offers_page(request, account, product, selected=offer_id[:80], error=result)
        return RedirectResponse(
            f"/console/{account}/marketplace/subscriptions/{result.agreement_id}/setup?new=1", status_code=303
        )

    def _subscribe(account: str, product: Product, offer_id: str) -> SbAgreement | PageError:
        """Check the choice and subscribe, atomically: a refused choice changes nothing."""
        if not offer_id:
            return PageError(400, N_("Choose an offer"), N_("Select one of the offers, then choose Subscribe."))
        with market.lock:
            offer = product.offer(offer_id)
            if offer is None or not market.visible(account, offer):
                return PageError(
                    404,
                    N_("Offer not available"),
                    N_("The offer %(offer)s is not available to account %(account)s for this product."),
                    {"offer": offer_id[:80], "account": format_account_id(account)},
                    code="ResourceNotFoundException",
                )
            if any(a.offer_id == offer.offer_id for a in market.active_agreements(account, product.product_id)):
                return PageError(
                    409,
                    N_("Already subscribed"),
                    N_("Account %(account)s already subscribes to %(offer)s (current subscription)."),
                    {"offer": offer.name, "account": format_account_id(account)},
                    code="ConflictException",
                )
            try:
                return market.agreement.subscribe(account, offer.offer_id)
            except SandboxError as exc:
                return PageError(
                    exc.status if 400 <= exc.status < 500 else 409,
                    N_("The subscription was not made"),
                    N_("AWS Marketplace refused the subscription; nothing was changed."),
                    code=exc.code,
                    detail=exc.message,
                )

    # -- subscriptions -------------------------------------------------------------------------------------------
    @app.get("/console/{account_id}/marketplace/subscriptions", response_class=HTMLResponse)
    def subscriptions_page(request: Request, account_id: str) -> Response:
        """ "AWS Marketplace Subscriptions": the account's agreements, active first, newest first."""
        account = checked_account(account_id)
        with market.lock:
            mine = [a for a in market.agreements.values() if a.account_id == account]
            mine.sort(key=lambda a: a.acceptance_time, reverse=True)
            mine.sort(key=lambda a: a.status != "ACTIVE")
            rows = []
            for a in mine:
                product, offer = market.offer(a.offer_id)
                rows.append(
                    {
                        "agreement_id": a.agreement_id,
                        "offer_id": a.offer_id,
                        "product_title": product.title,
                        "offer_name": offer.name,
                        "seller": offer_seller(offer),
                        "status": a.status,
                        "since": _when(a.acceptance_time),
                        "ended": _when(a.end_time),
                    }
                )
        return render(request, "subscriptions.html", account=account, rows=rows)

    def pending_request(a: SbAgreement) -> SbCancellationRequest | None:
        """The seller's cancellation request that waits for this agreement's buyer, if any (at most one)."""
        market.tick()  # a request left 7 days is approved by now
        return next(
            (
                cr
                for cr in market.cancellation_requests.values()
                if cr.agreement_id == a.agreement_id and cr.status == "PENDING_APPROVAL"
            ),
            None,
        )

    def agreement_page(
        request: Request, template: str, account: str, a: SbAgreement, error: PageError | None, **more: Any
    ) -> HTMLResponse:
        """A page about one of the account's agreements (Manage, Cancel), with an error's status when there is one."""
        product, offer = market.offer(a.offer_id)
        return render(
            request,
            template,
            account=account,
            status=error.status if error else 200,
            agreement=a,
            product=product,
            offer=offer,
            base_url=f"/console/{account}/marketplace/subscriptions/{a.agreement_id}",
            error=error,
            **more,
        )

    def manage_page(request: Request, account: str, a: SbAgreement, error: PageError | None = None) -> HTMLResponse:
        """ "Manage": one agreement, with the "Actions" menu (Cancel) and the seller's pending cancellation request."""
        product, offer = market.offer(a.offer_id)
        answered = request.query_params.get("request")
        pending = pending_request(a)
        return agreement_page(
            request,
            "subscription.html",
            account,
            a,
            error,
            offer_seller=offer_seller(offer),
            since=_when(a.acceptance_time),
            ended=_when(a.end_time),
            previous=a.previous_agreement_id,
            prices=_prices(product, offer),
            cancelled=request.query_params.get("cancelled") == "1" and a.status == "CANCELLED",
            pending=pending,
            pending_sent=_when(pending.created_at) if pending else "",
            pending_due=_when(pending.created_at + AUTO_APPROVAL_AFTER) if pending else "",
            answered=answered if answered in ("approved", "rejected") and error is None else None,
        )

    @app.get("/console/{account_id}/marketplace/subscriptions/{agreement_id}", response_class=HTMLResponse)
    def subscription_page(request: Request, account_id: str, agreement_id: str) -> Response:
        """ "Manage": one agreement."""
        account = checked_account(account_id)
        with market.lock:
            return manage_page(request, account, checked_agreement(account, agreement_id))

    @app.post(
        "/console/{account_id}/marketplace/subscriptions/{agreement_id}/cancellation-requests/{request_id}/{answer}",
        response_class=HTMLResponse,
    )
    async def answer_cancellation_request(
        request: Request, account_id: str, agreement_id: str, request_id: str, answer: str
    ) -> Response:
        """The buyer approves or rejects the seller's cancellation request (the operations AWS's buyers call)."""
        account = checked_account(account_id)
        if answer not in ("approve", "reject"):
            raise PageError(
                404,
                N_("Page not found"),
                N_("There is no console page at %(path)s."),
                {"path": request.url.path[:120]},
                account=account,
            )
        reason = _text(await _form(request), "reason")

        def run() -> Response:
            with market.lock:
                a = checked_agreement(account, agreement_id)
                ids = {"agreementId": a.agreement_id, "agreementCancellationRequestId": request_id}
                if answer == "reject" and not reason:
                    error = PageError(
                        400,
                        N_("Please give a reason"),
                        N_("Say why you reject the request: the seller sees it."),
                        code="ValidationException",
                    )
                    return manage_page(request, account, a, error)
                try:
                    if answer == "approve":
                        market.cancellation.accept_agreement_cancellation_request(account, ids)
                    else:
                        market.cancellation.reject_agreement_cancellation_request(
                            account, {**ids, "rejectionReason": reason[:2000]}
                        )
                except SandboxError as exc:
                    error = _refused(
                        exc,
                        N_("The request was not answered"),
                        N_("AWS Marketplace refused the answer; nothing was changed."),
                    )
                    return manage_page(request, account, a, error)
            done = "approved" if answer == "approve" else "rejected"
            return RedirectResponse(
                f"/console/{account}/marketplace/subscriptions/{a.agreement_id}?request={done}", status_code=303
            )

        return await run_in_threadpool(run)

    @app.get("/console/{account_id}/marketplace/subscriptions/{agreement_id}/setup", response_class=HTMLResponse)
    def setup_page(request: Request, account_id: str, agreement_id: str) -> Response:
        """ "Set up your account": a form that POSTs a fresh 4-hour registration token to the fulfilment URL."""
        account = checked_account(account_id)
        with market.lock:
            a = checked_agreement(account, agreement_id)
            product, offer = market.offer(a.offer_id)
            if a.status != "ACTIVE":
                raise PageError(
                    409,
                    N_("Nothing to set up"),
                    N_("This subscription is no longer active, so there is no account to set up."),
                    code="ConflictException",
                    account=account,
                )
            token = market.agreement.issue_token(a, "console")
            replaced = None
            if a.previous_agreement_id and a.previous_agreement_id in market.agreements:
                replaced = market.offer(market.agreements[a.previous_agreement_id].offer_id)[1].name
        return render(
            request,
            "setup.html",
            account=account,
            agreement=a,
            product=product,
            offer=offer,
            seller_name=catalog.seller_name,
            new=request.query_params.get("new") == "1",
            replaced=replaced,
            token=token.token,
            token_expires=_when(token.expires_at),
            fulfillment_url=market.fulfillment_url(product),
        )

    def cancel_page(request: Request, account: str, a: SbAgreement, error: PageError | None = None) -> HTMLResponse:
        return agreement_page(request, "cancel.html", account, a, error)

    def not_active(a: SbAgreement) -> PageError:
        return PageError(
            409,
            N_("Cannot cancel"),
            N_("This subscription is not active (status: %(status)s); there is nothing to cancel."),
            {"status": a.status},
            code="ConflictException",
        )

    @app.get("/console/{account_id}/marketplace/subscriptions/{agreement_id}/cancel", response_class=HTMLResponse)
    def cancel_confirm_page(request: Request, account_id: str, agreement_id: str) -> Response:
        """Actions -> Cancel: ask for confirmation before anything changes."""
        account = checked_account(account_id)
        with market.lock:
            a = checked_agreement(account, agreement_id)
            return cancel_page(request, account, a, None if a.status == "ACTIVE" else not_active(a))

    @app.post("/console/{account_id}/marketplace/subscriptions/{agreement_id}/cancel", response_class=HTMLResponse)
    async def cancel(request: Request, account_id: str, agreement_id: str) -> Response:
        """Confirmed cancellation: end the agreement as the console does (allowed even when the API refuses)."""
        account = checked_account(account_id)
        confirmed = _text(await _form(request), "confirm") == "yes"

        def run() -> Response:
            with market.lock:
                a = checked_agreement(account, agreement_id)
                if a.status != "ACTIVE":
                    return cancel_page(request, account, a, not_active(a))
                if not confirmed:
                    error = PageError(
                        400,
                        N_("Please confirm"),
                        N_("Tick the box to confirm that you want to cancel this subscription."),
                        code="ValidationException",
                    )
                    return cancel_page(request, account, a, error)
                try:
                    market.agreement.cancel_agreement(account, {"agreementId": a.agreement_id}, from_console=True)
                except SandboxError as exc:
                    error = _refused(
                        exc,
                        N_("The subscription was not cancelled"),
                        N_("AWS Marketplace refused the cancellation; nothing was changed."),
                    )
                    return cancel_page(request, account, a, error)
            return RedirectResponse(
                f"/console/{account}/marketplace/subscriptions/{a.agreement_id}?cancelled=1", status_code=303
            )

        return await run_in_threadpool(run)

    @app.api_route("/console/{rest:path}", methods=["GET", "POST"], response_class=HTMLResponse)
    def console_not_found(request: Request, rest: str) -> Response:
        """Any other console address: a page saying so, not FastAPI's JSON."""
        first = rest.split("/", 1)[0]
        raise PageError(
            404,
            N_("Page not found"),
            N_("There is no console page at %(path)s."),
            {"path": request.url.path[:120]},
            account=first if ACCOUNT_ID.match(first) else None,
        )


async def _form(request: Request) -> Mapping[str, Any]:
    """The posted form; a body that is not a form reads as an empty one (and so fails validation politely)."""
    try:
        return await request.form()
    except Exception:  # malformed multipart or encoding: answered as missing input, never as a stack trace
        return {}
