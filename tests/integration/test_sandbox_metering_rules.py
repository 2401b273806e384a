"""The metering and registration rules AWS documents but its service models do not encode, as the sandbox
applies them, one named test each, with the page that states the rule. Through boto3 and botocore's exceptions.

Sources (quoted in each test):
- API ref BatchMeterUsage: https://docs.aws.amazon.com/marketplace/latest/APIReference/API_marketplace-metering_BatchMeterUsage.html
- API ref ResolveCustomer: https://docs.aws.amazon.com/marketplace/latest/APIReference/API_marketplace-metering_ResolveCustomer.html
- seller guide, SaaS EventBridge integration, final usage:
  https://docs.aws.amazon.com/marketplace/latest/userguide/saas-eventbridge-integration.html#saas-eventbridge-final-usage
- dev guide, working with the Agreement API as a buyer:
  https://docs.aws.amazon.com/marketplace/latest/developerguide/work-with-agreement-api-buyer.html
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from mplink.adapters.catalog_file import seed_catalog_text
from mplink.sandbox.catalog import read_catalog
from mplink.sandbox.marketplace import SandboxSettings
from mplink.sandbox.server import build_sandbox
from tests.support.buyer import record, registration, subscribe
from tests.support.sandbox_fixtures import (
    DST,
    PRIVATE_OFFER,
    PRODUCT_CODE,
    SELLER,
    RunningSandbox,
    immediate_provisioning,
)
from tests.support.servers import serve_app

DIMENSIONS = (
    "workload_security_hours",
    "container_security_node_hours",
    "file_storage_security_scans",
    "application_security_calls",
    "network_security_gb",
    "conformity_accounts",
)


def meter(sb: RunningSandbox, *records: dict[str, Any], product_code: str | None = None) -> dict[str, Any]:
    """BatchMeterUsage as a LicenseArn integration sends it: without ProductCode unless one is given."""
    params: dict[str, Any] = {"UsageRecords": list(records)}
    if product_code:
        params["ProductCode"] = product_code
    result: dict[str, Any] = sb.client("meteringmarketplace", SELLER).batch_meter_usage(**params)
    return result


def advance(sb: RunningSandbox, seconds: float) -> datetime:
    sb.control("POST", "clock", json={"advance_seconds": seconds})
    return sb.box.market.now()


def stored(sb: RunningSandbox) -> dict[str, dict[str, Any]]:
    return {r["dimension"]: r for r in sb.control("GET", "metering", params={"product_code": PRODUCT_CODE})}


@pytest.fixture(scope="module")
def legacy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A sandbox whose product is a legacy one: its buyers also have a CustomerIdentifier."""
    data = json.loads(seed_catalog_text())
    data["products"][0]["legacy"] = True
    box = build_sandbox(read_catalog(json.dumps(data)), tmp_path_factory.mktemp("legacy") / "sb.db")
    try:
        with serve_app(box.app) as url:
            yield RunningSandbox(box, url)
    finally:
        box.close()


# -- batches --------------------------------------------------------------------------------------------------
def test_at_most_25_records_per_call(running_sandbox: RunningSandbox) -> None:
    """API ref BatchMeterUsage: "BatchMeterUsage can process up to 25 UsageRecords at a time". The error for 26 is
    not documented; the sandbox answers the constraint's ValidationException (the model's list max is 25)."""
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    now = advance(running_sandbox, 6 * 3600)
    records = [record(ent["licenseArn"], dim=DIMENSIONS[i % 6], at=now - timedelta(hours=i // 6)) for i in range(26)]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        meter(running_sandbox, *records)
    assert exc.value.response["Error"]["Code"] == "ValidationException" and "25" in str(exc.value)
    assert stored(running_sandbox) == {}
    assert [r["Status"] for r in meter(running_sandbox, *records[:25])["Results"]] == ["Success"] * 25


def test_one_product_per_call(tmp_path: Path) -> None:
    """API ref BatchMeterUsage: "Each BatchMeterUsage request is for only one product. If you want to meter usage
    for multiple products, you must make multiple BatchMeterUsage calls." A LicenseArn of another product than the
    call's is an InvalidLicenseException; an unknown ProductCode an InvalidProductCodeException."""
    data = json.loads(seed_catalog_text())
    second = json.loads(json.dumps(data["products"][0]))
    second.update(product_id="prod-secondproduct", product_code="secondproductcode", title="Second product")
    for o in second["offers"]:
        o["offer_id"] += "-2"
    data["products"].append(second)
    box = build_sandbox(read_catalog(json.dumps(data)), tmp_path / "sb.db", immediate_provisioning())
    try:
        with serve_app(box.app) as url:
            sb = RunningSandbox(box, url)
            _, first_ent = registration(sb, DST, PRIVATE_OFFER)
            _, ent = registration(sb, DST, "offer-public-tm4saas-2")
            client = sb.client("meteringmarketplace", SELLER)
            with pytest.raises(client.exceptions.InvalidLicenseException):
                meter(sb, record(ent["licenseArn"]), product_code=PRODUCT_CODE)  # the second product's license
            with pytest.raises(botocore.exceptions.ClientError, match="one product"):
                meter(sb, record(ent["licenseArn"]), record(first_ent["licenseArn"], dim="network_security_gb"))
            assert meter(sb, record(ent["licenseArn"]))["Results"][0]["Status"] == "Success"
            with pytest.raises(client.exceptions.InvalidProductCodeException):
                meter(sb, record(ent["licenseArn"]), product_code="nosuchproduct")
    finally:
        box.close()


# -- when usage may be sent -----------------------------------------------------------------------------------
def test_usage_is_taken_for_24_hours_and_not_from_the_future(running_sandbox: RunningSandbox) -> None:
    """API ref BatchMeterUsage: "Usage records aren't accepted 24 hours or more after an event." and "For
    BatchMeterUsage, if any of the records are outside of the allowed range, the entire batch is not processed."
    (TimestampOutOfBoundsException). Future timestamps: not documented; the same error."""
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    client = running_sandbox.client("meteringmarketplace", SELLER)
    now = advance(running_sandbox, 3 * 3600)
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
        meter(running_sandbox, record(ent["licenseArn"], at=now + timedelta(minutes=10)))
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
        meter(running_sandbox, record(ent["licenseArn"], at=now - timedelta(hours=24, minutes=5)))
    # the whole batch is refused: the good record in it is not stored either
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
        meter(
            running_sandbox,
            record(ent["licenseArn"], dim="network_security_gb", at=now - timedelta(hours=2)),
            record(ent["licenseArn"], at=now + timedelta(hours=1)),
        )
    assert stored(running_sandbox) == {}
    ok = meter(running_sandbox, record(ent["licenseArn"], dim="network_security_gb", at=now - timedelta(hours=2)))
    assert ok["Results"][0]["Status"] == "Success"


def test_previous_month_usage_is_taken_until_0600_utc_on_the_first(running_sandbox: RunningSandbox) -> None:
    """API ref BatchMeterUsage: "At the end of each billing cycle, a 6-hour grace period applies. We accept usage
    records for the previous billing month until 06:00 UTC on the first day of the next month. ... After 06:00 UTC
    on April 1, March records are rejected regardless of the normal 24-hour submission window. After this grace
    period, we return a TimestampOutOfBoundsException error." (06:00:00 itself is tested in
    tests/unit/test_sandbox_metering_window.py.)"""
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    client = running_sandbox.client("meteringmarketplace", SELLER)
    now = running_sandbox.box.market.now()
    next_month = (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)
    last_second = next_month - timedelta(seconds=1)  # of the month the agreement started in
    at_five = advance(running_sandbox, (next_month + timedelta(hours=5) - now).total_seconds())
    assert (at_five.day, at_five.hour) == (1, 5)
    taken = meter(running_sandbox, record(ent["licenseArn"], dim="conformity_accounts", at=last_second))
    assert taken["Results"][0]["Status"] == "Success"
    advance(running_sandbox, 3600)  # past 06:00 UTC on the 1st
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException, match="06:00"):
        meter(running_sandbox, record(ent["licenseArn"], dim="network_security_gb", at=last_second))
    # the new month's usage is taken as before
    this_month = meter(running_sandbox, record(ent["licenseArn"], dim="network_security_gb", at=next_month))
    assert this_month["Results"][0]["Status"] == "Success"
    assert set(stored(running_sandbox)) == {"conformity_accounts", "network_security_gb"}


# -- duplicates -----------------------------------------------------------------------------------------------
def test_duplicate_record_first_write_wins(running_sandbox: RunningSandbox) -> None:
    """botocore's meteringmarketplace model, UsageRecordResultStatus: "DuplicateRecord - Indicates that the
    UsageRecord was invalid and not honored. A previously metered UsageRecord had the same customer, dimension,
    and time, but a different quantity."; BatchMeterUsage: "Identical requests are idempotent and can be retried
    with the same records or a subset of records."; QuantityAsDecimal: "Quantities are compared by value when
    checking for duplicate records, so 17, 17.0, and 17.00 are the same quantity". The "same time" is the hour
    (not documented for BatchMeterUsage; MeterUsage's Timestamp "is rounded down to the hour")."""
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    started = running_sandbox.box.market.now()
    advance(running_sandbox, 2 * 3600)
    # the first whole hour of the agreement: its minutes 1 and 2 are past now, whatever the time of day
    hour = started.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    first = meter(running_sandbox, record(ent["licenseArn"], qty=17, at=hour + timedelta(minutes=1)))["Results"][0]
    again = meter(running_sandbox, record(ent["licenseArn"], qty=17, at=hour + timedelta(minutes=1)))["Results"][0]
    same_value = {**record(ent["licenseArn"], at=hour + timedelta(minutes=2)), "QuantityAsDecimal": "17.00"}
    del same_value["Quantity"]
    by_value = meter(running_sandbox, same_value)["Results"][0]
    other = meter(running_sandbox, record(ent["licenseArn"], qty=9, at=hour + timedelta(minutes=2)))["Results"][0]
    assert [r["Status"] for r in (first, again, by_value, other)] == [
        "Success",
        "Success",
        "Success",
        "DuplicateRecord",
    ]
    assert {r["MeteringRecordId"] for r in (first, again, by_value, other)} == {first["MeteringRecordId"]}
    (kept,) = stored(running_sandbox).values()
    assert kept["quantity"] == 17 and kept["account_id"] == DST and not kept["double_billed"]


# -- ProductCode and LicenseArn --------------------------------------------------------------------------------
def test_licensearn_records_go_without_productcode_and_with_it_are_billed_twice(
    running_sandbox: RunningSandbox,
) -> None:
    """API ref BatchMeterUsage, ProductCode: "ProductCode is required only for legacy integrations that use
    CustomerIdentifier. For new integrations using LicenseArn (Concurrent Agreements), do NOT include ProductCode
    at the request level. ... Sending metering records with both ProductCode and LicenseArn for the same customer
    within the same hour will result in duplicate billing." The call succeeds (it is not refused); the sandbox marks
    such records ``double_billed`` in /_sandbox/metering, a retry with ProductCode included."""
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    at = running_sandbox.box.market.now() - timedelta(seconds=1)
    alone = meter(running_sandbox, record(ent["licenseArn"], dim="conformity_accounts", at=at))
    both = meter(
        running_sandbox, record(ent["licenseArn"], dim="network_security_gb", at=at), product_code=PRODUCT_CODE
    )
    assert alone["Results"][0]["Status"] == both["Results"][0]["Status"] == "Success"
    assert not stored(running_sandbox)["conformity_accounts"]["double_billed"]
    assert stored(running_sandbox)["network_security_gb"]["double_billed"]
    retried = meter(
        running_sandbox, record(ent["licenseArn"], dim="conformity_accounts", at=at), product_code=PRODUCT_CODE
    )
    assert retried["Results"][0]["Status"] == "Success"
    assert stored(running_sandbox)["conformity_accounts"]["double_billed"]


def test_customeridentifier_records_need_productcode(legacy_server: RunningSandbox) -> None:
    """API ref BatchMeterUsage, ProductCode: "ProductCode is required only for legacy integrations that use
    CustomerIdentifier." A legacy record with it is billed once; without it, the call has no product
    (InvalidProductCodeException)."""
    sb = legacy_server
    sb.reset(immediate_provisioning())
    agreement_id = subscribe(sb, DST, PRIVATE_OFFER)
    (kept,) = [a for a in sb.control("GET", "agreements") if a["agreement_id"] == agreement_id]
    legacy = {
        "Timestamp": sb.box.market.now() - timedelta(seconds=1),
        "Dimension": "conformity_accounts",
        "Quantity": 2,
        "CustomerIdentifier": kept["customer_identifier"],
    }
    client = sb.client("meteringmarketplace", SELLER)
    with pytest.raises(client.exceptions.InvalidProductCodeException, match="ProductCode is required"):
        client.batch_meter_usage(UsageRecords=[legacy])
    result = client.batch_meter_usage(ProductCode=PRODUCT_CODE, UsageRecords=[legacy])
    assert result["Results"][0]["Status"] == "Success"
    (billed,) = sb.control("GET", "metering", params={"product_code": PRODUCT_CODE})
    assert billed["quantity"] == 2 and not billed["double_billed"]


def test_customeridentifier_is_refused_for_a_licensearn_product(running_sandbox: RunningSandbox) -> None:
    """API ref BatchMeterUsage: new SaaS products "must use CustomerAWSAccountId (instead of CustomerIdentifier),
    LicenseArn (instead of ProductCode) ... BatchMeterUsage does not support CustomerIdentifier for new
    integrations." The error is not documented; the sandbox answers InvalidCustomerIdentifierException."""
    client = running_sandbox.client("meteringmarketplace", SELLER)
    legacy = {"Timestamp": datetime.now(UTC), "Dimension": "conformity_accounts", "Quantity": 1}
    with pytest.raises(client.exceptions.InvalidCustomerIdentifierException):
        client.batch_meter_usage(ProductCode=PRODUCT_CODE, UsageRecords=[{**legacy, "CustomerIdentifier": "cust-1"}])


# -- the end of an agreement ------------------------------------------------------------------------------------
def test_final_metering_hour_after_the_agreement_ends(running_sandbox: RunningSandbox) -> None:
    """Seller guide, SaaS EventBridge integration, final usage: "AWS Marketplace gives sellers one hour to submit
    final usage records for customers whose agreement has ended. After this period, the BatchMeterUsage API
    rejects reported usage". The pages disagree on when the hour starts (the Purchase Agreement Ended event, or a
    newer text: License Deprovisioned); the sandbox counts it from the end, as the older page and the SNS-era
    unsubscribe-pending text do, and answers CustomerNotSubscribed, as AWS's metering skill says."""
    agreement_id, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    agr = running_sandbox.client("marketplace-agreement", DST)
    before_cancel = running_sandbox.box.market.now() - timedelta(seconds=1)
    agr.cancel_agreement(agreementId=agreement_id)
    # within the final hour, usage from before the end is still taken
    assert meter(running_sandbox, record(ent["licenseArn"], at=before_cancel))["Results"][0]["Status"] == "Success"
    # usage after the end is not
    after_end = advance(running_sandbox, 60) - timedelta(seconds=1)
    late = meter(running_sandbox, record(ent["licenseArn"], dim="network_security_gb", at=after_end))
    assert late["Results"][0]["Status"] == "CustomerNotSubscribed"
    # and once the hour is over, not even usage from before the end
    advance(running_sandbox, 3600)
    closed = meter(running_sandbox, record(ent["licenseArn"], dim="workload_security_hours", at=before_cancel))
    assert closed["Results"][0]["Status"] == "CustomerNotSubscribed"
    assert set(stored(running_sandbox)) == {"conformity_accounts"}


# -- registration tokens ---------------------------------------------------------------------------------------
def test_get_agreement_entitlements_token_lasts_30_minutes(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-agreement model, registrationToken: "A short-lived token required by acceptors to
    register their account with the product provider. The token is only valid for 30 minutes after creation";
    the dev guide (work-with-agreement-api-buyer) says the same. ResolveCustomer then answers
    ExpiredTokenException."""
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    seller = running_sandbox.client("meteringmarketplace", SELLER)
    advance(running_sandbox, 29 * 60)
    assert seller.resolve_customer(RegistrationToken=ent["registrationToken"])["CustomerAWSAccountId"] == DST
    advance(running_sandbox, 61)
    with pytest.raises(seller.exceptions.ExpiredTokenException):
        seller.resolve_customer(RegistrationToken=ent["registrationToken"])


def test_console_registration_token_lasts_4_hours(running_sandbox: RunningSandbox) -> None:
    """The x-amzn-marketplace-token's lifetime is not in AWS's API docs: ExpiredTokenException "can happen if the
    buyer's browser takes too long to redirect to your page, the buyer has resubmitted the registration token, or
    your application has held on to the registration token for too long" (API ref ResolveCustomer). The 4 hours,
    and that a token may be resolved again until then, are from AWS's own metering skill (aws/agent-toolkit-for-aws,
    aws-marketplace-metering/SKILL.md: "REUSABLE until it expires (~4 hours)"), not from the API docs."""
    market = running_sandbox.box.market
    agreement = market.agreement.subscribe(DST, PRIVATE_OFFER)
    token = market.agreement.issue_token(agreement, "console").token
    seller = running_sandbox.client("meteringmarketplace", SELLER)
    advance(running_sandbox, 4 * 3600 - 60)
    assert seller.resolve_customer(RegistrationToken=token)["Metadata"]["AgreementId"] == agreement.agreement_id
    assert seller.resolve_customer(RegistrationToken=token)["Metadata"]["AgreementId"] == agreement.agreement_id
    advance(running_sandbox, 61)
    with pytest.raises(seller.exceptions.ExpiredTokenException):
        seller.resolve_customer(RegistrationToken=token)


@pytest.mark.parametrize(
    "sandbox_settings", [SandboxSettings(provisioning_delay=timedelta(0), api_token_ttl=timedelta(minutes=2))]
)
def test_token_lifetime_is_configurable(running_sandbox: RunningSandbox) -> None:
    """The lifetimes are settings (``--api-token-minutes``, ``--console-token-minutes``), as AWS's are not all
    documented."""
    _, ent = registration(running_sandbox, DST, PRIVATE_OFFER)
    advance(running_sandbox, 121)
    seller = running_sandbox.client("meteringmarketplace", SELLER)
    with pytest.raises(seller.exceptions.ExpiredTokenException):
        seller.resolve_customer(RegistrationToken=ent["registrationToken"])


# -- entitlements ------------------------------------------------------------------------------------------------
def test_entitlement_filters_by_customer_identifier_or_account_not_both(running_sandbox: RunningSandbox) -> None:
    """botocore's marketplace-entitlement model, GetEntitlements Filter: "CustomerIdentifier and
    CustomerAWSAccountId are mutually exclusive parameters. You must use one or the other, but not both in the
    same request." (InvalidParameterException)."""
    registration(running_sandbox, DST, PRIVATE_OFFER)
    ent = running_sandbox.client("marketplace-entitlement", SELLER)
    assert (
        len(ent.get_entitlements(ProductCode=PRODUCT_CODE, Filter={"CUSTOMER_AWS_ACCOUNT_ID": [DST]})["Entitlements"])
        == 6
    )
    with pytest.raises(ent.exceptions.InvalidParameterException, match="mutually exclusive"):
        ent.get_entitlements(
            ProductCode=PRODUCT_CODE, Filter={"CUSTOMER_AWS_ACCOUNT_ID": [DST], "CUSTOMER_IDENTIFIER": ["c-1"]}
        )
