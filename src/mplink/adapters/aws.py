"""boto3 clients for the seller's Marketplace calls. ``MPLINK_AWS_ENDPOINT_URL`` points every client at
another endpoint (the sandbox); credentials and region come from the usual AWS environment."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mplink.aws_session import new_session
from mplink.domain.agreement import Registration
from mplink.domain.usage import MeteringRecord
from mplink.services.ports import (
    AgreementFacts,
    CancellationRequest,
    CancellationRequestRefused,
    Entitlement,
    MarketplaceUnavailable,
    MeterOutcome,
    MeterStatus,
    Pacer,
    RegistrationTokenRejected,
)

#: AWS Marketplace's APIs live in us-east-1
REGION = "us-east-1"
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)
#: BatchMeterUsage without the client's retries: a throttled call comes back at once and waits for the shared
#: token bucket instead of botocore's backoff (SellerMarketplace._meter_call tries again)
_SEND_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=20)


def client(
    service: str,
    endpoint_url: str | None = None,
    session: boto3.session.Session | None = None,
    config: Config = _CONFIG,
) -> Any:
    """A client on its own session: boto3's shared default session caches credentials and is not thread-safe."""
    endpoint = endpoint_url or os.environ.get("MPLINK_AWS_ENDPOINT_URL") or None
    return (session or new_session()).client(service, region_name=REGION, endpoint_url=endpoint, config=config)


class SellerMarketplace:
    """The seller's side of AWS Marketplace, as mplink uses it (implements services.ports.SellerMarketplace)."""

    def __init__(self, endpoint_url: str | None = None, pacer: Pacer | None = None) -> None:
        self.endpoint_url = endpoint_url
        #: paces BatchMeterUsage at the seller's quota, shared with every other worker (None: unpaced)
        self.pacer = pacer
        self._clients: dict[str, Any] = {}
        self._session = new_session()
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        with self._lock:  # clients are thread-safe once made; making them is not
            if service not in self._clients:
                if service == "meteringmarketplace-send":
                    made = client("meteringmarketplace", self.endpoint_url, self._session, _SEND_CONFIG)
                else:
                    made = client(service, self.endpoint_url, self._session)
                self._clients[service] = made
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
            initial_agreement_id=out.get("initialAgreementId"),
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

    def send_cancellation_request(self, agreement_id: str, client_token: str) -> CancellationRequest:
        agreements = self._client("marketplace-agreement")
        try:
            out = agreements.send_agreement_cancellation_request(
                agreementId=agreement_id,
                reasonCode=CANCELLATION_REASON,
                clientToken=client_token,
                description=CANCELLATION_DESCRIPTION,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            if code == "ConflictException":
                waiting = self._waiting_cancellation_request(agreement_id)
                if waiting is not None:
                    return waiting
            if code in (
                "ConflictException",
                "ValidationException",
                "AccessDeniedException",
                "ResourceNotFoundException",
            ):
                raise CancellationRequestRefused(
                    f"AWS refused the cancellation request for agreement {agreement_id}: {message or code}"
                ) from exc
            raise MarketplaceUnavailable(f"SendAgreementCancellationRequest failed: {code or exc}") from exc
        except BotoCoreError as exc:
            raise MarketplaceUnavailable(f"SendAgreementCancellationRequest failed: {exc}") from exc
        return CancellationRequest(out["agreementCancellationRequestId"], out["agreementId"], out["status"])

    def _waiting_cancellation_request(self, agreement_id: str) -> CancellationRequest | None:
        """The seller's request that already waits for the buyer's answer on the agreement, if any."""
        try:
            out = self._client("marketplace-agreement").list_agreement_cancellation_requests(
                partyType="Proposer", agreementId=agreement_id, status="PENDING_APPROVAL"
            )
        except (ClientError, BotoCoreError):
            return None
        items = out.get("items") or []
        if not items:
            return None
        return CancellationRequest(items[0]["agreementCancellationRequestId"], agreement_id, items[0]["status"])

    def meter(self, product_code: str, records: Sequence[MeteringRecord]) -> list[MeterOutcome]:
        """BatchMeterUsage; each result is matched to its record by customer, dimension and hour.

        LicenseArn records go WITHOUT ProductCode: botocore's BatchMeterUsage documentation (member
        ProductCode) says sending both bills the customer twice. Legacy CustomerIdentifier records need it,
        so they go in a call of their own. Every call waits for the shared quota first (the pacer)."""
        licensed = [r for r in records if r.license_arn]
        legacy = [r for r in records if not r.license_arn]
        outcomes: dict[str, MeterOutcome] = {}
        for group, params in ((licensed, {}), (legacy, {"ProductCode": product_code})):
            if group:
                outcomes |= self._meter_isolating(group, params)
        # records in UnprocessedRecords, or missing from the answer, are sent again later
        return [outcomes.get(r.id) or MeterOutcome(r.id, MeterStatus.UNPROCESSED) for r in records]

    def _meter_isolating(self, records: list[MeteringRecord], params: dict[str, Any]) -> dict[str, MeterOutcome]:
        """A whole-batch error that names a record (an invalid license, a timestamp AWS no longer takes) is
        found by sending each half again, until the record is alone; it alone is refused, the rest is billed."""
        try:
            return self._meter_call(records, params)
        except RecordRefused as exc:
            if len(records) == 1:
                (only,) = records
                return {only.id: MeterOutcome(only.id, MeterStatus.REFUSED, detail=str(exc))}
            half = len(records) // 2
            return self._meter_isolating(records[:half], params) | self._meter_isolating(records[half:], params)

    def _meter_call(self, records: list[MeteringRecord], params: dict[str, Any]) -> dict[str, MeterOutcome]:
        """One paced call; throttling and AWS's internal errors are tried again here, after the bucket allows
        it (the client's own retries are off: botocore's backoff would sleep past the quota's pace)."""
        metering = self._client("meteringmarketplace-send")
        last = ""
        for _ in range(SEND_ATTEMPTS):
            if self.pacer is not None:
                self.pacer.acquire()
            try:
                out = metering.batch_meter_usage(UsageRecords=[_wire(r) for r in records], **params)
                break
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                last = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
                if code in _RECORD_ERRORS:
                    raise RecordRefused(last) from exc
                if code in _THROTTLED and self.pacer is not None:
                    self.pacer.throttled()
                if code not in _THROTTLED and code not in _TRANSIENT:
                    raise MarketplaceUnavailable(f"AWS Marketplace refused BatchMeterUsage: {last}") from exc
            except BotoCoreError as exc:
                last = str(exc)
        else:
            raise MarketplaceUnavailable(f"AWS Marketplace did not answer BatchMeterUsage: {last}")
        by_key = {_record_key(r): r.id for r in records}
        outcomes: dict[str, MeterOutcome] = {}
        for result in out.get("Results", []):
            record_id = by_key.get(_result_key(result.get("UsageRecord") or {}))
            if record_id is None:
                continue
            try:
                status = MeterStatus(result.get("Status"))
            except ValueError:
                status = MeterStatus.NOT_SUBSCRIBED
            outcomes[record_id] = MeterOutcome(record_id, status, result.get("MeteringRecordId"))
        return outcomes


#: botocore marketplace-agreement, AgreementCancellationRequestReasonCode: the buyer pays with another agreement now
CANCELLATION_REASON = "REPLACING_AGREEMENT"
CANCELLATION_DESCRIPTION = "The customer moved this subscription to another AWS account"


class RecordRefused(Exception):
    """BatchMeterUsage refused the whole batch for something one of its records holds."""


#: tries of one BatchMeterUsage call through throttling and internal errors before the batch waits for a later round
SEND_ATTEMPTS = 6
_THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
_TRANSIENT = frozenset({"InternalServiceErrorException", "InternalFailure", "ServiceUnavailable"})
#: BatchMeterUsage's modelled errors (botocore meteringmarketplace, BatchMeterUsage) that are about a record,
#: not the call: splitting the batch isolates the record
_RECORD_ERRORS = frozenset(
    {
        "InvalidLicenseException",
        "InvalidCustomerIdentifierException",
        "InvalidUsageDimensionException",
        "InvalidUsageAllocationsException",
        "InvalidTagException",
        "TimestampOutOfBoundsException",
    }
)


def _wire(r: MeteringRecord) -> dict[str, Any]:
    """A UsageRecord of BatchMeterUsage: the buyer by account id and LicenseArn (legacy: CustomerIdentifier)."""
    out: dict[str, Any] = {"Timestamp": r.hour, "Dimension": r.dimension, "Quantity": r.quantity}
    if r.license_arn:
        out["CustomerAWSAccountId"] = r.aws_account_id
        out["LicenseArn"] = r.license_arn
    elif r.customer_identifier:
        out["CustomerIdentifier"] = r.customer_identifier
    else:
        out["CustomerAWSAccountId"] = r.aws_account_id
    return out


def _epoch(value: object) -> int | None:
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    if isinstance(value, int | float):
        return int(value)
    return None


def _record_key(r: MeteringRecord) -> tuple[str, str, int | None]:
    return (r.license_arn or r.customer_identifier or r.aws_account_id, r.dimension, _epoch(r.hour))


def _result_key(usage: dict[str, Any]) -> tuple[str, str, int | None]:
    customer = usage.get("LicenseArn") or usage.get("CustomerIdentifier") or usage.get("CustomerAWSAccountId") or ""
    return (customer, usage.get("Dimension", ""), _epoch(usage.get("Timestamp")))
