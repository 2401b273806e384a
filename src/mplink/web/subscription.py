"""Subscription management (サブスクリプション管理): the tenant's paying AWS account, offer and services, the cancel
step left after a change, and ``/subscription/status.json``, which the account-change page polls."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from mplink.domain.errors import DomainError
from mplink.services.account_change import AccountChangeView
from mplink.services.subscriptions import tenant_subscription
from mplink.web.render import login_redirect, render
from mplink.web.session import current, has_pending, require_tenant
from mplink.web.state import AppState, app_state
from mplink.web.views import Shown, market_url, shown, status, subscription_summary

router = APIRouter(include_in_schema=False)


def shown_subscription(state: AppState, tenant_id: str) -> Shown:
    sub = tenant_subscription(state.uow(), tenant_id)
    return shown(sub.view, sub.catalog)


def shown_with_change(state: AppState, tenant_id: str) -> tuple[Shown, AccountChangeView | None]:
    """The subscription and the account change, read in one snapshot so they always agree (a cancel step done
    while the same answer still lists the source as left to cancel would be a torn read)."""
    sub = tenant_subscription(state.uow(), tenant_id)
    return shown(sub.view, sub.catalog), sub.change


@router.get("/subscription", response_class=HTMLResponse)
def subscription_page(request: Request) -> Response:
    who = current(request)
    if who is None:
        return login_redirect(request)
    require_tenant(who)
    state = app_state(request)
    s = shown_subscription(state, who.tenant_id)
    return render(
        request,
        "subscription.html",
        who=who,
        s=subscription_summary(s),
        console_product=s.product.title if s.product else "",
        market_url=market_url(state.settings.marketplace_url, s.product),
        has_pending=has_pending(request),
    )


@router.get("/subscription/status.json")
def subscription_status(request: Request) -> Response:
    """What the wizard polls: the paying account, the type, what is left to cancel, services registered, and the
    account change (the same object as ``GET /api/v1/tenants/{id}/account-change``, or null)."""
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    who = current(request)
    if who is None or who.membership is None:
        return JSONResponse(
            {"error": "login_required", "message": "log in to see the subscription"}, status_code=401, headers=headers
        )
    state = app_state(request)
    try:
        s, change = shown_with_change(state, who.tenant_id)
    except DomainError as exc:
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=404, headers=headers)
    return JSONResponse(status(s, change).as_json(), headers=headers)
