"""AWS Marketplace Metering Service (meteringmarketplace): ResolveCustomer and BatchMeterUsage, for the seller.

MeterUsage and RegisterUsage are for AMI and container products, called from the buyer's account; a SaaS
product gets the errors AWS documents for those cases (docs/sandbox.md, "Coverage")."""

from __future__ import annotations

import time
import uuid
from collections import deque
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from mplink.sandbox.catalog import Product
from mplink.sandbox.errors import SandboxError, validation
from mplink.sandbox.model import SbAgreement, SbMeterRecord, hour_of

if TYPE_CHECKING:
    from mplink.sandbox.marketplace import Marketplace


#: BatchMeterUsage: "We accept usage records for the previous billing month until 06:00 UTC on the first day of
#: the next month."
MONTH_END_GRACE = timedelta(hours=6)


def timestamp_refusal(ts: datetime, now: datetime, lookback: timedelta) -> str | None:
    """Why BatchMeterUsage refuses a record's Timestamp (TimestampOutOfBoundsException), or None when it takes it:
    not in the future, less than ``lookback`` old ("Usage records aren't accepted 24 hours or more after an
    event."), and for the previous billing month only before the 6-hour grace ends (06:00:00 UTC on the 1st is
    already too late: "before 06:00 UTC")."""
    if ts > now:
        return "is in the future"
    if ts <= now - lookback:
        return f"is not within the last {int(lookback.total_seconds() // 3600)} hours"
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if ts < month_start and now >= month_start + MONTH_END_GRACE:
        return (
            f"is in the billing month before {month_start:%Y-%m}, whose usage is accepted only until "
            f"{month_start + MONTH_END_GRACE:%Y-%m-%d %H:%M} UTC"
        )
    return None


class MeteringApi:
    """The metering service's operations."""

    def __init__(self, market: Marketplace) -> None:
        self.m = market

    def _throttle(self, account: str) -> None:
        rps = self.m.settings.throttle_rps
        if rps <= 0:
            return
        window = self.m.throttle_windows.setdefault(account, deque())
        now = time.monotonic()
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= rps:
            raise SandboxError("ThrottlingException", f"Rate exceeded: at most {rps:g} requests per second")
        window.append(now)

    def resolve_customer(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            token = self.m.tokens.get(p["RegistrationToken"])
            if token is None:
                raise SandboxError("InvalidTokenException", "Registration token is invalid")
            a = self.m.agreements[token.agreement_id]
            product = self.m.product(a.product_id)
            if caller != self.m.catalog.seller_account_id:
                raise SandboxError(
                    "InvalidTokenException", "Registration token is invalid: it resolves only for the product's seller"
                )
            if self.m.now() >= token.expires_at:
                raise SandboxError("ExpiredTokenException", "Registration token is expired")
            out: dict[str, Any] = {
                "ProductCode": product.product_code,
                "CustomerAWSAccountId": a.account_id,
                "LicenseArn": a.license_arn,
                "Metadata": {"AgreementId": a.agreement_id},
            }
            if a.customer_identifier:
                out["CustomerIdentifier"] = a.customer_identifier
            return out

    def batch_meter_usage(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.m.lock:
            self._throttle(caller)
            records: list[dict[str, Any]] = p["UsageRecords"]
            product = self._metered_product(p, records)
            if caller != self.m.catalog.seller_account_id:
                raise SandboxError(
                    "InvalidProductCodeException", "The product code does not belong to the calling seller account"
                )
            if len(records) > 25:
                raise validation(
                    "1 validation error detected: Value at 'usageRecords' failed to satisfy constraint: "
                    "Member must have length less than or equal to 25"
                )
            now = self.m.now()
            dims = product.dimension_keys()
            checked: list[tuple[dict[str, Any], SbAgreement | None, Decimal]] = []
            for i, r in enumerate(records):
                ts: datetime = r["Timestamp"]
                refusal = timestamp_refusal(ts, now, self.m.settings.metering_lookback)
                if refusal:
                    raise SandboxError(
                        "TimestampOutOfBoundsException", f"usageRecords[{i}].Timestamp {ts.isoformat()} {refusal}"
                    )
                if r["Dimension"] not in dims:
                    raise SandboxError(
                        "InvalidUsageDimensionException",
                        f"The usage dimension {r['Dimension']!r} does not match one of the metering "
                        f"dimensions of product {product.product_code}",
                    )
                checked.append((r, self._record_agreement(product, r, i), self._quantity(r, i)))
            results, unprocessed = [], []
            for r, agreement, qty in checked:
                if self.m.chance(self.m.faults.unprocessed_pct):
                    unprocessed.append(r)
                    continue
                results.append(self._meter_one(product, r, agreement, qty, now, "ProductCode" in p))
            return {"Results": results, "UnprocessedRecords": unprocessed}

    def _metered_product(self, p: dict[str, Any], records: list[dict[str, Any]]) -> Product:
        """ProductCode names the product for legacy (CustomerIdentifier) records; LicenseArn records carry
        their product themselves and come without it (botocore's BatchMeterUsage, member ProductCode)."""
        code = p.get("ProductCode")
        if code is not None:
            product = self.m.catalog.product(code)
            if product is None or product.product_code != code:
                raise SandboxError("InvalidProductCodeException", f"Product code {code!r} is not valid")
            return product
        if any(r.get("CustomerIdentifier") for r in records):
            raise SandboxError("InvalidProductCodeException", "ProductCode is required for CustomerIdentifier records")
        products: set[str] = set()
        for i, r in enumerate(records):
            agreement = next((a for a in self.m.agreements.values() if a.license_arn == r.get("LicenseArn")), None)
            if agreement is None:
                raise SandboxError(
                    "InvalidLicenseException", f"usageRecords[{i}].LicenseArn {r.get('LicenseArn')} is not valid"
                )
            products.add(agreement.product_id)
        if len(products) != 1:
            raise validation("the records of one BatchMeterUsage call must all be for one product")
        found = self.m.catalog.product(products.pop())
        if found is None:
            raise SandboxError("InvalidProductCodeException", "the records' product is not known")
        return found

    def _quantity(self, r: dict[str, Any], i: int) -> Decimal:
        if "Quantity" in r and "QuantityAsDecimal" in r:
            raise validation(f"usageRecords[{i}]: give Quantity or QuantityAsDecimal, not both")
        try:
            qty = Decimal(str(r.get("QuantityAsDecimal", r.get("Quantity", 0))))
        except InvalidOperation as exc:
            raise validation(f"usageRecords[{i}].QuantityAsDecimal is not a number") from exc
        if qty < 0:
            raise validation(f"usageRecords[{i}].Quantity must not be negative")
        allocations = r.get("UsageAllocations")
        if allocations:
            total = sum(
                Decimal(str(al.get("AllocatedUsageQuantityAsDecimal", al.get("AllocatedUsageQuantity", 0))))
                for al in allocations
            )
            if total != qty:
                raise SandboxError(
                    "InvalidUsageAllocationsException",
                    f"usageRecords[{i}]: usage allocations sum to {total}, not to the quantity {qty}",
                )
        return qty

    def _record_agreement(self, product: Product, r: dict[str, Any], i: int) -> SbAgreement | None:
        if r.get("CustomerIdentifier"):
            if not product.legacy:
                raise SandboxError(
                    "InvalidCustomerIdentifierException",
                    "CustomerIdentifier is not accepted for this product: send CustomerAWSAccountId and LicenseArn",
                )
            found = [a for a in self.m.agreements.values() if a.customer_identifier == r["CustomerIdentifier"]]
            if not found:
                raise SandboxError(
                    "InvalidCustomerIdentifierException", f"usageRecords[{i}].CustomerIdentifier is not valid"
                )
            return max(found, key=lambda a: a.acceptance_time)
        arn = r.get("LicenseArn")
        if not arn:
            raise validation(f"usageRecords[{i}]: LicenseArn and CustomerAWSAccountId are required")
        agreement = next((a for a in self.m.agreements.values() if a.license_arn == arn), None)
        if agreement is None or agreement.product_id != product.product_id:
            raise SandboxError("InvalidLicenseException", f"usageRecords[{i}].LicenseArn {arn} is not valid")
        if r.get("CustomerAWSAccountId") not in (None, agreement.account_id):
            raise SandboxError(
                "InvalidLicenseException",
                f"usageRecords[{i}].LicenseArn does not belong to account {r['CustomerAWSAccountId']}",
            )
        return agreement

    def _meter_one(
        self,
        product: Product,
        r: dict[str, Any],
        a: SbAgreement | None,
        qty: Decimal,
        now: datetime,
        with_product_code: bool = True,
    ) -> dict[str, Any]:
        ts: datetime = r["Timestamp"]
        subscribed = (
            a is not None
            and not a.deprovisioned
            and ts >= hour_of(a.start_time)
            and (a.end_time is None or (ts < a.end_time and now < a.end_time + self.m.settings.final_metering_window))
        )
        if not subscribed or a is None:
            return {"UsageRecord": r, "Status": "CustomerNotSubscribed"}
        key = f"{a.license_arn}|{r['Dimension']}|{hour_of(ts).isoformat()}"
        existing = self.m.meter_records.get(key)
        if existing is not None:
            # the first write wins: the same quantity again (by value: 17 = 17.0) is the same record, taken again;
            # another quantity for the customer, dimension and hour is a DuplicateRecord and is not billed
            if Decimal(existing.quantity) != qty:
                return {"UsageRecord": r, "MeteringRecordId": existing.metering_record_id, "Status": "DuplicateRecord"}
            if with_product_code and r.get("LicenseArn") and not existing.double_billed:
                existing.double_billed = True
                self.m.save_meter(key, existing)
            return {"UsageRecord": r, "MeteringRecordId": existing.metering_record_id, "Status": "Success"}
        rec = SbMeterRecord(
            metering_record_id=str(uuid.uuid4()),
            product_code=product.product_code,
            account_id=a.account_id,
            license_arn=a.license_arn,
            dimension=r["Dimension"],
            hour=hour_of(ts),
            timestamp=ts,
            quantity=str(qty),
            received_at=now,
            allocations=list(r.get("UsageAllocations") or []),
            double_billed=with_product_code and bool(r.get("LicenseArn")),
        )
        self.m.save_meter(key, rec)
        return {"UsageRecord": r, "MeteringRecordId": rec.metering_record_id, "Status": "Success"}


#: the metering operations AWS refuses a SaaS product (wire.refusals): the request is checked against the model
#: first, then refused whatever it names
REFUSALS = {
    # MeterUsage meters AMI and container products from the buyer's account (the model's service documentation:
    # "Supported product types: Amazon Machine Images (AMIs) and containers"). The sandbox sells SaaS products
    # only, so no product code is one MeterUsage takes: AWS's only product-code error for it.
    "MeterUsage": SandboxError(
        "InvalidProductCodeException",
        "The product code passed does not match the product code used for publishing the product: MeterUsage "
        "takes AMI and container products, and SaaS products meter with BatchMeterUsage",
    ),
    # RegisterUsage is for paid container products on Amazon ECS, Amazon EKS or AWS Fargate; a SaaS product's
    # servers are none of those (the model's PlatformNotSupportedException).
    "RegisterUsage": SandboxError(
        "PlatformNotSupportedException",
        "AWS Marketplace does not support metering usage from the underlying platform. Currently, Amazon ECS, "
        "Amazon EKS, and AWS Fargate are supported.",
    ),
}
