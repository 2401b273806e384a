"""The boto3 seller adapter against botocore's Stubber (requests are checked against botocore's installed
service models): it builds BatchMeterUsage's records, matches each result to its record by customer,
dimension and hour, and maps AWS's errors to the services' errors. Shapes: botocore's meteringmarketplace
model (BatchMeterUsage, ResolveCustomer) and marketplace-agreement model (DescribeAgreement)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mplink.adapters.aws import SEND_ATTEMPTS, SellerMarketplace
from mplink.domain.usage import MeteringRecord
from mplink.services.ports import MarketplaceUnavailable, MeterStatus, RegistrationTokenRejected

HOUR = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
ARN = "arn:aws:license-manager::999999999999:license:l-1"
CODE = "c1saasproductcode0001"


def record(
    rid: str, hour: datetime = HOUR, dim: str = "d1", arn: str | None = ARN, cust: str | None = None
) -> MeteringRecord:
    return MeteringRecord(rid, "agmt-1", CODE, "222222222222", arn, cust, dim, hour, 3)


@pytest.fixture
def seller() -> Iterator[tuple[SellerMarketplace, dict[str, Stubber]]]:
    market = SellerMarketplace("http://127.0.0.1:9")
    session = boto3.session.Session(aws_access_key_id="AKIA999999999999", aws_secret_access_key="x")
    stubs: dict[str, Stubber] = {}
    for service in ("meteringmarketplace", "marketplace-agreement"):
        client = session.client(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
        market._clients[service] = client
        if service == "meteringmarketplace":
            market._clients["meteringmarketplace-send"] = client  # BatchMeterUsage's client (no retries)
        stubs[service] = Stubber(client)
        stubs[service].activate()
    yield market, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()


@dataclass
class CountingPacer:
    acquired: int = 0
    throttles: int = 0

    def acquire(self) -> None:
        self.acquired += 1

    def throttled(self) -> None:
        self.throttles += 1


def usage(r: MeteringRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"Timestamp": r.hour, "Dimension": r.dimension, "Quantity": r.quantity}
    if r.license_arn:
        out |= {"CustomerAWSAccountId": r.aws_account_id, "LicenseArn": r.license_arn}
    else:
        out["CustomerIdentifier"] = r.customer_identifier
    return out


def test_two_hours_of_one_dimension_are_told_apart(seller: Any) -> None:
    market, stubs = seller
    early, late = record("r1", HOUR - timedelta(hours=1)), record("r2", HOUR)
    stubs["meteringmarketplace"].add_response(
        "batch_meter_usage",
        {
            "Results": [{"UsageRecord": usage(late), "MeteringRecordId": "m-2", "Status": "Success"}],
            "UnprocessedRecords": [usage(early)],
        },
        {"UsageRecords": [usage(early), usage(late)]},
    )
    outcomes = market.meter(CODE, [early, late])
    assert [(o.record_id, o.status) for o in outcomes] == [("r1", MeterStatus.UNPROCESSED), ("r2", MeterStatus.SUCCESS)]
    assert outcomes[1].metering_record_id == "m-2"


def test_a_legacy_record_is_sent_by_customer_identifier(seller: Any) -> None:
    market, stubs = seller
    legacy = record("r1", arn=None, cust="cust-1")
    stubs["meteringmarketplace"].add_response(
        "batch_meter_usage",
        {"Results": [{"UsageRecord": usage(legacy), "MeteringRecordId": "m-1", "Status": "DuplicateRecord"}]},
        {"ProductCode": CODE, "UsageRecords": [usage(legacy)]},
    )
    (outcome,) = market.meter(CODE, [legacy])
    assert outcome.status is MeterStatus.DUPLICATE


def test_licensearn_records_go_without_productcode_and_legacy_ones_with_it(seller: Any) -> None:
    """botocore's BatchMeterUsage documentation (member ProductCode): for LicenseArn integrations do NOT send
    ProductCode, sending both bills the customer twice; CustomerIdentifier records need it. A batch holding
    both kinds becomes two calls."""
    market, stubs = seller
    licensed, legacy = record("r1"), record("r2", arn=None, cust="cust-1")
    stubs["meteringmarketplace"].add_response(
        "batch_meter_usage",
        {"Results": [{"UsageRecord": usage(licensed), "MeteringRecordId": "m-1", "Status": "Success"}]},
        {"UsageRecords": [usage(licensed)]},
    )
    stubs["meteringmarketplace"].add_response(
        "batch_meter_usage",
        {"Results": [{"UsageRecord": usage(legacy), "MeteringRecordId": "m-2", "Status": "Success"}]},
        {"ProductCode": CODE, "UsageRecords": [usage(legacy)]},
    )
    assert [o.metering_record_id for o in market.meter(CODE, [licensed, legacy])] == ["m-1", "m-2"]


def test_each_dimension_gets_its_own_result(seller: Any) -> None:
    market, stubs = seller
    a, b = record("r1", dim="d1"), record("r2", dim="d2")
    stubs["meteringmarketplace"].add_response(
        "batch_meter_usage",
        {
            "Results": [
                {"UsageRecord": usage(b), "Status": "CustomerNotSubscribed"},
                {"UsageRecord": usage(a), "MeteringRecordId": "m-1", "Status": "Success"},
            ]
        },
        {"UsageRecords": [usage(a), usage(b)]},
    )
    assert [o.status for o in market.meter(CODE, [a, b])] == [MeterStatus.SUCCESS, MeterStatus.NOT_SUBSCRIBED]


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServiceErrorException"])
def test_throttling_and_internal_errors_are_tried_again_then_unavailable(seller: Any, code: str) -> None:
    """botocore's meteringmarketplace model: BatchMeterUsage's ThrottlingException and
    InternalServiceErrorException are about the call, not a record: the same batch is tried again."""
    market, stubs = seller
    for _ in range(SEND_ATTEMPTS):
        stubs["meteringmarketplace"].add_client_error("batch_meter_usage", code, "no")
    with pytest.raises(MarketplaceUnavailable, match="BatchMeterUsage"):
        market.meter(CODE, [record("r1")])


def test_a_throttled_call_holds_the_shared_bucket_back_and_is_sent_again(seller: Any) -> None:
    market, stubs = seller
    pacer = CountingPacer()
    market.pacer = pacer
    r = record("r1")
    stubs["meteringmarketplace"].add_client_error("batch_meter_usage", "ThrottlingException", "Rate exceeded")
    stubs["meteringmarketplace"].add_response(
        "batch_meter_usage", {"Results": [{"UsageRecord": usage(r), "MeteringRecordId": "m-1", "Status": "Success"}]}
    )
    assert [o.status for o in market.meter(CODE, [r])] == [MeterStatus.SUCCESS]
    assert (pacer.acquired, pacer.throttles) == (2, 1)  # every call waited for a token


def test_the_metering_client_does_not_retry_by_itself() -> None:
    """Throttling must come back at once so the shared bucket, not botocore's backoff, decides the pace."""
    market = SellerMarketplace("http://127.0.0.1:9")
    config = market._client("meteringmarketplace-send").meta.config
    assert config.retries["total_max_attempts"] == 1


@pytest.mark.parametrize(
    "code", ["InvalidLicenseException", "TimestampOutOfBoundsException", "InvalidCustomerIdentifierException"]
)
def test_a_whole_batch_error_is_split_to_isolate_the_bad_record(seller: Any, code: str) -> None:
    """botocore's meteringmarketplace model: these BatchMeterUsage errors refuse the whole call for what one
    record holds. Halving the batch finds the record; the others are billed, it alone is refused."""
    market, stubs = seller
    recs = [record(f"r{i}", dim=f"d{i}") for i in range(4)]
    bad = recs[2]
    stub = stubs["meteringmarketplace"]

    def ok(*rs: MeteringRecord) -> None:
        results = [{"UsageRecord": usage(r), "MeteringRecordId": f"m-{r.id}", "Status": "Success"} for r in rs]
        stub.add_response("batch_meter_usage", {"Results": results}, {"UsageRecords": [usage(r) for r in rs]})

    stub.add_client_error("batch_meter_usage", code, "the third record")  # [r0 r1 r2 r3]
    ok(recs[0], recs[1])  # [r0 r1]
    stub.add_client_error("batch_meter_usage", code, "the third record")  # [r2 r3]
    stub.add_client_error("batch_meter_usage", code, "the third record")  # [r2]
    ok(recs[3])  # [r3]
    outcomes = market.meter(CODE, recs)
    assert [o.status for o in outcomes] == [MeterStatus.SUCCESS] * 2 + [MeterStatus.REFUSED, MeterStatus.SUCCESS]
    assert outcomes[2].record_id == bad.id and (outcomes[2].detail or "").startswith(code)


def test_an_error_about_the_call_is_not_split(seller: Any) -> None:
    market, stubs = seller
    stubs["meteringmarketplace"].add_client_error("batch_meter_usage", "DisabledApiException", "off")
    with pytest.raises(MarketplaceUnavailable, match="DisabledApiException"):
        market.meter(CODE, [record("r1"), record("r2", dim="d2")])


def test_resolve_customer_reads_the_2026_identity(seller: Any) -> None:
    market, stubs = seller
    stubs["meteringmarketplace"].add_response(
        "resolve_customer",
        {
            "CustomerIdentifier": "",
            "CustomerAWSAccountId": "222222222222",
            "ProductCode": CODE,
            "LicenseArn": ARN,
            "Metadata": {"AgreementId": "agmt-1"},
        },
        {"RegistrationToken": "tok"},
    )
    reg = market.resolve_customer("tok")
    assert (reg.aws_account_id, reg.license_arn, reg.agreement_id, reg.customer_identifier) == (
        "222222222222",
        ARN,
        "agmt-1",
        None,
    )


@pytest.mark.parametrize(
    ("code", "reason"), [("InvalidTokenException", "invalid"), ("ExpiredTokenException", "expired")]
)
def test_resolve_customer_refusals_name_their_reason(seller: Any, code: str, reason: str) -> None:
    market, stubs = seller
    stubs["meteringmarketplace"].add_client_error("resolve_customer", code, "no")
    with pytest.raises(RegistrationTokenRejected) as err:
        market.resolve_customer("tok")
    assert err.value.reason == reason


def test_resolve_customer_without_an_agreement_id_is_unavailable(seller: Any) -> None:
    market, stubs = seller
    stubs["meteringmarketplace"].add_response(
        "resolve_customer", {"CustomerAWSAccountId": "222222222222", "ProductCode": CODE}, {"RegistrationToken": "t"}
    )
    with pytest.raises(MarketplaceUnavailable, match="agreement id"):
        market.resolve_customer("t")


def test_describe_agreement_reads_offer_and_proposer(seller: Any) -> None:
    market, stubs = seller
    stubs["marketplace-agreement"].add_response(
        "describe_agreement",
        {
            "agreementId": "agmt-1",
            "acceptor": {"accountId": "222222222222"},
            "proposer": {"accountId": "888888888888"},
            "proposalSummary": {"offerId": "offer-1"},
            "status": "ACTIVE",
            "startTime": HOUR,
        },
        {"agreementId": "agmt-1"},
    )
    facts = market.describe_agreement("agmt-1")
    assert (facts.offer_id, facts.proposer_account_id, facts.acceptor_account_id, facts.status) == (
        "offer-1",
        "888888888888",
        "222222222222",
        "ACTIVE",
    )
