"""The store on SQLite and PostgreSQL: repositories, the unit of work, database-held invariants, and
event intake through the inbox (store raw first, dedup, process in one transaction, record failures)."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from mplink.adapters.store import tables as t
from mplink.adapters.store.uow import SqlUnitOfWork, Store
from mplink.domain.agreement import Registration
from mplink.domain.catalog import OfferAllowance
from mplink.domain.errors import Conflict, InvalidValue, NotAuthorized
from mplink.domain.subscription import SubscriptionType, subscription_view
from mplink.domain.tenant import Membership, Role, Tenant, User
from mplink.services import linking
from mplink.services import tenants as tenant_service
from mplink.services.events import envelope_from_eventbridge, envelope_from_sns, receive_event, replay_failed
from tests.support import factories as f
from tests.support.event_story import EVENTS, RAW_EVENTBRIDGE, RAW_SNS, _start, snapshot
from tests.support.factories import DST, PRODUCT_CODE, SRC, T0, at, license_arn
from tests.support.world import seed_catalog


def _tenant(store: Store, tid: str = "t1", role: Role = Role.OWNER) -> None:
    with store.uow() as uow:
        uow.tenants.add_user(User(id=f"u-{tid}", email=f"{tid}@example.com", password_hash="x", created_at=T0))
        tenant = Tenant(id=tid, name=f"Tenant {tid}", created_at=T0)
        tenant.memberships.append(Membership(tenant_id=tid, user_id=f"u-{tid}", role=role))
        uow.tenants.add(tenant)
        uow.commit()


def record_registration(uow: SqlUnitOfWork, registration: Registration) -> None:
    with uow:
        linking.record_registration(uow, registration)
        uow.commit()


def link_agreement(uow: SqlUnitOfWork, tenant_id: str, user_id: str, agreement_id: str, when: datetime) -> Any:
    with uow:
        result = linking.link(uow, tenant_id, agreement_id, when, user_id=user_id)
        uow.commit()
        return result


def _register(store: Store, agreement_id: str, account: str) -> None:
    record_registration(store.uow(), Registration(account, PRODUCT_CODE, agreement_id, license_arn(agreement_id)))


def test_catalog_round_trip(store: Store) -> None:
    with store.uow() as uow:
        catalog = uow.catalog.get()
    assert catalog is not None
    product = catalog.products[0]
    assert product.title == "Trend Micro Cloud One" and len(product.services) == 7
    assert [o.name for o in product.offers] == [
        "Trend Micro for SaaS",
        "Classmethod, Inc. for SaaS 2026-01-01- Private Offer",
    ]
    assert [b.account_id for b in catalog.buyer_accounts] == [SRC, DST]


def test_tenants_create_list_show(store: Store) -> None:
    tid = tenant_service.create_tenant(store.uow(), "  Example   Corp ", "Admin@Example.com", "correct horse")
    assert [i.name for i in tenant_service.list_tenants(store.uow())] == ["Example Corp"]
    info = tenant_service.show_tenant(store.uow(), tid)
    assert info.members[0].email == "admin@example.com" and info.members[0].role == "owner"
    assert info.subscription is not None and info.subscription.type is SubscriptionType.NONE
    # the same person may own a second tenant, proving who they are with their password
    tenant_service.create_tenant(store.uow(), "Second Corp", "admin@example.com", "correct horse")
    with pytest.raises(Conflict):
        tenant_service.create_tenant(store.uow(), "Third Corp", "admin@example.com", "wrong password!")
    with pytest.raises(InvalidValue):
        tenant_service.create_tenant(store.uow(), "Fourth", "someone@example.com", "short")
    assert len(tenant_service.list_tenants(store.uow())) == 2  # the refused ones wrote nothing


def test_billing_account_change_persists(store: Store) -> None:
    _tenant(store)
    _register(store, "agmt-src", SRC)
    link_agreement(store.uow(), "t1", "u-t1", "agmt-src", at(0))
    _register(store, "agmt-dst", DST)
    result, view = link_agreement(store.uow(), "t1", "u-t1", "agmt-dst", at(60))
    assert result.change is not None
    assert view.aws_account_id == DST and [p.aws_account_id for p in view.pending_cancellations] == [SRC]
    with store.uow() as uow:
        ledger = uow.ledger.load(tenant_ids=["t1"])
        catalog = uow.catalog.get()
        assert catalog is not None
        again = subscription_view("t1", ledger, catalog)
        assert again.as_api() == view.as_api()
        assert {(lk.agreement_id, lk.starts_at, lk.ends_at) for lk in ledger.links} == {
            ("agmt-src", at(0), at(60)),
            ("agmt-dst", at(60), None),
        }
        assert ledger.agreements["agmt-src"].superseded_at == at(60)


def test_viewer_cannot_link_and_nothing_is_written(store: Store) -> None:
    _tenant(store, role=Role.VIEWER)
    _register(store, "agmt-dst", DST)
    with pytest.raises(NotAuthorized):
        link_agreement(store.uow(), "t1", "u-t1", "agmt-dst", at(0))
    with store.uow() as uow:
        assert uow.session.execute(select(t.billing_links)).first() is None


def _link_row(lid: str, tenant: str, agreement: str, start: int, end: int | None) -> dict[str, object]:
    return {
        "id": lid,
        "tenant_id": tenant,
        "agreement_id": agreement,
        "starts_at": at(start),
        "ends_at": at(end) if end is not None else None,
    }


def test_one_open_link_per_agreement_is_a_database_constraint(store: Store) -> None:
    _tenant(store, "t1")
    _tenant(store, "t2")
    _register(store, "a1", SRC)
    with store.uow() as uow:
        uow.session.execute(insert(t.billing_links), [_link_row("l1", "t1", "a1", 0, None)])
        uow.commit()
    with store.uow() as uow, pytest.raises(IntegrityError):
        uow.session.execute(insert(t.billing_links), [_link_row("l2", "t2", "a1", 5, None)])
        uow.commit()


def test_one_open_link_per_tenant_is_a_database_constraint(store: Store) -> None:
    _tenant(store, "t1")
    _register(store, "a1", SRC)
    _register(store, "a2", DST)
    with store.uow() as uow, pytest.raises(IntegrityError):
        uow.session.execute(
            insert(t.billing_links), [_link_row("l1", "t1", "a1", 0, None), _link_row("l2", "t1", "a2", 5, None)]
        )
        uow.commit()


def test_links_cannot_end_before_they_start(store: Store) -> None:
    _tenant(store, "t1")
    _register(store, "a1", SRC)
    with store.uow() as uow, pytest.raises(IntegrityError):
        uow.session.execute(insert(t.billing_links), [_link_row("l1", "t1", "a1", 10, 5)])
        uow.commit()


def test_overlapping_links_of_a_tenant_are_refused_on_postgresql(store: Store, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no exclusion constraints; the domain keeps intervals apart there")
    _tenant(store, "t1")
    _register(store, "a1", SRC)
    _register(store, "a2", DST)
    with store.uow() as uow:  # back to back is fine: half-open intervals
        uow.session.execute(
            insert(t.billing_links), [_link_row("l1", "t1", "a1", 0, 10), _link_row("l2", "t1", "a2", 10, 20)]
        )
        uow.commit()
    with store.uow() as uow, pytest.raises(IntegrityError, match="ex_billing_links_no_overlap"):
        uow.session.execute(insert(t.billing_links), [_link_row("l3", "t1", "a1", 15, 30)])
        uow.commit()


def test_event_is_stored_once_and_applied_once(store: Store) -> None:
    raw = f.eventbridge("Purchase Agreement Created", "agmt-dst", time=at(0))
    first = receive_event(store.uow, envelope_from_eventbridge(raw))
    again = receive_event(store.uow, envelope_from_eventbridge(raw))
    assert (first.status, again.status) == ("processed", "duplicate")
    with store.uow() as uow:
        entries = uow.inbox.entries()
        assert len(entries) == 1 and entries[0].status == "processed" and entries[0].attempts == 1
        assert uow.ledger.load(agreement_ids=["agmt-dst"]).agreements["agmt-dst"].offer_id == f.PRIVATE_OFFER


def test_failed_event_is_kept_with_its_error_and_can_be_replayed(store: Store) -> None:
    raw = f.eventbridge("Purchase Agreement Created", "agmt-x", time=at(0))
    raw["detail"]["agreement"]["startTime"] = "not a time"
    receipt = receive_event(store.uow, envelope_from_eventbridge(raw))
    assert receipt.status == "failed" and "startTime" in (receipt.error or "")
    with store.uow() as uow:
        (entry,) = uow.inbox.entries(["failed"])
        assert "startTime" in (entry.last_error or "") and entry.attempts == 1
        assert uow.ledger.load(agreement_ids=["agmt-x"]).agreements == {}  # nothing half-applied
    assert [r.status for r in replay_failed(store.uow)] == ["failed"]
    with store.uow() as uow:
        assert uow.inbox.entries(["failed"])[0].attempts == 2


def test_replay_processes_events_stored_but_never_processed(store: Store) -> None:
    """A worker that crashed between storing and processing leaves a pending event; replay finishes it."""
    env = envelope_from_eventbridge(f.eventbridge("Purchase Agreement Created", "agmt-p", time=at(0)))
    with store.uow() as uow:
        uow.inbox.add(env.dedup_key, env.channel, env.kind, env.payload, at(0))
        uow.commit()
    assert [r.status for r in replay_failed(store.uow)] == ["processed"]
    assert receive_event(store.uow, env).status == "duplicate"
    with store.uow() as uow:
        assert "agmt-p" in uow.ledger.load(agreement_ids=["agmt-p"]).agreements


def test_unrelated_detail_type_is_ignored_not_failed(store: Store) -> None:
    raw = f.eventbridge("Purchase Agreement Created", "agmt-x", time=at(0))
    raw["detail-type"] = "Purchase Agreement Ending - Manufacturer"
    assert receive_event(store.uow, envelope_from_eventbridge(raw)).status == "ignored"


def test_sns_message_goes_through_the_inbox(store: Store) -> None:
    raw = f.sns_envelope("unsubscribe-success", "cust-1", message_id="m-1", time=at(5))
    assert receive_event(store.uow, envelope_from_sns(raw)).status == "processed"
    assert receive_event(store.uow, envelope_from_sns(raw)).status == "duplicate"
    record_registration(
        store.uow(), Registration(DST, PRODUCT_CODE, "agmt-9", license_arn(9), customer_identifier="cust-1")
    )
    with store.uow() as uow:
        assert uow.ledger.load(agreement_ids=["agmt-9"]).agreements["agmt-9"].ended


def _store_start(store: Store) -> None:
    """The same start as the domain property test, through the services and the database."""
    _tenant(store, "t1")
    record_registration(
        store.uow(), Registration(SRC, PRODUCT_CODE, "A", license_arn("A"), customer_identifier="cust-A")
    )
    link_agreement(store.uow(), "t1", "u-t1", "A", at(1))
    _register(store, "B", DST)
    link_agreement(store.uow(), "t1", "u-t1", "B", at(60))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_duplicated_delivery_through_the_store_matches_in_order(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    payloads = [("eb", r) for r in RAW_EVENTBRIDGE] + [("sns", r) for r in RAW_SNS]
    delivery = [p for p in payloads for _ in range(rng.randint(1, 3))]
    rng.shuffle(delivery)
    _store_start(store)
    for channel, raw in delivery:
        env = envelope_from_eventbridge(raw) if channel == "eb" else envelope_from_sns(raw)
        assert receive_event(store.uow, env).status in ("processed", "duplicate")
    expected = _start()
    for ev in EVENTS:
        expected.apply(ev)
    with store.uow() as uow:
        got = snapshot(uow.ledger.load(agreement_ids=["A", "B", "C", "D"], tenant_ids=["t1"]))
    assert got == snapshot(expected)


def test_timestamps_come_back_as_aware_utc(store: Store) -> None:
    _tenant(store)
    _register(store, "a1", SRC)
    link_agreement(store.uow(), "t1", "u-t1", "a1", at(0) + timedelta(microseconds=5))
    with store.uow() as uow:
        (link,) = uow.ledger.load(tenant_ids=["t1"]).links
        assert link.starts_at == at(0) + timedelta(microseconds=5) and link.starts_at.utcoffset() == timedelta(0)


def test_the_catalogs_offer_allowances_are_kept(store: Store) -> None:
    """The offer guard's optional allowances (issue 11) survive a load into the store and back."""
    allowances = (
        OfferAllowance(("offer-public-tm4saas",), tenant_id="t1"),
        OfferAllowance(("offer-public-tm4saas", "offer-cm-sppo-20260101"), reseller_account_id="888888888888"),
    )
    uow = store.uow()
    with uow:
        uow.catalog.replace(dataclasses.replace(seed_catalog(), allowed_offers=allowances))
        uow.commit()
    with store.uow() as uow:
        catalog = uow.catalog.get()
    assert catalog is not None and catalog.allowed_offers == allowances
