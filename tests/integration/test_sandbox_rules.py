"""The rules AWS applies, as the sandbox applies them: each proven through boto3 results and
botocore's exceptions, so mplink's bugs show up here and not in production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from mplink.sandbox.catalog import seed_catalog
from mplink.sandbox.marketplace import SandboxSettings
from mplink.sandbox.server import build_sandbox
from tests.support.buyer import record, registration, subscribe
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
                UsageRecords=[record(ent["licenseArn"], at=datetime.now(UTC) - timedelta(seconds=i))],
            )
            outcomes.append("ok")
        except client.exceptions.ThrottlingException:
            outcomes.append("throttled")
    assert "throttled" in outcomes and outcomes.count("ok") <= 10


@pytest.mark.parametrize("sandbox_settings", [SandboxSettings(provisioning_delay=timedelta(0), throttle_rps=0)])
def test_throttle_can_be_turned_off(running_sandbox: RunningSandbox) -> None:
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    for i in range(15):
        # a second ago, not hours: last month's usage is refused after 06:00 UTC on the 1st
        meter(running_sandbox, record(ent["licenseArn"], at=datetime.now(UTC) - timedelta(seconds=i)))


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
