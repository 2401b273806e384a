"""The sandbox, running for real on 127.0.0.1, and boto3 clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from mplink.adapters.catalog_file import load_catalog
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


@dataclass
class RunningSandbox:
    box: Sandbox
    url: str

    def client(self, service: str, account: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=f"AKIA{account}",
            aws_secret_access_key="sandbox",
        )

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.url}/_sandbox/{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    """Provisioning is immediate in tests; a test that needs the PENDING phase sets its own delay."""
    return SandboxSettings(provisioning_delay=timedelta(0))


@pytest.fixture
def running_sandbox(tmp_path: Path, sandbox_settings: SandboxSettings) -> Iterator[RunningSandbox]:
    box = build_sandbox(load_catalog(), tmp_path / "sandbox.db", sandbox_settings)
    try:
        with serve_app(box.app) as url:
            yield RunningSandbox(box, url)
    finally:
        box.close()
