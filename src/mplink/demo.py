"""``mplink demo``: the sandbox, the seller app and the worker as real processes on SQLite, seeded with
the seed's scenario: tenant "Example Corp" already pays from 1111-1111-1111 through the reseller's
private offer, and 2222-2222-2222 is ready to take over."""

from __future__ import annotations

import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
import httpx
from rich.console import Console

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.bootstrap import bootstrap
from mplink.config import Settings
from mplink.domain.errors import InvalidValue
from mplink.domain.ids import format_account_id
from mplink.services.auth import create_api_key
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.tenants import create_tenant

DEMO_EMAIL = "admin@example.com"
DEMO_PASSWORD = "mplink-demo-password"
SOURCE, DESTINATION = "111111111111", "222222222222"
#: held (flock) by the running demo for as long as it runs: a second demo in the same folder would delete its files
LOCK_NAME = "mplink-demo.lock"


def claim_workdir(workdir: Path) -> IO[str]:
    """Hold ``workdir`` for this demo, or refuse when another running demo holds it. The lock goes with the
    process: a demo that died leaves the folder free."""
    workdir.mkdir(parents=True, exist_ok=True)
    lock = (workdir / LOCK_NAME).open("a+", encoding="utf-8")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        owner = lock.read().strip()
        lock.close()
        by = f" (process {owner})" if owner.isdigit() else ""
        raise InvalidValue(
            f"{workdir.resolve()} is in use by another running demo{by}: stop it, or give another --workdir"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InvalidValue(f"a demo process stopped early (exit {proc.returncode}); see the messages above")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise InvalidValue(f"{url} did not answer within {timeout:.0f} seconds")


@dataclass
class DemoRun:
    seller_url: str
    sandbox_url: str
    tenant_id: str
    tenant_key: str
    source_agreement_id: str
    credentials_file: Path | None = None
    product_id: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: the workdir's lock, released when the demo stops
    lock: IO[str] | None = None

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.lock is not None:
            self.lock.close()


def start_demo(workdir: Path, port: int, sandbox_port: int, log: Callable[[str], None]) -> DemoRun:
    lock = claim_workdir(workdir)
    try:
        return _start_demo(workdir, port, sandbox_port, log, lock)
    except BaseException:
        lock.close()
        raise


def _start_demo(workdir: Path, port: int, sandbox_port: int, log: Callable[[str], None], lock: IO[str]) -> DemoRun:
    for p in (port, sandbox_port):
        if not _port_free(p):
            raise InvalidValue(f"port {p} is in use: stop what runs there or pick another with --port/--sandbox-port")
    db, sandbox_state = workdir / "mplink-demo.db", workdir / "mplink-demo-sandbox.db"
    for f in (db, sandbox_state):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{f}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    upgrade(url)
    wiring = bootstrap(Settings.from_env().with_database(url))
    catalog = load_catalog()
    try:
        store_catalog(wiring.uow(), catalog)
        tenant_id = create_tenant(wiring.uow(), "Example Corp", DEMO_EMAIL, DEMO_PASSWORD)
        tenant_key, _ = create_api_key(wiring.uow(), tenant_id, "demo")
    finally:
        wiring.close()

    seller_url, sandbox_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    product = catalog.products[0]
    event_secret = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "MPLINK_DATABASE_URL": url,
        "MPLINK_SECRET_KEY": secrets.token_urlsafe(32),
        "MPLINK_EVENTBRIDGE_SECRET": event_secret,
        "MPLINK_AWS_ENDPOINT_URL": sandbox_url,
        "MPLINK_MARKETPLACE_URL": f"{sandbox_url}/console/{{account}}/marketplace/pp/{{product_id}}",
        "AWS_ACCESS_KEY_ID": f"AKIA{catalog.seller_account_id}",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("MPLINK_EVENTS_QUEUE_URL", None)
    mplink = [sys.executable, "-m", "mplink.cli"]
    run = DemoRun(seller_url, sandbox_url, tenant_id, tenant_key, "", lock=lock)
    try:
        log("starting the seller app, the worker and the AWS Marketplace sandbox ...")
        run.procs.append(subprocess.Popen([*mplink, "serve", "--port", str(port)], env=env))
        _wait_http(f"{seller_url}/healthz", run.procs[-1])
        run.procs.append(subprocess.Popen([*mplink, "worker"], env=env, stdout=subprocess.DEVNULL))
        run.procs.append(
            subprocess.Popen(
                [
                    *mplink,
                    "sandbox",
                    "--port",
                    str(sandbox_port),
                    "--state",
                    str(sandbox_state),
                    "--fulfillment-url",
                    f"{seller_url}/marketplace/register",
                    "--event-endpoint",
                    f"{seller_url}/events/eventbridge",
                    "--event-secret",
                    event_secret,
                    "--provisioning-seconds",
                    "1",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
            )
        )
        _wait_http(f"{sandbox_url}/_sandbox/health", run.procs[-1])
        run.source_agreement_id = _seed_source_subscription(run, product.product_id, log)
        run.product_id = product.product_id
        run.credentials_file = (workdir / "mplink-demo-aws-credentials").resolve()
        run.credentials_file.write_text(
            f"# AWS profiles of the demo's buyer accounts (the sandbox takes AKIA + account id as key id)\n"
            f"[demo-source]\naws_access_key_id = AKIA{SOURCE}\naws_secret_access_key = demo\n"
            f"[demo-destination]\naws_access_key_id = AKIA{DESTINATION}\naws_secret_access_key = demo\n",
            encoding="utf-8",
        )
    except BaseException:
        run.stop()
        raise
    return run


def _seed_source_subscription(run: DemoRun, product_id: str, log: Callable[[str], None]) -> str:
    """1111-1111-1111 subscribes to the private offer and links it, through the real buyer and seller APIs."""

    def buyer(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=run.sandbox_url,
            region_name="us-east-1",
            aws_access_key_id=f"AKIA{SOURCE}",
            aws_secret_access_key="demo",
        )

    disc, agr = buyer("marketplace-discovery"), buyer("marketplace-agreement")
    options = disc.list_purchase_options(
        filters=[
            {"filterType": "PRODUCT_ID", "filterValues": [product_id]},
            {"filterType": "VISIBILITY_SCOPE", "filterValues": ["PRIVATE"]},
        ]
    )["purchaseOptions"]
    offer = disc.get_offer(offerId=options[0]["purchaseOptionId"])
    terms = disc.get_offer_terms(offerId=offer["offerId"])["offerTerms"]
    request = agr.create_agreement_request(
        intent="NEW",
        agreementProposalIdentifier=offer["agreementProposalId"],
        requestedTerms=[{"id": next(iter(t.values()))["id"]} for t in terms],
    )
    agreement_id = agr.accept_agreement_request(agreementRequestId=request["agreementRequestId"])["agreementId"]
    for _ in range(100):
        ent = agr.get_agreement_entitlements(agreementId=agreement_id)["agreementEntitlements"][0]
        if ent["status"] == "PROVISIONED":
            break
        time.sleep(0.2)
    response = httpx.post(
        f"{run.seller_url}/api/v1/tenants/{run.tenant_id}/link",
        json={"registration_token": ent["registrationToken"]},
        headers={"Authorization": f"Bearer {run.tenant_key}"},
        timeout=30,
    )
    response.raise_for_status()
    log(f"Example Corp now pays from {format_account_id(SOURCE)} through '{offer['offerName']}'")
    return str(agreement_id)


def _mplink_command() -> str:
    """The mplink this demo runs from (``.venv/bin/mplink`` after ``make demo``), so the line works as printed."""
    beside = Path(sys.executable).with_name("mplink")
    return str(beside) if beside.exists() else "mplink"


def print_guide(run: DemoRun, console: Console) -> None:
    console.print(
        f"""
mplink demo is running  (Ctrl-C stops everything)

Seller app (the SaaS):   {run.seller_url}/login
  log in as {DEMO_EMAIL} / {DEMO_PASSWORD}
  subscription management: {run.seller_url}/subscription   (日本語: add ?lang=ja)
AWS Marketplace sandbox: {run.sandbox_url}/console
  buyer accounts: {format_account_id(SOURCE)} (pays now) and {format_account_id(DESTINATION)} (takes over)
  boto3: endpoint_url="{run.sandbox_url}", aws_access_key_id="AKIA<account id>"
Tenant API:              {run.seller_url}/api/docs   (tenant key: {run.tenant_key})

The seed's procedure:
  1. In the console as {format_account_id(DESTINATION)}: Trend Micro Cloud One -> Continue to Subscribe ->
     'Classmethod, Inc. for SaaS 2026-01-01- Private Offer' -> Subscribe -> Set up your account;
     log in to the seller app and confirm. The subscription page then shows 2222-2222-2222.
  2. In the console as {format_account_id(SOURCE)}: AWS Marketplace Subscriptions -> Manage -> Actions -> Cancel.
     The pending step on the subscription page disappears.

Or let mplink do it through the buyer APIs (plan first; then 'apply --yes'):
  export AWS_SHARED_CREDENTIALS_FILE={run.credentials_file} MPLINK_AWS_ENDPOINT_URL={run.sandbox_url}
  {_mplink_command()} move plan --product {run.product_id} --from-profile demo-source --to-profile demo-destination \\
    --seller-url {run.seller_url} --tenant {run.tenant_id} --seller-key {run.tenant_key} \\
    --offer-name 'Classmethod, Inc. for SaaS * Private Offer'
""",
        markup=False,
        highlight=False,
    )
