"""Reads stay consistent under concurrent writes on PostgreSQL: the seller's API answers every read of
a tenant's subscription and account change with 200 and one coherent state while other processes link
new agreements and end old ones. A ledger read takes several queries; they run in one REPEATABLE READ
snapshot, so a commit that lands between them cannot tear the answer (never two paying agreements, never
a link to an agreement the answer does not show)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.services.auth import create_api_key
from mplink.services.catalog import load_catalog as store_catalog
from mplink.services.tenants import create_tenant
from mplink.web.app import create_app
from tests.support.churn import churn
from tests.support.factories import license_arn
from tests.support.pgserver import TempPostgres
from tests.support.servers import serve_app
from tests.support.web import seller_settings

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

READS = 100
#: changes of the paying agreement that must land while the reads go on
CHANGES = 10
WRITERS = 2


def check_subscription(body: dict[str, Any]) -> None:
    """One answer, one state: the paying agreement, its license and the pending cancellations agree."""
    pending = [p["agreement_id"] for p in body["pending_cancellations"]]
    assert len(pending) == len(set(pending)), body
    if body["type"] == "aws_marketplace":
        assert body["agreement_id"] and body["license_arn"] == license_arn(body["agreement_id"]), body
        assert body["agreement_id"] not in pending, body
        assert body["services"] and all(s["registered"] for s in body["services"]), body
    else:
        assert body["agreement_id"] is None, body


STATES = {"started", "destination_linked", "verified", "source_cancel_pending", "done", "aborted"}


def check_account_change(body: dict[str, Any]) -> None:
    """The change's state, its two agreements and its steps agree with each other."""
    assert body["state"] in STATES, body
    steps = {s["name"]: s for s in body["steps"]}
    assert list(steps) == ["link", "check", "cancel"], body
    linked = body["state"] not in ("started", "aborted")
    assert steps["link"]["done"] == linked, body
    assert steps["cancel"]["done"] == (body["state"] == "done"), body
    if linked:
        assert body["to"]["agreement_id"] and body["to"]["agreement_id"] != body["from"]["agreement_id"], body
    for step in steps.values():
        assert (step["at"] is not None) == step["done"], body


def test_reads_stay_consistent_while_other_processes_write(
    postgres_server: TempPostgres | None, tmp_path: Path
) -> None:
    if postgres_server is None:
        pytest.skip("PostgreSQL is not installed here")
    url = postgres_server.create_database()
    upgrade(url)
    store = Store(url)
    store_catalog(store.uow(), load_catalog())
    tenant_id = create_tenant(store.uow(), "Example Corp", "admin@example.com", "correct horse battery")
    key, _ = create_api_key(store.uow(), tenant_id)
    ctx = multiprocessing.get_context("spawn")
    stop, done = ctx.Event(), ctx.Value("i", 0)
    writers = [ctx.Process(target=churn, args=(url, tenant_id, i, stop, done)) for i in range(WRITERS)]
    app = create_app(seller_settings(url, None), store=store)
    try:
        with serve_app(app) as base, httpx.Client(base_url=base, timeout=30) as client:
            for w in writers:
                w.start()
            deadline = time.monotonic() + 60
            while done.value < 3 and time.monotonic() < deadline:
                time.sleep(0.05)  # the writers are under way
            client.headers["Authorization"] = f"Bearer {key}"
            seen: set[str] = set()
            first, reads = done.value, 0
            # read until both enough reads were made and enough changes landed while reading
            while reads < READS or done.value - first < CHANGES:
                assert time.monotonic() < deadline + 120, "the writers made too little progress"
                r = client.get(f"/api/v1/tenants/{tenant_id}/subscription")
                assert r.status_code == 200, r.text
                check_subscription(r.json())
                seen.add(r.json()["agreement_id"] or "")
                r = client.get(f"/api/v1/tenants/{tenant_id}/account-change")
                assert r.status_code == 200, r.text
                check_account_change(r.json())
                reads += 1
    finally:
        stop.set()
        for w in writers:
            w.join(timeout=60)
        store.dispose()
    assert [w.exitcode for w in writers] == [0] * WRITERS
    # the reads really overlapped with writes: they saw the paying agreement change again and again
    assert len(seen) > 5, len(seen)
