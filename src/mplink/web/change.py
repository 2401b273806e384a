"""The account-change wizard (関連付け変更): the seed's runbook as three steps (link the destination account, check,
cancel in the source account), marked as the domain's account change says, with the tenant's live state; the
page's script follows ``status.json`` and marks the steps from the account change it carries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from mplink.domain.clock import now_utc
from mplink.domain.errors import Conflict
from mplink.rendering import N_
from mplink.services.account_change import request_source_end
from mplink.services.ports import MarketplaceUnavailable
from mplink.web.render import PAGES, gettext_for, login_redirect, redirect, render
from mplink.web.session import Csrf, check_csrf, current, flash, require_tenant
from mplink.web.state import app_state
from mplink.web.subscription import shown_with_change
from mplink.web.views import change_page, destination, left_running

router = APIRouter(include_in_schema=False)
#: the wizard asks the status endpoint this often (milliseconds)
POLL_MS = 3000
BAD_DESTINATION = N_("An AWS account ID has 12 digits, such as 2222-2222-2222. Check the destination account ID.")


@router.get("/subscription/change", response_class=HTMLResponse)
def change(request: Request, typed: Annotated[str | None, Query(alias="destination")] = None) -> Response:
    """関連付け変更: the seed's runbook as steps, with the live state of this tenant's subscription."""
    who = current(request)
    if who is None:
        return login_redirect(request)
    require_tenant(who)
    state = app_state(request)
    s, current_change = shown_with_change(state, who.tenant_id)
    dest = destination(typed)
    return render(
        request,
        "change.html",
        status=400 if dest.invalid else 200,
        who=who,
        v=change_page(s, dest, state.settings.marketplace_url, current_change),
        dest_error=gettext_for(request)(BAD_DESTINATION) if dest.invalid else "",
        poll_ms=POLL_MS,
        left_running=left_running(s.view.pending_cancellations, now_utc(), PAGES.language(request)[0]),
    )


SELLER_ASKED = N_(
    "The request to end the old subscription was sent to AWS Marketplace. The source account approves it."
)
SELLER_REFUSED = N_("The request to end the old subscription was not sent: %(reason)s")


@router.post("/subscription/change/cancellation-request", response_class=HTMLResponse)
def ask_seller_cancel(request: Request, csrf: Csrf = "") -> Response:
    """The admin asks the seller to end the superseded agreement (AWS's agreement cancellation request)."""
    check_csrf(request, csrf)
    who = current(request)
    if who is None:
        return login_redirect(request)
    require_tenant(who)
    assert who.membership is not None
    state = app_state(request)
    try:
        request_source_end(state.uow(), state.marketplace, who.tenant_id, who.membership.role)
    except (Conflict, MarketplaceUnavailable) as exc:
        flash(request, SELLER_REFUSED, "error", reason=exc.message)
    else:
        flash(request, SELLER_ASKED)
    return redirect("/subscription/change")
