"""The seller's web app in tests: its settings, a fresh store, and the people and names the pages show."""

from __future__ import annotations

from pathlib import Path

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.config import Settings
from mplink.services.catalog import load_catalog as store_catalog
from tests.support.html import El

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
