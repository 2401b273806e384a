"""``mplink sandbox``: the local AWS Marketplace."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from mplink.cli.common import console, fail, friendly_errors, settings


def sandbox(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 4566,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    catalog: Annotated[
        Path | None, typer.Option(help="Catalog file (default: MPLINK_CATALOG, else the seed's).")
    ] = None,
    fulfillment_url: Annotated[str | None, typer.Option(help="Override every product's fulfilment URL.")] = None,
    event_endpoint: Annotated[str | None, typer.Option(help="POST EventBridge events to this URL.")] = None,
    event_secret: Annotated[str | None, typer.Option(help="Send this in the X-Mplink-Secret header.")] = None,
    event_queue_url: Annotated[str | None, typer.Option(help="Send EventBridge events to this SQS queue.")] = None,
    sns_endpoint: Annotated[str | None, typer.Option(help="POST signed legacy SNS messages (legacy products).")] = None,
    state: Annotated[Path, typer.Option(help="SQLite file that keeps agreements across restarts.")] = Path(
        "mplink-sandbox.db"
    ),
    throttle_rps: Annotated[float, typer.Option(min=0, help="BatchMeterUsage calls/s per seller (0: off).")] = 10.0,
    console_token_minutes: Annotated[float, typer.Option(min=0.01, help="Lifetime of console tokens.")] = 240.0,
    api_token_minutes: Annotated[float, typer.Option(min=0.01, help="Lifetime of API tokens.")] = 30.0,
    provisioning_seconds: Annotated[
        float, typer.Option(min=0, help="Time until a new agreement is PROVISIONED.")
    ] = 2.0,
) -> None:
    """Run the local AWS Marketplace: seller and buyer APIs for boto3, a buyer console, event delivery."""
    from mplink.sandbox.catalog import CatalogError, load_catalog
    from mplink.sandbox.marketplace import SandboxSettings
    from mplink.sandbox.server import build_sandbox, serve

    if fulfillment_url is not None and not fulfillment_url.startswith(("http://", "https://")):
        fail("--fulfillment-url must be an http:// or https:// URL")
    for name, url in (
        ("--event-endpoint", event_endpoint),
        ("--event-queue-url", event_queue_url),
        ("--sns-endpoint", sns_endpoint),
    ):
        if url is not None and not url.startswith(("http://", "https://")):
            fail(f"{name} must be an http:// or https:// URL")
    with friendly_errors():
        path = catalog or settings().catalog
    try:
        cat = load_catalog(path)
    except CatalogError as exc:
        fail(str(exc))
    sb_settings = SandboxSettings(
        console_token_ttl=timedelta(minutes=console_token_minutes),
        api_token_ttl=timedelta(minutes=api_token_minutes),
        throttle_rps=throttle_rps,
        provisioning_delay=timedelta(seconds=provisioning_seconds),
        fulfillment_url=fulfillment_url,
    )
    base = f"http://{host}:{port}"
    box = build_sandbox(cat, state, sb_settings, event_endpoint, event_secret, event_queue_url, sns_endpoint, base)
    console.print(f"AWS Marketplace sandbox on {base}  (state: {state})")
    console.print(
        f"  boto3: endpoint_url='{base}', access key AKIA<account id>, e.g. AKIA{cat.seller_account_id} (seller)"
    )
    console.print(f"  buyer console: {base}/console")
    for b in cat.buyer_accounts:
        console.print(f"    {b.account_id}  {b.name}")
    if sns_endpoint:
        console.print(f"  legacy SNS to: {sns_endpoint} (certificate: {base}/_sandbox/sns/cert.pem)")
    if event_endpoint or event_queue_url:
        console.print(f"  events to: {', '.join(x for x in (event_endpoint, event_queue_url) if x)}")
    serve(box, host, port)
