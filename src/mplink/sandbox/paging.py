"""Pagination the way AWS's list operations do it: an opaque next token, at most ``max_results`` a page."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from mplink.sandbox.errors import validation


def query_digest(*parts: object) -> str:
    """What a next token is bound to: the operation, the caller and every parameter but the page."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def page(items: list[Any], next_token: str | None, max_results: int, query: str = "") -> tuple[list[Any], str | None]:
    """Items ``[offset, offset + max_results)`` and the token for the rest (None when there is no more).

    A token carries its offset and the ``query`` digest it was made for. [agreement dev guide, error codes]
    INVALID_NEXT_TOKEN: "the pagination token is malformed, expired, cannot be decrypted, or when request
    parameters have changed between paginated calls"."""
    start = 0
    if next_token:
        try:
            offset, _, digest = base64.urlsafe_b64decode(next_token.encode()).decode().partition(":")
            start = int(offset)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise validation("nextToken is malformed", reason="INVALID_NEXT_TOKEN") from None
        if digest != query or start < 0:
            raise validation(
                "nextToken belongs to another query: keep the other parameters", reason="INVALID_NEXT_TOKEN"
            )
    end = start + max_results
    token = base64.urlsafe_b64encode(f"{end}:{query}".encode()).decode() if end < len(items) else None
    return items[start:end], token


def with_next_token(out: dict[str, Any], token: str | None, key: str = "nextToken") -> dict[str, Any]:
    """A list operation's answer: ``out``, plus the next token when there is a next page (AWS omits it on the last)."""
    if token:
        out[key] = token
    return out
