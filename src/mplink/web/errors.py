"""Error pages: what went wrong, in the visitor's language, and the way back. The app's exception handlers answer
every error on a page path with ``error_page``; the registration routes answer a token that did not work with
``token_problem_page``, which says how to get a new one."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape

from mplink.rendering import N_
from mplink.web.render import gettext_for, render, security_headers
from mplink.web.session import logged_in
from mplink.web.state import app_state
from mplink.web.views import marketplace_home_url

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
#: a page's form over MPLINK_MAX_BODY_BYTES (the JSON answer of the API names the limit in bytes)
TOO_LARGE = N_("What was sent is larger than this page accepts; send less at a time")

#: why a registration token did not work, as the token page says it
TOKEN_PROBLEMS = {
    "invalid": N_("AWS Marketplace did not accept the registration token, so nothing was linked."),
    "expired": N_("The registration token has expired: it is valid for 4 hours after 'Set up your account'."),
    "used": N_("This registration token has already been used to link a subscription."),
    "ended": N_(
        "This AWS Marketplace subscription has ended or is not known here, so it cannot be linked. "
        "Subscribe again, then press 'Set up your account'."
    ),
    "unavailable": N_("AWS Marketplace did not answer, so the subscription could not be checked. Nothing was linked."),
}
TRY_AGAIN_LATER = (N_("Wait a minute, then go back to AWS Marketplace and press 'Set up your account' again."),)
SET_UP_AGAIN = (
    N_("Go back to AWS Marketplace, signed in to the AWS account that subscribed."),
    N_(
        "Open AWS Marketplace Subscriptions, choose the product, then Manage -> Actions -> Set up your "
        "account (or press 'Set up your account' on the page shown after Subscribe)."
    ),
    N_("You come back here with a new registration token; log in and confirm."),
)


@dataclass(frozen=True)
class Problem:
    """What ``error.html`` shows, translated."""

    title: str
    message: str
    status: int
    back_url: str
    back_label: str
    next_steps: tuple[str, ...] = ()
    #: why a registration token did not work ("" for other errors)
    reason: str = ""


def error_page(request: Request, status: int, message: str) -> Response:
    """A page in the visitor's language that says what went wrong (the message, escaped) and links back.
    Called by the app for every error on a non-API path, so it must not fail: it reads no database."""
    try:
        gettext = gettext_for(request)
        back_url, back_label = ("/subscription", N_("Back to Subscription management"))
        if not logged_in(request):
            back_url, back_label = ("/login", N_("Log in"))
        problem = Problem(
            title=gettext(TITLES.get(status, N_("Something went wrong"))),
            message=gettext(message) if message else "",
            status=status,
            back_url=back_url,
            back_label=gettext(back_label),
        )
        return render(request, "error.html", status=status, problem=problem)
    except Exception:  # the error page itself failed: still answer with something plain and safe
        body = f"<!doctype html><title>Error {status}</title><h1>Error {status}</h1><p>{escape(message)}</p>"
        return HTMLResponse(body, status_code=status, headers=security_headers(secrets.token_urlsafe(18)))


def token_problem_page(request: Request, reason: str, *, status: int = 400) -> HTMLResponse:
    """What a buyer does when the registration token did not work: go back to AWS Marketplace and press
    "Set up your account" again (each press issues a new token, valid for 4 hours)."""
    gettext = gettext_for(request)
    unavailable = reason == "unavailable"
    problem = Problem(
        title=gettext(N_("Please try again shortly") if unavailable else N_("Press 'Set up your account' again")),
        message=gettext(TOKEN_PROBLEMS.get(reason, TOKEN_PROBLEMS["invalid"])),
        status=status,
        back_url=marketplace_home_url(app_state(request).settings.marketplace_url),
        back_label=gettext(N_("Go to AWS Marketplace")),
        next_steps=tuple(gettext(s) for s in (TRY_AGAIN_LATER if unavailable else SET_UP_AGAIN)),
        reason=reason,
    )
    return render(request, "error.html", status=status, problem=problem)
