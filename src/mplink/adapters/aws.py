"""boto3 clients for the seller's Marketplace calls. ``MPLINK_AWS_ENDPOINT_URL`` points every client at
another endpoint (the sandbox); credentials and region come from the usual AWS environment."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mplink.domain.agreement import Registration
from mplink.domain.errors import DomainError

#: AWS Marketplace's APIs live in us-east-1
REGION = "us-east-1"
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)


class RegistrationTokenRejected(DomainError):
    """ResolveCustomer refused the token: invalid, expired, or not for this seller."""

    code = "registration_token_rejected"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # "invalid" or "expired"


class MarketplaceUnavailable(DomainError):
    """AWS Marketplace could not be reached or failed; the caller may try again."""

    code = "marketplace_unavailable"


@dataclass(frozen=True)
class AgreementFacts:
    agreement_id: str
    offer_id: str | None
    proposer_account_id: str | None
    acceptor_account_id: str | None
    status: str | None
    accepted_at: datetime | None
    starts_at: datetime | None
    ends_at: datetime | None


@dataclass(frozen=True)
class Entitlement:
    dimension: str
    value: dict[str, Any]
    expires_at: datetime | None


def client(service: str, endpoint_url: str | None = None, session: boto3.session.Session | None = None) -> Any:
    """A client on its own session: boto3's shared default session caches credentials and is not thread-safe."""
    endpoint = endpoint_url or os.environ.get("MPLINK_AWS_ENDPOINT_URL") or None
    return (session or boto3.session.Session()).client(
        service, region_name=REGION, endpoint_url=endpoint, config=_CONFIG
    )


class SellerMarketplace:
    """The seller's side of AWS Marketplace, as mplink uses it."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._session = boto3.session.Session()
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        with self._lock:  # clients are thread-safe once made; making them is not
            if service not in self._clients:
                self._clients[service] = client(service, self.endpoint_url, self._session)
            return self._clients[service]

    def resolve_customer(self, token: str) -> Registration:
        metering = self._client("meteringmarketplace")
        try:
            out = metering.resolve_customer(RegistrationToken=token)
        except metering.exceptions.ExpiredTokenException as exc:
            raise RegistrationTokenRejected("the registration token has expired", "expired") from exc
        except metering.exceptions.InvalidTokenException as exc:
            raise RegistrationTokenRejected("the registration token is not valid", "invalid") from exc
        except (ClientError, BotoCoreError) as exc:
            raise MarketplaceUnavailable(f"AWS Marketplace did not answer ResolveCustomer: {exc}") from exc
        agreement_id = (out.get("Metadata") or {}).get("AgreementId")
        if not agreement_id:
            raise MarketplaceUnavailable("ResolveCustomer returned no agreement id")
        return Registration(
            aws_account_id=out["CustomerAWSAccountId"],
            product_code=out["ProductCode"],
            agreement_id=agreement_id,
            license_arn=out.get("LicenseArn") or None,
            customer_identifier=out.get("CustomerIdentifier") or None,
        )

    def describe_agreement(self, agreement_id: str) -> AgreementFacts:
        agreements = self._client("marketplace-agreement")
        try:
            out = agreements.describe_agreement(agreementId=agreement_id)
        except (ClientError, BotoCoreError) as exc:
            raise MarketplaceUnavailable(f"AWS Marketplace did not answer DescribeAgreement: {exc}") from exc
        return AgreementFacts(
            agreement_id=agreement_id,
            offer_id=(out.get("proposalSummary") or {}).get("offerId"),
            proposer_account_id=(out.get("proposer") or {}).get("accountId"),
            acceptor_account_id=(out.get("acceptor") or {}).get("accountId"),
            status=out.get("status"),
            accepted_at=out.get("acceptanceTime"),
            starts_at=out.get("startTime"),
            ends_at=out.get("endTime"),
        )

    def get_entitlements(self, product_code: str, license_arn: str) -> list[Entitlement]:
        """Every entitlement of one license; follows NextToken, which may come with an empty page."""
        ent = self._client("marketplace-entitlement")
        params: dict[str, Any] = {"ProductCode": product_code, "Filter": {"LICENSE_ARN": [license_arn]}}
        out: list[Entitlement] = []
        try:
            while True:
                page = ent.get_entitlements(**params)
                out += [
                    Entitlement(e["Dimension"], dict(e.get("Value") or {}), e.get("ExpirationDate"))
                    for e in page.get("Entitlements", [])
                ]
                if not page.get("NextToken"):
                    return out
                params["NextToken"] = page["NextToken"]
        except (ClientError, BotoCoreError) as exc:
            raise MarketplaceUnavailable(f"AWS Marketplace did not answer GetEntitlements: {exc}") from exc

    def batch_meter_usage(self, product_code: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        metering = self._client("meteringmarketplace")
        try:
            result: dict[str, Any] = metering.batch_meter_usage(ProductCode=product_code, UsageRecords=records)
            return result
        except (ClientError, BotoCoreError) as exc:
            raise MarketplaceUnavailable(f"AWS Marketplace did not answer BatchMeterUsage: {exc}") from exc
