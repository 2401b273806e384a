"""The operator's pages (the seller's support, a reseller): opened with an operator API key, which the session
remembers by id and checks on every page, so revoking the key ends the session. The stale-subscription list is
the same use case as ``GET /api/v1/stale-subscriptions``, as a page and as a CSV download."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mplink.rendering import N_
from mplink.services import auth
from mplink.services.stale_subscriptions import StaleReport, list_stale_subscriptions
from mplink.web.render import PAGES, gettext_for, here, redirect, render
from mplink.web.session import Csrf, Text, check_csrf
from mplink.web.state import app_state
from mplink.web.views import safe_next, stale_lines, when

router = APIRouter(include_in_schema=False)

STALE_PAGE = "/operator/stale-subscriptions"
#: the session's key for the operator API key the pages were opened with
SESSION_KEY = "operator_key_id"


def _operator(request: Request) -> bool:
    key_id = request.session.get(SESSION_KEY)
    if not isinstance(key_id, str):
        return False
    if not auth.operator_key_active(app_state(request).uow(), key_id):
        request.session.pop(SESSION_KEY, None)
        return False
    return True


def _to_login(request: Request) -> Response:
    return redirect("/operator/login?" + urlencode({"next": here(request)}))


def _login_page(request: Request, nxt: str, *, status: int = 200, error: str | None = None) -> Response:
    return render(request, "operator_login.html", status=status, error=error, next=nxt)


@router.get("/operator", response_class=HTMLResponse)
def operator_home() -> Response:
    return redirect(STALE_PAGE)


@router.get("/operator/login", response_class=HTMLResponse)
def operator_login_page(request: Request, next: str | None = None) -> Response:
    nxt = safe_next(next, STALE_PAGE)
    return redirect(nxt) if _operator(request) else _login_page(request, nxt)


@router.post("/operator/login", response_class=HTMLResponse)
def operator_login(request: Request, csrf: Csrf = "", api_key: Text = "", next: Text = STALE_PAGE) -> Response:
    check_csrf(request, csrf)
    nxt = safe_next(next, STALE_PAGE)
    found = auth.authenticate_api_key(app_state(request).uow(), api_key)
    if found is None or found.scope != "operator":
        error = N_("This is not an active operator API key. Create one with 'mplink apikey create --operator'.")
        return _login_page(request, nxt, status=401, error=gettext_for(request)(error))
    lang = request.session.get("lang")
    request.session.clear()  # a new session: no fixation, and no tenant login mixed with the operator's
    request.session.update({SESSION_KEY: found.key_id, "csrf": secrets.token_urlsafe(32)})
    if lang:
        request.session["lang"] = lang
    return redirect(nxt)


@router.post("/operator/logout", response_class=HTMLResponse)
def operator_logout(request: Request, csrf: Csrf = "") -> Response:
    check_csrf(request, csrf)
    request.session.pop(SESSION_KEY, None)
    return redirect("/operator/login")


@router.get(STALE_PAGE, response_class=HTMLResponse)
def stale_page(request: Request) -> Response:
    """Every superseded agreement still active at AWS: tenant, account, offer and seller, since when, and the
    state of the seller's cancellation request."""
    if not _operator(request):
        return _to_login(request)
    report = list_stale_subscriptions(app_state(request).uow())
    lang = PAGES.language(request)[0]
    return render(request, "operator_stale.html", rows=stale_lines(report, lang), read_at=when(report.read_at))


@router.get(STALE_PAGE + ".csv")
def stale_csv(request: Request) -> Response:
    """The page's rows as ``GET /api/v1/stale-subscriptions?format=csv`` gives them."""
    if not _operator(request):
        return _to_login(request)
    return csv_download(list_stale_subscriptions(app_state(request).uow()))


def csv_download(report: StaleReport) -> Response:
    """The report as a CSV file to save, named by when it was read (also the API's ``?format=csv``)."""
    filename = f"stale-subscriptions-{report.read_at:%Y%m%dT%H%M%SZ}.csv"
    return Response(
        report.as_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
