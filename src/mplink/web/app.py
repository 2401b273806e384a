"""Build the seller's web app (``mplink serve``)."""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from mplink import __version__
from mplink.adapters.store.uow import Store
from mplink.bootstrap import bootstrap
from mplink.config import Settings
from mplink.domain.errors import Conflict, DomainError, NotAuthorized, NotFound
from mplink.services.metering import metering_status
from mplink.services.ports import MarketplaceUnavailable, RegistrationTokenRejected
from mplink.services.ports import SellerMarketplace as SellerMarketplacePort
from mplink.services.stale_subscriptions import list_stale_subscriptions
from mplink.web import api, events
from mplink.web.limits import RequestLimits, too_large_message
from mplink.web.metering_metrics import MeteringCollector
from mplink.web.stale_metrics import StaleSubscriptionCollector
from mplink.web.state import AppState, Metrics

SESSION_COOKIE = "mplink_session"


def status_for(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, NotAuthorized):
        return 403
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, MarketplaceUnavailable):
        return 503
    return 400


def create_app(
    settings: Settings, marketplace: SellerMarketplacePort | None = None, store: Store | None = None
) -> FastAPI:
    if not settings.secret_key:
        raise ValueError("MPLINK_SECRET_KEY must be set: it signs session cookies and CSRF tokens")
    wiring = bootstrap(settings, store=store, marketplace=marketplace)
    app = FastAPI(
        title="mplink",
        version=__version__,
        description="AWS Marketplace SaaS integration whose tenants can change the AWS account that pays.",
        docs_url="/api/docs",
        redoc_url=None,
    )
    state = AppState(
        store=wiring.store,
        marketplace=wiring.marketplace,
        settings=settings,
        metrics=Metrics.create(),
    )
    app.state.mplink = state
    # read at scrape time, with the settings the app has then (MPLINK_METERING_RATE gives the capacity)
    state.metrics.registry.register(
        MeteringCollector(lambda: metering_status(state.uow(), state.settings.metering_rate))
    )
    state.metrics.registry.register(StaleSubscriptionCollector(lambda: list_stale_subscriptions(state.uow())))
    # inside the sessions (an error page says whether one is logged in), before anything that reads a body
    app.add_middleware(RequestLimits, settings=lambda: state.settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        same_site="lax",
        https_only=bool(settings.public_url and settings.public_url.startswith("https://")),
        max_age=12 * 3600,
    )

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith(("/api/", "/events/")) or "application/json" in request.headers.get(
            "accept", ""
        )

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if isinstance(exc, RegistrationTokenRejected):
            app.state.mplink.metrics.registrations.labels(exc.reason).inc()
        if wants_json(request):
            return JSONResponse({"error": exc.code, "message": exc.message}, status_code=status_for(exc))
        from mplink.web.errors import error_page

        return error_page(request, status_for(exc), exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 413:
            from mplink.web.errors import TOO_LARGE, error_page

            exc = StarletteHTTPException(413, too_large_message(request.scope), exc.headers)
            if not wants_json(request):
                return error_page(request, 413, TOO_LARGE)
        if wants_json(request):
            return JSONResponse(
                {"error": "http_error", "message": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        from mplink.web.errors import error_page

        return error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        if wants_json(request):
            return JSONResponse({"error": "invalid_request", "message": message}, status_code=422)
        from mplink.web.errors import error_page

        return error_page(request, 400, message)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        """Never a stack trace to a user: the traceback goes to the log under an id the answer carries."""
        import structlog

        error_id = uuid.uuid4().hex[:16]
        structlog.get_logger("mplink.web").error(
            "unexpected error",
            error_id=error_id,
            method=request.method,
            path=request.url.path,
            error=f"{type(exc).__name__}: {exc}",
            exc_info=exc,
        )
        message = f"Something went wrong on our side; please try again in a moment. (error id {error_id})"
        headers = {"X-Error-Id": error_id}
        if wants_json(request):
            return JSONResponse(
                {"error": "internal_error", "message": message, "error_id": error_id}, status_code=500, headers=headers
            )
        from mplink.web.errors import error_page

        response = error_page(request, 500, message)
        response.headers.update(headers)
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return PlainTextResponse(generate_latest(app.state.mplink.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(api.router)
    app.include_router(events.router)
    from mplink.web import authentication, change, operator, registration, subscription

    for pages in (authentication, registration, subscription, change, operator):
        app.include_router(pages.router)
    return app
