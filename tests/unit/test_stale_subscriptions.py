"""Stale subscriptions on the in-memory unit of work: an agreement a tenant superseded (it changed its paying AWS
account, R2) that AWS still runs is stale; one that ended, was deprovisioned, was replaced by a successor (R4)
or pays again is not. The list, its JSON and its CSV are one read."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from mplink.domain.ledger import Ledger
from mplink.domain.stale import stale_subscriptions
from mplink.domain.tenant import Role
from mplink.services.account_change import request_source_end
from mplink.services.events import envelope_from_eventbridge, receive_event
from mplink.services.stale_subscriptions import CSV_COLUMNS, list_stale_subscriptions
from mplink.services.subscriptions import tenant_subscription
from mplink.web.views import left_running, stale_lines
from tests.support.factories import DST, PRIVATE_OFFER, SRC, at, eventbridge, license_arn, license_event
from tests.support.stale import csv_row_of
from tests.support.world import World

OTHER_SRC = "333333333333"
OTHER_DST = "444444444444"


@pytest.fixture
def w() -> World:
    """Three tenants: t1 never changed; t2 changed at at(10) and its old agreement still runs; t3 changed at
    at(20) and its old agreement ended."""
    world = World()
    for tid, user in (("t1", "u1"), ("t2", "u2"), ("t3", "u3")):
        world.tenant(tid, user)
    world.subscribe("t1", "agmt-t1", "555555555555")
    world.link("t1", "t1", "u1", at=at(1))
    world.subscribe("t2-old", "agmt-t2-old", SRC)
    world.link("t2-old", "t2", "u2", at=at(1))
    world.subscribe("t2-new", "agmt-t2-new", DST)
    world.link("t2-new", "t2", "u2", at=at(10))
    world.subscribe("t3-old", "agmt-t3-old", OTHER_SRC)
    world.link("t3-old", "t3", "u3", at=at(1))
    world.subscribe("t3-new", "agmt-t3-new", OTHER_DST)
    world.link("t3-new", "t3", "u3", at=at(20))
    ended = eventbridge("Purchase Agreement Ended", "agmt-t3-old", time=at(30), account=OTHER_SRC, status="CANCELLED")
    receive_event(world.uow, envelope_from_eventbridge(ended))
    return world


def _ledger(w: World) -> Ledger:
    with w.uow:
        return w.uow.ledger.load()


def test_only_the_superseded_agreement_still_running_is_stale(w: World) -> None:
    found = stale_subscriptions(_ledger(w))
    assert [(s.tenant_id, s.agreement_id, s.aws_account_id, s.since) for s in found] == [
        ("t2", "agmt-t2-old", SRC, at(10))
    ]
    assert found[0].age(at(70)) == timedelta(hours=1)
    assert found[0].age(at(0)) == timedelta(0)  # a clock behind the ledger's never gives a negative age


def test_a_deprovisioned_agreement_is_not_stale(w: World) -> None:
    raw = license_event("Deprovisioned", license_arn("agmt-t2-old"), event_id="d1", time=at(40))
    raw["detail"]["agreement"] = {"id": "agmt-t2-old"}
    receive_event(w.uow, envelope_from_eventbridge(raw))
    assert stale_subscriptions(_ledger(w)) == []


def test_an_agreement_that_pays_again_is_not_stale(w: World) -> None:
    w.subscribe("t2-back", "agmt-t2-old", SRC)  # a new registration token of the same agreement
    w.link("t2-back", "t2", "u2", at=at(50))  # the tenant went back to its old account
    assert [s.agreement_id for s in stale_subscriptions(_ledger(w))] == ["agmt-t2-new"]


def test_an_agreement_replaced_by_a_successor_is_not_stale(w: World) -> None:
    replace = eventbridge(
        "Purchase Agreement Created", "agmt-t2-repl", time=at(40), account=SRC, intent="REPLACE", previous="agmt-t2-old"
    )
    receive_event(w.uow, envelope_from_eventbridge(replace))
    assert [s.agreement_id for s in stale_subscriptions(_ledger(w))] == []


def test_the_list_names_offer_tenant_and_seller_and_its_csv_has_the_same_rows(w: World) -> None:
    before = w.uow.snapshots
    report = list_stale_subscriptions(w.uow, now=at(10) + timedelta(days=3))
    assert w.uow.snapshots == before + 1
    assert report.count == 1 and report.oldest_age == timedelta(days=3)
    (row,) = report.rows
    assert (row.tenant_name, row.seller_name) == ("Tenant t2", "Classmethod, Inc.")
    assert row.seller_account_id == "888888888888"
    assert report.as_api() == {
        "items": [
            {
                "tenant_id": "t2",
                "aws_account_id": SRC,
                "agreement_id": "agmt-t2-old",
                "offer": {"id": PRIVATE_OFFER, "name": "Classmethod, Inc. for SaaS 2026-01-01- Private Offer"},
                "since": at(10).isoformat(),
                "cancellation_request": None,
            }
        ]
    }
    parsed = list(csv.DictReader(io.StringIO(report.as_csv())))
    assert list(parsed[0]) == list(CSV_COLUMNS)
    items = report.as_api()["items"]
    assert isinstance(items, list) and parsed == [csv_row_of(i) for i in items]


def test_the_list_carries_the_sellers_cancellation_request(w: World) -> None:
    request_source_end(w.uow, w.market, "t2", Role.ADMIN, at(40))
    report = list_stale_subscriptions(w.uow, now=at(50))
    items = report.as_api()["items"]
    assert isinstance(items, list) and [i["cancellation_request"] for i in items] == [
        {"id": "acr-1", "status": "PENDING_APPROVAL"}
    ]
    parsed = list(csv.DictReader(io.StringIO(report.as_csv())))
    assert (parsed[0]["cancellation_request_id"], parsed[0]["cancellation_request_status"]) == (
        "acr-1",
        "PENDING_APPROVAL",
    )


def test_no_stale_subscription_gives_an_empty_list_and_a_header_only_csv() -> None:
    world = World()
    report = list_stale_subscriptions(world.uow)
    assert report.as_api() == {"items": []} and report.oldest_age is None
    assert list(csv.reader(io.StringIO(report.as_csv()))) == [list(CSV_COLUMNS)]


def test_the_pages_say_how_long_in_the_reader_s_language(w: World) -> None:
    pending = tenant_subscription(w.uow, "t2").view.pending_cancellations
    assert left_running(pending, at(10) + timedelta(days=4), "en") == {"agmt-t2-old": "4 days"}
    assert left_running(pending, at(10) + timedelta(hours=5), "ja") == {"agmt-t2-old": "5 時間"}
    (line,) = stale_lines(list_stale_subscriptions(w.uow, now=at(10) + timedelta(minutes=30)), "en")
    assert (line.account, line.seller, line.left_for) == (
        "1111-1111-1111",
        "Classmethod, Inc. (8888-8888-8888)",
        "30 minutes",
    )
    assert (line.request_id, line.request_status) == ("", "")
