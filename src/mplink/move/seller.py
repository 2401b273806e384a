"""The seller's JSON API as ``mplink move`` uses it (httpx): the tenant's subscription, the link, and the
account change (start, read, report the source's cancellation, ask the seller to end the source)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from mplink.move.change import ChangeStatus
from mplink.move.errors import SellerApiError


@dataclass
class SellerApi:
    base_url: str
    key: str
    tenant_id: str
    timeout: float = 30
    #: one connection pool for the whole run (move polls the seller while it waits)
    _http: httpx.Client | None = field(default=None, repr=False, compare=False)

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, headers={"Authorization": f"Bearer {self.key}"})
        return self._http

    def _call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        url = f"{self.base_url.rstrip('/')}/api/v1{path}"
        try:
            r = self._client().request(method, url, json=json)
        except httpx.HTTPError as exc:
            raise SellerApiError(f"the seller API at {self.base_url} did not answer: {exc}", 0) from exc
        try:
            body = r.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if r.status_code == 401:
            raise SellerApiError("the seller API refused the key (--seller-key)", 401, body)
        if r.status_code == 403 or (r.status_code == 404 and path == self._tenant("/subscription")):
            raise SellerApiError(
                f"the seller knows no tenant {self.tenant_id!r} for this key (--tenant)", r.status_code, body
            )
        if r.status_code >= 400:
            raise SellerApiError(str(body.get("message") or f"HTTP {r.status_code}"), r.status_code, body)
        return body

    def _tenant(self, rest: str) -> str:
        return f"/tenants/{self.tenant_id}{rest}"

    def subscription(self) -> dict[str, Any]:
        return self._call("GET", self._tenant("/subscription"))

    def link(self, token: str, allow_offer_change: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"registration_token": token}
        if allow_offer_change:
            body["allow_offer_change"] = True
        return self._call("POST", self._tenant("/link"), json=body)

    def account_change(self) -> ChangeStatus | None:
        """The tenant's open change, else its last one; None when the tenant never changed accounts."""
        try:
            return ChangeStatus.from_api(self._call("GET", self._tenant("/account-change")))
        except SellerApiError as exc:
            if exc.status == 404:
                return None
            raise

    def start_account_change(self, destination_account_id: str) -> ChangeStatus:
        """Idempotent for the same destination while the change is only started; 409 once it is further."""
        body = {"destination_aws_account_id": destination_account_id}
        return ChangeStatus.from_api(self._call("POST", self._tenant("/account-change"), json=body))

    def report_source_cancellation(self, agreement_id: str) -> ChangeStatus:
        """Tell the seller the buyer asked AWS to cancel the source agreement (a repeat is harmless)."""
        body = {"agreement_id": agreement_id}
        return ChangeStatus.from_api(self._call("POST", self._tenant("/account-change/source-cancellation"), json=body))

    def request_source_end(self) -> ChangeStatus:
        """Ask the seller to send AWS a cancellation request for the change's source agreement (for an agreement
        its buyer cannot cancel); the same request again while it waits or after it was approved."""
        return ChangeStatus.from_api(self._call("POST", self._tenant("/account-change/cancellation-request")))
