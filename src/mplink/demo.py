"""The seed's scenario, played through the real services and store: Example Corp pays from
1111-1111-1111 through the reseller's private offer, moves its billing to 2222-2222-2222, and the
old subscription is cancelled. Each step prints what the subscription management page would show."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.domain.agreement import Registration
from mplink.domain.catalog import Catalog
from mplink.domain.clock import now_utc
from mplink.domain.ids import format_account_id
from mplink.domain.subscription import SubscriptionView
from mplink.services import tenants as tenant_service
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.events import envelope_from_eventbridge, receive_event
from mplink.services.linking import link_agreement, record_registration

DEMO_EMAIL = "admin@example.com"
DEMO_PASSWORD = "mplink-demo-password"
SOURCE, DESTINATION = "111111111111", "222222222222"
TYPE_LABELS = {"aws_marketplace": "AWS Marketplace", "expired": "Trial or Subscription Expired", "none": "none"}


def _agreement_event(
    catalog: Catalog, kind: str, agreement_id: str, account: str, at: datetime, status: str = "ACTIVE"
) -> dict[str, object]:
    product = catalog.products[0]
    offer = next(o for o in product.offers if o.private)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": secrets.token_hex(16),
        "detail-type": f"Purchase Agreement {kind} - Manufacturer",
        "source": "aws.agreement-marketplace",
        "account": catalog.seller_account_id,
        "time": stamp,
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "agreement": {
                "id": agreement_id,
                "intent": "NEW",
                "status": status,
                "startTime": stamp,
                "acceptanceTime": stamp,
                "endTime": stamp if status != "ACTIVE" else None,
            },
            "product": {"id": product.product_id, "title": product.title},
            "offer": {"id": offer.offer_id},
            "acceptor": {"accountId": account},
            "proposer": {"accountId": offer.proposer_account_id},
            "resaleAuthorization": {"id": offer.resale_authorization_id},
        },
    }


def _page(console: Console, title: str, view: SubscriptionView) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("subscription type / サブスクリプションタイプ", TYPE_LABELS[view.type.value])
    if view.aws_account_id:
        table.add_row("paying AWS account", format_account_id(view.aws_account_id))
    if view.offer:
        who = (
            f"private, proposed by {format_account_id(view.offer.proposer_account_id)}"
            if view.offer.private
            else "public"
        )
        table.add_row("offer", f"{view.offer.name} ({who})")
    for s in view.services:
        table.add_row(f"  {s.name}", "registered / 登録済み" if s.registered else "not registered / 未登録")
    for p in view.pending_cancellations:
        acct = format_account_id(p.aws_account_id or "")
        table.add_row(
            "[yellow]to do[/]",
            f"[yellow]Cancel the subscription in AWS account {acct}: AWS Marketplace "
            "Subscriptions -> product -> Manage -> Actions -> Cancel[/]",
        )
    console.print(Panel(table, title=title, expand=False))


def run_demo(database: Path, console: Console, pause: Callable[[], None] = lambda: None) -> str:
    if database.exists():
        database.unlink()
    url = f"sqlite:///{database}"
    upgrade(url)
    store = Store(url)
    try:
        catalog = load_catalog()
        store_catalog(store.uow(), catalog)
        product = catalog.products[0]
        tenant_id = tenant_service.create_tenant(store.uow(), "Example Corp", DEMO_EMAIL, DEMO_PASSWORD)
        with store.uow() as uow:
            user = uow.tenants.user_by_email(DEMO_EMAIL)
            assert user is not None
            user_id = user.id
        console.print(f"Database: {url}\nTenant [bold]Example Corp[/] ({tenant_id}), owner {DEMO_EMAIL}\n")

        def register(account: str) -> str:
            agreement_id = "agmt-" + secrets.token_hex(12)
            arn = f"arn:aws:license-manager::{catalog.seller_account_id}:license:l-{secrets.token_hex(16)}"
            record_registration(store.uow(), Registration(account, product.product_code, agreement_id, arn))
            return agreement_id

        t0 = now_utc() - timedelta(days=30)
        src = register(SOURCE)
        receive_event(store.uow, envelope_from_eventbridge(_agreement_event(catalog, "Created", src, SOURCE, t0)))
        _, view = link_agreement(store.uow(), tenant_id, user_id, src, t0)
        _page(console, "Before: paying from the source account (切換元)", view)
        pause()

        dst = register(DESTINATION)
        now = now_utc()
        receive_event(store.uow, envelope_from_eventbridge(_agreement_event(catalog, "Created", dst, DESTINATION, now)))
        _, view = link_agreement(store.uow(), tenant_id, user_id, dst, now)
        _page(console, "Step 1 done: linked to the destination account (切換先)", view)
        pause()

        ended = _agreement_event(catalog, "Ended", src, SOURCE, now_utc(), status="CANCELLED")
        receipt = receive_event(store.uow, envelope_from_eventbridge(ended))
        again = receive_event(store.uow, envelope_from_eventbridge(ended))  # EventBridge delivers at least once
        console.print(f"'Purchase Agreement Ended' for the source: {receipt.status}; delivered again: {again.status}")
        view = tenant_service.show_tenant(store.uow(), tenant_id).subscription  # type: ignore[assignment]
        _page(console, "Step 2 done: source subscription cancelled", view)
        return tenant_id
    finally:
        store.dispose()


def serve_demo_sandbox(state: Path, port: int, console: Console) -> None:
    """The sandbox with the seed's starting point: 1111-1111-1111 already holds the reseller's private offer."""
    from mplink.sandbox.server import build_sandbox, serve

    if state.exists():
        state.unlink()
    catalog = load_catalog()
    box = build_sandbox(catalog, state)
    private = next(o for o in catalog.products[0].offers if o.private)
    box.market.subscribe(SOURCE, private.offer_id)
    base = f"http://127.0.0.1:{port}"
    console.print(
        f"\nAWS Marketplace sandbox: {base}  (boto3 endpoint_url, access key AKIA<account id>)\n"
        f"Buyer console: {base}/console  -- act as {format_account_id(DESTINATION)} and subscribe to "
        f"'{private.name}', or as {format_account_id(SOURCE)} to see it as the current subscription.\n"
        "Press Ctrl-C to stop."
    )
    serve(box, "127.0.0.1", port)
