"""The rules AWS applies, as the sandbox applies them: each proven through boto3 results and
botocore's exceptions, so mplink's bugs show up here and not in production."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from mplink.adapters.catalog_file import seed_catalog_text
from mplink.sandbox.catalog import read_catalog, seed_catalog
from mplink.sandbox.marketplace import SandboxSettings
from mplink.sandbox.server import build_sandbox
from tests.support.buyer import subscribe
from tests.support.sandbox_fixtures import (
    DST,
    PRIVATE_OFFER,
    PRODUCT_CODE,
    PUBLIC_OFFER,
    SELLER,
    SRC,
    RunningSandbox,
)
from tests.support.servers import serve_app

NO_RETRY = Config(retries={"total_max_attempts": 1})


def registration(sb: RunningSandbox, account: str, offer: str) -> tuple[str, dict[str, Any]]:
    agreement_id = subscribe(sb, account, offer)
    ent = sb.client("marketplace-agreement", account).get_agreement_entitlements(agreementId=agreement_id)
    return agreement_id, ent["agreementEntitlements"][0]


def record(
    license_arn: str, account: str = DST, dim: str = "conformity_accounts", qty: int = 1, at: datetime | None = None
) -> dict[str, Any]:
    return {
        "Timestamp": at or datetime.now(UTC),
        "Dimension": dim,
        "Quantity": qty,
        "CustomerAWSAccountId": account,
        "LicenseArn": license_arn,
    }


def meter(sb: RunningSandbox, *records: dict[str, Any], product_code: str = PRODUCT_CODE) -> dict[str, Any]:
    client = sb.client("meteringmarketplace", SELLER)
    result: dict[str, Any] = client.batch_meter_usage(ProductCode=product_code, UsageRecords=list(records))
    return result


# -- tokens ------------------------------------------------------------------------------------------------
def test_token_resolves_only_for_the_products_seller(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    buyer = running_sandbox.client("meteringmarketplace", DST)
    with pytest.raises(buyer.exceptions.InvalidTokenException, match="seller"):
        buyer.resolve_customer(RegistrationToken=ent["registrationToken"])
    seller = running_sandbox.client("meteringmarketplace", SELLER)
    assert seller.resolve_customer(RegistrationToken=ent["registrationToken"])["CustomerAWSAccountId"] == DST
    with pytest.raises(seller.exceptions.InvalidTokenException):
        seller.resolve_customer(RegistrationToken="not-a-token")


def test_api_token_expires_after_30_minutes(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    seller = running_sandbox.client("meteringmarketplace", SELLER)
    running_sandbox.control("POST", "clock", json={"advance_seconds": 29 * 60})
    assert seller.resolve_customer(RegistrationToken=ent["registrationToken"])["CustomerAWSAccountId"] == DST
    running_sandbox.control("POST", "clock", json={"advance_seconds": 61})
    with pytest.raises(seller.exceptions.ExpiredTokenException):
        seller.resolve_customer(RegistrationToken=ent["registrationToken"])


def test_console_token_expires_after_4_hours(running_sandbox: RunningSandbox) -> None:
    market = running_sandbox.box.market
    agreement = market.agreement.subscribe(DST, PRIVATE_OFFER)
    token = market.agreement.issue_token(agreement, "console").token
    seller = running_sandbox.client("meteringmarketplace", SELLER)
    running_sandbox.control("POST", "clock", json={"advance_seconds": 4 * 3600 - 60})
    assert seller.resolve_customer(RegistrationToken=token)["Metadata"]["AgreementId"] == agreement.agreement_id
    running_sandbox.control("POST", "clock", json={"advance_seconds": 61})
    with pytest.raises(seller.exceptions.ExpiredTokenException):
        seller.resolve_customer(RegistrationToken=token)


@pytest.mark.parametrize(
    "sandbox_settings", [SandboxSettings(provisioning_delay=timedelta(0), api_token_ttl=timedelta(minutes=2))]
)
def test_token_lifetime_is_configurable(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    running_sandbox.control("POST", "clock", json={"advance_seconds": 121})
    seller = running_sandbox.client("meteringmarketplace", SELLER)
    with pytest.raises(seller.exceptions.ExpiredTokenException):
        seller.resolve_customer(RegistrationToken=ent["registrationToken"])


@pytest.mark.parametrize("sandbox_settings", [SandboxSettings(provisioning_delay=timedelta(seconds=60))])
def test_entitlements_are_pending_until_provisioned(running_sandbox: RunningSandbox) -> None:
    agreement_id = subscribe(running_sandbox, DST, PRIVATE_OFFER)
    agr = running_sandbox.client("marketplace-agreement", DST)
    ent = agr.get_agreement_entitlements(agreementId=agreement_id)["agreementEntitlements"][0]
    assert ent["status"] == "PENDING" and "registrationToken" not in ent
    running_sandbox.control("POST", "clock", json={"advance_seconds": 60})
    ent = agr.get_agreement_entitlements(agreementId=agreement_id)["agreementEntitlements"][0]
    assert ent["status"] == "PROVISIONED" and ent["registrationToken"]


# -- metering ------------------------------------------------------------------------------------------------
def test_at_most_25_records_per_call(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    running_sandbox.control("POST", "clock", json={"advance_seconds": 6 * 3600})
    now = running_sandbox.box.market.now()
    dims = [
        "workload_security_hours",
        "container_security_node_hours",
        "file_storage_security_scans",
        "application_security_calls",
        "network_security_gb",
        "conformity_accounts",
    ]
    records = [record(ent["licenseArn"], dim=dims[i % 6], at=now - timedelta(hours=i // 6)) for i in range(26)]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        meter(running_sandbox, *records)
    assert exc.value.response["Error"]["Code"] == "ValidationException" and "25" in str(exc.value)
    assert [r["Status"] for r in meter(running_sandbox, *records[:25])["Results"]] == ["Success"] * 25


def test_one_product_per_call(tmp_path: Path) -> None:
    data = json.loads(seed_catalog_text())
    second = json.loads(json.dumps(data["products"][0]))
    second.update(product_id="prod-secondproduct", product_code="secondproductcode", title="Second product")
    for o in second["offers"]:
        o["offer_id"] += "-2"
    data["products"].append(second)
    catalog = read_catalog(json.dumps(data))
    box = build_sandbox(catalog, tmp_path / "sb.db", SandboxSettings(provisioning_delay=timedelta(0)))
    try:
        with serve_app(box.app) as url:
            sb = RunningSandbox(box, url)
            _, ent = registration(sb, DST, "offer-public-tm4saas-2")
            client = sb.client("meteringmarketplace", SELLER)
            with pytest.raises(client.exceptions.InvalidLicenseException):
                meter(sb, record(ent["licenseArn"]))  # a license of the second product, metered as the first
            ok = meter(sb, record(ent["licenseArn"]), product_code="secondproductcode")
            assert ok["Results"][0]["Status"] == "Success"
            with pytest.raises(client.exceptions.InvalidProductCodeException):
                meter(sb, record(ent["licenseArn"]), product_code="nosuchproduct")
    finally:
        box.close()


def test_timestamps_within_the_last_24_hours_and_not_in_the_future(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    client = running_sandbox.client("meteringmarketplace", SELLER)
    now = datetime.now(UTC)
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
        meter(running_sandbox, record(ent["licenseArn"], at=now + timedelta(minutes=10)))
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
        meter(running_sandbox, record(ent["licenseArn"], at=now - timedelta(hours=24, minutes=5)))
    # the whole batch is refused: the good record in it was not stored either
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
        meter(
            running_sandbox,
            record(ent["licenseArn"], dim="network_security_gb"),
            record(ent["licenseArn"], at=now + timedelta(hours=1)),
        )
    assert running_sandbox.control("GET", "metering") == []


def test_first_write_wins_per_license_dimension_and_hour(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    started = running_sandbox.box.market.now()
    running_sandbox.control("POST", "clock", json={"advance_seconds": 2 * 3600})
    # the first whole hour of the agreement: its minutes 1 and 2 are past now, whatever the time of day
    hour = started.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    first = meter(running_sandbox, record(ent["licenseArn"], qty=5, at=hour + timedelta(minutes=1)))
    second = meter(running_sandbox, record(ent["licenseArn"], qty=9, at=hour + timedelta(minutes=2)))
    assert first["Results"][0]["Status"] == "Success"
    assert second["Results"][0]["Status"] == "DuplicateRecord"
    assert second["Results"][0]["MeteringRecordId"] == first["Results"][0]["MeteringRecordId"]
    (stored,) = running_sandbox.control("GET", "metering", params={"product_code": PRODUCT_CODE})
    assert stored["quantity"] == 5 and stored["account_id"] == DST


def test_licensearn_records_need_no_productcode_and_both_bill_twice(running_sandbox: RunningSandbox) -> None:
    """botocore's BatchMeterUsage documentation, member ProductCode: ProductCode is required only for legacy
    integrations that use CustomerIdentifier; LicenseArn records go without it, as the LicenseArn identifies
    the product; sending both for the same customer in the same hour results in duplicate billing."""
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    client = running_sandbox.client("meteringmarketplace", SELLER)
    at = running_sandbox.box.market.now() - timedelta(seconds=1)
    alone = client.batch_meter_usage(UsageRecords=[record(ent["licenseArn"], at=at)])
    assert alone["Results"][0]["Status"] == "Success"
    both = meter(running_sandbox, record(ent["licenseArn"], dim="network_security_gb", at=at))
    assert both["Results"][0]["Status"] == "Success"
    stored = {
        r["dimension"]: r for r in running_sandbox.control("GET", "metering", params={"product_code": PRODUCT_CODE})
    }
    assert not stored["conformity_accounts"]["double_billed"] and stored["network_security_gb"]["double_billed"]


@pytest.mark.parametrize("quantity", ["1e3", "NaN", "-1", "01", "1.1234567", "12345678901", "Infinity"])
def test_quantity_as_decimal_follows_the_models_pattern(running_sandbox: RunningSandbox, quantity: str) -> None:
    """botocore's meteringmarketplace model, shape UsageQuantityAsDecimalString: pattern
    ^(0|[1-9][0-9]{0,9})(\\.[0-9]{1,6})?$. botocore does not check patterns; AWS answers a ValidationException,
    and nothing is billed."""
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    client = running_sandbox.client("meteringmarketplace", SELLER)
    bad = {**record(ent["licenseArn"]), "QuantityAsDecimal": quantity}
    del bad["Quantity"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.batch_meter_usage(UsageRecords=[bad])
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "regular expression pattern" in err.value.response["Error"]["Message"]
    assert running_sandbox.control("GET", "metering", params={"product_code": PRODUCT_CODE}) == []


def test_a_dimension_longer_than_the_model_allows_is_refused(running_sandbox: RunningSandbox) -> None:
    """botocore's meteringmarketplace model: UsageRecord.Dimension is 1-255 characters; botocore checks only the
    minimum, the service the maximum."""
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    client = running_sandbox.client("meteringmarketplace", SELLER)
    with pytest.raises(botocore.exceptions.ClientError, match="less than or equal to 255"):
        client.batch_meter_usage(UsageRecords=[record(ent["licenseArn"], dim="d" * 256)])


def test_customeridentifier_records_need_productcode(running_sandbox: RunningSandbox) -> None:
    """botocore's BatchMeterUsage documentation, member ProductCode: required for CustomerIdentifier records."""
    client = running_sandbox.client("meteringmarketplace", SELLER)
    legacy = {"Timestamp": datetime.now(UTC), "Dimension": "conformity_accounts", "Quantity": 1}
    with pytest.raises(client.exceptions.InvalidProductCodeException, match="ProductCode is required"):
        client.batch_meter_usage(UsageRecords=[{**legacy, "CustomerIdentifier": "cust-1"}])
    with pytest.raises(client.exceptions.InvalidLicenseException):
        client.batch_meter_usage(UsageRecords=[record("arn:aws:license-manager::999999999999:license:l-none")])


def test_customer_not_subscribed_without_agreement_or_after_final_window(running_sandbox: RunningSandbox) -> None:
    agreement_id, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    agr = running_sandbox.client("marketplace-agreement", DST)
    before_cancel = datetime.now(UTC) - timedelta(seconds=1)
    agr.cancel_agreement(agreementId=agreement_id)
    # within the one-hour final window, usage from before the end is still taken
    ok = meter(running_sandbox, record(ent["licenseArn"], at=before_cancel))
    assert ok["Results"][0]["Status"] == "Success"
    # usage after the end is not
    running_sandbox.control("POST", "clock", json={"advance_seconds": 60})
    after_end = running_sandbox.box.market.now() - timedelta(seconds=1)
    late = meter(running_sandbox, record(ent["licenseArn"], dim="network_security_gb", at=after_end))
    assert late["Results"][0]["Status"] == "CustomerNotSubscribed"
    # and after the window closes, nothing
    running_sandbox.control("POST", "clock", json={"advance_seconds": 3600})
    closed = meter(
        running_sandbox,
        record(
            ent["licenseArn"],
            dim="conformity_accounts",
            at=running_sandbox.box.market.now() - timedelta(hours=1, minutes=5),
        ),
    )
    assert closed["Results"][0]["Status"] == "CustomerNotSubscribed"


def test_unknown_license_is_invalid(running_sandbox: RunningSandbox) -> None:
    client = running_sandbox.client("meteringmarketplace", SELLER)
    with pytest.raises(client.exceptions.InvalidLicenseException):
        meter(running_sandbox, record("arn:aws:license-manager::999999999999:license:l-doesnotexist"))


def test_unknown_dimension_and_legacy_identifier_are_refused(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    client = running_sandbox.client("meteringmarketplace", SELLER)
    with pytest.raises(client.exceptions.InvalidUsageDimensionException):
        meter(running_sandbox, record(ent["licenseArn"], dim="cpu_hours"))
    with pytest.raises(client.exceptions.InvalidCustomerIdentifierException):
        meter(
            running_sandbox,
            {
                "Timestamp": datetime.now(UTC),
                "Dimension": "conformity_accounts",
                "Quantity": 1,
                "CustomerIdentifier": "legacy-customer",
            },
        )


def test_throttle_of_10_requests_per_second_per_seller(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    client = boto3.client(
        "meteringmarketplace",
        endpoint_url=running_sandbox.url,
        region_name="us-east-1",
        aws_access_key_id=f"AKIA{SELLER}",
        aws_secret_access_key="x",
        config=NO_RETRY,
    )
    outcomes = []
    for i in range(15):
        try:
            client.batch_meter_usage(
                ProductCode=PRODUCT_CODE,
                UsageRecords=[record(ent["licenseArn"], at=datetime.now(UTC) - timedelta(hours=i % 20))],
            )
            outcomes.append("ok")
        except client.exceptions.ThrottlingException:
            outcomes.append("throttled")
    assert "throttled" in outcomes and outcomes.count("ok") <= 10


@pytest.mark.parametrize("sandbox_settings", [SandboxSettings(provisioning_delay=timedelta(0), throttle_rps=0)])
def test_throttle_can_be_turned_off(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    for i in range(15):
        meter(running_sandbox, record(ent["licenseArn"], at=datetime.now(UTC) - timedelta(hours=i)))


def test_injected_faults(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    running_sandbox.control("POST", "faults", json={"unprocessed_pct": 100, "seed": 1})
    result = meter(running_sandbox, record(ent["licenseArn"]))
    assert result["Results"] == [] and len(result["UnprocessedRecords"]) == 1
    running_sandbox.control("POST", "faults", json={"unprocessed_pct": 0, "error_pct": 100})
    client = boto3.client(
        "meteringmarketplace",
        endpoint_url=running_sandbox.url,
        region_name="us-east-1",
        aws_access_key_id=f"AKIA{SELLER}",
        aws_secret_access_key="x",
        config=NO_RETRY,
    )
    with pytest.raises(client.exceptions.InternalServiceErrorException):
        client.batch_meter_usage(ProductCode=PRODUCT_CODE, UsageRecords=[record(ent["licenseArn"])])
    running_sandbox.control("POST", "faults", json={"error_pct": 0, "throttle_pct": 100})
    with pytest.raises(client.exceptions.ThrottlingException):
        client.resolve_customer(RegistrationToken=ent["registrationToken"])


# -- agreements ----------------------------------------------------------------------------------------------
def test_public_holder_accepting_the_private_offer_gets_a_replace(running_sandbox: RunningSandbox) -> None:
    public_id = subscribe(running_sandbox, DST, PUBLIC_OFFER)
    disc = running_sandbox.client("marketplace-discovery", DST)
    offer = disc.get_offer(offerId=PRIVATE_OFFER)
    assert offer["replacementAgreementId"] == public_id
    assert {b["badgeType"] for b in offer["badges"]} == {"PRIVATE_PRICING", "REPLACEMENT_OFFER"}
    private_id = subscribe(running_sandbox, DST, PRIVATE_OFFER)
    agreements = {
        a["agreement_id"]: a for a in running_sandbox.control("GET", "agreements", params={"account_id": DST})
    }
    assert agreements[public_id]["status"] == "REPLACED"
    assert agreements[private_id]["intent"] == "REPLACE"
    assert agreements[private_id]["previous_agreement_id"] == public_id
    agr = running_sandbox.client("marketplace-agreement", DST)
    assert agr.describe_agreement(agreementId=public_id)["status"] == "REPLACED"
    assert agr.describe_agreement(agreementId=private_id)["initialAgreementId"] == public_id


def test_subscribing_twice_to_the_same_offer_conflicts(running_sandbox: RunningSandbox) -> None:
    subscribe(running_sandbox, DST, PRIVATE_OFFER)
    agr = running_sandbox.client("marketplace-agreement", DST)
    with pytest.raises(agr.exceptions.ConflictException):
        subscribe(running_sandbox, DST, PRIVATE_OFFER)


def test_agreements_are_private_to_their_parties(running_sandbox: RunningSandbox) -> None:
    agreement_id = subscribe(running_sandbox, DST, PRIVATE_OFFER)
    stranger = running_sandbox.client("marketplace-agreement", SRC)
    with pytest.raises(stranger.exceptions.ResourceNotFoundException):
        stranger.describe_agreement(agreementId=agreement_id)
    with pytest.raises(stranger.exceptions.ResourceNotFoundException):
        stranger.cancel_agreement(agreementId=agreement_id)
    assert (
        stranger.search_agreements(
            filters=[
                {"name": "PartyType", "values": ["Acceptor"]},
                {"name": "AgreementType", "values": ["PurchaseAgreement"]},
            ]
        )["agreementViewSummaries"]
        == []
    )


def test_cancel_refused_when_not_eligible(running_sandbox: RunningSandbox) -> None:
    agreement_id = subscribe(running_sandbox, SRC, PRIVATE_OFFER)
    running_sandbox.control("POST", f"agreements/{agreement_id}/cancellable", json={"cancellable": False})
    agr = running_sandbox.client("marketplace-agreement", SRC)
    with pytest.raises(agr.exceptions.ValidationException, match="not eligible"):
        agr.cancel_agreement(agreementId=agreement_id)
    assert agr.describe_agreement(agreementId=agreement_id)["status"] == "ACTIVE"
    running_sandbox.box.market.agreement.cancel_agreement(SRC, {"agreementId": agreement_id}, from_console=True)
    assert agr.describe_agreement(agreementId=agreement_id)["status"] == "CANCELLED"


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    settings = SandboxSettings(provisioning_delay=timedelta(0))
    box = build_sandbox(seed_catalog(), state, settings)
    try:
        with serve_app(box.app) as url:
            sb = RunningSandbox(box, url)
            agreement_id, ent = registration(sb, DST, PRIVATE_OFFER)
            meter(sb, record(ent["licenseArn"], qty=7))
            sb.control("POST", "clock", json={"advance_seconds": 30})
    finally:
        box.close()
    box = build_sandbox(seed_catalog(), state, settings)
    try:
        with serve_app(box.app) as url:
            sb = RunningSandbox(box, url)
            (kept,) = sb.control("GET", "agreements")
            assert kept["agreement_id"] == agreement_id and kept["status"] == "ACTIVE"
            assert sb.control("GET", "metering")[0]["quantity"] == 7
            assert sb.control("GET", "clock")["offset_seconds"] == 30
            seller = sb.client("meteringmarketplace", SELLER)
            assert seller.resolve_customer(RegistrationToken=ent["registrationToken"])["CustomerAWSAccountId"] == DST
    finally:
        box.close()
