"""The sandbox marketplace's shared state: catalog, clock, agreements, tokens, metering records, faults, events.

The AWS services are split by service (metering.py, entitlement.py, agreement.py, discovery.py); each takes
the caller's account (from the SigV4 access key) and the request's members and returns the response's
members, raising SandboxError with AWS's error code when a rule is broken. This module holds what they share.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from mplink.sandbox.agreement import AgreementApi
from mplink.sandbox.cancellation import CancellationApi
from mplink.sandbox.catalog import Catalog, Offer, Product
from mplink.sandbox.discovery import DiscoveryApi
from mplink.sandbox.entitlement import EntitlementApi
from mplink.sandbox.errors import SandboxError, validation
from mplink.sandbox.event_shapes import Event, agreement_events, license_events
from mplink.sandbox.metering import MeteringApi
from mplink.sandbox.model import SbAgreement, SbCancellationRequest, SbMeterRecord, SbRequest, SbToken
from mplink.sandbox.persist import StateFile


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
    #: the request's members as the sandbox read them (None when the request could not be read)
    request: dict[str, Any] | None = None


Emit = Callable[[str, dict[str, Any], list[str]], None]
#: legacy SNS: (action, product code, customer identifier, offer id)
EmitLegacy = Callable[[str, str, str, str], None]


class Marketplace:
    """One sandbox's marketplace: the state every AWS service of it reads and changes, under one lock."""

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
        self.meter_records: dict[str, SbMeterRecord] = state.load("meter", SbMeterRecord)
        self.cancellation_requests: dict[str, SbCancellationRequest] = state.load("cancellation", SbCancellationRequest)
        self.clock_offset = float(state.get_value("meta", "clock_offset") or 0.0)
        self.calls: deque[CallRecord] = deque(maxlen=100_000)
        self.throttle_windows: dict[str, deque[float]] = {}
        self._listeners: list[Emit] = []
        self._legacy_listeners: list[EmitLegacy] = []
        self.metering = MeteringApi(self)
        self.entitlement = EntitlementApi(self)
        self.agreement = AgreementApi(self)
        self.discovery = DiscoveryApi(self)
        self.cancellation = CancellationApi(self)

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

    def emit_legacy(self, action: str, a: SbAgreement) -> None:
        """Legacy products also tell the seller over SNS, by CustomerIdentifier."""
        product = self.product(a.product_id)
        if not product.legacy or not a.customer_identifier:
            return
        for listener in self._legacy_listeners:
            listener(action, product.product_code, a.customer_identifier, a.offer_id)

    def _emit(self, events: list[Event]) -> None:
        for detail_type, detail, resources in events:
            for listener in self._listeners:
                listener(detail_type, detail, resources)

    def emit_events(self, events: list[Event]) -> None:
        """Send events a service built (``(detail-type, detail, resources)`` triples) to the seller."""
        self._emit(events)

    def emit_agreement(self, kind: str, a: SbAgreement) -> None:
        product, offer = self.offer(a.offer_id)
        self._emit(agreement_events(kind, a, offer, product, self.catalog.seller_account_id))

    def emit_license(self, kind: str, a: SbAgreement) -> None:
        product, offer = self.offer(a.offer_id)
        self._emit(license_events(kind, a, offer, product, self.catalog.seller_account_id))

    def end_agreement(self, a: SbAgreement, status: str, at: datetime | None = None) -> None:
        """The agreement ends now (or at ``at``) with ``status``: its end time is set, the seller gets the Ended
        event and, for a legacy product, SNS unsubscribe-pending. The buyer's CancelAgreement and an approved
        cancellation request both end an agreement this way."""
        a.status = status
        a.end_time = at or self.now()
        self.save(a)
        self.emit_agreement("Ended", a)
        self.emit_legacy("unsubscribe-pending", a)

    def save_cancellation_request(self, cr: SbCancellationRequest) -> None:
        self._state.put("cancellation", cr.request_id, cr)

    def save_meter(self, key: str, record: SbMeterRecord) -> None:
        self.meter_records[key] = record
        self._state.put("meter", key, record)

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)

    def chance(self, pct: float) -> bool:
        return pct > 0 and self._rng.random() * 100 < pct

    def record_call(
        self, account: str, service: str, operation: str, outcome: str, request: dict[str, Any] | None = None
    ) -> None:
        self.calls.append(CallRecord(self.now(), account, service, operation, outcome, request))

    def inject_faults(self, account: str, internal_error_code: str) -> None:
        """Random throttling and internal errors, as configured (POST /_sandbox/faults)."""
        if self.chance(self.faults.throttle_pct):
            raise SandboxError("ThrottlingException", "Rate exceeded (injected fault)")
        if self.chance(self.faults.error_pct):
            raise SandboxError(internal_error_code, "An internal error occurred (injected fault)")

    def save(self, obj: SbAgreement | SbRequest | SbToken) -> None:
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
            self.meter_records.clear()
            self.cancellation_requests.clear()
            self.calls.clear()
            self.clock_offset = 0.0
            self._state.clear()
            self.set_faults(Faults())
            self.throttle_windows.clear()
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
        """Provisioning finishes (License Updated) and ended licenses are deprovisioned after the final window;
        cancellation requests are validated and, after 7 days without an answer, approved."""
        with self.lock:
            now = self.now()
            self.cancellation.tick(now)
            for a in list(self.agreements.values()):
                if a.status == "ACTIVE" and not a.license_updated_sent and now >= a.provisioned_at:
                    a.license_updated_sent = True
                    self.save(a)
                    self.emit_license("License Updated", a)
                    self.emit_legacy("entitlement-updated", a)
                if a.end_time and not a.deprovisioned and now >= a.end_time + self.settings.final_metering_window:
                    a.deprovisioned = True
                    self.save(a)
                    self.emit_license("License Deprovisioned", a)
                    self.emit_legacy("unsubscribe-success", a)

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
                for r in sorted(self.meter_records.values(), key=lambda r: (r.hour, r.license_arn, r.dimension))
                if product_code is None or r.product_code == product_code
            ]
