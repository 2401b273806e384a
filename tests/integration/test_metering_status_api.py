"""What operators see of metering over HTTP (Starlette's TestClient) on SQLite and PostgreSQL:
``GET /api/v1/metering/status`` (operator key: everything; tenant key: its own late and unbilled usage) and the
metering gauges on ``/metrics``, read from the database at scrape time, and left out while it cannot be read."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from mplink.adapters.store.uow import Store
from mplink.services.auth import create_api_key
from mplink.services.metering import metering_status
from mplink.web.app import create_app
from tests.support.metering_status import MeteredState, metered_state
from tests.support.web import seller_settings

STATUS = "/api/v1/metering/status"


@dataclass
class Seller:
    client: TestClient
    store: Store
    state: MeteredState
    paying_key: str
    operator_key: str

    def get(self, key: str | None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.get(STATUS, headers=headers, params=params)


@pytest.fixture
def seller(store: Store) -> Iterator[Seller]:
    state = metered_state(store)
    paying_key, _ = create_api_key(store.uow(), state.paying, "test")
    operator_key, _ = create_api_key(store.uow(), None, "test operator")
    with TestClient(create_app(seller_settings(store.url, None), store=store)) as client:
        yield Seller(client, store, state, paying_key, operator_key)


def issues(body: dict[str, object]) -> set[tuple[object, ...]]:
    rows = body["usage_issues"]
    assert isinstance(rows, list)
    return {(i["tenant_id"], i["reason"], i["billed"], i["events"], i["quantity"]) for i in rows}


def test_an_operator_key_sees_the_whole_status(seller: Seller) -> None:
    r = seller.get(seller.operator_key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == metering_status(seller.store.uow()).as_dict()  # the same as 'mplink metering status --json'
    s = seller.state
    assert body["metered_through"] == s.metered_through.isoformat()
    assert body["pending"] == {"final_window": 0, "usage": 2, "zeros": 280, "total": 282}
    assert (body["hourly_capacity"], body["over_capacity"]) == (900_000, False)
    assert body["send_order"] == ["final_window", "usage", "zeros"]
    assert [(m["hour"], m["reason"], m["quantity"]) for m in body["missed_hours"]] == [
        (s.missed_hour.isoformat(), "older_than_24_hours", 4)
    ]
    assert issues(body) == {
        (s.paying, "hour_missed", False, 1, 4),
        (s.paying, "late_billed", True, 1, 5),
        (s.unlinked, "no_agreement", False, 1, 3),
    }
    one = seller.get(seller.operator_key, tenant_id=s.unlinked).json()
    assert issues(one) == {(s.unlinked, "no_agreement", False, 1, 3)} and one["pending"] == body["pending"]


def test_a_tenant_key_sees_only_its_own_late_and_unbilled_usage(seller: Seller) -> None:
    s = seller.state
    expected = {
        "tenant_id": s.paying,
        "usage_issues": [
            i for i in seller.get(seller.operator_key).json()["usage_issues"] if i["tenant_id"] == s.paying
        ],
    }
    for params in ({}, {"tenant_id": s.paying}):
        r = seller.get(seller.paying_key, **params)
        assert r.status_code == 200, r.text
        assert r.json() == expected
    assert issues(expected) == {(s.paying, "hour_missed", False, 1, 4), (s.paying, "late_billed", True, 1, 5)}


def test_refusals(seller: Seller) -> None:
    other = seller.get(seller.paying_key, tenant_id=seller.state.unlinked)
    assert other.status_code == 403 and other.json()["error"] == "http_error"
    assert "another tenant" in other.json()["message"]
    unknown = seller.get(seller.operator_key, tenant_id="no-such-tenant")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found", unknown.text
    assert "no-such-tenant" in unknown.json()["message"]
    assert seller.get(None).status_code == 401
    assert seller.get("not-a-key").status_code == 401


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def test_metrics_show_the_metering_status_at_scrape_time(seller: Seller) -> None:
    s = seller.state
    samples = scrape(seller.client)
    metering = {k: v for k, v in samples.items() if k[0].startswith(("mplink_metering_", "mplink_usage_"))}
    assert metering == {
        ("mplink_metering_pending_records", (("priority", "final_window"),)): 0,
        ("mplink_metering_pending_records", (("priority", "usage"),)): 2,
        ("mplink_metering_pending_records", (("priority", "zeros"),)): 280,
        ("mplink_metering_hourly_capacity_records", ()): 900_000,
        ("mplink_metering_missed_hours", ()): 1,
        ("mplink_metering_metered_through_timestamp_seconds", ()): s.metered_through.timestamp(),
        ("mplink_usage_unbilled_quantity", (("reason", "hour_missed"), ("tenant_id", s.paying))): 4,
        ("mplink_usage_unbilled_quantity", (("reason", "no_agreement"), ("tenant_id", s.unlinked))): 3,
        ("mplink_usage_late_quantity", (("tenant_id", s.paying),)): 5,
        ("mplink_metering_status_up", ()): 1,
    }
    app_state = seller.client.app.state.mplink  # type: ignore[attr-defined]
    app_state.settings = replace(app_state.settings, metering_rate=2.0)  # MPLINK_METERING_RATE=2
    assert scrape(seller.client)[("mplink_metering_hourly_capacity_records", ())] == 180_000


def unreachable(url: str, tmp_path: Path) -> str:
    """The same kind of database where nothing answers: a closed port, or a SQLite file in a missing folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{tmp_path / 'gone' / 'mplink.db'}"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return parsed.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def test_a_scrape_while_the_database_is_unavailable_leaves_the_metering_gauges_out(
    seller: Seller, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app_state = seller.client.app.state.mplink  # type: ignore[attr-defined]
    working = app_state.store
    app_state.store = broken = Store(unreachable(seller.store.url, tmp_path))
    try:
        r = seller.client.get("/metrics")
        assert r.status_code == 200
        samples = scrape(seller.client)
        assert samples[("mplink_metering_status_up", ())] == 0
        assert not [k for k in samples if k[0].startswith(("mplink_metering_pending", "mplink_usage_"))]
        assert "# TYPE mplink_events_total counter" in r.text  # the process's own metrics are still there
        logged = capsys.readouterr()
        assert "metering status unavailable for /metrics" in logged.out + logged.err
    finally:
        app_state.store = working
        broken.dispose()
    assert scrape(seller.client)[("mplink_metering_status_up", ())] == 1
