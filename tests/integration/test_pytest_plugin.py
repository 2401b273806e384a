"""The pytest plugin sellers use to test their own Marketplace integration (docs/sandbox.md, "Testing your own
Marketplace integration with pytest").

The docs' examples run as written, in pytest sessions of their own (``pytester``) that find the plugin through
its ``pytest11`` entry point as a seller's run does. The helpers are tested here directly: the plugin is loaded
in this project's own runs too, since mplink is installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from fastapi import FastAPI, Request, Response

from mplink.sandbox.pytest_plugin import MarketplaceSandbox, SandboxControlError
from tests.support.servers import serve_app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
SELLER = "999999999999"
BUYER = "111111111111"
PUBLIC_OFFER = "offer-public-tm4saas"
PRODUCT_CODE = "c1saasproductcode0001"
NO_RETRY = Config(retries={"total_max_attempts": 1})

#: a catalog of another seller: one product, a public offer and a private one the API cannot cancel
CUSTOM_CATALOG: dict[str, Any] = {
    "seller_account_id": "123456789012",
    "seller_name": "Example Seller",
    "products": [
        {
            "product_id": "prod-example000001",
            "product_code": "exampleproductcode01",
            "title": "Example SaaS",
            "fulfillment_url": "http://127.0.0.1:9/register",
            "services": [{"name": "API", "dimensions": [{"key": "api_calls", "name": "API calls"}]}],
            "offers": [
                {
                    "offer_id": "offer-example-public",
                    "name": "Example SaaS",
                    "private": False,
                    "proposer_account_id": "123456789012",
                },
                {
                    "offer_id": "offer-example-private",
                    "name": "Example SaaS private offer",
                    "private": True,
                    "proposer_account_id": "123456789012",
                    "buyer_account_ids": ["333333333333"],
                    "api_cancellable": False,
                },
            ],
        }
    ],
    "buyer_accounts": [{"account_id": "333333333333", "name": "Example buyer"}],
}


def docs_block(marker: str) -> str:
    """The ```python block right after ``<!-- marker`` in docs/sandbox.md, exactly as the page shows it."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.index(f"<!-- {marker}")
    after = text[text.index("-->", start) + 3 :]
    match = re.match(r"\s*```python\n(.*?)```", after, re.S)
    assert match, f"docs/sandbox.md: no python block right after the {marker} marker"
    return match.group(1)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytest run of its own that loads installed plugins from their entry points, as a seller's run does."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The inner run, without the cache and hypothesis's plugin (which imports all of hypothesis again at the
    end of every in-process run: over a second each)."""
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args)


# -- overrides of the plugin's own fixtures, as a seller's conftest would write them -------------------------------
@pytest.fixture
def marketplace_sandbox_catalog(request: pytest.FixtureRequest) -> Any:
    """The seed's catalog unless a test gives another (``indirect`` parametrization)."""
    return getattr(request, "param", None)


@pytest.fixture
def marketplace_sandbox_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options = dict(getattr(request, "param", {}))
    if options.pop("events_to_receiver", False):
        receiver: Receiver = request.getfixturevalue("receiver")
        options.update(event_endpoint=receiver.url, event_secret="s3cret")
    return options


class Receiver:
    """A seller's event endpoint: keeps what it is sent with the right secret."""

    def __init__(self) -> None:
        self.url = ""
        self.events: list[dict[str, Any]] = []
        self.app = FastAPI()

        @self.app.post("/events")
        async def receive(request: Request) -> Response:
            if request.headers.get("x-mplink-secret") != "s3cret":
                return Response(status_code=401)
            self.events.append(json.loads(await request.body()))
            return Response(status_code=204)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    with serve_app(r.app) as url:
        r.url = f"{url}/events"
        yield r


# -- the plugin as sellers install and use it ----------------------------------------------------------------------
def test_the_plugin_is_registered_under_pytest11() -> None:
    """pytest loads plugins from the ``pytest11`` entry points of installed distributions."""
    found = {e.name: e.value for e in importlib.metadata.entry_points(group="pytest11")}
    assert found.get("mplink_sandbox") == "mplink.sandbox.pytest_plugin"


def test_loading_the_plugin_imports_neither_the_sandbox_nor_boto3() -> None:
    """pytest imports the plugin in every run of an environment with mplink installed, whether or not a test
    uses it; this needs a fresh interpreter (this one has everything loaded)."""
    probe = "import json, sys, mplink.sandbox.pytest_plugin; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    heavy = ("boto3", "botocore", "httpx", "fastapi", "starlette", "uvicorn", "mplink.sandbox.server")
    assert [m for m in json.loads(out) if m.startswith(heavy)] == []


def test_the_docs_example_passes_as_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_seller=docs_block("pytest-plugin-example"))
    run(pytester).assert_outcomes(passed=1)
    # the fixture came from the entry point: without that plugin the same test has no fixture
    without = run(pytester, "-p", "no:mplink_sandbox")
    without.assert_outcomes(errors=1)
    without.stdout.fnmatch_lines(["*fixture 'marketplace_sandbox' not found*"])


def test_a_conftest_chooses_the_catalog_as_the_docs_show(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(docs_block("pytest-plugin-catalog-example"))
    (pytester.path / "marketplace-catalog.json").write_text(json.dumps(CUSTOM_CATALOG), encoding="utf-8")
    pytester.makepyfile(
        test_custom="""
        def test_custom_catalog(marketplace_sandbox):
            assert marketplace_sandbox.seller_account_id == "123456789012"
            assert marketplace_sandbox.aws_access_key_id == "AKIA123456789012"
            token = marketplace_sandbox.subscribe("333333333333", "offer-example-public")
            customer = marketplace_sandbox.client("meteringmarketplace").resolve_customer(RegistrationToken=token)
            assert customer["ProductCode"] == "exampleproductcode01"
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_the_ini_option_chooses_the_catalog_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    (pytester.path / "catalogs").mkdir()
    (pytester.path / "catalogs" / "custom.json").write_text(json.dumps(CUSTOM_CATALOG), encoding="utf-8")
    pytester.makeini("[pytest]\nmarketplace_sandbox_catalog = catalogs/custom.json\n")
    pytester.mkdir("sub").joinpath("test_ini.py").write_text(
        "def test_ini_catalog(marketplace_sandbox):\n"
        "    assert marketplace_sandbox.seller_account_id == '123456789012'\n",
        encoding="utf-8",
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_bad_catalog_or_option_fails_the_test_with_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad_catalog="""
        import pytest

        @pytest.fixture
        def marketplace_sandbox_catalog(request):
            return request.param

        @pytest.mark.parametrize(
            "marketplace_sandbox_catalog",
            [{"seller_account_id": "12", "products": []}, "no-such-catalog.json"],
            indirect=True,
        )
        def test_bad_catalog(marketplace_sandbox):
            pass
        """,
        test_bad_option="""
        import pytest

        @pytest.fixture
        def marketplace_sandbox_options():
            return {"evnt_endpoint": "http://127.0.0.1:9/"}

        def test_bad_option(marketplace_sandbox):
            pass
        """,
    )
    result = run(pytester)
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines_random(
        [
            "*marketplace_sandbox: marketplace_sandbox_catalog: products: must be a non-empty list*",
            "*marketplace_sandbox: */no-such-catalog.json: no such file*",
            "*marketplace_sandbox_options: unknown option 'evnt_endpoint'; use *event_endpoint*",
        ]
    )
    assert "Traceback" not in result.stdout.str() and "During handling" not in result.stdout.str()


def _new_threads(before: set[threading.Thread]) -> list[str]:
    """Threads started since ``before`` that are still running, given a few seconds to finish."""
    deadline = time.monotonic() + 10
    while True:
        alive = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def test_the_sandbox_stops_and_frees_its_port_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_one="""
        import httpx, pathlib

        def test_serving(marketplace_sandbox):
            pathlib.Path("url.txt").write_text(marketplace_sandbox.endpoint_url)
            assert httpx.get(marketplace_sandbox.endpoint_url + "/_sandbox/health").json()["status"] == "ok"
        """
    )
    before = set(threading.enumerate())
    run(pytester).assert_outcomes(passed=1)
    url = (pytester.path / "url.txt").read_text()
    assert url.startswith("http://127.0.0.1:")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_sandbox/health")
    assert _new_threads(before) == []


def test_reuse_keeps_one_sandbox_and_resets_it_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarketplace_sandbox_reuse = true\n")
    pytester.makepyfile(
        test_reuse="""
        import pathlib
        from datetime import UTC, datetime, timedelta

        def test_first(marketplace_sandbox):
            pathlib.Path("first.txt").write_text(marketplace_sandbox.endpoint_url)
            marketplace_sandbox.subscribe("111111111111", "offer-public-tm4saas")
            marketplace_sandbox.inject_faults(unprocessed_pct=100)
            marketplace_sandbox.advance_clock(6 * 3600)

        def test_second(marketplace_sandbox):
            pathlib.Path("second.txt").write_text(marketplace_sandbox.endpoint_url)
            assert marketplace_sandbox.agreements() == []
            assert marketplace_sandbox.events() == []
            assert marketplace_sandbox.calls() == []
            assert marketplace_sandbox.now() < datetime.now(UTC) + timedelta(hours=1)
            token = marketplace_sandbox.subscribe("111111111111", "offer-public-tm4saas")
            metering = marketplace_sandbox.client("meteringmarketplace")
            arn = metering.resolve_customer(RegistrationToken=token)["LicenseArn"]
            result = metering.batch_meter_usage(
                UsageRecords=[{"Timestamp": datetime.now(UTC), "CustomerAWSAccountId": "111111111111",
                               "LicenseArn": arn, "Dimension": "conformity_accounts", "Quantity": 1}]
            )
            assert result["UnprocessedRecords"] == []
        """
    )
    before = set(threading.enumerate())
    run(pytester).assert_outcomes(passed=2)
    url = (pytester.path / "first.txt").read_text()
    assert (pytester.path / "second.txt").read_text() == url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_sandbox/health")
    assert _new_threads(before) == []


# -- the helpers ----------------------------------------------------------------------------------------------
def _meter(sandbox: MarketplaceSandbox, license_arn: str, client: Any = None) -> dict[str, Any]:
    metering = client or sandbox.client("meteringmarketplace")
    result: dict[str, Any] = metering.batch_meter_usage(
        UsageRecords=[
            {
                "Timestamp": datetime.now(UTC),
                "CustomerAWSAccountId": BUYER,
                "LicenseArn": license_arn,
                "Dimension": "conformity_accounts",
                "Quantity": 2,
            }
        ]
    )
    return result


def _license(sandbox: MarketplaceSandbox, token: str) -> str:
    return str(sandbox.client("meteringmarketplace").resolve_customer(RegistrationToken=token)["LicenseArn"])


def test_advance_clock_expires_the_registration_token(marketplace_sandbox: MarketplaceSandbox) -> None:
    """botocore's marketplace-agreement model, AgreementEntitlement.registrationToken: "only valid for 30
    minutes after creation"."""
    sandbox = marketplace_sandbox
    token = sandbox.subscribe(BUYER, PUBLIC_OFFER)
    start = sandbox.now()
    moved = sandbox.advance_clock(31 * 60)
    assert moved - start >= timedelta(minutes=31)
    metering = sandbox.client("meteringmarketplace")
    with pytest.raises(metering.exceptions.ExpiredTokenException):
        metering.resolve_customer(RegistrationToken=token)


def test_injected_faults_reach_the_sellers_calls(marketplace_sandbox: MarketplaceSandbox) -> None:
    sandbox = marketplace_sandbox
    arn = _license(sandbox, sandbox.subscribe(BUYER, PUBLIC_OFFER))
    assert sandbox.inject_faults(unprocessed_pct=100)["unprocessed_pct"] == 100
    result = _meter(sandbox, arn)
    assert result["Results"] == [] and len(result["UnprocessedRecords"]) == 1
    sandbox.inject_faults(throttle_pct=100)
    no_retry = sandbox.client("meteringmarketplace", config=NO_RETRY)
    with pytest.raises(no_retry.exceptions.ThrottlingException):
        _meter(sandbox, arn, no_retry)
    sandbox.inject_faults()  # every fault off
    assert [r["Status"] for r in _meter(sandbox, arn, no_retry)["Results"]] == ["Success"]
    assert [r["quantity"] for r in sandbox.metered_records()] == [2]
    assert sandbox.metered_records(product_code=PRODUCT_CODE) == sandbox.metered_records()
    assert sandbox.metered_records(product_code="otherproductcode") == []
    with pytest.raises(SandboxControlError, match="percentage"):
        sandbox.inject_faults(error_pct=150)


def test_cancel_ends_the_buyers_only_agreement(marketplace_sandbox: MarketplaceSandbox) -> None:
    sandbox = marketplace_sandbox
    with pytest.raises(ValueError, match="0 active agreements"):
        sandbox.cancel(BUYER)
    sandbox.subscribe(BUYER, PUBLIC_OFFER)
    agreement_id = sandbox.cancel(BUYER)
    assert [(a["agreement_id"], a["status"]) for a in sandbox.agreements(BUYER)] == [(agreement_id, "CANCELLED")]
    # the ISV's own offer: it is manufacturer and proposer, and AWS sends it the Proposer events only
    assert len(sandbox.events("Purchase Agreement Ended - Proposer")) == 1
    assert [c["outcome"] for c in sandbox.calls("CancelAgreement", BUYER)] == ["ok"]


@pytest.mark.parametrize("marketplace_sandbox_catalog", [CUSTOM_CATALOG], indirect=True)
def test_cancel_uses_the_console_when_the_api_refuses(marketplace_sandbox: MarketplaceSandbox) -> None:
    sandbox = marketplace_sandbox
    sandbox.subscribe("333333333333", "offer-example-private")
    agreement_id = sandbox.cancel("333333333333")
    assert [(a["agreement_id"], a["status"]) for a in sandbox.agreements()] == [(agreement_id, "CANCELLED")]
    assert [c["outcome"] for c in sandbox.calls("CancelAgreement")] == ["ValidationException"]  # the API refused


@pytest.mark.parametrize("marketplace_sandbox_options", [{"events_to_receiver": True}], indirect=True)
def test_events_go_to_the_endpoint_named_in_the_options(
    marketplace_sandbox: MarketplaceSandbox, receiver: Receiver
) -> None:
    marketplace_sandbox.subscribe(BUYER, PUBLIC_OFFER)
    marketplace_sandbox.wait_for_events()
    assert [e["detail-type"] for e in receiver.events] == [e["detail-type"] for e in marketplace_sandbox.events()]
    assert "Purchase Agreement Created - Proposer" in {e["detail-type"] for e in receiver.events}


def test_send_events_to_redirects_the_events(marketplace_sandbox: MarketplaceSandbox, receiver: Receiver) -> None:
    marketplace_sandbox.send_events_to(receiver.url, "s3cret")
    marketplace_sandbox.subscribe(BUYER, PUBLIC_OFFER)
    marketplace_sandbox.wait_for_events()
    assert {e["id"] for e in receiver.events} == {e["id"] for e in marketplace_sandbox.events()} != set()


def test_clients_ignore_the_users_aws_profile(
    marketplace_sandbox: MarketplaceSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """boto3 raises ProfileNotFound for an AWS_PROFILE its config file lacks, and takes endpoint_url and region
    from the profile it names: neither reaches the fixture's clients, nor code run after ``apply_env``."""
    config = tmp_path / "config"
    config.write_text("[profile elsewhere]\nendpoint_url = http://127.0.0.1:9\nregion = eu-west-3\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    sandbox = marketplace_sandbox
    token = sandbox.subscribe(BUYER, PUBLIC_OFFER)
    assert sandbox.client("meteringmarketplace").meta.region_name == "us-east-1"
    monkeypatch.setenv("AWS_PROFILE", "elsewhere")
    sandbox.apply_env(monkeypatch)
    own = boto3.session.Session().client("meteringmarketplace")  # code that makes its own client
    assert own.meta.endpoint_url == sandbox.endpoint_url
    assert own.resolve_customer(RegistrationToken=token)["CustomerAWSAccountId"] == BUYER
