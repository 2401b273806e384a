"""``usage.intake``: events/s through POST /api/v1/usage with 1,000,000 events already stored, against its baseline
measured in the same run: a raw bulk insert of the same rows into the same database (SQLAlchemy Core, 1,000 rows
per transaction, like one request)."""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert

from benchmarks.common import emit, postgres, scaled
from benchmarks.metering import _seller_db, _spread
from mplink.adapters.store import tables as t
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

    # the baseline: the same rows, inserted raw, 1,000 per transaction
    rows = [dict(r, idempotency_key=f"raw-{r['idempotency_key']}") for r in _spread(buyers, hours, measured, rng)]
    started = time.perf_counter()
    for i in range(0, len(rows), PER_REQUEST):
        with store.engine.begin() as c:
            c.execute(insert(t.usage_events), rows[i : i + PER_REQUEST])
    raw = len(rows) / (time.perf_counter() - started)

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
    bodies: list[dict[str, Any]] = []
    for i in range(0, len(rows), PER_REQUEST):
        bodies.append(
            {
                "events": [
                    {
                        "tenant_id": r["tenant_id"],
                        "dimension": r["dimension"],
                        "quantity": r["quantity"],
                        "timestamp": (r["occurred_at"]).isoformat(),
                        "idempotency_key": f"api-{r['idempotency_key']}",
                    }
                    for r in rows[i : i + PER_REQUEST]
                ]
            }
        )
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {key}"}
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/api/v1/usage", json=body, headers=headers)
            assert response.status_code == 200 and response.json()["accepted"] == PER_REQUEST, response.text[:300]
        api = len(rows) / (time.perf_counter() - started)
    store.dispose()
    assert timedelta(0) < now - first
    return api, raw


def bench_usage_intake() -> None:
    with postgres() as new_db, tempfile.TemporaryDirectory() as tmp:
        api, raw = _intake(new_db() if new_db else f"sqlite:///{tmp}/intake.db")
    emit("usage.intake", api, "events/s", baseline=raw)
