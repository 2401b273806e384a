"""Hourly metering through the worker against the sandbox: usage is billed to whichever AWS account
paid at its instant; in the hour of the change both accounts get records; unused dimensions get zeros."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from mplink.adapters.aws import SellerMarketplace
from mplink.domain.clock import HOUR, hour_of
from mplink.worker import Worker
from tests.support.buyer import subscribe
from tests.support.journey import link, token_for, usage
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, PRODUCT_CODE, SRC
from tests.support.seller_fixtures import World

DIMENSIONS = 6  # the seed's product meters six dimensions (account management has none)


def test_hour_of_the_change_bills_both_accounts(world: World) -> None:
    seller, sb = world.seller, world.sandbox
    src = subscribe(sb, SRC, PRIVATE_OFFER)
    link(seller, token_for(sb, SRC, src))
    time.sleep(0.05)
    assert usage(seller, "before", 3, datetime.now(UTC))["unbillable"] == 0
    time.sleep(0.05)
    dst = subscribe(sb, DST, PRIVATE_OFFER)
    link(seller, token_for(sb, DST, dst))
    time.sleep(0.05)
    assert usage(seller, "after", 4, datetime.now(UTC))["unbillable"] == 0

    worker = Worker(seller.store.uow, SellerMarketplace(sb.url), meter=True)
    this_hour = hour_of(datetime.now(UTC))
    result = worker.metering_round(now=this_hour + HOUR + timedelta(minutes=6))
    assert result["written"] >= 2 * DIMENSIONS and result["sent"] == result["written"]

    records = sb.control("GET", "metering", params={"product_code": PRODUCT_CODE})
    mine = [r for r in records if r["hour"] == this_hour.isoformat()]
    # LicenseArn records went without ProductCode: AWS would bill a record sent with both twice
    assert [r for r in mine if r["double_billed"]] == []
    by_account: dict[str, dict[str, float]] = {}
    for r in mine:
        by_account.setdefault(r["account_id"], {})[r["dimension"]] = r["quantity"]
    assert by_account[SRC]["conformity_accounts"] == 3 and by_account[DST]["conformity_accounts"] == 4
    assert len(by_account[SRC]) == DIMENSIONS and len(by_account[DST]) == DIMENSIONS  # zeros for unused ones
    assert sum(by_account[SRC].values()) == 3 and sum(by_account[DST].values()) == 4

    again = worker.metering_round(now=this_hour + HOUR + timedelta(minutes=7))
    assert again["written"] == 0 and again["sent"] == 0  # nothing is metered twice
