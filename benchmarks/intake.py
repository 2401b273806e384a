"""``usage.intake``: events/s through POST /api/v1/usage with 1,000,000 events already stored, against its baseline
measured in the same run: a raw bulk insert of the same rows into the same database (SQLAlchemy Core, 1,000 rows
per transaction, like one request). The two take turns, a request's worth each, after the stored rows are
vacuumed and analyzed, so neither meets a busier database than the other."""

from __future__ import annotations

import gc
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import insert

from benchmarks.common import emit, postgres, scaled
from benchmarks.metering import _seller_db, _spread
from mplink.adapters.store import tables as t
from mplink.adapters.store.uow import Store
from mplink.config import Settings
from mplink.domain.clock import HOUR, hour_of
from mplink.services.auth import create_api_key
from mplink.web.app import create_app
from tests.support.metering_load import link_buyers, seller_only_buyers, store_usage

PER_REQUEST = 1000


def _intake(url: str) -> tuple[float, float]:
    stored, measured = scaled(1_000_000), scaled(20_000)
    buyers_n = 1_000
    now = datetime.now(UTC)
    first = hour_of(now) - 24 * HOUR
    hours = [first + i * HOUR for i in range(24)]
    buyers = seller_only_buyers(buyers_n)
    store = _seller_db(url)
    link_buyers(store.engine, buyers, first)
    rng = random.Random(3)
    store_usage(store.engine, _spread(buyers, hours, stored, rng))
    _settle(store)

    rows = list(_spread(buyers, hours, measured, rng))
    key, _ = create_api_key(store.uow(), None, "bench")
    settings = Settings(
        database_url=url,
        aws_endpoint_url=None,
        events_queue_url=None,
        eventbridge_secret=None,
        secret_key="bench",
        catalog=None,
    )
    app = create_app(settings, store=store)
    chunks = [rows[i : i + PER_REQUEST] for i in range(0, len(rows), PER_REQUEST)]
    raw_chunks = [[dict(r, idempotency_key=f"raw-{r['idempotency_key']}") for r in chunk] for chunk in chunks]
    bodies = [
        {
            "events": [
                {
                    "tenant_id": r["tenant_id"],
                    "dimension": r["dimension"],
                    "quantity": r["quantity"],
                    "timestamp": (r["occurred_at"]).isoformat(),
                    "idempotency_key": f"api-{r['idempotency_key']}",
                }
                for r in chunk
            ]
        }
        for chunk in chunks
    ]
    # the bench's own rows are no garbage to collect: a server would not hold them (without this, the collector's
    # full passes over them land in the requests' time)
    gc.collect()
    gc.freeze()
    # raw and API take turns, a chunk each, so both meet the same database (its caches, autovacuum, the disk)
    raw_s = api_s = 0.0
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {key}"}
        for chunk, raw_chunk, body in zip(chunks, raw_chunks, bodies, strict=True):
            started = time.perf_counter()
            with store.engine.begin() as c:
                c.execute(insert(t.usage_events), raw_chunk)
            raw_s += time.perf_counter() - started
            started = time.perf_counter()
            response = client.post("/api/v1/usage", json=body, headers=headers)
            api_s += time.perf_counter() - started
            assert response.status_code == 200 and response.json()["accepted"] == len(chunk), response.text[:300]
    gc.unfreeze()
    api, raw = len(rows) / api_s, len(rows) / raw_s
    store.dispose()
    assert timedelta(0) < now - first
    return api, raw


def _settle(store: Store) -> None:
    """Bring the freshly loaded table to the state of a database in service: vacuumed and analyzed (else
    autovacuum runs over the million rows in the middle of the measurement, on one of the two cores)."""
    with store.engine.connect() as c:
        if store.engine.dialect.name == "postgresql":
            c.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            c.exec_driver_sql("ANALYZE")
            c.commit()


def bench_usage_intake() -> None:
    with postgres() as new_db, tempfile.TemporaryDirectory() as tmp:
        api, raw = _intake(new_db() if new_db else f"sqlite:///{tmp}/intake.db")
    emit("usage.intake", api, "events/s", baseline=raw)
