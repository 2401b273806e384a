"""Limits checked before work: who is asking (where the headers say it), how large a body may be, how deeply its
JSON may nest. A request that fails a check is answered before its body is read, so a huge body costs the server
no memory: the API key of /api/v1 and the secret of /events/eventbridge are checked first (401), then a
Content-Length over the route's limit gets 413 at once, and a body sent without one is counted while it streams
and stopped at the limit (413). The limits are settings (MPLINK_MAX_BODY_BYTES and its neighbours)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY, RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from mplink.config import Settings

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
USAGE_PATH = "/api/v1/usage"
#: paths whose every answer is JSON
JSON_PREFIXES = ("/api/", "/events/")


def body_limit(settings: Settings, path: str) -> int:
    """The most bytes a request body to ``path`` may have."""
    if path == USAGE_PATH:
        return settings.max_usage_body_bytes
    if path.startswith("/events/"):
        return settings.max_event_body_bytes
    return settings.max_body_bytes


def too_large_message(scope: Scope) -> str:
    limit = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    if not isinstance(limit, int):
        return "the request body is too large"
    return _too_large_text(limit)


def _too_large_text(limit: int) -> str:
    return f"the request body is larger than the {limit} bytes this address accepts; send less at a time"


def _too_large(request: Request, limit: int) -> Response:
    if request.url.path.startswith(JSON_PREFIXES) or "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": "http_error", "message": _too_large_text(limit)}, status_code=413)
    from mplink.web.errors import TOO_LARGE, error_page

    return error_page(request, 413, TOO_LARGE)


def _content_length(scope: Scope) -> int:
    """The Content-Length the request declares (0 when none or not a number: the streamed count then decides)."""
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isdigit() else 0


class RequestLimits:
    """ASGI middleware: the checks that come from headers, then the body size limit of the route."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        refusal = await _refused_by_headers(Request(scope))
        if refusal is not None:  # answered without reading the body
            await refusal(scope, receive, send)
            return
        limit = body_limit(self.settings(), scope["path"])
        if _content_length(scope) > limit:  # said up front: answered at once, the body never read
            await _too_large(Request(scope), limit)(scope, receive, send)
            return
        # no Content-Length (chunked) or a smaller one: counted while it streams, stopped at the limit (the 413 is
        # then answered by the app's handler for HTTPException, with too_large_message)
        await RequestBodyLimitMiddleware(self.app, max_body_size=limit)(scope, receive, send)


async def _refused_by_headers(request: Request) -> Response | None:
    from mplink.web import api, events

    path = request.url.path
    try:
        if path.startswith(api.router.prefix + "/"):
            # the endpoint's dependency finds the principal here and does not look the key up again
            request.state.api_principal = await run_in_threadpool(api.principal, request)
        elif path == events.EVENTBRIDGE_PATH:
            events.check_secret(request)
    except HTTPException as exc:
        return JSONResponse(
            {"error": "http_error", "message": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )
    return None


def parse_json(body: bytes, max_depth: int) -> Any:
    """The JSON value of ``body``; 400 when it is not JSON or nests deeper than ``max_depth`` levels."""
    too_deep = HTTPException(400, f"the JSON body nests deeper than {max_depth} levels of objects and arrays")
    try:
        value = json.loads(body)
    except RecursionError as exc:
        raise too_deep from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"the body is not JSON: {exc}") from exc
    if json_depth(value) > max_depth:
        raise too_deep
    return value


def json_depth(value: Any) -> int:
    """How many objects and arrays deep ``value`` nests (0 for a number or string), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class _DepthLimitedRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            settings: Settings = self.app.state.mplink.settings
            self._json = parse_json(await self.body(), settings.max_json_depth)
        return self._json


class DepthLimitedJsonRoute(APIRoute):
    """A route whose JSON body is refused (400) when it nests deeper than MPLINK_MAX_JSON_DEPTH."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            response: Response = await handler(_DepthLimitedRequest(request.scope, request.receive))
            return response

        return limited
