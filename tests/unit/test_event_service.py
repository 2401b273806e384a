"""Event intake as a use case (R8), on the in-memory unit of work: the raw event is stored before it is
processed, a redelivery is recognised, a failure is recorded and replayed, never lost. Event shapes follow
the examples of AWS's seller guide, "Amazon EventBridge notifications" (events for agreements and licenses),
and the SNS message of "SaaS product notifications through Amazon SNS"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mplink.domain.errors import InvalidEvent
from mplink.services.events import (
    envelope_from_eventbridge,
    envelope_from_sns,
    process_event,
    receive_event,
    replay_failed,
)
from tests.support.factories import DST, SRC, at, eventbridge, license_arn, license_event, sns_envelope
from tests.support.world import World


@pytest.fixture
def w() -> World:
    world = World()
    world.tenant("t1", "u1")
    world.subscribe("tok-src", "agmt-src", SRC)
    world.link("tok-src")
    return world


def created(agreement: str = "agmt-new", **kw: Any) -> dict[str, Any]:
    return eventbridge("Purchase Agreement Created", agreement, time=at(5), **kw)


def test_an_event_is_stored_then_processed(w: World) -> None:
    receipt = receive_event(w.uow, envelope_from_eventbridge(created()))
    assert receipt.status == "processed"
    entry = w.uow.committed.inbox[receipt.dedup_key]
    assert entry.status == "processed" and entry.attempts == 1 and entry.processed_at is not None
    assert w.uow.committed.agreements["agmt-new"].aws_account_id == DST


def test_a_redelivery_is_a_duplicate_and_changes_nothing(w: World) -> None:
    env = envelope_from_eventbridge(created())
    receive_event(w.uow, env)
    commits = w.uow.commits
    assert receive_event(w.uow, env).status == "duplicate"
    assert w.uow.commits == commits


def test_the_dedup_key_is_the_channel_and_the_event_id(w: World) -> None:
    assert envelope_from_eventbridge(created(event_id="e-1")).dedup_key == "eventbridge:e-1"
    assert envelope_from_sns(sns_envelope("subscribe-success", "c", message_id="m-1")).dedup_key == "sns:m-1"


def test_an_unrelated_detail_type_is_ignored_not_failed(w: World) -> None:
    raw = created()
    raw["detail-type"] = "Something Else Happened"
    assert receive_event(w.uow, envelope_from_eventbridge(raw)).status == "ignored"


def test_an_event_that_cannot_be_applied_is_kept_as_failed(w: World) -> None:
    raw = created()
    raw["detail"]["agreement"]["id"] = ""  # well-formed envelope, unusable event
    receipt = receive_event(w.uow, envelope_from_eventbridge(raw))
    assert receipt.status == "failed" and receipt.error
    entry = w.uow.committed.inbox[receipt.dedup_key]
    assert entry.status == "failed" and entry.last_error and json.loads(entry.payload) == raw


def test_a_failed_event_is_replayed_once_the_cause_is_gone(w: World) -> None:
    raw = created()
    raw["detail"]["agreement"]["id"] = ""
    receipt = receive_event(w.uow, envelope_from_eventbridge(raw))
    with w.uow:  # an operator corrects the stored payload (or a fix is deployed)
        entry = w.uow.committed.inbox[receipt.dedup_key]
        fixed = json.loads(entry.payload)
        fixed["detail"]["agreement"]["id"] = "agmt-new"
        w.uow.work.inbox[receipt.dedup_key] = type(entry)(**{**entry.__dict__, "payload": json.dumps(fixed)})
        w.uow.commit()
    assert [r.status for r in replay_failed(w.uow)] == ["processed"]
    assert w.uow.committed.inbox[receipt.dedup_key].attempts == 2


def test_replay_touches_only_failed_and_pending_events(w: World) -> None:
    receive_event(w.uow, envelope_from_eventbridge(created()))
    assert replay_failed(w.uow) == []


def test_processing_an_unknown_key_is_recorded_as_failed_not_raised(w: World) -> None:
    assert process_event(w.uow, "eventbridge:nope").status == "failed"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "JSON object"),
        ({"detail-type": "x"}, "'id'"),
        ({"id": "e"}, "'detail-type'"),
        ({"id": "", "detail-type": "x"}, "'id'"),
    ],
)
def test_an_unusable_eventbridge_envelope_is_refused(body: object, words: str) -> None:
    with pytest.raises(InvalidEvent, match=words):
        envelope_from_eventbridge(body)


@pytest.mark.parametrize(
    ("body", "words"), [("x", "JSON object"), ({"Type": "Notification"}, "MessageId"), ({"MessageId": "m"}, "Type")]
)
def test_an_unusable_sns_envelope_is_refused(body: object, words: str) -> None:
    with pytest.raises(InvalidEvent, match=words):
        envelope_from_sns(body)


def test_the_source_ending_after_the_change_clears_the_cancel_step(w: World) -> None:
    w.subscribe("tok-dst", "agmt-dst", DST)
    w.link("tok-dst")
    ended = eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(90))
    assert receive_event(w.uow, envelope_from_eventbridge(ended)).status == "processed"
    src = w.uow.committed.agreements["agmt-src"]
    assert src.ended and not src.cancellation_pending


def test_r3_the_paying_agreement_ending_expires_the_tenant(w: World) -> None:
    ended = eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(90))
    receive_event(w.uow, envelope_from_eventbridge(ended))
    assert w.uow.committed.agreements["agmt-src"].revokes_access
    assert [lk.is_open for lk in w.uow.committed.links.values()] == [True]  # nothing is deleted


def test_license_updated_marks_entitlements_stale(w: World) -> None:
    raw = license_event("Updated", license_arn("agmt-src"), event_id="lic-1", time=at(3))
    receive_event(w.uow, envelope_from_eventbridge(raw))
    assert w.uow.committed.agreements["agmt-src"].entitlements_stale


def test_order_does_not_matter_for_two_amendments(w: World) -> None:
    first = eventbridge("Purchase Agreement Amended", "agmt-src", event_id="a1", offer="offer-x", time=at(10))
    second = eventbridge("Purchase Agreement Amended", "agmt-src", event_id="a2", offer="offer-y", time=at(20))
    for raw in (second, first):
        receive_event(w.uow, envelope_from_eventbridge(raw))
    assert w.uow.committed.agreements["agmt-src"].offer_id == "offer-y"
