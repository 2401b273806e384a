"""Sessions (signed cookies, via Starlette's SessionMiddleware) and CSRF tokens for every form."""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request

CSRF_FIELD = "csrf_token"


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
