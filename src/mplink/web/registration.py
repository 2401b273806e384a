"""The fulfilment URL (``POST /marketplace/register``, where AWS Marketplace sends the buyer after "Set up your
account") and the confirmation that links the subscription to the logged-in user's tenant.

The fulfilment POST has no CSRF check: AWS posts it cross-site and the registration token is the proof. Linking
waits for an owner, admin or billing user of the tenant to confirm, on a page that says what will change.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from mplink.domain.clock import now_utc
from mplink.domain.errors import AgreementNotActive, InvalidValue, NotFound, OfferChangeRefused
from mplink.rendering import N_
from mplink.services.ports import MarketplaceUnavailable, RegistrationTokenRejected
from mplink.services.registration import (
    LINK_WINDOW,
    confirm_registration,
    pending_offer_check,
    pending_registration,
    register_customer,
)
from mplink.web.errors import token_problem_page
from mplink.web.render import redirect, render
from mplink.web.session import (
    Csrf,
    Text,
    check_csrf,
    current,
    drop_pending,
    drop_pending_cookie,
    flash,
    hand_over_pending,
    pending,
    require_tenant,
    take_pending_cookie,
)
from mplink.web.state import app_state
from mplink.web.subscription import shown_subscription
from mplink.web.views import account_label, confirmation

router = APIRouter(include_in_schema=False)
LOGIN_TO_CONFIRM = "/login?" + urlencode({"next": "/marketplace/confirm"})


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
    """The fulfilment URL. The token is redeemed at once (ResolveCustomer); linking waits for a logged-in owner,
    admin or billing user to confirm. ``x-amzn-marketplace-offer-type`` is "free-trial" when the buyer took a
    free trial; it is kept on the agreement."""
    state = app_state(request)
    try:
        redeemed = register_customer(state.uow(), state.marketplace, token, free_trial=offer_type == "free-trial")
    except RegistrationTokenRejected as exc:
        state.metrics.registrations.labels(exc.reason).inc()
        return token_problem_page(request, exc.reason)
    except MarketplaceUnavailable:
        state.metrics.registrations.labels("unavailable").inc()
        return token_problem_page(request, "unavailable", status=503)
    state.metrics.registrations.labels("accepted").inc()
    response = redirect("/marketplace/confirm")
    hand_over_pending(request, response, redeemed)
    return response


@router.get("/marketplace/confirm", response_class=HTMLResponse)
def confirm_page(request: Request) -> Response:
    handed_over = take_pending_cookie(request)
    response = _confirm_page(request)
    if handed_over:
        drop_pending_cookie(response)
    return response


def _confirm_page(request: Request, offer_change_refused: bool = False) -> Response:
    """The confirmation; ``offer_change_refused``: Confirm was pressed on an offer change without its second
    confirmation (409, nothing linked)."""
    state = app_state(request)
    found = pending(request)
    if found is None:
        return render(request, "nothing_pending.html", who=current(request))
    agreement_id, digest, redeemed_at = found
    if now_utc() - redeemed_at > LINK_WINDOW:
        drop_pending(request)
        return token_problem_page(request, "expired")
    who = current(request)
    if who is None:
        return redirect(LOGIN_TO_CONFIRM)
    require_tenant(who)
    try:
        waiting = pending_registration(state.uow(), agreement_id, digest, redeemed_at)
    except NotFound:
        drop_pending(request)
        return token_problem_page(request, "invalid")
    s = shown_subscription(state, who.tenant_id)
    check = pending_offer_check(state.uow(), who.tenant_id, agreement_id)
    c = confirmation(who, waiting, s, check)
    status = 409 if offer_change_refused else 200
    return render(request, "confirm.html", who=who, c=c, offer_change_refused=offer_change_refused, status=status)


@router.post("/marketplace/confirm", response_class=HTMLResponse)
def confirm_post(
    request: Request,
    csrf: Csrf = "",
    action: Text = "",
    tenant_id: Text = "",
    agreement_id: Text = "",
    allow_offer_change: Text = "",
) -> Response:
    check_csrf(request, csrf)
    state = app_state(request)
    found = pending(request)
    if found is None:
        return render(request, "nothing_pending.html", who=current(request), status=409)
    pending_agreement, digest, _ = found
    if action == "cancel":
        drop_pending(request)
        flash(request, N_("Nothing was linked. The AWS Marketplace subscription stays as it is."), kind="info")
        return redirect("/subscription")
    if action != "confirm":
        raise HTTPException(400, N_("Choose Confirm or Cancel."))
    who = current(request)
    if who is None:
        return redirect(LOGIN_TO_CONFIRM)
    require_tenant(who)
    if tenant_id != who.tenant_id or agreement_id != pending_agreement:
        raise HTTPException(409, N_("The tenant or the subscription changed in another window; review it again."))
    if not who.can_bill:
        raise HTTPException(
            403, N_("Only an owner, admin or billing user of the tenant can link a subscription or change billing.")
        )
    try:
        view = confirm_registration(
            state.uow(),
            who.tenant_id,
            who.user.user_id,
            pending_agreement,
            digest,
            allow_offer_change=allow_offer_change == "yes",
        )
    except OfferChangeRefused:
        return _confirm_page(request, offer_change_refused=True)
    except RegistrationTokenRejected as exc:
        drop_pending(request)
        state.metrics.registrations.labels(exc.reason).inc()
        return token_problem_page(request, exc.reason)
    except (AgreementNotActive, NotFound, InvalidValue):
        drop_pending(request)
        return token_problem_page(request, "ended")
    drop_pending(request)
    state.metrics.links.labels("page").inc()
    flash(
        request,
        N_("Linked: AWS account %(account)s now pays for %(tenant)s."),
        account=account_label(view.aws_account_id),
        tenant=who.membership.tenant_name if who.membership else "",
    )
    return redirect("/subscription")
