"""A running seller app (real HTTP on 127.0.0.1) wired to a running sandbox, for end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mplink.adapters.aws import SellerMarketplace
from mplink.adapters.catalog_file import load_catalog, parse_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.config import Settings
from mplink.sandbox.catalog import read_catalog, seed_catalog
from mplink.sandbox.marketplace import SandboxSettings
from mplink.sandbox.server import build_sandbox
from mplink.services.auth import create_api_key
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.tenants import create_tenant
from mplink.web.app import create_app
from tests.support.sandbox_fixtures import SELLER, RunningSandbox
from tests.support.servers import serve_app

SECRET = "eventbridge-secret"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"


#: one connection pool for the tests' API calls (a client per call would load the CA bundle each time)
_HTTP = httpx.Client()


@dataclass
class Seller:
    url: str
    store: Store
    app: Any
    tenant_id: str
    tenant_key: str
    operator_key: str

    def api(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.tenant_key}"}
        return _HTTP.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)

    def subscription(self) -> dict[str, Any]:
        response = self.api("GET", f"/tenants/{self.tenant_id}/subscription")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@dataclass
class World:
    seller: Seller
    sandbox: RunningSandbox


@pytest.fixture
def world(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Events go from the sandbox to the seller's /events/eventbridge (an API destination)."""
    yield from make_world(tmp_path, database_url, monkeypatch)


def make_world(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    queue_url: str | None = None,
    http_events: bool = True,
    catalog_text: str | None = None,
    sns: bool = False,
) -> Iterator[World]:
    """The seller app first (so the sandbox can post events to it), then the sandbox pointed at it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", f"AKIA{SELLER}")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "seller-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    upgrade(database_url)
    store = Store(database_url)
    catalog = parse_catalog(catalog_text) if catalog_text else load_catalog()
    store_catalog(store.uow(), catalog)
    tenant_id = create_tenant(store.uow(), "Example Corp", ADMIN_EMAIL, ADMIN_PASSWORD)
    tenant_key, _ = create_api_key(store.uow(), tenant_id, "e2e")
    operator_key, _ = create_api_key(store.uow(), None, "e2e operator")
    settings = Settings(
        database_url=database_url,
        aws_endpoint_url=None,
        events_queue_url=queue_url,
        eventbridge_secret=SECRET,
        secret_key="test-secret-key",
        catalog=None,
    )
    app = create_app(settings, store=store)
    with serve_app(app) as seller_url:
        box = build_sandbox(
            read_catalog(catalog_text) if catalog_text else seed_catalog(),
            tmp_path / "sandbox.db",
            SandboxSettings(provisioning_delay=timedelta(0), fulfillment_url=f"{seller_url}/marketplace/register"),
            event_endpoint=f"{seller_url}/events/eventbridge" if http_events else None,
            event_secret=SECRET,
            event_queue_url=queue_url,
            sns_endpoint=f"{seller_url}/events/sns" if sns else None,
        )
        try:
            with serve_app(box.app) as sandbox_url:
                app.state.mplink.marketplace = SellerMarketplace(sandbox_url)
                settings_with_sandbox = Settings(
                    **{
                        **settings.__dict__,
                        "aws_endpoint_url": sandbox_url,
                        "sns_trusted_cert_prefixes": (f"{sandbox_url}/_sandbox/sns/",),
                    }
                )
                app.state.mplink.settings = settings_with_sandbox
                # the seller trusts the sandbox's SNS before the sandbox knows its URL and subscribes it
                box.set_public_url(sandbox_url)
                yield World(
                    Seller(seller_url, store, app, tenant_id, tenant_key, operator_key),
                    RunningSandbox(box, sandbox_url),
                )
        finally:
            box.close()
            store.dispose()
