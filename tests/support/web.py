"""The seller's web app in tests: its settings, a fresh store, and the people and names the pages show."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.config import Settings
from mplink.services.auth import create_api_key
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.tenants import create_tenant
from mplink.web.app import create_app
from tests.support.html import El
from tests.support.sandbox_fixtures import RunningSandbox

ADMIN = "admin@example.com"


PASSWORD = "correct horse battery"


TENANT = "Example Corp"


SERVICES = [
    "Workload Security",
    "Container Security",
    "File Storage Security",
    "Application Security",
    "Network Security",
    "Conformity",
    "Account and Identity Management",
]


SECRET = "s"


def seller_settings(database_url: str, sandbox_url: str | None, marketplace_url: str | None = None) -> Settings:
    return Settings(
        database_url=database_url,
        aws_endpoint_url=sandbox_url,
        events_queue_url=None,
        eventbridge_secret=SECRET,
        secret_key="test",
        catalog=None,
        marketplace_url=marketplace_url,
    )


def seller_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seller's AWS credentials (the sandbox's seller account); the endpoint comes from the settings."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA999999999999")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "MPLINK_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@contextmanager
def seller_api(
    store: Store, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, str, str, str]]:
    """The seller app on ``store`` with the sandbox as AWS, a tenant (ADMIN its admin), a key of the tenant and an
    operator key: (client, tenant id, tenant key, operator key)."""
    seller_aws_env(monkeypatch)
    tenant_id = create_tenant(store.uow(), TENANT, ADMIN, PASSWORD)
    tenant_key, _ = create_api_key(store.uow(), tenant_id, "test")
    operator_key, _ = create_api_key(store.uow(), None, "test operator")
    app = create_app(seller_settings(store.url, sandbox_url), store=store)
    with TestClient(app, follow_redirects=False) as client:
        yield client, tenant_id, tenant_key, operator_key


def fresh_store(tmp_path: Path) -> Store:
    url = f"sqlite:///{tmp_path / 'seller.db'}"
    upgrade(url)
    store = Store(url)
    store_catalog(store.uow(), load_catalog())
    return store


def csrf_of(doc: El) -> str:
    tokens = {e.attrs["value"] for e in doc.all("input", name="csrf_token")}
    assert len(tokens) == 1, tokens
    return tokens.pop()


def deliver_events(client: TestClient, sandbox: RunningSandbox) -> int:
    """What EventBridge would do: POST each event the sandbox emitted to the seller (again: idempotent, as
    EventBridge delivers at least once). Answers how many were delivered."""
    log = list(sandbox.box.dispatcher.log)
    for entry in log:
        r = client.post("/events/eventbridge", json=entry["event"], headers={"X-Mplink-Secret": SECRET})
        assert r.status_code == 200, r.text
    return len(log)
