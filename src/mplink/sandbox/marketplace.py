"""The sandbox marketplace: AWS Marketplace's rules, applied to the catalog's products and offers.

Operations take the caller's account (from the SigV4 access key) and the request's members, and return
the response's members. Rule breaks raise SandboxError with AWS's error code.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import random
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from mplink.domain.catalog import Catalog, Offer, Product
from mplink.sandbox.errors import SandboxError, validation
from mplink.sandbox.model import SbAgreement, SbMeterRecord, SbRequest, SbToken
from mplink.sandbox.persist import StateFile

CATALOG_NAME = "AWSMarketplace"
AGREEMENT_TYPE = "PurchaseAgreement"
RESOURCE_TYPE = "SaaSProduct"


@dataclass
class SandboxSettings:
    console_token_ttl: timedelta = timedelta(hours=4)
    api_token_ttl: timedelta = timedelta(minutes=30)
    #: BatchMeterUsage requests per second per seller account; 0 turns the throttle off
    throttle_rps: float = 10.0
    provisioning_delay: timedelta = timedelta(seconds=2)
    final_metering_window: timedelta = timedelta(hours=1)
    metering_lookback: timedelta = timedelta(hours=24)
    fulfillment_url: str | None = None


@dataclass
class Faults:
    """Injected failures, in percent of calls (or of records / events)."""

    throttle_pct: float = 0.0
    error_pct: float = 0.0
    unprocessed_pct: float = 0.0
    duplicate_event_pct: float = 0.0
    empty_page_pct: float = 0.0
    shuffle_events: bool = False
    seed: int | None = None


@dataclass
class CallRecord:
    at: datetime
    account_id: str
    service: str
    operation: str
    outcome: str


Emit = Callable[[str, dict[str, Any], list[str]], None]
#: legacy SNS: (action, product code, customer identifier, offer id)
EmitLegacy = Callable[[str, str, str, str], None]


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _new_id(prefix: str, n: int = 20) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def proposal_id(offer_id: str) -> str:
    return "ap-" + hashlib.sha256(offer_id.encode()).hexdigest()[:24]


def term_ids(offer: Offer) -> dict[str, str]:
    """Stable ids of the offer's terms, by term kind."""
    h = hashlib.sha256(offer.offer_id.encode()).hexdigest()[:16]
    return {kind: f"term-{kind[:5].lower()}-{h}" for kind in ("UsageBasedPricingTerm", "LegalTerm", "SupportTerm")}


def _page(items: list[Any], next_token: str | None, max_results: int) -> tuple[list[Any], str | None]:
    start = 0
    if next_token:
        try:
            start = int(base64.urlsafe_b64decode(next_token.encode()).decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise validation("nextToken is not valid") from exc
    end = start + max_results
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


class Marketplace:
    def __init__(self, catalog: Catalog, state: StateFile, settings: SandboxSettings | None = None) -> None:
        self.catalog = catalog
        self.settings = settings or SandboxSettings()
        #: what reset() goes back to, whatever a test changed in ``settings`` since
        self._initial_settings = dataclasses.replace(self.settings)
        self.faults = Faults()
        self._rng = random.Random()
        self._state = state
        self.lock = threading.RLock()
        self.agreements: dict[str, SbAgreement] = state.load("agreement", SbAgreement)
        self.requests: dict[str, SbRequest] = state.load("request", SbRequest)
        self.tokens: dict[str, SbToken] = state.load("token", SbToken)
        self.metering: dict[str, SbMeterRecord] = state.load("meter", SbMeterRecord)
        self.clock_offset = float(state.get_value("meta", "clock_offset") or 0.0)
        self.calls: deque[CallRecord] = deque(maxlen=100_000)
        self._throttle_windows: dict[str, deque[float]] = {}
        self._listeners: list[Emit] = []
        self._legacy_listeners: list[EmitLegacy] = []

    # -- infrastructure ----------------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset)

    def advance_clock(self, seconds: float) -> datetime:
        if seconds < 0:
            raise validation("advance_seconds must not be negative: the sandbox clock only moves forward")
        with self.lock:
            self.clock_offset += seconds
            self._state.put("meta", "clock_offset", self.clock_offset)
            self.tick()
            return self.now()

    def on_event(self, listener: Emit) -> None:
        self._listeners.append(listener)

    def on_legacy(self, listener: EmitLegacy) -> None:
        self._legacy_listeners.append(listener)

    def _emit_legacy(self, action: str, a: SbAgreement) -> None:
        """Legacy products also tell the seller over SNS, by CustomerIdentifier."""
        product = self.product(a.product_id)
        if not product.legacy or not a.customer_identifier:
            return
        for listener in self._legacy_listeners:
            listener(action, product.product_code, a.customer_identifier, a.offer_id)

    def _emit(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        for listener in self._listeners:
            listener(detail_type, detail, resources)

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)

    def _chance(self, pct: float) -> bool:
        return pct > 0 and self._rng.random() * 100 < pct

    def record_call(self, account: str, service: str, operation: str, outcome: str) -> None:
        self.calls.append(CallRecord(self.now(), account, service, operation, outcome))

    def inject_faults(self, account: str, internal_error_code: str) -> None:
        """Random throttling and internal errors, as configured (POST /_sandbox/faults)."""
        if self._chance(self.faults.throttle_pct):
            raise SandboxError("ThrottlingException", "Rate exceeded (injected fault)")
        if self._chance(self.faults.error_pct):
            raise SandboxError(internal_error_code, "An internal error occurred (injected fault)")

    def _save(self, obj: SbAgreement | SbRequest | SbToken) -> None:
        if isinstance(obj, SbAgreement):
            obj.updated_at = self.now()
            self._state.put("agreement", obj.agreement_id, obj)
        elif isinstance(obj, SbRequest):
            self._state.put("request", obj.request_id, obj)
        else:
            self._state.put("token", obj.token, obj)

    def reset(self) -> None:
        """Back to the state the sandbox started in: no agreements, requests, tokens or metering, an empty
        call log, the real clock, no faults, empty throttle windows and the settings it was started with."""
        with self.lock:
            self.agreements.clear()
            self.requests.clear()
            self.tokens.clear()
            self.metering.clear()
            self.calls.clear()
            self.clock_offset = 0.0
            self._state.clear()
            self.set_faults(Faults())
            self._throttle_windows.clear()
            self.settings = dataclasses.replace(self._initial_settings)

    # -- catalog helpers --------------------------------------------------------------------------
    def product(self, product_id: str) -> Product:
        p = self.catalog.product(product_id)
        if p is None:
            raise SandboxError("ResourceNotFoundException", f"product {product_id} not found")
        return p

    def offer(self, offer_id: str) -> tuple[Product, Offer]:
        found = self.catalog.find_offer(offer_id)
        if found is None:
            raise SandboxError("ResourceNotFoundException", f"offer {offer_id} not found")
        return found

    def visible(self, account: str, offer: Offer) -> bool:
        return not offer.private or account in offer.buyer_account_ids

    def visible_offer(self, account: str, offer_id: str) -> tuple[Product, Offer]:
        try:
            product, offer = self.offer(offer_id)
        except SandboxError:
            raise SandboxError("ResourceNotFoundException", f"Offer {offer_id} not found") from None
        if not self.visible(account, offer):
            raise SandboxError("ResourceNotFoundException", f"Offer {offer_id} not found")
        return product, offer

    def fulfillment_url(self, product: Product) -> str:
        return self.settings.fulfillment_url or product.fulfillment_url

    def seller_profile(self, account_id: str, name: str | None) -> dict[str, str]:
        return {"sellerProfileId": f"seller-{account_id}", "displayName": name or f"Seller {account_id}"}

    def active_agreements(self, account: str, product_id: str) -> list[SbAgreement]:
        return [
            a
            for a in self.agreements.values()
            if a.account_id == account and a.product_id == product_id and a.status == "ACTIVE"
        ]

    # -- timed work ------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Provisioning finishes (License Updated) and ended licenses are deprovisioned after the final window."""
        with self.lock:
            now = self.now()
            for a in list(self.agreements.values()):
                if a.status == "ACTIVE" and not a.license_updated_sent and now >= a.provisioned_at:
                    a.license_updated_sent = True
                    self._save(a)
                    self._emit_license("License Updated", a)
                    self._emit_legacy("entitlement-updated", a)
                if a.end_time and not a.deprovisioned and now >= a.end_time + self.settings.final_metering_window:
                    a.deprovisioned = True
                    self._save(a)
                    self._emit_license("License Deprovisioned", a)
                    self._emit_legacy("unsubscribe-success", a)

    # -- events --------------------------------------------------------------------------------------------
    def _agreement_detail(self, a: SbAgreement) -> dict[str, Any]:
        product, offer = self.offer(a.offer_id)
        return {
            "requestId": str(uuid.uuid4()),
            "catalog": CATALOG_NAME,
            "agreement": {
                "id": a.agreement_id,
                "intent": a.intent,
                "status": a.status,
                "acceptanceTime": a.acceptance_time,
                "startTime": a.start_time,
                "endTime": a.end_time,
                "previousAgreementId": a.previous_agreement_id,
                "autoRenewalEnabled": False,
            },
            "product": {"id": product.product_id, "title": product.title},
            "offer": {"id": offer.offer_id},
            "acceptor": {"accountId": a.account_id},
            "proposer": {"accountId": a.proposer_account_id},
            "resaleAuthorization": {"id": offer.resale_authorization_id} if offer.resale_authorization_id else None,
        }

    def _emit_agreement(self, kind: str, a: SbAgreement) -> None:
        detail = self._agreement_detail(a)
        resources = [
            f"arn:aws:aws-marketplace:us-east-1:{self.catalog.seller_account_id}:"
            f"AWSMarketplace/Agreement/{a.agreement_id}"
        ]
        self._emit(f"Purchase Agreement {kind} - Manufacturer", detail, resources)
        if a.proposer_account_id == self.catalog.seller_account_id:
            # the ISV that proposed the offer itself is both manufacturer and proposer
            self._emit(f"Purchase Agreement {kind} - Proposer", detail, resources)

    def _emit_license(self, kind: str, a: SbAgreement) -> None:
        product = self.product(a.product_id)
        detail = {
            "requestId": str(uuid.uuid4()),
            "catalog": CATALOG_NAME,
            "product": {"code": product.product_code, "id": product.product_id},
            "license": {"arn": a.license_arn},
        }
        self._emit(f"{kind} - Manufacturer", detail, [a.license_arn])

    # -- metering (seller) ---------------------------------------------------------------------------------
    def _throttle(self, account: str) -> None:
        rps = self.settings.throttle_rps
        if rps <= 0:
            return
        window = self._throttle_windows.setdefault(account, deque())
        now = time.monotonic()
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= rps:
            raise SandboxError("ThrottlingException", f"Rate exceeded: at most {rps:g} requests per second")
        window.append(now)

    def resolve_customer(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            token = self.tokens.get(p["RegistrationToken"])
            if token is None:
                raise SandboxError("InvalidTokenException", "Registration token is invalid")
            a = self.agreements[token.agreement_id]
            product = self.product(a.product_id)
            if caller != self.catalog.seller_account_id:
                raise SandboxError(
                    "InvalidTokenException", "Registration token is invalid: it resolves only for the product's seller"
                )
            if self.now() >= token.expires_at:
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
        with self.lock:
            self._throttle(caller)
            records: list[dict[str, Any]] = p["UsageRecords"]
            product = self._metered_product(p, records)
            if caller != self.catalog.seller_account_id:
                raise SandboxError(
                    "InvalidProductCodeException", "The product code does not belong to the calling seller account"
                )
            if len(records) > 25:
                raise validation(
                    "1 validation error detected: Value at 'usageRecords' failed to satisfy constraint: "
                    "Member must have length less than or equal to 25"
                )
            now = self.now()
            dims = product.dimension_keys()
            checked: list[tuple[dict[str, Any], SbAgreement | None, Decimal]] = []
            for i, r in enumerate(records):
                ts: datetime = r["Timestamp"]
                if ts > now or ts < now - self.settings.metering_lookback:
                    raise SandboxError(
                        "TimestampOutOfBoundsException",
                        f"usageRecords[{i}].Timestamp {ts.isoformat()} is not within the last "
                        f"{int(self.settings.metering_lookback.total_seconds() // 3600)} hours",
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
                if self._chance(self.faults.unprocessed_pct):
                    unprocessed.append(r)
                    continue
                results.append(self._meter_one(product, r, agreement, qty, now, "ProductCode" in p))
            return {"Results": results, "UnprocessedRecords": unprocessed}

    def _metered_product(self, p: dict[str, Any], records: list[dict[str, Any]]) -> Product:
        """ProductCode names the product for legacy (CustomerIdentifier) records; LicenseArn records carry
        their product themselves and come without it (botocore's BatchMeterUsage, member ProductCode)."""
        code = p.get("ProductCode")
        if code is not None:
            product = self.catalog.product(code)
            if product is None or product.product_code != code:
                raise SandboxError("InvalidProductCodeException", f"Product code {code!r} is not valid")
            return product
        if any(r.get("CustomerIdentifier") for r in records):
            raise SandboxError("InvalidProductCodeException", "ProductCode is required for CustomerIdentifier records")
        products: set[str] = set()
        for i, r in enumerate(records):
            agreement = next((a for a in self.agreements.values() if a.license_arn == r.get("LicenseArn")), None)
            if agreement is None:
                raise SandboxError(
                    "InvalidLicenseException", f"usageRecords[{i}].LicenseArn {r.get('LicenseArn')} is not valid"
                )
            products.add(agreement.product_id)
        if len(products) != 1:
            raise validation("the records of one BatchMeterUsage call must all be for one product")
        found = self.catalog.product(products.pop())
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
            found = [a for a in self.agreements.values() if a.customer_identifier == r["CustomerIdentifier"]]
            if not found:
                raise SandboxError(
                    "InvalidCustomerIdentifierException", f"usageRecords[{i}].CustomerIdentifier is not valid"
                )
            return max(found, key=lambda a: a.acceptance_time)
        arn = r.get("LicenseArn")
        if not arn:
            raise validation(f"usageRecords[{i}]: LicenseArn and CustomerAWSAccountId are required")
        agreement = next((a for a in self.agreements.values() if a.license_arn == arn), None)
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
            and ts >= _hour(a.start_time)
            and (a.end_time is None or (ts < a.end_time and now < a.end_time + self.settings.final_metering_window))
        )
        if not subscribed or a is None:
            return {"UsageRecord": r, "Status": "CustomerNotSubscribed"}
        key = f"{a.license_arn}|{r['Dimension']}|{_hour(ts).isoformat()}"
        existing = self.metering.get(key)
        if existing is not None:
            return {"UsageRecord": r, "MeteringRecordId": existing.metering_record_id, "Status": "DuplicateRecord"}
        rec = SbMeterRecord(
            metering_record_id=str(uuid.uuid4()),
            product_code=product.product_code,
            account_id=a.account_id,
            license_arn=a.license_arn,
            dimension=r["Dimension"],
            hour=_hour(ts),
            timestamp=ts,
            quantity=str(qty),
            received_at=now,
            allocations=list(r.get("UsageAllocations") or []),
            double_billed=with_product_code and bool(r.get("LicenseArn")),
        )
        self.metering[key] = rec
        self._state.put("meter", key, rec)
        return {"UsageRecord": r, "MeteringRecordId": rec.metering_record_id, "Status": "Success"}

    # -- entitlements (seller) --------------------------------------------------------------------------------
    def get_entitlements(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            product = self.catalog.product(p["ProductCode"])
            if product is None or product.product_code != p["ProductCode"]:
                raise SandboxError("InvalidParameterException", f"Product code {p['ProductCode']!r} is not valid")
            if caller != self.catalog.seller_account_id:
                raise SandboxError("InvalidParameterException", "The product code does not belong to the caller")
            filters: dict[str, list[str]] = p.get("Filter") or {}
            for name in filters:
                if name not in ("CUSTOMER_IDENTIFIER", "DIMENSION", "CUSTOMER_AWS_ACCOUNT_ID", "LICENSE_ARN"):
                    raise SandboxError("InvalidParameterException", f"Unknown filter {name!r}")
            max_results = p.get("MaxResults", 25)
            if not 1 <= max_results <= 25:
                raise SandboxError("InvalidParameterException", "MaxResults must be between 1 and 25")
            items: list[dict[str, Any]] = []
            for a in sorted(self.agreements.values(), key=lambda a: (a.acceptance_time, a.agreement_id)):
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
            elif token is None and items and self._chance(self.faults.empty_page_pct):
                return {"Entitlements": [], "NextToken": "empty-page"}
            page, next_token = _page(items, token, max_results)
            out: dict[str, Any] = {"Entitlements": page}
            if next_token:
                out["NextToken"] = next_token
            return out

    @staticmethod
    def _matches(ent: dict[str, Any], filters: dict[str, list[str]]) -> bool:
        fields = {
            "CUSTOMER_IDENTIFIER": "CustomerIdentifier",
            "DIMENSION": "Dimension",
            "CUSTOMER_AWS_ACCOUNT_ID": "CustomerAWSAccountId",
            "LICENSE_ARN": "LicenseArn",
        }
        return all(ent.get(fields[name]) in values for name, values in filters.items())

    # -- agreements ------------------------------------------------------------------------------------------
    def _visible_agreement(self, caller: str, agreement_id: str, *, acceptor_only: bool = False) -> SbAgreement:
        a = self.agreements.get(agreement_id)
        parties = (
            {a.account_id}
            if a and acceptor_only
            else ({a.account_id, a.proposer_account_id, self.catalog.seller_account_id} if a else set())
        )
        if a is None or caller not in parties:
            raise SandboxError("ResourceNotFoundException", f"Agreement {agreement_id} not found")
        return a

    def _summary(self, a: SbAgreement) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agreementId": a.agreement_id,
            "acceptanceTime": a.acceptance_time,
            "startTime": a.start_time,
            "lastUpdateTime": a.updated_at or a.acceptance_time,
            "agreementType": AGREEMENT_TYPE,
            "acceptor": {"accountId": a.account_id},
            "proposer": {"accountId": a.proposer_account_id},
            "proposalSummary": {"resources": [{"id": a.product_id, "type": RESOURCE_TYPE}], "offerId": a.offer_id},
            "status": a.status,
            "entitlements": [{"licenseArn": a.license_arn}],
            "initialAgreementId": self._initial(a).agreement_id,
        }
        if a.end_time:
            out["endTime"] = a.end_time
        return out

    def _initial(self, a: SbAgreement) -> SbAgreement:
        seen = {a.agreement_id}
        while a.previous_agreement_id and a.previous_agreement_id in self.agreements:
            a = self.agreements[a.previous_agreement_id]
            if a.agreement_id in seen:
                break
            seen.add(a.agreement_id)
        return a

    def describe_agreement(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            a = self._visible_agreement(caller, p["agreementId"])
            s = self._summary(a)
            out = {k: v for k, v in s.items() if k not in ("entitlements", "lastUpdateTime")}
            out["estimatedCharges"] = {"currencyCode": "USD", "agreementValue": "0.00"}
            return out

    _FILTERS = (
        "PartyType",
        "AgreementType",
        "Status",
        "ResourceIdentifier",
        "ResourceType",
        "OfferId",
        "AcceptorAccountId",
        "AgreementId",
    )

    def search_agreements(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if p.get("catalog", CATALOG_NAME) != CATALOG_NAME:
                raise validation(f"catalog must be {CATALOG_NAME}")
            filters: dict[str, list[str]] = {}
            for f in p.get("filters") or []:
                name = f.get("name")
                if name not in self._FILTERS:
                    raise validation(f"Unsupported filter name {name!r}: use one of {', '.join(self._FILTERS)}")
                filters[name] = list(f.get("values") or [])
            party = filters.get("PartyType")
            if not party or len(party) != 1 or party[0] not in ("Acceptor", "Proposer"):
                raise validation("filter PartyType is required, with one value: Acceptor or Proposer")
            max_results = p.get("maxResults", 50)
            if not 1 <= max_results <= 50:
                raise validation("maxResults must be between 1 and 50")

            def wanted(a: SbAgreement) -> bool:
                if party[0] == "Acceptor" and a.account_id != caller:
                    return False
                if party[0] == "Proposer" and caller not in (a.proposer_account_id, self.catalog.seller_account_id):
                    return False
                checks = {
                    "AgreementType": AGREEMENT_TYPE,
                    "Status": a.status,
                    "ResourceIdentifier": a.product_id,
                    "ResourceType": RESOURCE_TYPE,
                    "OfferId": a.offer_id,
                    "AcceptorAccountId": a.account_id,
                    "AgreementId": a.agreement_id,
                }
                return all(checks[k] in v for k, v in filters.items() if k != "PartyType")

            found = sorted(
                (a for a in self.agreements.values() if wanted(a)),
                key=lambda a: (a.acceptance_time, a.agreement_id),
                reverse=(p.get("sort") or {}).get("sortOrder") == "DESCENDING",
            )
            page, token = _page(found, p.get("nextToken"), max_results)
            out: dict[str, Any] = {"agreementViewSummaries": [self._summary(a) for a in page]}
            if token:
                out["nextToken"] = token
            return out

    def _accepted_terms(self, product: Product, offer: Offer) -> list[dict[str, Any]]:
        ids = term_ids(offer)
        rate_card = [
            {"dimensionKey": d.key, "price": offer.price_of(d.key)} for s in product.services for d in s.dimensions
        ]
        return [
            {
                "usageBasedPricingTerm": {
                    "type": "UsageBasedPricingTerm",
                    "id": ids["UsageBasedPricingTerm"],
                    "currencyCode": "USD",
                    "rateCards": [{"rateCard": rate_card}],
                }
            },
            {
                "legalTerm": {
                    "type": "LegalTerm",
                    "id": ids["LegalTerm"],
                    "documents": [{"type": "StandardEula", "url": "https://example.invalid/eula", "version": "1"}],
                }
            },
            {
                "supportTerm": {
                    "type": "SupportTerm",
                    "id": ids["SupportTerm"],
                    "refundPolicy": "Refunds are handled by the seller of record.",
                }
            },
        ]

    def get_agreement_terms(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            a = self._visible_agreement(caller, p["agreementId"])
            product, offer = self.offer(a.offer_id)
            terms, token = _page(self._accepted_terms(product, offer), p.get("nextToken"), p.get("maxResults", 50))
            out: dict[str, Any] = {"acceptedTerms": terms}
            if token:
                out["nextToken"] = token
            return out

    def create_agreement_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            token = p.get("clientToken")
            if token:
                for req in self.requests.values():
                    if req.account_id == caller and req.client_token == token:
                        return self._request_out(req)  # idempotent: the same request again
            intent = p["intent"]
            if intent == "AMEND":
                raise validation("intent AMEND is not supported by the sandbox")
            proposal = p.get("agreementProposalIdentifier")
            if not proposal:
                raise validation(f"agreementProposalIdentifier is required for intent {intent}")
            found = next(
                (
                    (prod, o)
                    for prod in self.catalog.products
                    for o in prod.offers
                    if proposal_id(o.offer_id) == proposal
                ),
                None,
            )
            if found is None or not self.visible(caller, found[1]):
                raise SandboxError("ResourceNotFoundException", f"Agreement proposal {proposal} not found")
            product, offer = found
            known = set(term_ids(offer).values())
            requested = [t["id"] for t in p["requestedTerms"]]
            unknown = [t for t in requested if t not in known]
            if unknown or not requested:
                raise validation(
                    f"requestedTerms: unknown term id {unknown[0]!r}"
                    if unknown
                    else "requestedTerms must name the offer's terms"
                )
            source = p.get("sourceAgreementIdentifier")
            if intent == "REPLACE":
                if not source:
                    raise validation("sourceAgreementIdentifier is required for intent REPLACE")
                src = self.agreements.get(source)
                if (
                    src is None
                    or src.account_id != caller
                    or src.status != "ACTIVE"
                    or src.product_id != product.product_id
                ):
                    raise validation(
                        f"sourceAgreementIdentifier {source} is not an active agreement of this account "
                        "for this product"
                    )
            elif any(a.offer_id == offer.offer_id for a in self.active_agreements(caller, product.product_id)):
                raise SandboxError(
                    "ConflictException", f"Account {caller} already has an active agreement for offer {offer.offer_id}"
                )
            req = SbRequest(
                request_id=_new_id("ar-"),
                account_id=caller,
                offer_id=offer.offer_id,
                intent=intent,
                term_ids=requested,
                created_at=self.now(),
                client_token=token,
                source_agreement_id=source,
            )
            self.requests[req.request_id] = req
            self._save(req)
            return self._request_out(req)

    def _request_out(self, req: SbRequest) -> dict[str, Any]:
        return {
            "agreementRequestId": req.request_id,
            "agreementType": AGREEMENT_TYPE,
            "status": "ACCEPTED" if req.agreement_id else "PENDING_APPROVAL",
            "approvalRequirement": "NOT_REQUIRED",
            "createdAt": req.created_at,
            "chargeSummary": {"currencyCode": "USD", "newAgreementValue": "0.00"},
        }

    def accept_agreement_request(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            req = self.requests.get(p["agreementRequestId"])
            if req is None or req.account_id != caller:
                raise SandboxError(
                    "ResourceNotFoundException", f"Agreement request {p['agreementRequestId']} not found"
                )
            if req.agreement_id:
                raise SandboxError(
                    "ConflictException",
                    f"Agreement request {req.request_id} was already accepted as agreement {req.agreement_id}",
                )
            product, offer = self.offer(req.offer_id)
            if req.intent == "NEW" and any(
                a.offer_id == offer.offer_id for a in self.active_agreements(caller, product.product_id)
            ):
                raise SandboxError(
                    "ConflictException", f"Account {caller} already has an active agreement for offer {offer.offer_id}"
                )
            return {"agreementId": self._accept(req, product, offer).agreement_id}

    def _accept(self, req: SbRequest, product: Product, offer: Offer) -> SbAgreement:
        now = self.now()
        source: SbAgreement | None = None
        if req.intent == "REPLACE" and req.source_agreement_id:
            source = self.agreements[req.source_agreement_id]
        elif offer.private:
            # holding the public offer and accepting a private one switches the account to it: a REPLACE
            public = [
                a
                for a in self.active_agreements(req.account_id, product.product_id)
                if not self.offer(a.offer_id)[1].private
            ]
            source = public[0] if public else None
        a = SbAgreement(
            agreement_id=_new_id("agmt-", 26),
            account_id=req.account_id,
            product_id=product.product_id,
            offer_id=offer.offer_id,
            proposer_account_id=offer.proposer_account_id,
            intent="REPLACE" if source else "NEW",
            status="ACTIVE",
            acceptance_time=now,
            start_time=now,
            license_arn=f"arn:aws:license-manager::{self.catalog.seller_account_id}:license:l-{secrets.token_hex(16)}",
            request_id=req.request_id,
            provisioned_at=now + self.settings.provisioning_delay,
            previous_agreement_id=source.agreement_id if source else None,
            customer_identifier=_new_id("", 11) if product.legacy else None,
            api_cancellable=offer.api_cancellable,
        )
        req.agreement_id = a.agreement_id
        self.agreements[a.agreement_id] = a
        self._save(a)
        self._save(req)
        if source is not None:
            source.status = "REPLACED"
            source.end_time = now
            self._save(source)
            self._emit_agreement("Ended", source)
        self._emit_agreement("Created", a)
        self._emit_legacy("subscribe-success", a)
        self.tick()
        return a

    def subscribe(self, account: str, offer_id: str) -> SbAgreement:
        """What the console's "Subscribe" button does: request and accept every term of the offer."""
        with self.lock:
            product, offer = self.visible_offer(account, offer_id)
            out = self.create_agreement_request(
                account,
                {
                    "intent": "NEW",
                    "agreementProposalIdentifier": proposal_id(offer.offer_id),
                    "requestedTerms": [{"id": t} for t in term_ids(offer).values()],
                },
            )
            req = self.requests[out["agreementRequestId"]]
            return self._accept(req, product, offer)

    def get_agreement_entitlements(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.tick()
            a = self._visible_agreement(caller, p["agreementId"], acceptor_only=True)
            ent: dict[str, Any] = {
                "resource": {"id": a.product_id, "type": RESOURCE_TYPE},
                "type": "SaaS",
                "licenseArn": a.license_arn,
            }
            if a.status != "ACTIVE":
                ent.update(status="DEPROVISIONED", statusReasonCode="AGREEMENT_INACTIVE")
            elif self.now() < a.provisioned_at:
                ent.update(status="PENDING", statusReasonCode="PROVISIONING_IN_PROGRESS")
            else:
                ent.update(
                    status="PROVISIONED",
                    statusReasonCode="AGREEMENT_ACTIVE",
                    registrationToken=self.issue_token(a, "api").token,
                )
            return {"agreementEntitlements": [ent]}

    def issue_token(self, a: SbAgreement, origin: str) -> SbToken:
        ttl = self.settings.console_token_ttl if origin == "console" else self.settings.api_token_ttl
        token = SbToken(
            token=secrets.token_urlsafe(48), agreement_id=a.agreement_id, expires_at=self.now() + ttl, origin=origin
        )
        self.tokens[token.token] = token
        self._save(token)
        return token

    def cancel_agreement(self, caller: str, p: dict[str, Any], *, from_console: bool = False) -> dict[str, Any]:
        with self.lock:
            a = self._visible_agreement(caller, p["agreementId"], acceptor_only=True)
            if a.status != "ACTIVE":
                raise SandboxError("ConflictException", f"Agreement {a.agreement_id} is {a.status}, not ACTIVE")
            if not a.api_cancellable and not from_console:
                raise validation(
                    f"Agreement {a.agreement_id} is not eligible for cancellation through the API: "
                    "cancel it in the AWS Marketplace console (Manage -> Actions -> Cancel)"
                )
            a.status = "CANCELLED"
            a.end_time = self.now()
            self._save(a)
            self._emit_agreement("Ended", a)
            self._emit_legacy("unsubscribe-pending", a)
            return {}

    def set_cancellable(self, agreement_id: str, cancellable: bool) -> SbAgreement:
        with self.lock:
            a = self.agreements.get(agreement_id)
            if a is None:
                raise SandboxError("ResourceNotFoundException", f"Agreement {agreement_id} not found")
            a.api_cancellable = cancellable
            self._save(a)
            return a

    # -- discovery (buyer) -----------------------------------------------------------------------------------
    def _badges(self, caller: str, product: Product, offer: Offer) -> list[dict[str, str]]:
        badges = []
        if offer.private:
            badges.append({"displayName": "Private pricing", "badgeType": "PRIVATE_PRICING"})
        if self._replacement_for(caller, product, offer):
            badges.append({"displayName": "Replacement offer", "badgeType": "REPLACEMENT_OFFER"})
        return badges

    def _replacement_for(self, caller: str, product: Product, offer: Offer) -> SbAgreement | None:
        current = self.active_agreements(caller, product.product_id)
        if not offer.private or any(a.offer_id == offer.offer_id for a in current):
            return None
        return next((a for a in current if not self.offer(a.offer_id)[1].private), None)

    def _product_entity(self, product: Product) -> dict[str, Any]:
        return {
            "productId": product.product_id,
            "productName": product.title,
            "manufacturer": self.seller_profile(self.catalog.seller_account_id, self.catalog.seller_name),
        }

    def list_purchase_options(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            filters: dict[str, list[str]] = {}
            for f in p.get("filters") or []:
                filters.setdefault(f["filterType"], []).extend(f["filterValues"])
            options = []
            for product in self.catalog.products:
                if "PRODUCT_ID" in filters and product.product_id not in filters["PRODUCT_ID"]:
                    continue
                for offer in product.offers:
                    seller = self.seller_profile(offer.proposer_account_id, offer.proposer_name)
                    checks = {
                        "PURCHASE_OPTION_TYPE": "OFFER",
                        "VISIBILITY_SCOPE": "PRIVATE" if offer.private else "PUBLIC",
                        "AVAILABILITY_STATUS": "AVAILABLE",
                        "SELLER_OF_RECORD_PROFILE_ID": seller["sellerProfileId"],
                    }
                    if not self.visible(caller, offer) or not all(
                        checks[k] in v for k, v in filters.items() if k != "PRODUCT_ID"
                    ):
                        continue
                    options.append(
                        {
                            "purchaseOptionId": offer.offer_id,
                            "catalog": CATALOG_NAME,
                            "purchaseOptionType": "OFFER",
                            "purchaseOptionName": offer.name,
                            "sellerOfRecord": seller,
                            "badges": self._badges(caller, product, offer),
                            "associatedEntities": [
                                {
                                    "product": self._product_entity(product),
                                    "offer": {
                                        "offerId": offer.offer_id,
                                        "offerName": offer.name,
                                        "sellerOfRecord": seller,
                                    },
                                }
                            ],
                        }
                    )
            page, token = _page(options, p.get("nextToken"), p.get("maxResults", 25))
            out: dict[str, Any] = {"purchaseOptions": page}
            if token:
                out["nextToken"] = token
            return out

    def get_offer(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            product, offer = self.visible_offer(caller, p["offerId"])
            out: dict[str, Any] = {
                "offerId": offer.offer_id,
                "catalog": CATALOG_NAME,
                "offerName": offer.name,
                "sellerOfRecord": self.seller_profile(offer.proposer_account_id, offer.proposer_name),
                "associatedEntities": [{"product": self._product_entity(product)}],
                "agreementProposalId": proposal_id(offer.offer_id),
                "pricingModel": {"pricingModelType": "USAGE", "displayName": "Usage-based"},
                "badges": self._badges(caller, product, offer),
            }
            if p.get("locale"):
                out["locale"] = p["locale"]
            replaced = self._replacement_for(caller, product, offer)
            if replaced:
                out["replacementAgreementId"] = replaced.agreement_id
            return out

    def get_offer_terms(self, caller: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            product, offer = self.visible_offer(caller, p["offerId"])
            ids = term_ids(offer)
            rate_card = [
                {
                    "dimensionKey": d.key,
                    "displayName": d.name,
                    "unit": d.unit,
                    "price": offer.price_of(d.key),
                    "regionalPrices": [],
                }
                for s in product.services
                for d in s.dimensions
            ]
            terms = [
                {
                    "usageBasedPricingTerm": {
                        "id": ids["UsageBasedPricingTerm"],
                        "type": "UsageBasedPricingTerm",
                        "currencyCode": "USD",
                        "rateCards": [{"rateCard": rate_card}],
                    }
                },
                {
                    "legalTerm": {
                        "id": ids["LegalTerm"],
                        "type": "LegalTerm",
                        "documents": [{"type": "StandardEula", "url": "https://example.invalid/eula", "version": "1"}],
                    }
                },
                {
                    "supportTerm": {
                        "id": ids["SupportTerm"],
                        "type": "SupportTerm",
                        "refundPolicy": "Refunds are handled by the seller of record.",
                    }
                },
            ]
            page, token = _page(terms, p.get("nextToken"), p.get("maxResults", 25))
            out: dict[str, Any] = {"offerTerms": page}
            if token:
                out["nextToken"] = token
            return out

    # -- control API views ------------------------------------------------------------------------------------
    def agreements_view(self, account_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    "agreement_id": a.agreement_id,
                    "account_id": a.account_id,
                    "product_id": a.product_id,
                    "offer_id": a.offer_id,
                    "status": a.status,
                    "intent": a.intent,
                    "previous_agreement_id": a.previous_agreement_id,
                    "license_arn": a.license_arn,
                    "customer_identifier": a.customer_identifier,
                    "acceptance_time": a.acceptance_time.isoformat(),
                    "end_time": a.end_time.isoformat() if a.end_time else None,
                    "api_cancellable": a.api_cancellable,
                    "deprovisioned": a.deprovisioned,
                }
                for a in sorted(self.agreements.values(), key=lambda a: (a.acceptance_time, a.agreement_id))
                if account_id is None or a.account_id == account_id
            ]

    def metering_view(self, product_code: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    "account_id": r.account_id,
                    "license_arn": r.license_arn,
                    "dimension": r.dimension,
                    "hour": r.hour.isoformat(),
                    "quantity": int(Decimal(r.quantity))
                    if Decimal(r.quantity) == int(Decimal(r.quantity))
                    else float(r.quantity),
                    "metering_record_id": r.metering_record_id,
                    "double_billed": r.double_billed,
                }
                for r in sorted(self.metering.values(), key=lambda r: (r.hour, r.license_arn, r.dimension))
                if product_code is None or r.product_code == product_code
            ]
