"""Rendering the seller's pages: its templates and ``web`` catalog through the shared renderer, the headers every
page carries (no cache, no framing, scripts and styles only with the page's nonce), and what every page gets
besides its own values (the logged-in user, the CSRF token, the flash message)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from mplink.rendering import Gettext, Renderer
from mplink.web.session import CSRF_FIELD, csrf_token, take_flash
from mplink.web.views import Who


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


PAGES = Renderer(
    package="mplink.web",
    locale_dir=str(Path(__file__).parent / "locales"),
    domain="web",
    headers=security_headers,
    session_language=True,
)


def gettext_for(request: Request) -> Gettext:
    return PAGES.gettext(request)


def here(request: Request) -> str:
    """This page's path and query, to come back to after logging in or switching tenants."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def render(
    request: Request, template: str, *, status: int = 200, who: Who | None = None, **context: Any
) -> HTMLResponse:
    has_session = "session" in request.scope
    return PAGES.render(
        request,
        template,
        status=status,
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(request) if has_session else "",
        who=who,
        memberships=who.memberships if who else [],
        here=here(request),
        flash=take_flash(request, PAGES.gettext(request)) if has_session else None,
        **context,
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def login_redirect(request: Request) -> RedirectResponse:
    return redirect("/login?" + urlencode({"next": here(request)}))
