"""The seller's HTML pages, in English and Japanese: sign up, log in, the fulfilment URL and its confirmation,
the subscription management page (サブスクリプション管理) and the "change the paying AWS account" wizard
(関連付け変更) that walks the seed's runbook and shows the new link as soon as it arrives.

Every page is rendered from ``templates/`` with the ``web`` gettext catalog; every form carries the session's
CSRF token except the fulfilment URL, which AWS Marketplace posts cross-site (the registration token is the proof).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import escape

from mplink.domain.catalog import Catalog, Offer, Product
from mplink.domain.clock import now_utc, utc
from mplink.domain.errors import AgreementNotActive, Conflict, DomainError, InvalidValue, NotFound
from mplink.domain.ids import format_account_id, parse_account_id
from mplink.domain.subscription import ServiceStatus, SubscriptionType, SubscriptionView
from mplink.domain.tenant import BILLING_ROLES, parse_email
from mplink.i18n import LANG_COOKIE, SUPPORTED, choose_language, translations
from mplink.services import auth
from mplink.services.passwords import MIN_PASSWORD_LENGTH
from mplink.services.ports import MarketplaceUnavailable, RegistrationTokenRejected
from mplink.services.registration import (
    LINK_WINDOW,
    PendingRegistration,
    confirm_registration,
    pending_registration,
    register_customer,
)
from mplink.services.subscriptions import TenantSubscription, tenant_subscription
from mplink.services.tenants import create_tenant
from mplink.web.session import CSRF_FIELD, check_csrf, csrf_token, login, logout
from mplink.web.state import AppState, app_state

router = APIRouter(include_in_schema=False)

LOCALE_DIR = str(Path(__file__).parent / "locales")
DOMAIN = "web"
#: the language cookie lasts a year, like the sandbox console's
COOKIE_MAX_AGE = 365 * 24 * 3600
#: hands a redeemed registration from the fulfilment POST (cross-site, so the SameSite=Lax session cookie is not
#: sent with it) to the confirmation page's GET (a top-level navigation, which carries the session)
PENDING_COOKIE = "mplink_pending"
PENDING_SALT = "mplink.pending-registration"
#: the wizard asks the status endpoint this often (milliseconds)
POLL_MS = 3000
AWS_MARKETPLACE = "https://aws.amazon.com/marketplace/pp/{product_id}"

_ENV = Environment(
    loader=PackageLoader("mplink.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def N_(message: str) -> str:
    """Mark a message for translation where it is defined; it is translated when rendered."""
    return message


# -- language, headers, rendering ---------------------------------------------------------------------------------
def _has_session(request: Request) -> bool:
    return "session" in request.scope


def language(request: Request) -> tuple[str, bool]:
    """The page's language (?lang=, then the cookie, then Accept-Language), and whether ?lang= chose it."""
    asked = request.query_params.get("lang")
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered is None and _has_session(request):
        remembered = request.session.get("lang")
    lang = choose_language(asked, remembered, request.headers.get("accept-language"))
    return lang, asked in SUPPORTED


def gettext_for(request: Request) -> Callable[[str], str]:
    return translations(LOCALE_DIR, DOMAIN, language(request)[0]).gettext


def security_headers(nonce: str) -> dict[str, str]:
    """Pages carry personal data and CSRF tokens: never cached, never framed; scripts only with the nonce."""
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
            "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _lang_urls(request: Request) -> dict[str, str]:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return {code: f"{request.url.path}?{urlencode([*query, ('lang', code)])}" for code in SUPPORTED}


def _when(ts: datetime | None) -> str:
    return utc(ts).strftime("%Y-%m-%d %H:%M UTC") if ts else ""


def _account(account_id: str | None) -> str:
    return format_account_id(account_id) if account_id and len(account_id) == 12 else (account_id or "")


@dataclass(frozen=True)
class Who:
    """The logged-in user and the tenant they act for now."""

    user: auth.LoggedIn
    membership: auth.Membership | None

    @property
    def tenant_id(self) -> str:
        assert self.membership is not None
        return self.membership.tenant_id

    @property
    def can_bill(self) -> bool:
        return self.membership is not None and self.membership.role in BILLING_ROLES


def render(
    request: Request, template: str, *, status: int = 200, who: Who | None = None, **context: Any
) -> HTMLResponse:
    lang, explicit = language(request)
    gettext = translations(LOCALE_DIR, DOMAIN, lang).gettext
    nonce = secrets.token_urlsafe(18)
    session_ok = _has_session(request)
    flash = request.session.pop("flash", None) if session_ok else None
    flash_view = None
    if isinstance(flash, dict) and isinstance(flash.get("msgid"), str):
        params = flash.get("params") or {}
        text = gettext(flash["msgid"])
        flash_view = {"kind": flash.get("kind", "success"), "text": text % params if params else text}
    memberships = sorted(who.user.memberships, key=lambda m: (m.tenant_name.lower(), m.tenant_id)) if who else []
    html = _ENV.get_template(template).render(
        _=gettext,
        lang=lang,
        lang_urls=_lang_urls(request),
        nonce=nonce,
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(request) if session_ok else "",
        who=who,
        memberships=memberships,
        here=_here(request),
        flash=flash_view,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=security_headers(nonce))
    if explicit:
        response.set_cookie(LANG_COOKIE, lang, max_age=COOKIE_MAX_AGE, path="/", samesite="lax", httponly=True)
        if session_ok:
            request.session["lang"] = lang
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(value: str | None, default: str = "/subscription") -> str:
    """Only paths of this site: no scheme, no host, no protocol-relative ``//host`` (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n\\"):
        return default
    return value


def _flash(request: Request, msgid: str, kind: str = "success", **params: str) -> None:
    request.session["flash"] = {"msgid": msgid, "kind": kind, "params": params}


# -- who is logged in ---------------------------------------------------------------------------------------------
def current(request: Request) -> Who | None:
    """The logged-in user and the current tenant (the session's, else the first by name); None if logged out."""
    user_id = request.session.get("user_id")
    if not isinstance(user_id, str):
        return None
    user = auth.logged_in(app_state(request).uow(), user_id)
    if user is None:  # the user was deleted: the session is worth nothing
        logout(request)
        return None
    chosen = request.session.get("tenant_id")
    membership = next((m for m in user.memberships if m.tenant_id == chosen), None)
    if membership is None and user.memberships:
        membership = sorted(user.memberships, key=lambda m: (m.tenant_name.lower(), m.tenant_id))[0]
        request.session["tenant_id"] = membership.tenant_id
    return Who(user, membership)


def login_redirect(request: Request) -> RedirectResponse:
    return redirect("/login?" + urlencode({"next": _here(request)}))


def require_tenant(who: Who) -> None:
    if who.membership is None:
        raise HTTPException(403, N_("Your login is not a member of any tenant. Sign up to create one."))


# -- the marketplace's product page, for the wizard and the token pages --------------------------------------------
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
        return "https://aws.amazon.com/marketplace"
    return template.split("{account}", 1)[0].split("{product_id}", 1)[0].rstrip("/") or template


def _only_product(catalog: Catalog) -> Product | None:
    return catalog.products[0] if len(catalog.products) == 1 else None


def _proposer(catalog: Catalog, offer: Offer | None, account_id: str | None) -> str:
    name = offer.proposer_name if offer and offer.proposer_name else None
    if name is None and account_id and account_id == catalog.seller_account_id:
        name = catalog.seller_name
    if name and account_id:
        return f"{name} ({_account(account_id)})"
    return name or _account(account_id)


# -- the subscription, as the pages and status.json show it ---------------------------------------------------------
@dataclass(frozen=True)
class Shown:
    sub: TenantSubscription
    product: Product | None
    services: tuple[ServiceStatus, ...]

    @property
    def view(self) -> SubscriptionView:
        return self.sub.view

    @property
    def registered(self) -> int:
        return sum(1 for s in self.services if s.registered)

    def status(self) -> dict[str, Any]:
        view = self.view
        return {
            "aws_account_id": view.aws_account_id,
            "type": view.type.value,
            "pending_cancellations": [
                {"aws_account_id": p.aws_account_id, "agreement_id": p.agreement_id} for p in view.pending_cancellations
            ],
            "services_registered": self.registered,
            "services_total": len(self.services),
        }


def shown_subscription(state: AppState, tenant_id: str) -> Shown:
    sub = tenant_subscription(state.uow(), tenant_id)
    product = sub.view.product or _only_product(sub.catalog)
    services = sub.view.services
    if not services and product is not None:  # nothing pays: every service is "not registered"
        services = tuple(ServiceStatus(s.name, False, None) for s in product.services)
    return Shown(sub, product, services)


def subscription_context(shown: Shown) -> dict[str, Any]:
    view, catalog = shown.view, shown.sub.catalog
    offer = view.offer
    return {
        "type": view.type.value,
        "account": _account(view.aws_account_id),
        "account_id": view.aws_account_id or "",
        "offer_name": offer.name if offer else (view.offer_id or ""),
        "offer_private": bool(offer and offer.private),
        "proposer": _proposer(catalog, offer, offer.proposer_account_id if offer else None),
        "product_title": shown.product.title if shown.product else "",
        "since": _when(view.since),
        "services": [{"name": s.name, "registered": s.registered, "since": _when(s.since)} for s in shown.services],
        "registered": shown.registered,
        "total": len(shown.services),
        "pending": [
            {
                "account": _account(p.aws_account_id),
                "account_id": p.aws_account_id or "",
                "agreement_id": p.agreement_id,
                "since": _when(p.superseded_at),
            }
            for p in view.pending_cancellations
        ],
    }


# -- error pages ------------------------------------------------------------------------------------------------------
TITLES = {
    400: N_("Something in the request is not right"),
    401: N_("Not logged in"),
    403: N_("Not allowed"),
    404: N_("Page not found"),
    405: N_("Not allowed"),
    409: N_("This changed in the meantime"),
    413: N_("Too large"),
    422: N_("Something in the request is not right"),
    503: N_("Please try again shortly"),
}
#: English messages of FastAPI, Starlette and the session module that the catalog translates
N_("Not Found")
N_("Method Not Allowed")
N_("The form expired or was sent from another site; reload the page")


def error_page(request: Request, status: int, message: str) -> Response:
    """A page in the visitor's language that says what went wrong (the message, escaped) and links back.
    Called by the app for every error on a non-API path, so it must not fail: it reads no database."""
    try:
        gettext = gettext_for(request)
        logged_in = _has_session(request) and isinstance(request.session.get("user_id"), str)
        back_url, back_label = ("/subscription", N_("Back to Subscription management"))
        if not logged_in:
            back_url, back_label = ("/login", N_("Log in"))
        return render(
            request,
            "error.html",
            status=status,
            title=gettext(TITLES.get(status, N_("Something went wrong"))),
            message=gettext(message) if message else "",
            status_code=status,
            back_url=back_url,
            back_label=gettext(back_label),
            next_steps=None,
        )
    except Exception:  # the error page itself failed: still answer with something plain and safe
        body = f"<!doctype html><title>Error {status}</title><h1>Error {status}</h1><p>{escape(message)}</p>"
        return HTMLResponse(body, status_code=status, headers=security_headers(secrets.token_urlsafe(18)))


def token_problem_page(request: Request, reason: str, *, status: int = 400) -> HTMLResponse:
    """What a buyer does when the registration token did not work: go back to AWS Marketplace and press
    "Set up your account" again (each press issues a new token, valid for 4 hours)."""
    gettext = gettext_for(request)
    messages = {
        "invalid": N_("AWS Marketplace did not accept the registration token, so nothing was linked."),
        "expired": N_("The registration token has expired: it is valid for 4 hours after 'Set up your account'."),
        "used": N_("This registration token has already been used to link a subscription."),
        "ended": N_(
            "This AWS Marketplace subscription has ended or is not known here, so it cannot be linked. "
            "Subscribe again, then press 'Set up your account'."
        ),
        "unavailable": N_(
            "AWS Marketplace did not answer, so the subscription could not be checked. Nothing was linked."
        ),
    }
    state = app_state(request)
    steps = (
        [N_("Wait a minute, then go back to AWS Marketplace and press 'Set up your account' again.")]
        if reason == "unavailable"
        else [
            N_("Go back to AWS Marketplace, signed in to the AWS account that subscribed."),
            N_(
                "Open AWS Marketplace Subscriptions, choose the product, then Manage -> Actions -> Set up your "
                "account (or press 'Set up your account' on the page shown after Subscribe)."
            ),
            N_("You come back here with a new registration token; log in and confirm."),
        ]
    )
    return render(
        request,
        "error.html",
        status=status,
        title=gettext(
            N_("Please try again shortly") if reason == "unavailable" else N_("Press 'Set up your account' again")
        ),
        message=gettext(messages.get(reason, messages["invalid"])),
        status_code=status,
        back_url=marketplace_home_url(state.settings.marketplace_url),
        back_label=gettext(N_("Go to AWS Marketplace")),
        next_steps=[gettext(s) for s in steps],
        reason=reason,
    )


# -- sign up, log in, log out, switch tenant ---------------------------------------------------------------------------
Text = Annotated[str, Form(max_length=1024)]
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return redirect("/subscription" if isinstance(request.session.get("user_id"), str) else "/login")


def _login_page(
    request: Request, *, status: int = 200, error: str | None = None, email: str = "", nxt: str
) -> Response:
    return render(
        request,
        "login.html",
        status=status,
        error=error,
        email=email,
        next=nxt,
        pending=bool(request.session.get("pending")),
        signup_url="/signup?" + urlencode({"next": nxt}),
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    nxt = safe_next(next)
    if current(request) is not None:
        return redirect(nxt)
    return _login_page(request, nxt=nxt)


def _after_login(request: Request, nxt: str) -> str:
    if nxt == "/subscription" and request.session.get("pending"):
        return "/marketplace/confirm"
    return nxt


@router.post("/login", response_class=HTMLResponse)
def login_post(
    request: Request, csrf: Csrf = "", email: Text = "", password: Text = "", next: Text = "/subscription"
) -> Response:
    check_csrf(request, csrf)
    nxt = safe_next(next)
    user = auth.authenticate(app_state(request).uow(), email, password)
    if user is None:  # the same words for an unknown email and a wrong password
        return _login_page(
            request, status=401, error=gettext_for(request)(N_("Wrong email or password.")), email=email[:254], nxt=nxt
        )
    first = sorted(user.memberships, key=lambda m: (m.tenant_name.lower(), m.tenant_id))
    login(request, user.user_id, first[0].tenant_id if first else None)
    return redirect(_after_login(request, nxt))


def _signup_page(
    request: Request, *, status: int = 200, error: str | None = None, name: str = "", email: str = "", nxt: str
) -> Response:
    return render(
        request,
        "signup.html",
        status=status,
        error=error,
        tenant_name=name,
        email=email,
        next=nxt,
        min_password=MIN_PASSWORD_LENGTH,
        pending=bool(request.session.get("pending")),
        login_url="/login?" + urlencode({"next": nxt}),
    )


@router.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request, next: str | None = None) -> Response:
    return _signup_page(request, nxt=safe_next(next))


@router.post("/signup", response_class=HTMLResponse)
def signup_post(
    request: Request,
    csrf: Csrf = "",
    tenant_name: Text = "",
    email: Text = "",
    password: Text = "",
    next: Text = "/subscription",
) -> Response:
    check_csrf(request, csrf)
    nxt = safe_next(next)
    gettext = gettext_for(request)

    def again(msgid: str, status: int = 400, **params: Any) -> Response:
        text = gettext(msgid) % params if params else gettext(msgid)
        return _signup_page(request, status=status, error=text, name=tenant_name[:200], email=email[:254], nxt=nxt)

    if not " ".join(tenant_name.split()):
        return again(N_("Enter the name of your organisation (the tenant)."))
    if len(" ".join(tenant_name.split())) > 200:
        return again(N_("The tenant name can have at most 200 characters."))
    try:
        address = parse_email(email)
    except InvalidValue:
        return again(N_("Enter a valid email address."))
    if len(password) < MIN_PASSWORD_LENGTH:
        return again(N_("The password needs at least %(n)s characters."), n=str(MIN_PASSWORD_LENGTH))
    state = app_state(request)
    try:
        tenant_id = create_tenant(state.uow(), tenant_name, address, password)
    except Conflict:
        return again(
            N_("%(email)s already has a login. Give that login's password to add a tenant to it, or log in."),
            409,
            email=address,
        )
    except InvalidValue as exc:
        return _signup_page(request, status=400, error=exc.message, name=tenant_name[:200], email=email[:254], nxt=nxt)
    user = auth.authenticate(state.uow(), address, password)
    assert user is not None
    login(request, user.user_id, tenant_id)
    _flash(request, N_("Welcome! The tenant %(tenant)s was created."), tenant=" ".join(tenant_name.split()))
    return redirect(_after_login(request, nxt))


@router.post("/logout", response_class=HTMLResponse)
def logout_post(request: Request, csrf: Csrf = "") -> Response:
    check_csrf(request, csrf)
    logout(request)
    return redirect("/login")


@router.post("/tenant", response_class=HTMLResponse)
def switch_tenant(request: Request, csrf: Csrf = "", tenant_id: Text = "", next: Text = "/subscription") -> Response:
    """A user who belongs to several tenants (a reseller's engineer) chooses which one the pages act for."""
    check_csrf(request, csrf)
    who = current(request)
    if who is None:
        return redirect("/login")
    if not any(m.tenant_id == tenant_id for m in who.user.memberships):
        raise HTTPException(403, N_("You are not a member of that tenant."))
    request.session["tenant_id"] = tenant_id
    return redirect(safe_next(next))


# -- the fulfilment URL and the confirmation ---------------------------------------------------------------------------
def _pending_serializer(state: AppState) -> URLSafeTimedSerializer:
    assert state.settings.secret_key
    return URLSafeTimedSerializer(state.settings.secret_key, salt=PENDING_SALT)


@router.get("/marketplace/register", response_class=HTMLResponse)
def register_get(request: Request) -> Response:
    """AWS Marketplace POSTs here; a plain visit has no token."""
    return token_problem_page(request, "invalid")


@router.post("/marketplace/register", response_class=HTMLResponse)
def register(
    request: Request,
    token: Annotated[str, Form(alias="x-amzn-marketplace-token", max_length=4096)] = "",
    offer_type: Annotated[str, Form(alias="x-amzn-marketplace-offer-type", max_length=100)] = "",
) -> Response:
    """The fulfilment URL. No CSRF check: AWS posts this cross-site and the token is the proof. The token is
    redeemed at once (ResolveCustomer); linking waits for a logged-in owner, admin or billing user to confirm.
    ``x-amzn-marketplace-offer-type`` is "free-trial" when the buyer took a free trial; it is kept on the agreement."""
    state = app_state(request)
    try:
        pending = register_customer(state.uow(), state.marketplace, token, free_trial=offer_type == "free-trial")
    except RegistrationTokenRejected as exc:
        state.metrics.registrations.labels(exc.reason).inc()
        return token_problem_page(request, exc.reason)
    except MarketplaceUnavailable:
        state.metrics.registrations.labels("unavailable").inc()
        return token_problem_page(request, "unavailable", status=503)
    state.metrics.registrations.labels("accepted").inc()
    value = {
        "agreement_id": pending.agreement_id,
        "token_hash": pending.token_hash,
        "redeemed_at": utc(pending.redeemed_at).isoformat(),
    }
    response = redirect("/marketplace/confirm")
    # the session cookie (SameSite=Lax) does not come with AWS's cross-site POST, and writing the session here
    # would replace the visitor's login; a short-lived signed cookie carries the registration to the next GET
    response.set_cookie(
        PENDING_COOKIE,
        _pending_serializer(state).dumps(value),
        max_age=int(LINK_WINDOW.total_seconds()),
        path="/marketplace",
        samesite="lax",
        httponly=True,
        secure=bool(state.settings.public_url and state.settings.public_url.startswith("https://")),
    )
    return response


def _take_pending_cookie(request: Request) -> bool:
    """Move the registration handed over by the fulfilment POST into the session; True if the cookie came."""
    raw = request.cookies.get(PENDING_COOKIE)
    if not raw:
        return False
    try:
        value = _pending_serializer(app_state(request)).loads(raw, max_age=int(LINK_WINDOW.total_seconds()))
    except BadSignature:
        return True
    if isinstance(value, dict) and all(isinstance(value.get(k), str) for k in ("agreement_id", "token_hash")):
        request.session["pending"] = {k: value.get(k) for k in ("agreement_id", "token_hash", "redeemed_at")}
    return True


def _pending(request: Request) -> tuple[str, str, datetime] | None:
    p = request.session.get("pending")
    if not isinstance(p, dict):
        return None
    try:
        return str(p["agreement_id"]), str(p["token_hash"]), utc(datetime.fromisoformat(str(p["redeemed_at"])))
    except (KeyError, ValueError):
        request.session.pop("pending", None)
        return None


@router.get("/marketplace/confirm", response_class=HTMLResponse)
def confirm_page(request: Request) -> Response:
    handed_over = _take_pending_cookie(request)
    response = _confirm_page(request)
    if handed_over:
        response.delete_cookie(PENDING_COOKIE, path="/marketplace")
    return response


def _confirm_page(request: Request) -> Response:
    state = app_state(request)
    found = _pending(request)
    if found is None:
        who = current(request)
        return render(request, "nothing_pending.html", who=who)
    agreement_id, digest, redeemed_at = found
    if now_utc() - redeemed_at > LINK_WINDOW:
        request.session.pop("pending", None)
        return token_problem_page(request, "expired")
    who = current(request)
    if who is None:
        return redirect("/login?" + urlencode({"next": "/marketplace/confirm"}))
    require_tenant(who)
    try:
        pending = pending_registration(state.uow(), agreement_id, digest, redeemed_at)
    except NotFound:
        request.session.pop("pending", None)
        return token_problem_page(request, "invalid")
    shown = shown_subscription(state, who.tenant_id)
    return render(request, "confirm.html", who=who, **confirmation_context(who, pending, shown))


def confirmation_context(who: Who, pending: PendingRegistration, shown: Shown) -> dict[str, Any]:
    view = shown.view
    catalog = shown.sub.catalog
    found = catalog.find_offer(pending.offer_id) if pending.offer_id else None
    offer = found[1] if found else None
    current_account = view.aws_account_id if view.agreement_id and view.agreement_id != pending.agreement_id else None
    elsewhere = pending.linked_tenant_id if pending.linked_tenant_id not in (None, who.tenant_id) else None
    elsewhere_name = next((m.tenant_name for m in who.user.memberships if m.tenant_id == elsewhere), None)
    return {
        "p_account": _account(pending.aws_account_id),
        "p_offer": pending.offer_name or "",
        "p_private": pending.offer_private,
        "p_proposer": _proposer(catalog, offer, pending.proposer_account_id),
        "p_product": pending.product_title or (shown.product.title if shown.product else ""),
        "p_agreement": pending.agreement_id,
        "p_expires": _when(pending.redeemed_at + LINK_WINDOW),
        "tenant_name": who.membership.tenant_name if who.membership else "",
        "tenant_id": who.tenant_id,
        "instead_of": _account(current_account) if current_account else "",
        "instead_expired": view.type is SubscriptionType.EXPIRED,
        "already_here": pending.linked_tenant_id == who.tenant_id,
        "elsewhere": bool(elsewhere),
        "elsewhere_name": elsewhere_name or "",
        "can_confirm": who.can_bill,
        "role": who.membership.role.value if who.membership else "",
    }


@router.post("/marketplace/confirm", response_class=HTMLResponse)
def confirm_post(
    request: Request,
    csrf: Csrf = "",
    action: Text = "",
    tenant_id: Text = "",
    agreement_id: Text = "",
) -> Response:
    check_csrf(request, csrf)
    state = app_state(request)
    found = _pending(request)
    if found is None:
        return render(request, "nothing_pending.html", who=current(request), status=409)
    pending_agreement, digest, _ = found
    if action == "cancel":
        request.session.pop("pending", None)
        _flash(request, N_("Nothing was linked. The AWS Marketplace subscription stays as it is."), kind="info")
        return redirect("/subscription")
    if action != "confirm":
        raise HTTPException(400, N_("Choose Confirm or Cancel."))
    who = current(request)
    if who is None:
        return redirect("/login?" + urlencode({"next": "/marketplace/confirm"}))
    require_tenant(who)
    if tenant_id != who.tenant_id or agreement_id != pending_agreement:
        raise HTTPException(409, N_("The tenant or the subscription changed in another window; review it again."))
    if not who.can_bill:
        raise HTTPException(
            403, N_("Only an owner, admin or billing user of the tenant can link a subscription or change billing.")
        )
    try:
        view = confirm_registration(state.uow(), who.tenant_id, who.user.user_id, pending_agreement, digest)
    except RegistrationTokenRejected as exc:
        request.session.pop("pending", None)
        state.metrics.registrations.labels(exc.reason).inc()
        return token_problem_page(request, exc.reason)
    except (AgreementNotActive, NotFound, InvalidValue):
        request.session.pop("pending", None)
        return token_problem_page(request, "ended")
    request.session.pop("pending", None)
    state.metrics.links.labels("page").inc()
    _flash(
        request,
        N_("Linked: AWS account %(account)s now pays for %(tenant)s."),
        account=_account(view.aws_account_id),
        tenant=who.membership.tenant_name if who.membership else "",
    )
    return redirect("/subscription")


# -- subscription management and the account-change wizard -----------------------------------------------------------
@router.get("/subscription", response_class=HTMLResponse)
def subscription_page(request: Request) -> Response:
    who = current(request)
    if who is None:
        return login_redirect(request)
    require_tenant(who)
    state = app_state(request)
    shown = shown_subscription(state, who.tenant_id)
    product = shown.product
    return render(
        request,
        "subscription.html",
        who=who,
        s=subscription_context(shown),
        console_product=product.title if product else "",
        market_url=_market_url(state, product, None),
        has_pending=bool(request.session.get("pending")),
    )


def _market_url(state: AppState, product: Product | None, account: str | None) -> str:
    template = state.settings.marketplace_url
    url = marketplace_product_url(template, product.product_id, account) if product else None
    return url or marketplace_home_url(template)


def _offer_to_choose(shown: Shown) -> tuple[str, list[str]]:
    """The offer the destination account must choose, and the others it may see (the public offer)."""
    view, product = shown.view, shown.product
    if product is None:
        return "", []
    public = [o.name for o in product.offers if not o.private]
    if view.offer is not None and view.offer.private:
        return view.offer.name, public
    privates = [
        o.name
        for o in product.offers
        if o.private and view.aws_account_id and view.aws_account_id in o.buyer_account_ids
    ]
    if privates:
        return privates[0], public
    if view.offer is not None:
        return view.offer.name, [n for n in public if n != view.offer.name]
    return (public[0] if public else ""), public[1:]


def wizard_state(status: dict[str, Any], start_account: str | None, destination: str | None) -> dict[str, Any]:
    """The same rules as the page's script: linked, checked (all registered), cancel todo/waiting/done."""
    account = status["aws_account_id"]
    pending = status["pending_cancellations"]
    linked = account == destination if destination else (account != start_account or bool(pending))
    checked = (
        linked
        and status["type"] == SubscriptionType.AWS_MARKETPLACE.value
        and status["services_total"] > 0
        and status["services_registered"] == status["services_total"]
    )
    cancel = "waiting" if pending else ("done" if linked else "todo")
    return {"linked": linked, "checked": checked, "cancel": cancel}


@router.get("/subscription/change", response_class=HTMLResponse)
def change_page(request: Request, destination: str | None = None) -> Response:
    """関連付け変更: the seed's runbook as steps, with the live state of this tenant's subscription."""
    who = current(request)
    if who is None:
        return login_redirect(request)
    require_tenant(who)
    state = app_state(request)
    shown = shown_subscription(state, who.tenant_id)
    status_code = 200
    dest_error = ""
    dest: str | None = None
    if destination and destination.strip():
        try:
            dest = parse_account_id(destination)
        except InvalidValue:
            status_code = 400
            dest_error = gettext_for(request)(
                N_("An AWS account ID has 12 digits, such as 2222-2222-2222. Check the destination account ID.")
            )
    status = shown.status()
    source = [p["aws_account_id"] for p in status["pending_cancellations"] if p["aws_account_id"]]
    if not source and shown.view.aws_account_id and shown.view.aws_account_id != dest:
        source = [shown.view.aws_account_id]
    product = shown.product
    offer_name, other_offers = _offer_to_choose(shown)
    product_url = marketplace_product_url(state.settings.marketplace_url, product.product_id, dest) if product else None
    return render(
        request,
        "change.html",
        status=status_code,
        who=who,
        s=subscription_context(shown),
        status_json=status,
        wizard=wizard_state(status, shown.view.aws_account_id, dest),
        destination=dest or "",
        destination_display=_account(dest) if dest else "",
        destination_typed=(destination or "")[:40] if dest_error else (_account(dest) if dest else ""),
        dest_error=dest_error,
        sources=[_account(a) for a in source],
        product_title=product.title if product else "",
        product_url=product_url,
        market_home=marketplace_home_url(state.settings.marketplace_url),
        needs_account=bool(
            state.settings.marketplace_url and "{account}" in state.settings.marketplace_url and not dest
        ),
        offer_name=offer_name,
        other_offers=other_offers,
        poll_ms=POLL_MS,
        check_again_url="/subscription/change" + (f"?{urlencode({'destination': dest})}" if dest else ""),
    )


@router.get("/subscription/status.json")
def subscription_status(request: Request) -> Response:
    """What the wizard polls: the paying account, the type, what is left to cancel, services registered."""
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    who = current(request)
    if who is None or who.membership is None:
        return JSONResponse(
            {"error": "login_required", "message": "log in to see the subscription"}, status_code=401, headers=headers
        )
    try:
        shown = shown_subscription(app_state(request), who.tenant_id)
    except DomainError as exc:
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=404, headers=headers)
    return JSONResponse(shown.status(), headers=headers)
