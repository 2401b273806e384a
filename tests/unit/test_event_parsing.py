"""Parsing EventBridge events and legacy SNS messages into domain events, and refusing malformed ones."""

from __future__ import annotations

import json

import pytest

from mplink.domain.errors import InvalidEvent, InvalidValue
from mplink.domain.event_parsing import parse_eventbridge, parse_sns_message
from mplink.domain.events import AgreementEvent, AgreementEventKind, LegacyAction, LegacyEvent, LicenseEvent
from mplink.domain.ids import format_account_id, normalize_license_arn, parse_account_id
from mplink.services.events import envelope_from_eventbridge, envelope_from_sns
from tests.support.factories import DST, RESELLER, at, eventbridge, license_arn, license_event, sns_envelope


def test_agreement_created_for_a_channel_partner_offer() -> None:
    raw = eventbridge("Purchase Agreement Created", "agmt-1", intent="REPLACE", previous="agmt-0", time=at(3))
    raw["detail-type"] = "Purchase Agreement Created - Proposer"
    ev = parse_eventbridge(raw)
    assert isinstance(ev, AgreementEvent)
    assert ev.kind is AgreementEventKind.CREATED and ev.role == "Proposer"
    assert (ev.agreement_id, ev.intent, ev.previous_agreement_id) == ("agmt-1", "REPLACE", "agmt-0")
    assert (ev.acceptor_account_id, ev.proposer_account_id) == (DST, RESELLER)
    assert ev.resale_authorization_id == "resaleauthz-cm-20260101" and ev.occurred_at == at(3)


def test_license_event_arn_without_prefix_is_normalised() -> None:
    ev = parse_eventbridge(license_event("Updated", license_arn(7), event_id="x", drop_prefix=True))
    assert isinstance(ev, LicenseEvent) and ev.license_arn == license_arn(7)


def test_events_mplink_does_not_act_on_are_none() -> None:
    raw = eventbridge("Purchase Agreement Created", "a")
    raw["detail-type"] = "Offer Released"
    assert parse_eventbridge(raw) is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(source="aws.ec2"), "source"),
        (lambda r: r.pop("id"), "id is missing"),
        (lambda r: r.update(time="yesterday"), "time"),
        (lambda r: r.update(detail="x"), "detail must be an object"),
        (lambda r: r["detail"]["agreement"].pop("id"), "detail.agreement.id"),
        (lambda r: r["detail"].update(offer=[1]), "detail.offer"),
    ],
)
def test_malformed_eventbridge_events_are_refused(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    raw = eventbridge("Purchase Agreement Created", "a")
    mutate(raw)
    with pytest.raises(InvalidEvent, match=message):
        parse_eventbridge(raw)


def test_legacy_sns_message() -> None:
    ev = parse_sns_message(sns_envelope("subscribe-success", "cust-1", message_id="m1", time=at(2)))
    assert isinstance(ev, LegacyEvent)
    assert ev.action is LegacyAction.SUBSCRIBE_SUCCESS and ev.customer_identifier == "cust-1"
    assert ev.occurred_at == at(2) and not ev.free_trial


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(Type="SubscriptionConfirmation"), "Notification"),
        (lambda r: r.update(Message="{not json"), "not JSON"),
        (
            lambda r: r.update(
                Message=json.dumps({"action": "explode", "customer-identifier": "c", "product-code": "p"})
            ),
            "unknown action",
        ),
        (
            lambda r: r.update(Message=json.dumps({"action": "subscribe-success", "product-code": "p"})),
            "customer-identifier",
        ),
    ],
)
def test_malformed_sns_messages_are_refused(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    raw = sns_envelope("subscribe-success", "c", message_id="m")
    mutate(raw)
    with pytest.raises(InvalidEvent, match=message):
        parse_sns_message(raw)


def test_envelopes_need_an_id_to_deduplicate() -> None:
    with pytest.raises(InvalidEvent, match="deduplicated"):
        envelope_from_eventbridge({"detail-type": "x"})
    with pytest.raises(InvalidEvent, match="MessageId"):
        envelope_from_sns({"Type": "Notification"})
    assert envelope_from_eventbridge(eventbridge("Purchase Agreement Created", "a")).dedup_key.startswith(
        "eventbridge:"
    )


def test_account_ids_and_arns() -> None:
    assert parse_account_id("2222-2222-2222") == "222222222222"
    assert format_account_id("111111111111") == "1111-1111-1111"
    with pytest.raises(InvalidValue):
        parse_account_id("12345")
    with pytest.raises(InvalidValue):
        normalize_license_arn("arn:aws:s3:::bucket/key")
    assert normalize_license_arn(" aws:license-manager::1:license:l-1 ") == "arn:aws:license-manager::1:license:l-1"
