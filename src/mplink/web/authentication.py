"""Signing up (a new tenant and its owner), logging in and out, and choosing the tenant the pages act for."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from mplink.domain.errors import Conflict, InvalidValue
from mplink.domain.tenant import parse_email
from mplink.rendering import N_
from mplink.services import auth
from mplink.services.passwords import MIN_PASSWORD_LENGTH
from mplink.services.tenants import create_tenant
from mplink.web.render import gettext_for, redirect, render
from mplink.web.session import Csrf, Text, check_csrf, current, flash, has_pending, login, logout
from mplink.web.state import app_state
from mplink.web.views import by_name, safe_next

router = APIRouter(include_in_schema=False)


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
        pending=has_pending(request),
        signup_url="/signup?" + urlencode({"next": nxt}),
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    nxt = safe_next(next)
    if current(request) is not None:
        return redirect(nxt)
    return _login_page(request, nxt=nxt)


def _after_login(request: Request, nxt: str) -> str:
    if nxt == "/subscription" and has_pending(request):
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
    first = by_name(user.memberships)
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
        pending=has_pending(request),
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
    flash(request, N_("Welcome! The tenant %(tenant)s was created."), tenant=" ".join(tenant_name.split()))
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
