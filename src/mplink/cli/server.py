"""``mplink serve``, ``mplink worker`` and ``mplink apikey``."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from mplink.cli.common import JsonOption, console, fail, friendly_errors, open_store, open_wiring, print_json, settings

apikey_app = typer.Typer(help="API keys for /api/v1.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Web worker processes.")] = 1,
) -> None:
    """Serve the seller web app and API (registration, subscription page, /api/v1, event intake)."""
    import uvicorn

    cfg = settings()
    if not cfg.secret_key:
        fail("set MPLINK_SECRET_KEY (a long random string): it signs session cookies and CSRF tokens")
    with open_store():
        pass  # checks the database answers and its schema is up to date
    console.print(f"mplink on http://{host}:{port}  (database {cfg.database_url.split('@')[-1]})")
    uvicorn.run(
        "mplink.web.main:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="warning",
        access_log=False,
    )


def worker(
    once: Annotated[bool, typer.Option(help="Do one round and exit.")] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between rounds when idle.")] = 2.0,
    metering: Annotated[bool, typer.Option(help="Write and send hourly metering records.")] = True,
    as_json: bool = JsonOption,
) -> None:
    """Take events from MPLINK_EVENTS_QUEUE_URL, retry failed ones, refresh entitlements, meter hourly."""
    from mplink.worker import Worker

    with open_wiring() as wiring, friendly_errors():
        cfg = wiring.settings
        w = Worker(wiring.uow, wiring.marketplace, cfg.events_queue_url, meter=metering)
        if once:
            stats = w.run_once()
            if as_json:
                print_json(stats)
            else:
                console.print(", ".join(f"{k}: {v}" for k, v in sorted(stats.items())) or "nothing to do")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        console.print(f"mplink worker: queue {cfg.events_queue_url or 'none (HTTP intake only)'}; Ctrl-C stops")
        w.run_forever(stop, interval)


@apikey_app.command("create")
def apikey_create(
    tenant: Annotated[str | None, typer.Option(help="The tenant the key acts for (as its admin).")] = None,
    operator: Annotated[bool, typer.Option(help="A key for operator listings across tenants.")] = False,
    name: Annotated[str, typer.Option(help="A note to recognise the key by.")] = "",
    as_json: bool = JsonOption,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from mplink.services.auth import create_api_key

    if bool(tenant) == operator:
        fail("give exactly one of --tenant ID or --operator")
    with open_store() as store, friendly_errors():
        key, row = create_api_key(store.uow(), tenant, name)
    if as_json:
        print_json({"key": key, "id": row.id, "scope": row.scope, "tenant_id": row.tenant_id})
    else:
        print(key)
