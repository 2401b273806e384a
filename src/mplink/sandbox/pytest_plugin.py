"""A pytest plugin for testing your own AWS Marketplace integration against the sandbox, without AWS.

Installed with mplink (entry point ``pytest11``: ``mplink_sandbox``), so the ``marketplace_sandbox`` fixture is
there in every pytest run of an environment where mplink is installed. pytest imports this module in each of
those runs: it imports only the standard library and pytest; the sandbox, boto3 and httpx are imported when a
test asks for the fixture.

The fixture starts a sandbox on a free port of 127.0.0.1 with a catalog (the seed's unless the
``marketplace_sandbox_catalog`` fixture or ini option names another), serves it over real HTTP from a thread
and yields a ``MarketplaceSandbox``: its endpoint URL, the seller's credentials, boto3 clients pointed at it and
helpers that do what a buyer and AWS do (subscribe, cancel, time passing, failures, metered records, events).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mplink.sandbox.catalog import Catalog
    from mplink.sandbox.marketplace import SandboxSettings
    from mplink.sandbox.server import Sandbox

#: the region every client and the events use
REGION = "us-east-1"
#: any secret key is accepted; the account is read from the access key id (``AKIA`` + the account id)
SECRET_ACCESS_KEY = "sandbox"

#: what ``marketplace_sandbox_catalog`` may return: None (the seed's scenario), a path to a catalog file,
#: catalog JSON text, or the catalog as a dict
CatalogSource = str | os.PathLike[str] | Mapping[str, Any] | None


class SandboxControlError(RuntimeError):
    """The sandbox refused a helper's request (for example a fault percentage above 100)."""


@dataclass(frozen=True)
class SandboxOptions:
    """What a test may set through the ``marketplace_sandbox_options`` fixture (a dict of these names)."""

    #: seconds until a new agreement's entitlement is PROVISIONED (AWS takes a while; tests rarely want to)
    provisioning_seconds: float = 0.0
    #: BatchMeterUsage calls per second per seller before ThrottlingException (0: no limit)
    throttle_rps: float = 10.0
    #: the fulfilment URL the buyer console posts the registration token to (default: the catalog's)
    fulfillment_url: str | None = None
    #: POST every EventBridge event here (as an API destination does), with ``X-Mplink-Secret: event_secret``
    event_endpoint: str | None = None
    event_secret: str | None = None
    #: send every EventBridge event to this SQS queue (as an EventBridge rule target does)
    event_queue_url: str | None = None
    #: POST signed legacy SNS notifications here (products marked ``"legacy": true``)
    sns_endpoint: str | None = None


def account_access_key(account_id: str) -> str:
    """The sandbox reads the caller's AWS account from the SigV4 access key id: ``AKIA`` + the account id."""
    return f"AKIA{account_id}"


class MarketplaceSandbox:
    """A running sandbox, as a test sees it: where it is, the seller's credentials, and helpers.

    Helpers go through the AWS APIs as a buyer would where AWS has one (subscribe, cancel) and through the
    sandbox's control API (``/_sandbox/...``) for what only a test can do (the clock, faults, the records).
    """

    def __init__(self, endpoint_url: str, seller_account_id: str, box: Sandbox | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = REGION
        self.seller_account_id = seller_account_id
        self._box = box
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._botocore: Any = None
        self._http: Any = None

    def __repr__(self) -> str:
        return f"MarketplaceSandbox({self.endpoint_url!r}, seller {self.seller_account_id})"

    # -- credentials and clients ---------------------------------------------------------------------------
    @property
    def aws_access_key_id(self) -> str:
        """The seller's access key id."""
        return account_access_key(self.seller_account_id)

    @property
    def aws_secret_access_key(self) -> str:
        """The seller's secret key (any secret is accepted)."""
        return SECRET_ACCESS_KEY

    def client_kwargs(self, account: str | None = None) -> dict[str, str]:
        """Keyword arguments for ``boto3.client(service, **...)``: this sandbox, acting as ``account`` (default:
        the seller)."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": account_access_key(account or self.seller_account_id),
            "aws_secret_access_key": SECRET_ACCESS_KEY,
        }

    def env(self, account: str | None = None) -> dict[str, str]:
        """Environment variables that point code which makes its own boto3 clients at this sandbox, as
        ``account`` (default: the seller), without reading ~/.aws config or credentials files (an
        ``AWS_PROFILE`` must still go: ``apply_env`` does both)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": account_access_key(account or self.seller_account_id),
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def apply_env(self, monkeypatch: pytest.MonkeyPatch, account: str | None = None) -> None:
        """Set ``env(account)`` for this test and remove ``AWS_PROFILE``, ``AWS_DEFAULT_PROFILE`` and a session
        token, so code that makes its own boto3 clients reaches this sandbox and nothing of the user's."""
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env(account).items():
            monkeypatch.setenv(name, value)

    def client(self, service: str, account: str | None = None, config: Any = None) -> Any:
        """A boto3 client for ``service`` pointed at this sandbox, acting as ``account`` (default: the seller).

        Its credentials are explicit and it reads no AWS config or credentials file, so nothing in ~/.aws or
        ``AWS_PROFILE`` reaches it. One client per service and account is made and kept (boto3 clients are
        thread-safe); one with a ``botocore.config.Config`` of its own (retries, timeouts) is made each time.
        """
        key = (service, account or self.seller_account_id)
        if config is not None:
            return self._session().create_client(service, config=config, **self.client_kwargs(key[1]))
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = self._session().create_client(service, **self.client_kwargs(key[1]))
            return self._clients[key]

    def _session(self) -> Any:
        if self._botocore is None:
            self._botocore = _isolated_botocore_session()
        return self._botocore

    # -- the buyer's side -------------------------------------------------------------------------------------
    def subscribe(self, account_id: str, offer_id: str, timeout: float = 30.0) -> str:
        """Subscribe ``account_id`` to ``offer_id`` and return the registration token its "Set up your account"
        would post to the seller's fulfilment URL.

        Done with the buyer's AWS APIs: discovery's GetOffer and GetOfferTerms, CreateAgreementRequest and
        AcceptAgreementRequest for every term of the offer, then GetAgreementEntitlements until the
        entitlement is PROVISIONED (its token lasts 30 minutes of sandbox time). AWS's errors come through
        as botocore raises them (a second subscription to the same offer is a ConflictException).
        """
        discovery = self.client("marketplace-discovery", account_id)
        agreements = self.client("marketplace-agreement", account_id)
        offer = discovery.get_offer(offerId=offer_id)
        terms = discovery.get_offer_terms(offerId=offer_id)["offerTerms"]
        request = agreements.create_agreement_request(
            intent="NEW",
            agreementProposalIdentifier=offer["agreementProposalId"],
            requestedTerms=[{"id": term["id"]} for union in terms for term in union.values()],
        )
        agreement_id = agreements.accept_agreement_request(agreementRequestId=request["agreementRequestId"])[
            "agreementId"
        ]
        deadline = time.monotonic() + timeout
        while True:
            entitlements = agreements.get_agreement_entitlements(agreementId=agreement_id)["agreementEntitlements"]
            token = next((e["registrationToken"] for e in entitlements if e.get("registrationToken")), None)
            if token:
                return str(token)
            if time.monotonic() > deadline:
                raise TimeoutError(f"agreement {agreement_id} was not PROVISIONED within {timeout:g} s")
            time.sleep(0.05)

    def cancel(self, account_id: str, agreement_id: str | None = None) -> str:
        """The buyer ``account_id`` cancels an agreement (default: its only active one); returns its id.

        CancelAgreement as the buyer; an agreement AWS does not let the API cancel is cancelled in the buyer
        console instead (Manage -> Actions -> Cancel), which always works.
        """
        if agreement_id is None:
            active = [a["agreement_id"] for a in self.agreements(account_id) if a["status"] == "ACTIVE"]
            if len(active) != 1:
                raise ValueError(
                    f"account {account_id} has {len(active)} active agreements ({', '.join(active) or 'none'}): "
                    "name the one to cancel"
                )
            agreement_id = str(active[0])
        client = self.client("marketplace-agreement", account_id)
        try:
            client.cancel_agreement(agreementId=agreement_id)
        except client.exceptions.ValidationException:
            response = self._http_client().post(
                f"{self.endpoint_url}/console/{account_id}/marketplace/subscriptions/{agreement_id}/cancel",
                data={"confirm": "yes"},
            )
            if response.status_code != 303:
                raise SandboxControlError(
                    f"the buyer console did not cancel {agreement_id}: HTTP {response.status_code}"
                ) from None
        return agreement_id

    # -- what only a test can do (the control API) ------------------------------------------------------------------
    def agreements(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """Every agreement (of ``account_id``): id, account, offer, status, intent, LicenseArn, times."""
        params = {"account_id": account_id} if account_id else {}
        return list(self._control("GET", "agreements", params=params))

    def now(self) -> datetime:
        """The sandbox's clock (real time plus what ``advance_clock`` added)."""
        return datetime.fromisoformat(self._control("GET", "clock")["now"])

    def advance_clock(self, seconds: float) -> datetime:
        """Move the sandbox's clock forward (token lifetimes, provisioning, the final metering window);
        returns its new time. Metering timestamps are checked against this clock."""
        return datetime.fromisoformat(self._control("POST", "clock", json={"advance_seconds": seconds})["now"])

    def inject_faults(
        self,
        *,
        throttle_pct: float = 0.0,
        error_pct: float = 0.0,
        unprocessed_pct: float = 0.0,
        duplicate_event_pct: float = 0.0,
        empty_page_pct: float = 0.0,
        shuffle_events: bool = False,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Set the injected failures, in percent: ThrottlingException, internal errors, BatchMeterUsage records
        returned as UnprocessedRecords, events delivered twice, empty GetEntitlements pages; ``shuffle_events``
        delivers events out of order; ``seed`` makes the draws repeatable. Whatever is not named is turned off,
        so ``inject_faults()`` turns every fault off."""
        body = {
            "throttle_pct": throttle_pct,
            "error_pct": error_pct,
            "unprocessed_pct": unprocessed_pct,
            "duplicate_event_pct": duplicate_event_pct,
            "empty_page_pct": empty_page_pct,
            "shuffle_events": shuffle_events,
            "seed": seed,
        }
        return dict(self._control("POST", "faults", json=body))

    def metered_records(self, product_code: str | None = None) -> list[dict[str, Any]]:
        """The usage records the sandbox accepted (``account_id``, ``license_arn``, ``dimension``, ``hour``,
        ``quantity``, ``metering_record_id``, and ``double_billed`` for a LicenseArn record sent together with
        ProductCode, which AWS bills twice)."""
        params = {"product_code": product_code} if product_code else {}
        return list(self._control("GET", "metering", params=params))

    def events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """The EventBridge events the sandbox emitted (whether or not delivered anywhere), oldest first."""
        events = [entry["event"] for entry in self._control("GET", "events")]
        return [e for e in events if detail_type is None or e["detail-type"] == detail_type]

    def calls(self, operation: str | None = None, account_id: str | None = None) -> list[dict[str, Any]]:
        """The AWS calls the sandbox answered: ``at``, ``account_id``, ``service``, ``operation``, ``outcome``."""
        params = {k: v for k, v in (("operation", operation), ("account_id", account_id)) if v}
        return list(self._control("GET", "calls", params=params))

    def send_events_to(
        self, endpoint: str | None = None, secret: str | None = None, queue_url: str | None = None
    ) -> None:
        """Deliver the EventBridge events from now on to this HTTP endpoint (POST, header ``X-Mplink-Secret``)
        and/or this SQS queue; nothing to stop delivering. Until the end of the test."""
        if self._box is None:
            raise SandboxControlError("only a sandbox started by this plugin can change where its events go")
        self._box.dispatcher.set_destinations(endpoint, secret, queue_url)

    def wait_for_events(self, timeout: float = 30.0) -> None:
        """Wait until every event emitted so far was delivered (or given up on) to the event destinations."""
        deadline = time.monotonic() + timeout
        while self._control("GET", "health")["events_pending"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"events were still being delivered after {timeout:g} s")
            time.sleep(0.02)

    def reset(self) -> None:
        """Forget every agreement, token, record, event, call and fault; back to the real clock."""
        self._control("POST", "reset")

    # -- plumbing -----------------------------------------------------------------------------------------------------
    def _http_client(self) -> Any:
        if self._http is None:
            import httpx

            # trust_env=False: a proxy set in the environment must not see requests to 127.0.0.1
            self._http = httpx.Client(timeout=30, trust_env=False)
        return self._http

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http_client().request(method, f"{self.endpoint_url}/_sandbox/{path}", **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise SandboxControlError(f"{method} /_sandbox/{path}: HTTP {response.status_code}: {message}")
        return response.json()

    def close(self) -> None:
        """Close this handle's connections (the sandbox itself is stopped by whoever started it)."""
        if self._http is not None:
            self._http.close()
            self._http = None
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _isolated_botocore_session() -> Any:
    """A botocore session that reads no AWS config or credentials file and no ``AWS_PROFILE``."""
    import botocore.session
    from botocore.configprovider import ConstantProvider

    session = botocore.session.Session()
    session.register_component("data_loader", _shared_loader())
    store = session.get_component("config_store")
    for name, value in (("profile", None), ("config_file", os.devnull), ("credentials_file", os.devnull)):
        store.set_config_provider(name, ConstantProvider(value))
    return session


_LOADER: Any = None


def _shared_loader() -> Any:
    """One botocore data loader for every sandbox of the process (loading the service models is the slow part)."""
    global _LOADER
    if _LOADER is None:
        import botocore.loaders

        _LOADER = botocore.loaders.create_loader()
    return _LOADER


# -- starting sandboxes -----------------------------------------------------------------------------------------
def read_catalog_source(source: CatalogSource, base: Path | None = None) -> Catalog:
    """The sandbox's catalog from what ``marketplace_sandbox_catalog`` returned; a relative path is taken
    from ``base``. Raises the sandbox's CatalogError naming the file and field at fault."""
    from mplink.sandbox.catalog import load_catalog, read_catalog

    if source is None:
        return load_catalog(None)
    if isinstance(source, Mapping):
        return read_catalog(json.dumps(source), "marketplace_sandbox_catalog")
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return read_catalog(source, "marketplace_sandbox_catalog")
    path = Path(source)
    if base is not None and not path.is_absolute():
        path = base / path
    return load_catalog(path)


def _settings(options: SandboxOptions) -> SandboxSettings:
    from datetime import timedelta

    from mplink.sandbox.marketplace import SandboxSettings

    return SandboxSettings(
        provisioning_delay=timedelta(seconds=options.provisioning_seconds),
        throttle_rps=options.throttle_rps,
        fulfillment_url=options.fulfillment_url,
    )


@contextmanager
def start_marketplace_sandbox(catalog: CatalogSource = None, **options: Any) -> Iterator[MarketplaceSandbox]:
    """Run a sandbox on a free port of 127.0.0.1 while the block runs (what the fixture does), for a test
    setup of your own; ``options`` are SandboxOptions' names."""
    with _start(read_catalog_source(catalog), SandboxOptions(**options)) as sandbox:
        yield sandbox


class _SandboxPool:
    """``marketplace_sandbox_reuse``: one running sandbox per catalog (and SNS endpoint) for the session,
    reset for each test and given that test's options."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._running: dict[tuple[Catalog, str | None], MarketplaceSandbox] = {}

    def get(self, catalog: Catalog, options: SandboxOptions) -> MarketplaceSandbox:
        key = (catalog, options.sns_endpoint)
        if key not in self._running:
            self._running[key] = self._stack.enter_context(
                _start(catalog, SandboxOptions(sns_endpoint=options.sns_endpoint))
            )
        sandbox = self._running[key]
        sandbox.reset()
        box = sandbox._box
        assert box is not None
        box.market.settings = _settings(options)  # until the next reset
        box.dispatcher.set_destinations(options.event_endpoint, options.event_secret, options.event_queue_url)
        return sandbox

    def close(self) -> None:
        self._stack.close()


@contextmanager
def _start(catalog: Catalog, options: SandboxOptions) -> Iterator[MarketplaceSandbox]:
    from mplink.sandbox.server import build_sandbox, serve_in_thread

    box = build_sandbox(
        catalog,
        ":memory:",
        _settings(options),
        event_endpoint=options.event_endpoint,
        event_secret=options.event_secret,
        event_queue_url=options.event_queue_url,
        sns_endpoint=options.sns_endpoint,
    )
    try:
        with serve_in_thread(box) as url:
            handle = MarketplaceSandbox(url, catalog.seller_account_id, box)
            try:
                yield handle
            finally:
                handle.close()
    finally:
        box.close()


# -- pytest hooks and fixtures ----------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "marketplace_sandbox_catalog",
        "Catalog file for the marketplace_sandbox fixture, relative to the ini file (default: mplink's seed).",
        default="",
    )
    parser.addini(
        "marketplace_sandbox_reuse",
        "Keep one marketplace sandbox per catalog for the whole session and reset it before each test.",
        type="bool",
        default=False,
    )


def _base_dir(config: pytest.Config) -> Path:
    return config.inipath.parent if config.inipath is not None else config.rootpath


@pytest.fixture
def marketplace_sandbox_catalog(request: pytest.FixtureRequest) -> CatalogSource:
    """The catalog the sandbox sells: override this fixture to return a path, JSON text or a dict; by default
    the ini option ``marketplace_sandbox_catalog``, else the seed's scenario shipped with mplink."""
    value = str(request.config.getini("marketplace_sandbox_catalog") or "").strip()
    return _base_dir(request.config) / value if value else None


@pytest.fixture
def marketplace_sandbox_options() -> dict[str, Any]:
    """Override to set SandboxOptions (event destinations, provisioning time, throttle, fulfilment URL)."""
    return {}


@pytest.fixture(scope="session")
def _marketplace_sandbox_pool() -> Iterator[_SandboxPool]:
    pool = _SandboxPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def marketplace_sandbox(
    request: pytest.FixtureRequest,
    marketplace_sandbox_catalog: CatalogSource,
    marketplace_sandbox_options: Mapping[str, Any],
) -> Iterator[MarketplaceSandbox]:
    """A local AWS Marketplace on a free port of 127.0.0.1, for this test: stopped (or, with the ini option
    ``marketplace_sandbox_reuse``, reset) when the test ends."""
    from mplink.sandbox.catalog import CatalogError

    known = {f.name for f in fields(SandboxOptions)}
    unknown = sorted(set(marketplace_sandbox_options) - known)
    if unknown:
        pytest.fail(
            f"marketplace_sandbox_options: unknown option {unknown[0]!r}; use {', '.join(sorted(known))}",
            pytrace=False,
        )
    options = SandboxOptions(**marketplace_sandbox_options)
    problem: str | None = None
    try:
        catalog = read_catalog_source(marketplace_sandbox_catalog, _base_dir(request.config))
    except CatalogError as exc:
        problem = str(exc)
    if problem is not None:  # failed outside the except block, so no chained traceback is shown
        pytest.fail(f"marketplace_sandbox: {problem}", pytrace=False)
    if request.config.getini("marketplace_sandbox_reuse"):
        pool: _SandboxPool = request.getfixturevalue("_marketplace_sandbox_pool")
        sandbox = pool.get(catalog, options)
        try:
            yield sandbox
        finally:
            sandbox.reset()  # stop retrying deliveries to this test's event destinations
    else:
        with _start(catalog, options) as sandbox:
            yield sandbox
