"""Stale subscriptions in tests: an item of ``GET /api/v1/stale-subscriptions`` as its CSV row should read."""

from __future__ import annotations

from typing import Any


def csv_row_of(item: dict[str, Any]) -> dict[str, str]:
    """The JSON item flattened as ``?format=csv`` writes it: ``offer`` and ``cancellation_request`` in columns of
    their own, an unknown value as an empty cell."""
    request = item["cancellation_request"] or {}
    values = {
        "tenant_id": item["tenant_id"],
        "aws_account_id": item["aws_account_id"],
        "agreement_id": item["agreement_id"],
        "offer_id": item["offer"]["id"],
        "offer_name": item["offer"]["name"],
        "since": item["since"],
        "cancellation_request_id": request.get("id"),
        "cancellation_request_status": request.get("status"),
    }
    return {k: v or "" for k, v in values.items()}
