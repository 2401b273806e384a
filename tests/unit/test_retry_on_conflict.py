"""``retry_on_conflict``: a use case that lost a race runs again on a fresh transaction, with waits drawn
at random (two transactions that deadlocked must not retry in step), and a race lost every time surfaces
the store's own error."""

from __future__ import annotations

import pytest

from mplink.services import unit_of_work
from mplink.services.ports import ConcurrentUpdate
from mplink.services.unit_of_work import ATTEMPTS, FIRST_BACKOFF, retry_on_conflict


class StoreError(Exception):
    pass


def lost_race() -> ConcurrentUpdate:
    try:
        raise StoreError("deadlock detected")
    except StoreError as cause:
        exc = ConcurrentUpdate("lost a race")
        exc.__cause__ = cause
        return exc


def test_runs_again_until_it_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(unit_of_work.time, "sleep", waits.append)
    calls = []

    @retry_on_conflict
    def use_case() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise lost_race()
        return "done"

    assert use_case() == "done" and len(calls) == 3
    assert len(waits) == 2 and all(0 <= w <= FIRST_BACKOFF * 2**i for i, w in enumerate(waits))


def test_a_race_lost_every_time_raises_the_stores_error(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(unit_of_work.time, "sleep", waits.append)

    @retry_on_conflict
    def use_case() -> None:
        raise lost_race()

    with pytest.raises(StoreError, match="deadlock"):
        use_case()
    assert len(waits) == ATTEMPTS - 1


def test_waits_are_jittered(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(unit_of_work.time, "sleep", waits.append)

    @retry_on_conflict
    def use_case() -> None:
        raise lost_race()

    for _ in range(5):
        with pytest.raises(StoreError):
            use_case()
    first_waits = waits[:: ATTEMPTS - 1]
    assert len(set(first_waits)) > 1  # not the same wait every time
