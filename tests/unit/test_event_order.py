"""R8 as a property: any shuffled delivery of an event sequence, each event repeated 1-3 times, ends in
the same state as in-order delivery (agreements, links, account changes, license and legacy facts)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.event_story import EVENTS, _start, snapshot


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """A subset of the events in order, and a shuffled delivery of it with each event 1-3 times."""
    chosen = draw(st.lists(st.sampled_from(range(len(EVENTS))), min_size=1, unique=True).map(sorted))
    repeated = [i for i in chosen for _ in range(draw(st.integers(min_value=1, max_value=3)))]
    return chosen, draw(st.permutations(repeated))


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_any_delivery_order_ends_in_the_in_order_state(case: tuple[list[int], list[int]]) -> None:
    in_order, delivered = case
    expected = _start()
    for i in in_order:
        expected.apply(EVENTS[i])
    actual = _start()
    for i in delivered:
        actual.apply(EVENTS[i])
    assert snapshot(actual) == snapshot(expected)


def test_full_sequence_reaches_the_expected_end_state() -> None:
    """The property above compares two runs; this pins what the in-order run itself must reach."""
    ledger = _start()
    for ev in EVENTS:
        ledger.apply(ev)
    assert ledger.open_link_of_tenant("t1").agreement_id == "D"  # type: ignore[union-attr]
    assert ledger.agreements["A"].ended and not ledger.agreements["A"].cancellation_pending
    assert ledger.agreements["B"].offer_id == "offer-y"
    assert [c.state.value for c in ledger.changes] == ["done"]
