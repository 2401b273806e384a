"""AWS Marketplace Entitlement Service (marketplace-entitlement): GetEntitlements, for the seller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mplink.sandbox.errors import SandboxError
from mplink.sandbox.paging import page, with_next_token

if TYPE_CHECKING:
    from mplink.sandbox.marketplace import Marketplace


class EntitlementApi:
    """The entitlement service's operation."""

    def __init__(self, market: Marketplace) -> None:
        self.m = market

    def get_entitlements(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            product = self.m.catalog.product(p["ProductCode"])
            if product is None or product.product_code != p["ProductCode"]:
                raise SandboxError("InvalidParameterException", f"Product code {p['ProductCode']!r} is not valid")
            if caller != self.m.catalog.seller_account_id:
                raise SandboxError("InvalidParameterException", "The product code does not belong to the caller")
            filters: dict[str, list[str]] = p.get("Filter") or {}
            for name in filters:
                if name not in ("CUSTOMER_IDENTIFIER", "DIMENSION", "CUSTOMER_AWS_ACCOUNT_ID", "LICENSE_ARN"):
                    raise SandboxError("InvalidParameterException", f"Unknown filter {name!r}")
            if "CUSTOMER_IDENTIFIER" in filters and "CUSTOMER_AWS_ACCOUNT_ID" in filters:
                # the model's GetEntitlements Filter: "CustomerIdentifier and CustomerAWSAccountId are mutually
                # exclusive parameters. You must use one or the other, but not both in the same request."
                raise SandboxError(
                    "InvalidParameterException",
                    "CUSTOMER_IDENTIFIER and CUSTOMER_AWS_ACCOUNT_ID are mutually exclusive: filter by one of them",
                )
            max_results = p.get("MaxResults", 25)
            if not 1 <= max_results <= 25:
                raise SandboxError("InvalidParameterException", "MaxResults must be between 1 and 25")
            items: list[dict[str, Any]] = []
            for a in sorted(self.m.agreements.values(), key=lambda a: (a.acceptance_time, a.agreement_id)):
                if a.product_id != product.product_id or a.status != "ACTIVE" or a.deprovisioned:
                    continue
                for service in product.services:
                    for d in service.dimensions:
                        ent: dict[str, Any] = {
                            "ProductCode": product.product_code,
                            "Dimension": d.key,
                            "CustomerAWSAccountId": a.account_id,
                            "LicenseArn": a.license_arn,
                            "Value": {"BooleanValue": True},
                        }
                        if a.customer_identifier:
                            ent["CustomerIdentifier"] = a.customer_identifier
                        if self._matches(ent, filters):
                            items.append(ent)
            token = p.get("NextToken")
            if token == "empty-page":
                token = None
            elif token is None and items and self.m.chance(self.m.faults.empty_page_pct):
                return {"Entitlements": [], "NextToken": "empty-page"}
            items_page, next_token = page(items, token, max_results)
            return with_next_token({"Entitlements": items_page}, next_token, key="NextToken")

    @staticmethod
    def _matches(ent: dict[str, Any], filters: dict[str, list[str]]) -> bool:
        fields = {
            "CUSTOMER_IDENTIFIER": "CustomerIdentifier",
            "DIMENSION": "Dimension",
            "CUSTOMER_AWS_ACCOUNT_ID": "CustomerAWSAccountId",
            "LICENSE_ARN": "LicenseArn",
        }
        return all(ent.get(fields[name]) in values for name, values in filters.items())
