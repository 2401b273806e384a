"""Pages of the agreement service's list operations: a next token is good only for the query that made it.

[dev guide agreement-apis, error codes] INVALID_NEXT_TOKEN: "the pagination token is malformed, expired,
cannot be decrypted, or when request parameters have changed between paginated calls." So each token carries
its offset and a digest of the query it belongs to (operation, caller and parameters other than the page).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from mplink.sandbox.agreement_errors import invalid


def query_digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def page(items: list[Any], next_token: str | None, max_results: int, query: str) -> tuple[list[Any], str | None]:
    """Items ``[offset, offset + max_results)`` and the token for the rest (None when there is no more)."""
    start = 0
    if next_token:
        try:
            offset, _, digest = base64.urlsafe_b64decode(next_token.encode()).decode().partition(":")
            start = int(offset)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise invalid("INVALID_NEXT_TOKEN", "nextToken is malformed") from None
        if digest != query or start < 0:
            raise invalid("INVALID_NEXT_TOKEN", "nextToken belongs to another query: keep the other parameters")
    end = start + max_results
    token = base64.urlsafe_b64encode(f"{end}:{query}".encode()).decode() if end < len(items) else None
    return items[start:end], token
