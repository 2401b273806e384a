"""The older benches: the domain applying events, event intake into the store, and the sandbox alone."""

from __future__ import annotations

import tempfile
from datetime import timedelta

from benchmarks.common import emit, rate
from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.domain.ledger import Ledger
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.events import envelope_from_eventbridge, receive_event


def bench_domain() -> None:
    from tests.unit.test_event_order import EVENTS, _start

    def once() -> int:
        ledger = _start()
        for ev in EVENTS:
            ledger.apply(ev)
        return len(EVENTS)

    emit("domain.apply_events", rate(once), "events/s")
    assert isinstance(_start(), Ledger)


def bench_event_intake(name: str, url: str) -> None:
    from tests.support.factories import eventbridge

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


def bench_sandbox_alone() -> None:
    """BatchMeterUsage records/s through boto3 against the sandbox on 127.0.0.1, timed alone with its quota OFF:
    what the sandbox can answer, not what a seller can send (that is ``metering.sender``)."""
    import boto3

    from mplink.sandbox.catalog import seed_catalog
    from mplink.sandbox.marketplace import SandboxSettings
    from mplink.sandbox.server import build_sandbox
    from tests.support.servers import serve_app

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
                    result = client.batch_meter_usage(UsageRecords=batch)
                    assert all(r["Status"] == "Success" for r in result["Results"]), result["Results"][:1]
                    return len(batch)

                value = rate(once, min_seconds=2.0)
                emit("sandbox.batch_meter_usage", value, "records/s (the sandbox alone, quota off)")
        finally:
            box.close()
