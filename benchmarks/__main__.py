"""Print one JSON object per line: {"bench", "value", "unit", "baseline", "ratio"}.

``baseline`` is the value recorded in baseline.json on the project's reference machine (2 cores);
``ratio`` = value / baseline, so above 1 is faster for rates.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.domain.ledger import Ledger
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.events import envelope_from_eventbridge, receive_event

BASELINE = json.loads((Path(__file__).parent / "baseline.json").read_text())


def emit(name: str, value: float, unit: str) -> None:
    base = BASELINE.get(name)
    ratio = round(value / base, 3) if base else None
    print(
        json.dumps({"bench": name, "value": round(value, 1), "unit": unit, "baseline": base, "ratio": ratio}),
        flush=True,
    )


def rate(fn: Callable[[], int], min_seconds: float = 2.0) -> float:
    """Units per second of ``fn`` (which returns how many units it did), for at least ``min_seconds``
    or until it runs out of work (StopIteration)."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        try:
            done += fn()
        except StopIteration:
            break
    return done / (time.perf_counter() - start)


def bench_domain() -> None:
    from tests.test_event_order import EVENTS, _start

    def once() -> int:
        ledger = _start()
        for ev in EVENTS:
            ledger.apply(ev)
        return len(EVENTS)

    emit("domain.apply_events", rate(once), "events/s")
    assert isinstance(_start(), Ledger)


def bench_intake(name: str, url: str) -> None:
    from tests.factories import eventbridge

    upgrade(url)
    store = Store(url)
    store_catalog(store.uow(), load_catalog())
    counter = iter(range(10**9))

    def once() -> int:
        n = next(counter)
        receive_event(store.uow, envelope_from_eventbridge(eventbridge("Purchase Agreement Created", f"agmt-{n}")))
        return 1

    emit(name, rate(once), "events/s")
    store.dispose()


def bench_sandbox_metering() -> None:
    """BatchMeterUsage records/s through boto3 against the sandbox on 127.0.0.1, throttle off."""
    from datetime import timedelta

    import boto3

    from mplink.sandbox.catalog import seed_catalog
    from mplink.sandbox.marketplace import SandboxSettings
    from mplink.sandbox.server import build_sandbox
    from tests.servers import serve_app

    catalog = seed_catalog()
    product = catalog.products[0]
    public = next(o for o in product.offers if not o.private)
    dims = sorted(product.dimension_keys())
    with tempfile.TemporaryDirectory() as tmp:
        box = build_sandbox(catalog, f"{tmp}/sb.db", SandboxSettings(throttle_rps=0, provisioning_delay=timedelta(0)))
        try:
            box.market.advance_clock(24 * 3600)  # a day of history to meter
            start = box.market.now() - timedelta(hours=23)
            licenses = []
            for i in range(150):
                a = box.market.agreement.subscribe(f"{100000000000 + i:012d}", public.offer_id)
                a.start_time = start - timedelta(hours=1)
                licenses.append((a.account_id, a.license_arn))
            records = [
                {
                    "Timestamp": start + timedelta(hours=h, minutes=5),
                    "Dimension": d,
                    "Quantity": 1,
                    "CustomerAWSAccountId": acct,
                    "LicenseArn": arn,
                }
                for acct, arn in licenses
                for d in dims
                for h in range(23)
            ]
            batches = [records[i : i + 25] for i in range(0, len(records), 25)]
            with serve_app(box.app) as url:
                client = boto3.client(
                    "meteringmarketplace",
                    endpoint_url=url,
                    region_name="us-east-1",
                    aws_access_key_id=f"AKIA{catalog.seller_account_id}",
                    aws_secret_access_key="bench",
                )
                it = iter(batches)

                def once() -> int:
                    batch = next(it)
                    result = client.batch_meter_usage(ProductCode=product.product_code, UsageRecords=batch)
                    assert all(r["Status"] == "Success" for r in result["Results"]), result["Results"][:1]
                    return len(batch)

                emit("sandbox.batch_meter_usage", rate(once, min_seconds=2.0), "records/s")
        finally:
            box.close()


def main() -> None:
    bench_sandbox_metering()
    bench_domain()
    with tempfile.TemporaryDirectory() as tmp:
        bench_intake("store.event_intake.sqlite", f"sqlite:///{tmp}/bench.db")
    from tests.pgserver import TempPostgres, find_bindir

    if find_bindir() is not None:
        server = TempPostgres().start()
        try:
            bench_intake("store.event_intake.postgresql", server.create_database())
        finally:
            server.stop()


if __name__ == "__main__":
    main()
