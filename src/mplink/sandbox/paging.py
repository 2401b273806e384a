"""Pagination the way AWS's list operations do it: an opaque next token, at most ``max_results`` a page."""

from __future__ import annotations

import base64
from typing import Any

from mplink.sandbox.errors import validation


def page(items: list[Any], next_token: str | None, max_results: int) -> tuple[list[Any], str | None]:
    start = 0
    if next_token:
        try:
            start = int(base64.urlsafe_b64decode(next_token.encode()).decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise validation("nextToken is not valid", reason="INVALID_NEXT_TOKEN") from exc
    end = start + max_results
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token
