"""Administration commands: database schema, catalog, tenants.

The database, the services and the catalog reader are imported inside each command, so that
``mplink --help`` does not load them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mplink.cli.common import (
    JsonOption,
    console,
    fail,
    friendly_errors,
    missing_sqlite_file,
    open_store,
    open_wiring,
    print_json,
    settings,
)
from mplink.domain.ids import format_account_id

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
catalog_app = typer.Typer(help="Products, services, dimensions and offers.", no_args_is_help=True)
tenant_app = typer.Typer(help="Create and inspect one tenant.", no_args_is_help=True)
tenants_app = typer.Typer(help="List tenants.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(as_json: bool = JsonOption) -> None:
    """Create or migrate the schema (MPLINK_DATABASE_URL). Safe to run again."""
    from mplink.adapters.store.migrate import current_revision, upgrade

    url = settings().database_url
    with open_store(require_schema=False, create=True) as store:
        before = current_revision(store.engine)
        upgrade(url)
        after = current_revision(store.engine)
    result = {
        "database": store.engine.url.render_as_string(hide_password=True),
        "from": before,
        "to": after,
        "changed": before != after,
    }
    if as_json:
        print_json(result)
    elif before == after:
        console.print(f"Schema already at revision {after} ({result['database']}).")
    else:
        console.print(f"Schema upgraded from {before or 'empty'} to {after} ({result['database']}).")


@db_app.command("status")
def db_status(as_json: bool = JsonOption) -> None:
    """Show the schema revision of the database and the newest one this mplink knows."""
    from mplink.adapters.store.migrate import current_revision, head_revision

    url = settings().database_url
    if missing_sqlite_file(url):  # no database yet: nothing to open (opening would create an empty file)
        current, head = None, head_revision(url)
    else:
        with open_store(require_schema=False) as store:
            current = current_revision(store.engine)
            head = head_revision(store.url)
    if as_json:
        print_json({"current": current, "head": head, "up_to_date": current == head})
    else:
        state = "up to date" if current == head else "run 'mplink db upgrade'"
        console.print(f"current: {current or 'empty'}  head: {head}  {state}")


@catalog_app.command("load")
def catalog_load(
    file: Annotated[
        Path | None, typer.Argument(help="Catalog JSON file (default: MPLINK_CATALOG, else the seed's scenario).")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Validate a catalog file and load it; a bad file is refused whole and nothing is loaded."""
    from mplink.adapters.catalog_file import load_catalog as read_catalog_file
    from mplink.services import catalog as catalog_service

    source = file or settings().catalog
    with friendly_errors():
        catalog = read_catalog_file(source)
    with open_store() as store:
        catalog_service.load_catalog(store.uow(), catalog)
    summary = {
        "source": str(source) if source else "built-in",
        "seller_account_id": catalog.seller_account_id,
        "products": [
            {"product_id": p.product_id, "title": p.title, "services": len(p.services), "offers": len(p.offers)}
            for p in catalog.products
        ],
        "buyer_accounts": [b.account_id for b in catalog.buyer_accounts],
    }
    if as_json:
        print_json(summary)
        return
    for p in catalog.products:
        console.print(f"Loaded [bold]{p.title}[/] ({p.product_id}): {len(p.services)} services, {len(p.offers)} offers")
        for o in p.offers:
            kind = "private" if o.private else "public"
            console.print(f"  - {o.name} ({kind}, proposer {format_account_id(o.proposer_account_id)})")


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="The tenant's name, e.g. 'Example Corp'.")],
    admin_email: Annotated[str, typer.Option("--admin-email", help="Email of the tenant's owner.")],
    admin_password: Annotated[str, typer.Option("--admin-password", help="Password of the owner (10+ characters).")],
    as_json: bool = JsonOption,
) -> None:
    """Create a tenant and its owner; prints the tenant id."""
    from mplink.services import tenants as tenant_service

    with open_store() as store, friendly_errors():
        tenant_id = tenant_service.create_tenant(store.uow(), name, admin_email, admin_password)
    if as_json:
        print_json({"id": tenant_id, "name": " ".join(name.split()), "admin_email": admin_email.strip().lower()})
    else:
        print(tenant_id)


@tenants_app.command("list")
def tenants_list(
    offset: Annotated[int, typer.Option(min=0, help="Skip this many tenants.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Show at most this many.")] = 100,
    as_json: bool = JsonOption,
) -> None:
    """List tenants, oldest first."""
    from rich.table import Table

    from mplink.services import tenants as tenant_service

    with open_store() as store, friendly_errors():
        infos = tenant_service.list_tenants(store.uow(), offset, limit)
    if as_json:
        print_json([i.as_dict() for i in infos])
        return
    if not infos:
        console.print("No tenants yet: create one with 'mplink tenant create NAME --admin-email E --admin-password P'.")
        return
    table = Table("id", "name", "owner", "created")
    for i in infos:
        owners = ", ".join(m.email for m in i.members if m.role == "owner")
        table.add_row(i.id, i.name, owners, i.created_at.strftime("%Y-%m-%d %H:%M UTC"))
    console.print(table)


@tenant_app.command("show")
def tenant_show(
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="Tenant id (see 'mplink tenants list').")],
    as_json: bool = JsonOption,
) -> None:
    """Show a tenant, its members and its subscription."""
    from mplink.services import tenants as tenant_service

    with open_store() as store, friendly_errors():
        info = tenant_service.show_tenant(store.uow(), tenant_id)
    if as_json:
        print_json(info.as_dict())
        return
    console.print(f"[bold]{info.name}[/]  ({info.id})")
    console.print(f"created {info.created_at.strftime('%Y-%m-%d %H:%M UTC')}")
    for m in info.members:
        console.print(f"  {m.role:<8} {m.email}")
    sub = info.subscription
    if sub is None:
        return
    labels = {"aws_marketplace": "AWS Marketplace", "expired": "Trial or Subscription Expired", "none": "none"}
    console.print(f"subscription type: {labels[sub.type.value]}")
    if sub.aws_account_id:
        console.print(f"paying AWS account: {format_account_id(sub.aws_account_id)}")
    if sub.offer:
        console.print(f"offer: {sub.offer.name}{' (private)' if sub.offer.private else ''}")
    for s in sub.services:
        console.print(f"  {'registered    ' if s.registered else 'not registered'}  {s.name}")
    for p in sub.pending_cancellations:
        acct = format_account_id(p.aws_account_id) if p.aws_account_id else "?"
        console.print(f"[yellow]cancel the subscription left in AWS account {acct} (agreement {p.agreement_id})[/]")


@tenant_app.command("end-old-subscription")
def tenant_end_old_subscription(
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="Tenant id (see 'mplink tenants list').")],
    as_json: bool = JsonOption,
) -> None:
    """Ask AWS, as the seller, to end the agreement the tenant's account change moved away from (an agreement
    cancellation request, which the old account approves). Only once the change is verified; asking again
    returns the same request while it waits or after it was approved."""
    from mplink.domain.tenant import Role
    from mplink.services.account_change import request_source_end

    with open_wiring() as wiring, friendly_errors():
        view = request_source_end(wiring.uow(), wiring.marketplace, tenant_id, Role.ADMIN)
    if as_json:
        print_json(view.as_api())
        return
    request_id, status = view.cancellation_request or ("?", "?")
    account = format_account_id(view.from_.aws_account_id) if view.from_.aws_account_id else "?"
    console.print(f"cancellation request {request_id} for agreement {view.from_.agreement_id}: {status}")
    if status == "PENDING_APPROVAL":
        console.print(f"AWS account {account} approves it in AWS Marketplace (AWS approves it after 7 days)")


def demo(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the seller app.")] = 8000,
    sandbox_port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the sandbox.")] = 4566,
    workdir: Annotated[Path, typer.Option(help="Where the demo's SQLite files go (recreated).")] = Path("."),
    check: Annotated[bool, typer.Option(help="Start, seed, print the guide, then stop (for scripts).")] = False,
) -> None:
    """Run the sandbox, the seller app and the worker on SQLite with the seed's scenario."""
    import time

    from mplink.demo import print_guide, start_demo

    if port == sandbox_port:
        fail("--port and --sandbox-port must differ")
    import signal

    def stop_on_term(*_: object) -> None:
        raise KeyboardInterrupt  # so the processes the demo started are stopped too

    signal.signal(signal.SIGTERM, stop_on_term)
    with friendly_errors():
        run = start_demo(workdir, port, sandbox_port, lambda m: console.print(m))
    try:
        print_guide(run, console)
        while not check:
            if any(p.poll() is not None for p in run.procs):
                fail("a demo process stopped; see its messages above", code=1)
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        run.stop()


events_app = typer.Typer(help="The marketplace event inbox.", no_args_is_help=True)


@events_app.command("list")
def events_list(
    status: Annotated[
        list[str] | None, typer.Option(help="Only these statuses: pending, processed, ignored, failed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    as_json: bool = JsonOption,
) -> None:
    """List stored events, oldest first, with their processing status and last error."""
    from rich.table import Table

    allowed = {"pending", "processed", "ignored", "failed"}
    wanted = status or []
    unknown = sorted(set(wanted) - allowed)
    if unknown:
        fail(f"unknown status {unknown[0]!r}: use one of {', '.join(sorted(allowed))}")
    with open_store() as store, friendly_errors(), store.uow() as uow:
        entries = uow.inbox.entries(wanted, limit)
    if as_json:
        print_json([{k: v for k, v in e.__dict__.items() if k != "payload"} for e in entries])
        return
    table = Table("key", "kind", "status", "attempts", "received", "last error")
    for e in entries:
        table.add_row(
            e.dedup_key,
            e.kind,
            e.status,
            str(e.attempts),
            e.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.last_error or "",
        )
    console.print(table)


@events_app.command("replay")
def events_replay(
    limit: Annotated[int, typer.Option(min=1, max=100000, help="Replay at most this many.")] = 1000,
    as_json: bool = JsonOption,
) -> None:
    """Process again every stored event that failed or was never processed."""
    from mplink.services.events import replay_failed

    with open_wiring() as wiring, friendly_errors():
        receipts = replay_failed(wiring.uow, limit, wiring.marketplace)
    counts: dict[str, int] = {}
    for r in receipts:
        counts[r.status] = counts.get(r.status, 0) + 1
    if as_json:
        print_json(
            {
                "replayed": len(receipts),
                "by_status": counts,
                "failed": [{"key": r.dedup_key, "error": r.error} for r in receipts if r.status == "failed"],
            }
        )
        return
    console.print(
        f"Replayed {len(receipts)} events: "
        + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to do")
    )
    for r in receipts:
        if r.status == "failed":
            console.print(f"  [red]failed[/] {r.dedup_key}: {r.error}")
