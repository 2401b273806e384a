"""Reading a tenant's subscription and refreshing entitlements, on the in-memory unit of work. A read of
several queries runs in one snapshot, so it can never show a torn state. GetEntitlements is asked again
when the marketplace says entitlements changed (AWS's "License Updated" says something changed, not what)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mplink.domain.errors import NotFound
from mplink.domain.subscription import SubscriptionType
from mplink.services.events import envelope_from_eventbridge, receive_event
from mplink.services.ports import Entitlement
from mplink.services.subscriptions import refresh_entitlements, tenant_entitlements, tenant_subscription
from tests.support.factories import SRC, at, license_arn, license_event
from tests.support.world import World


@pytest.fixture
def w() -> World:
    world = World()
    world.tenant("t1", "u1")
    world.subscribe("tok", "agmt-src", SRC)
    world.link("tok")
    return world


def test_the_subscription_is_read_in_one_snapshot(w: World) -> None:
    before = w.uow.snapshots
    sub = tenant_subscription(w.uow, "t1")
    assert w.uow.snapshots == before + 1
    assert sub.view.type is SubscriptionType.AWS_MARKETPLACE and sub.tenant_name == "Tenant t1"
    assert sub.open_changes == ()


def test_an_unknown_tenant_is_not_found(w: World) -> None:
    with pytest.raises(NotFound):
        tenant_subscription(w.uow, "nope")


def test_without_a_catalog_the_subscription_says_what_to_do() -> None:
    bare = World()
    with bare.uow:
        bare.uow.work.catalog = None
        bare.uow.commit()
    bare.tenant("t1", "u1")
    with pytest.raises(NotFound, match="catalog load"):
        tenant_subscription(bare.uow, "t1")


def test_license_updated_then_refresh_reads_get_entitlements(w: World) -> None:
    arn = license_arn("agmt-src")
    expires = datetime(2027, 1, 1, tzinfo=UTC)
    w.market.entitlements[arn] = [Entitlement("conformity_accounts", {"IntegerValue": 5}, expires)]
    receive_event(w.uow, envelope_from_eventbridge(license_event("Updated", arn, event_id="l1", time=at(5))))
    assert refresh_entitlements(w.uow, w.market) == 1
    assert w.market.called("GetEntitlements") == [arn]
    out = tenant_entitlements(w.uow, "t1")
    assert out["entitlements"] == [
        {
            "dimension": "conformity_accounts",
            "value": {"IntegerValue": 5},
            "expires_at": expires.isoformat(),
            "fetched_at": out["entitlements"][0]["fetched_at"],
        }
    ]
    assert refresh_entitlements(w.uow, w.market) == 0  # nothing is stale any more


def test_marketplace_down_keeps_entitlements_stale_for_the_next_round(w: World) -> None:
    arn = license_arn("agmt-src")
    receive_event(w.uow, envelope_from_eventbridge(license_event("Updated", arn, event_id="l1", time=at(5))))
    w.market.down = True
    assert refresh_entitlements(w.uow, w.market) == 0
    assert w.uow.committed.agreements["agmt-src"].entitlements_stale


def test_a_tenant_without_an_agreement_has_no_entitlements(w: World) -> None:
    w.tenant("t2", "u2")
    assert tenant_entitlements(w.uow, "t2") == {"tenant_id": "t2", "agreement_id": None, "entitlements": []}
