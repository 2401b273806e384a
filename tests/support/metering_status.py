"""A database whose metering status has one of everything operators see: a missed hour, late usage billed in a
later hour, usage nobody paid for, and pending records with usage and zeros. Built with the services and the
store's own intake rows, with the clock given to ``catch_up`` (no AWS call: nothing is sent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mplink.adapters.store.uow import Store
from mplink.domain.agreement import Agreement
from mplink.domain.clock import HOUR, hour_of
from mplink.services.metering import catch_up
from mplink.services.tenants import create_tenant
from tests.support.sandbox_fixtures import PRODUCT_CODE, SRC

DIMENSION = "conformity_accounts"
#: the hour that is missed: metered more than 24 hours after it started
MISSED = datetime(2026, 11, 20, 10, tzinfo=UTC)


@dataclass(frozen=True)
class MeteredState:
    paying: str  # tenant id of the tenant paying through agmt-1
    unlinked: str  # tenant id of a tenant nobody pays for
    missed_hour: datetime
    metered_through: datetime


def _usage(store: Store, tenant: str, agreement: str | None, rows: list[tuple[str, datetime, int]]) -> None:
    with store.uow() as uow:
        uow.metering.add_usage(
            [
                {"tenant_id": tenant, "idempotency_key": key, "dimension": DIMENSION, "quantity": qty,
                 "occurred_at": at, "hour": hour_of(at), "agreement_id": agreement, "received_at": at}
                for key, at, qty in rows
            ]
        )  # fmt: skip
        uow.commit()


def metered_state(store: Store) -> MeteredState:
    """``paying``: 4 in MISSED (hour_missed), 1 in the hour after (pending usage record), 5 that came after its
    hour was metered (late_billed); ``unlinked``: 3 with no agreement (no_agreement)."""
    paying = create_tenant(store.uow(), "Example", "admin@example.com", "correct horse battery")
    unlinked = create_tenant(store.uow(), "Other", "other@example.com", "correct horse battery")
    with store.uow() as uow:
        uow.session.add(
            Agreement(
                "agmt-1", product_code=PRODUCT_CODE, aws_account_id=SRC, accepted_at=datetime(2026, 1, 1, tzinfo=UTC)
            )
        )
        uow.commit()
    _usage(store, paying, "agmt-1", [("k1", MISSED + timedelta(minutes=5), 4), ("k2", MISSED + HOUR, 1)])
    _usage(store, unlinked, None, [("u1", MISSED + timedelta(minutes=7), 3)])
    catch_up(store.uow, now=MISSED + timedelta(minutes=6))  # metered through the hour before MISSED
    catch_up(store.uow, now=MISSED + 24 * HOUR + timedelta(minutes=30))  # MISSED is too old now
    last = MISSED + 23 * HOUR
    _usage(store, paying, "agmt-1", [("late", last + timedelta(minutes=10), 5)])  # its hour is already metered
    catch_up(store.uow, now=last + 2 * HOUR + timedelta(minutes=6))  # billed in the next hour
    return MeteredState(paying, unlinked, MISSED, last + HOUR)
