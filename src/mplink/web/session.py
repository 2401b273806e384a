"""Sessions (signed cookies, via Starlette's SessionMiddleware): CSRF tokens for every form, logging in and out,
who is logged in, one-time flash messages, and the registration handed from the fulfilment POST to the
confirmation page."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Form, HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from mplink.config import Settings
from mplink.domain.clock import utc
from mplink.rendering import N_
from mplink.services import auth
from mplink.services.registration import LINK_WINDOW, PendingRegistration
from mplink.web.state import app_state
from mplink.web.views import Flash, Who, by_name

CSRF_FIELD = "csrf_token"
#: the form fields of the pages: text of bounded length, and the CSRF token
Text = Annotated[str, Form(max_length=1024)]
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]


# -- CSRF ------------------------------------------------------------------------------------------------------------
def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: object) -> None:
    """Every form POST carries the session's token; a missing or different one is refused (403)."""
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not isinstance(submitted, str) or not hmac.compare_digest(expected, submitted):
        raise HTTPException(status_code=403, detail="The form expired or was sent from another site; reload the page")


# -- logging in and out, and who is logged in ------------------------------------------------------------------------
def login(request: Request, user_id: str, tenant_id: str | None) -> None:
    pending = request.session.get("pending")
    lang = request.session.get("lang")
    request.session.clear()  # a new session on login: no fixation
    request.session.update(user_id=user_id, csrf=secrets.token_urlsafe(32))
    if tenant_id:
        request.session["tenant_id"] = tenant_id
    if pending:
        request.session["pending"] = pending
    if lang:
        request.session["lang"] = lang


def logout(request: Request) -> None:
    request.session.clear()


def logged_in(request: Request) -> bool:
    """Whether the session names a user (without reading the database)."""
    return "session" in request.scope and isinstance(request.session.get("user_id"), str)


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
        membership = by_name(user.memberships)[0]
        request.session["tenant_id"] = membership.tenant_id
    return Who(user, membership)


def require_tenant(who: Who) -> None:
    if who.membership is None:
        raise HTTPException(403, N_("Your login is not a member of any tenant. Sign up to create one."))


# -- flash messages -------------------------------------------------------------------------------------------------
def flash(request: Request, msgid: str, kind: str = "success", **params: str) -> None:
    """Show ``msgid`` (translated, then filled with ``params``) at the top of the next page."""
    request.session["flash"] = {"msgid": msgid, "kind": kind, "params": params}


def take_flash(request: Request, gettext: Callable[[str], str]) -> Flash | None:
    """The message left for this page, translated; it is shown once."""
    found = request.session.pop("flash", None)
    if not isinstance(found, dict) or not isinstance(found.get("msgid"), str):
        return None
    params = found.get("params") or {}
    text = gettext(found["msgid"])
    return Flash(str(found.get("kind", "success")), text % params if params else text)


# -- the registration waiting for confirmation -----------------------------------------------------------------------
#: hands a redeemed registration from the fulfilment POST (cross-site, so the SameSite=Lax session cookie is not
#: sent with it) to the confirmation page's GET (a top-level navigation, which carries the session)
PENDING_COOKIE = "mplink_pending"
PENDING_SALT = "mplink.pending-registration"
PENDING_PATH = "/marketplace"


def _pending_serializer(settings: Settings) -> URLSafeTimedSerializer:
    assert settings.secret_key
    return URLSafeTimedSerializer(settings.secret_key, salt=PENDING_SALT)


def hand_over_pending(request: Request, response: Response, pending: PendingRegistration) -> None:
    """Carry the registration to the next GET in a short-lived signed cookie: the session cookie (SameSite=Lax)
    does not come with AWS's cross-site POST, and writing the session here would replace the visitor's login."""
    settings = app_state(request).settings
    value = {
        "agreement_id": pending.agreement_id,
        "token_hash": pending.token_hash,
        "redeemed_at": utc(pending.redeemed_at).isoformat(),
    }
    response.set_cookie(
        PENDING_COOKIE,
        _pending_serializer(settings).dumps(value),
        max_age=int(LINK_WINDOW.total_seconds()),
        path=PENDING_PATH,
        samesite="lax",
        httponly=True,
        secure=bool(settings.public_url and settings.public_url.startswith("https://")),
    )


def take_pending_cookie(request: Request) -> bool:
    """Move the registration handed over by the fulfilment POST into the session; True if the cookie came."""
    raw = request.cookies.get(PENDING_COOKIE)
    if not raw:
        return False
    try:
        value = _pending_serializer(app_state(request).settings).loads(raw, max_age=int(LINK_WINDOW.total_seconds()))
    except BadSignature:
        return True
    if isinstance(value, dict) and all(isinstance(value.get(k), str) for k in ("agreement_id", "token_hash")):
        request.session["pending"] = {k: value.get(k) for k in ("agreement_id", "token_hash", "redeemed_at")}
    return True


def drop_pending_cookie(response: Response) -> None:
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)


def pending(request: Request) -> tuple[str, str, datetime] | None:
    """The registration waiting in the session: agreement id, token hash, when it was redeemed."""
    p = request.session.get("pending")
    if not isinstance(p, dict):
        return None
    try:
        return str(p["agreement_id"]), str(p["token_hash"]), utc(datetime.fromisoformat(str(p["redeemed_at"])))
    except (KeyError, ValueError):
        request.session.pop("pending", None)
        return None


def has_pending(request: Request) -> bool:
    return bool(request.session.get("pending"))


def drop_pending(request: Request) -> None:
    request.session.pop("pending", None)
