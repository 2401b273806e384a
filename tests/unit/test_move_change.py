"""The verification gate of `mplink move` reads the seller's account change; move decides nothing else.
These are the rules it applies to what the seller reports (the contract of
GET /api/v1/tenants/{id}/account-change)."""

from __future__ import annotations

from typing import Any

import pytest

from mplink.move.change import ChangeStatus, is_done, is_verified, why_not_verified
from mplink.move.errors import SellerApiError

SRC, DST = "111111111111", "222222222222"


def reported(
    state: str, to: str | None = DST, agreement: str | None = "agmt-dst", check: bool | None = None
) -> ChangeStatus:
    checked = state in ("verified", "source_cancel_pending", "done") if check is None else check
    return ChangeStatus.from_api(
        {
            "state": state,
            "from": {"aws_account_id": SRC, "agreement_id": "agmt-src"},
            "to": {"aws_account_id": to, "agreement_id": agreement if to else None},
            "steps": [
                {"name": "link", "done": to is not None, "at": "2026-01-01T00:00:00Z" if to else None},
                {"name": "check", "done": checked, "at": None},
                {"name": "cancel", "done": state == "done", "at": None},
            ],
            "started_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "destination_account_id": to,
        }
    )


@pytest.mark.parametrize("state", ["verified", "source_cancel_pending", "done"])
def test_verified_or_later_with_the_check_step_done_opens_the_gate(state: str) -> None:
    assert is_verified(reported(state), DST, "agmt-dst")


@pytest.mark.parametrize("state", ["started", "destination_linked", "aborted"])
def test_before_verified_the_gate_stays_closed(state: str) -> None:
    assert not is_verified(reported(state, to=None if state == "started" else DST), DST, "agmt-dst")


def test_done_without_the_check_step_is_not_verified() -> None:
    """The source ended before every service was registered: that is no verification."""
    assert not is_verified(reported("done", check=False), DST)


def test_another_destination_or_agreement_is_not_this_move_verified() -> None:
    assert not is_verified(reported("verified", to="333333333333"), DST)
    assert not is_verified(reported("verified", agreement="agmt-other"), DST, "agmt-dst")


def test_without_an_agreement_id_the_destination_account_is_enough() -> None:
    """The manual mode: the buyer subscribed in the console, move does not know the agreement."""
    assert is_verified(reported("verified", agreement="agmt-any"), DST)


def test_no_change_at_the_seller_is_not_verified_nor_done() -> None:
    assert not is_verified(None, DST) and not is_done(None, DST)


def test_done_means_the_sellers_change_to_this_destination_is_done() -> None:
    assert is_done(reported("done"), DST, "agmt-dst")
    assert not is_done(reported("source_cancel_pending"), DST)
    assert not is_done(reported("done", to="333333333333"), DST)
    assert not is_done(reported("done", agreement="agmt-other"), DST, "agmt-dst")


def test_the_reason_names_what_the_seller_shows() -> None:
    assert "not every service is registered" in why_not_verified(reported("destination_linked"), DST)
    assert "not linked yet" in why_not_verified(reported("started", to=None), DST)
    assert "agmt-other, not agmt-dst" in why_not_verified(reported("verified", agreement="agmt-other"), DST, "agmt-dst")
    assert "no account change" in why_not_verified(None, DST)


def test_the_api_object_is_read_into_its_parts() -> None:
    change = reported("verified")
    assert (change.from_account, change.from_agreement, change.to_account, change.to_agreement) == (
        SRC,
        "agmt-src",
        DST,
        "agmt-dst",
    )
    assert change.is_open and change.step_done("link") and not change.step_done("cancel")
    assert change.raw["started_at"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("body", [{"state": "completed"}, {"steps": []}, {"state": "done", "steps": [{"done": True}]}])
def test_an_answer_outside_the_contract_is_the_sellers_error(body: dict[str, Any]) -> None:
    with pytest.raises(SellerApiError):
        ChangeStatus.from_api(body)


def test_a_started_change_goes_to_the_destination_it_was_started_for() -> None:
    started = ChangeStatus.from_api(
        {"state": "started", "from": {}, "to": {}, "steps": [], "destination_account_id": DST}
    )
    assert started.goes_to(DST) and not started.goes_to(SRC)
