"""Steps of the seed's procedure shared by the seller's tests: a registration token, a link, waiting."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from tests.support.sandbox_fixtures import RunningSandbox
from tests.support.seller_fixtures import Seller


def token_for(sb: RunningSandbox, account: str, agreement_id: str) -> str:
    agr = sb.client("marketplace-agreement", account)
    ent = agr.get_agreement_entitlements(agreementId=agreement_id)["agreementEntitlements"][0]
    assert ent["status"] == "PROVISIONED"
    return str(ent["registrationToken"])


def link(seller: Seller, token: str) -> dict[str, Any]:
    response = seller.api("POST", f"/tenants/{seller.tenant_id}/link", json={"registration_token": token})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def usage(
    seller: Seller, key: str, quantity: int, at: datetime, dimension: str = "conformity_accounts"
) -> dict[str, int]:
    """Report usage through the seller's API, as the SaaS does."""
    event = {"tenant_id": seller.tenant_id, "dimension": dimension, "quantity": quantity}
    body = {"events": [{**event, "timestamp": at.isoformat(), "idempotency_key": key}]}
    response = seller.api("POST", "/usage", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, int] = response.json()
    return result


def metering_requests(sb: RunningSandbox) -> list[dict[str, Any]]:
    """Every BatchMeterUsage request the sandbox received, as its call log kept it."""
    calls: list[dict[str, Any]] = sb.control("GET", "calls", params={"operation": "BatchMeterUsage"})
    return [c["request"] for c in calls if c["request"] is not None]
