"""A writer process for consistency tests: it keeps changing a tenant's paying agreement through the real
use cases (register, link, the old agreement ending), against a shared database, until told to stop."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from mplink.adapters.store.uow import Store
from mplink.domain.agreement import Registration
from mplink.domain.tenant import Role
from mplink.services import linking
from mplink.services.events import envelope_from_eventbridge, receive_event
from mplink.services.ports import UnitOfWork
from mplink.services.unit_of_work import retry_on_conflict
from tests.support.factories import PRODUCT_CODE, eventbridge, license_arn


@retry_on_conflict
def _register_and_link(uow: UnitOfWork, tenant_id: str, agreement_id: str, account: str) -> str | None:
    """Returns the agreement that paid before (now superseded), if any."""
    with uow:
        linking.record_registration(uow, Registration(account, PRODUCT_CODE, agreement_id, license_arn(agreement_id)))
        result, _ = linking.link(uow, tenant_id, agreement_id, datetime.now(UTC), role=Role.ADMIN)
        uow.commit()
        return result.previous_link.agreement_id if result.previous_link else None


def churn(database_url: str, tenant_id: str, writer: int, stop: Any, done: Any) -> None:
    """Link a new agreement, then end the one it superseded, over and over; count the rounds in ``done``."""
    store = Store(database_url)
    try:
        rounds = 0
        while not stop.is_set():
            agreement_id = f"agmt-w{writer}-{rounds}-{uuid.uuid4().hex[:6]}"
            account = f"{writer + 2}" * 12
            previous = _register_and_link(store.uow(), tenant_id, agreement_id, account)
            if previous is not None:
                ended = eventbridge(
                    "Purchase Agreement Ended",
                    previous,
                    event_id=f"ended-{previous}",
                    status="CANCELLED",
                    time=datetime.now(UTC),
                )
                receipt = receive_event(store.uow, envelope_from_eventbridge(json.loads(json.dumps(ended))))
                if receipt.status not in ("processed", "duplicate"):
                    raise AssertionError(f"the Ended event of {previous} was {receipt.status}: {receipt.error}")
            rounds += 1
            with done.get_lock():
                done.value += 1
    finally:
        store.dispose()
