"""What the services need from AWS Marketplace (the boto3 adapter implements it; tests may use the sandbox)."""

from __future__ import annotations

from typing import Any, Protocol

from mplink.adapters.aws import AgreementFacts, Entitlement
from mplink.domain.agreement import Registration


class SellerMarketplacePort(Protocol):
    def resolve_customer(self, token: str) -> Registration: ...

    def describe_agreement(self, agreement_id: str) -> AgreementFacts: ...

    def get_entitlements(self, product_code: str, license_arn: str) -> list[Entitlement]: ...

    def batch_meter_usage(self, product_code: str, records: list[dict[str, Any]]) -> dict[str, Any]: ...
