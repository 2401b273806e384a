"""The buyer's side for ``mplink move``: boto3 sessions per AWS profile (STS, discovery, agreement) and
the seller's JSON API over httpx."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from mplink.domain.errors import DomainError, InvalidValue

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


class AwsCallFailed(DomainError):
    code = "aws_call_failed"


@dataclass
class BuyerAccount:
    """One AWS profile: who it is and the Marketplace clients acting as it."""

    profile: str
    session: boto3.session.Session
    account_id: str

    @classmethod
    def open(cls, profile: str) -> BuyerAccount:
        try:
            session = boto3.session.Session(profile_name=profile)
        except ProfileNotFound as exc:
            raise InvalidValue(f"AWS profile {profile!r} not found in the AWS config or credentials files") from exc
        try:
            identity = session.client(
                "sts", region_name="us-east-1", endpoint_url=_endpoint(), config=_CONFIG
            ).get_caller_identity()
        except NoCredentialsError as exc:
            raise InvalidValue(f"AWS profile {profile!r} has no credentials") from exc
        except (ClientError, BotoCoreError) as exc:
            raise InvalidValue(f"AWS profile {profile!r} cannot sign in: {exc}") from exc
        return cls(profile, session, str(identity["Account"]))

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name="us-east-1", endpoint_url=_endpoint(), config=_CONFIG)

    def organization_id(self) -> str | None:
        """The account's AWS Organization, when it may read it; None otherwise."""
        try:
            org = self.client("organizations").describe_organization()
        except (ClientError, BotoCoreError):
            return None
        return str(org["Organization"]["Id"])


def _endpoint() -> str | None:
    return os.environ.get("MPLINK_AWS_ENDPOINT_URL") or None


class SellerApiError(DomainError):
    code = "seller_api_error"

    def __init__(self, message: str, status: int, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


@dataclass
class SellerApi:
    base_url: str
    key: str
    tenant_id: str

    def _call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        url = f"{self.base_url.rstrip('/')}/api/v1{path}"
        try:
            r = httpx.request(method, url, json=json, headers={"Authorization": f"Bearer {self.key}"}, timeout=30)
        except httpx.HTTPError as exc:
            raise SellerApiError(f"the seller API at {self.base_url} did not answer: {exc}", 0) from exc
        try:
            body = r.json()
        except ValueError:
            body = {}
        if r.status_code == 401:
            raise SellerApiError("the seller API refused the key (--seller-key)", 401, body)
        if r.status_code in (403, 404) and "/tenants/" in path:
            raise SellerApiError(
                f"the seller knows no tenant {self.tenant_id!r} for this key (--tenant)", r.status_code, body
            )
        if r.status_code >= 400:
            raise SellerApiError(str(body.get("message") or f"HTTP {r.status_code}"), r.status_code, body)
        return body if isinstance(body, dict) else {}

    def subscription(self) -> dict[str, Any]:
        return self._call("GET", f"/tenants/{self.tenant_id}/subscription")

    def link(self, token: str) -> dict[str, Any]:
        return self._call("POST", f"/tenants/{self.tenant_id}/link", json={"registration_token": token})
