"""The sandbox's HTTP app: AWS protocol endpoints (wire.py), the control API (control.py) and the buyer console."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from mplink.sandbox.console import mount_console
from mplink.sandbox.control import mount_control
from mplink.sandbox.events import EventDispatcher, SnsPublisher
from mplink.sandbox.marketplace import Marketplace
from mplink.sandbox.wire import mount_aws


def create_app(
    market: Marketplace, dispatcher: EventDispatcher | None = None, sns: SnsPublisher | None = None
) -> FastAPI:
    app = FastAPI(title="mplink AWS Marketplace sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    mount_aws(app, market)
    mount_control(app, market, dispatcher, sns)

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/console")

    mount_console(app, market)
    return app
