"""The sandbox, running for real on 127.0.0.1, and boto3 clients pointed at it.

One sandbox server runs for the whole test session (``shared_sandbox``). ``running_sandbox`` hands it to a
test after ``POST /_sandbox/reset`` (agreements, tokens, clock, faults, call and event logs, event
destinations and settings all back to the start) with the test's ``sandbox_settings`` applied, so every
test starts clean without paying for a server start and stop.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from mplink.sandbox.catalog import Catalog, read_catalog, seed_catalog
from mplink.sandbox.marketplace import SandboxSettings
from mplink.sandbox.server import Sandbox, build_sandbox
from tests.support.servers import serve_app

SELLER = "999999999999"
SRC = "111111111111"
DST = "222222222222"
PRODUCT_ID = "prod-g232pyu6l55l4"
PRODUCT_CODE = "c1saasproductcode0001"
PUBLIC_OFFER = "offer-public-tm4saas"
PRIVATE_OFFER = "offer-cm-sppo-20260101"


_CLIENTS: dict[tuple[str, str, str], Any] = {}
_HTTP = httpx.Client()


@dataclass
class RunningSandbox:
    box: Sandbox
    url: str

    def client(self, service: str, account: str) -> Any:
        """A boto3 client acting as ``account``; made once per service and account (boto3 clients are
        thread-safe, and making one reads the service model again)."""
        key = (self.url, service, account)
        if key not in _CLIENTS:
            _CLIENTS[key] = boto3.client(
                service,
                endpoint_url=self.url,
                region_name="us-east-1",
                aws_access_key_id=f"AKIA{account}",
                aws_secret_access_key="sandbox",
            )
        return _CLIENTS[key]

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = _HTTP.request(method, f"{self.url}/_sandbox/{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def send_events_to(
        self, endpoint: str | None = None, secret: str | None = None, queue_url: str | None = None
    ) -> None:
        """Deliver the sandbox's EventBridge events to this HTTP endpoint and/or SQS queue (until the next reset)."""
        self.box.dispatcher.set_destinations(endpoint, secret, queue_url)

    def reset(self, settings: SandboxSettings | None = None) -> None:
        """``POST /_sandbox/reset``, then the given settings (a copy) in place of the ones it started with."""
        self.control("POST", "reset")
        if settings is not None:
            self.box.market.settings = dataclasses.replace(settings)


def immediate_provisioning() -> SandboxSettings:
    """The settings tests start from: provisioning is immediate."""
    return SandboxSettings(provisioning_delay=timedelta(0))


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    """Provisioning is immediate in tests; a test that needs the PENDING phase sets its own delay."""
    return immediate_provisioning()


def serve_sandbox(catalog: Catalog, folder: Path, settings: SandboxSettings | None = None) -> Iterator[RunningSandbox]:
    """A sandbox selling ``catalog`` (its database in ``folder``), served on 127.0.0.1 until the generator ends."""
    box = build_sandbox(catalog, folder / "sandbox.db", settings)
    try:
        with serve_app(box.app) as url:
            yield RunningSandbox(box, url)
    finally:
        box.close()


@pytest.fixture(scope="session")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """One sandbox server for the whole session; use ``running_sandbox``, which resets it for each test."""
    yield from serve_sandbox(seed_catalog(), tmp_path_factory.mktemp("sandbox"), immediate_provisioning())


@pytest.fixture
def running_sandbox(shared_sandbox: RunningSandbox, sandbox_settings: SandboxSettings) -> RunningSandbox:
    """The session's sandbox, reset, with this test's ``sandbox_settings``."""
    shared_sandbox.reset(sandbox_settings)
    return shared_sandbox


@pytest.fixture(scope="session")
def renewal_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """The seed's catalog with a RenewalTerm on its public offer, so an agreement on it can be amended."""
    data = json.loads(resources.files("mplink").joinpath("data/catalog.json").read_text(encoding="utf-8"))
    for offer in data["products"][0]["offers"]:
        offer["renewal_term"] = offer["offer_id"] == PUBLIC_OFFER
    yield from serve_sandbox(read_catalog(json.dumps(data)), tmp_path_factory.mktemp("renewal"))


#: a private contract offer the seller itself proposed, which AWS does not let its buyer cancel (CancelAgreement is
#: refused): only the seller's agreement cancellation request, approved by the buyer, ends an agreement on it
CONTRACT_OFFER = "offer-tm-contract-20260101"


def contract_catalog_text() -> str:
    """The seed's catalog with CONTRACT_OFFER added for both buyer accounts."""
    data = json.loads(resources.files("mplink").joinpath("data/catalog.json").read_text(encoding="utf-8"))
    offers = data["products"][0]["offers"]
    public = next(o for o in offers if o["offer_id"] == PUBLIC_OFFER)
    offers.append(
        {
            **public,
            "offer_id": CONTRACT_OFFER,
            "name": "Trend Micro for SaaS 2026-01-01- Contract Private Offer",
            "private": True,
            "buyer_account_ids": [SRC, DST],
            "api_cancellable": False,
        }
    )
    return json.dumps(data)


@pytest.fixture(scope="session")
def contract_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A sandbox whose catalog has CONTRACT_OFFER; use ``running_contract_sandbox``, which resets it per test."""
    yield from serve_sandbox(
        read_catalog(contract_catalog_text()), tmp_path_factory.mktemp("contract"), immediate_provisioning()
    )


@pytest.fixture
def running_contract_sandbox(contract_sandbox: RunningSandbox, sandbox_settings: SandboxSettings) -> RunningSandbox:
    contract_sandbox.reset(sandbox_settings)
    return contract_sandbox
