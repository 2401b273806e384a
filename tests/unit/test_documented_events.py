"""AWS's own event examples, copied from its documentation into tests/fixtures/aws/events (SOURCES.md names
each page and section), against both sides of mplink:

- the seller reads every one of them and acts on them without fields AWS does not send; what they lack
  (which agreement a REPLACE follows) it asks DescribeAgreement, and a failed call is kept and replayed;
- the sandbox builds each event with exactly the keys of the example of its detail-type.

Sources: seller guide, "Amazon EventBridge events" (notifications-eventbridge.html: events for agreements
and for licenses), "EventBridge events for SaaS products" (saas-eventbridge-integration.html: who gets the
Proposer or the Manufacturer events), and "SaaS product notifications through Amazon SNS"
(saas-notification.html)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mplink.domain.errors import InvalidEvent
from mplink.domain.event_parsing import parse_eventbridge, parse_sns_message
from mplink.domain.events import AgreementEvent, AgreementEventKind, LegacyAction, LegacyEvent, LicenseEvent
from mplink.sandbox.catalog import Offer, Product
from mplink.sandbox.event_shapes import agreement_events, license_events
from mplink.sandbox.events import envelope
from mplink.sandbox.model import SbAgreement
from mplink.services.events import envelope_from_eventbridge, receive_event, replay_failed
from mplink.services.ports import AgreementFacts
from mplink.services.subscriptions import tenant_subscription
from tests.support.documented_events import (
    AGREEMENT_ARN,
    AWS_TIME,
    EVENT_FIXTURES,
    FIXTURES,
    RENEW_FIXTURE,
    fixture_name_for,
    load,
    structure,
    times_in,
)
from tests.support.factories import license_arn
from tests.support.world import World

AGREEMENT = "agmt-4mwg1nevbokzw95eca5797ixs"  # the agreement of AWS's examples
BUYER = "845735284135"  # its acceptor
ISV = "123456512334"  # its proposer
#: the examples' times are 2024: the buyer's registration is linked after acceptance, before they happen
LINKED_AT = datetime(2024, 6, 27, tzinfo=UTC)
EVENT_TIME = datetime(2024, 8, 30, 21, 36, 3, tzinfo=UTC)

EVENTBRIDGE_FILES = sorted(p.name for p in FIXTURES.glob("*.json") if "detail-type" in json.loads(p.read_text()))
CANCELLATION_REQUEST_FILES = [n for n in EVENTBRIDGE_FILES if n.startswith("cancellation-request-")]
SELLER_FILES = [
    n
    for n in EVENTBRIDGE_FILES
    if n.startswith(("license-", "cancellation-request-")) or "created" in n or "amended" in n or "ended-" in n
]
#: the agreement of the examples of "Events for cancellations"
CANCELLATION_EXAMPLE_AGREEMENT = "agmt-abcdexampleid"


def example(name: str, **detail_agreement: Any) -> dict[str, Any]:
    """One example with an id of its own (AWS's examples all share one event id), and ``agreement`` changes."""
    raw = load(name)
    raw["id"] = f"doc-{name}"
    raw["detail"]["agreement"].update(detail_agreement)
    return raw


@pytest.fixture
def w() -> World:
    """A tenant paying with the agreement of AWS's examples, registered by its acceptor."""
    world = World()
    world.tenant("t1", "u1")
    world.subscribe("tok", AGREEMENT, BUYER, at=LINKED_AT)
    world.link("tok", at=LINKED_AT)
    return world


def deliver(w: World, raw: dict[str, Any]) -> str:
    return receive_event(w.uow, envelope_from_eventbridge(raw), w.market).status


# -- the seller reads AWS's examples ------------------------------------------------------------------------
def test_every_documented_event_is_a_seller_event_or_is_ignored() -> None:
    """The seller acts on agreement Created/Amended/Ended, License and cancellation-request events; advisories,
    endings and renewals are well-formed events it keeps but does not act on."""
    assert len(EVENTBRIDGE_FILES) == 19
    for name in EVENTBRIDGE_FILES:
        event = parse_eventbridge(load(name))
        if name in SELLER_FILES:
            assert event is not None, name
            known = (AGREEMENT, "agmt-newrenewalagreementid", CANCELLATION_EXAMPLE_AGREEMENT)
            assert getattr(event, "agreement_id", None) in known, name
        else:
            assert event is None, name


def test_an_agreement_example_reads_as_aws_prints_it() -> None:
    created = parse_eventbridge(load("agreement-created-manufacturer.json"))
    assert isinstance(created, AgreementEvent) and created.kind is AgreementEventKind.CREATED
    assert (created.role, created.intent, created.status) == ("Manufacturer", "NEW", "ACTIVE")
    assert (created.acceptor_account_id, created.proposer_account_id) == (BUYER, ISV)
    assert (created.offer_id, created.resale_authorization_id) == ("offer-1234567890123", "resaleauthz-yaxjqxiskysxa")
    assert created.ends_at == datetime(2025, 5, 30, 21, 36, 3, tzinfo=UTC) and created.product_id is None
    ended = parse_eventbridge(load("agreement-ended-proposer.json"))
    assert isinstance(ended, AgreementEvent) and ended.role == "Proposer"
    assert (ended.status, ended.intent, ended.ends_at) == ("CANCELLED", None, None)


def test_a_license_example_names_its_agreement_and_an_arn_without_arn_prefix() -> None:
    event = parse_eventbridge(load("license-updated-manufacturer.json"))
    assert isinstance(event, LicenseEvent) and event.agreement_id == AGREEMENT
    assert event.license_arn == "arn:aws:license-manager:us-east-1:123456789012:l-e52ca6f38bf84d0fafb8802ca15ac11x"
    assert (event.product_code, event.acceptor_account_id) == ("aw4fgf5tyo5w2ap6fEXAMPLE", BUYER)


def test_the_documented_events_of_one_agreement_are_all_applied(w: World) -> None:
    """Created, Amended (both roles), License Updated, Ended (both roles) and License Deprovisioned of the
    examples' agreement: each is processed, nothing fails, nothing is asked of AWS (nothing is missing)."""
    order = [
        "agreement-created-proposer.json",
        "agreement-created-manufacturer.json",
        "agreement-amended-proposer.json",
        "agreement-amended-manufacturer.json",
        "license-updated-manufacturer.json",
        "agreement-ended-proposer.json",
        "agreement-ended-manufacturer.json",
        "license-deprovisioned-manufacturer.json",
    ]
    assert [deliver(w, example(name)) for name in order] == ["processed"] * len(order)
    others = [n for n in EVENTBRIDGE_FILES if n not in SELLER_FILES]
    assert {deliver(w, example(n)) for n in others} == {"ignored"}
    # the cancellation examples name another agreement, no change's source: applied, changing nothing
    assert {deliver(w, example(n)) for n in CANCELLATION_REQUEST_FILES} == {"processed"}
    a = w.uow.committed.agreements[AGREEMENT]
    assert (a.offer_id, a.proposer_account_id, a.resale_authorization_id) == (
        "offer-1234567890123",
        ISV,
        "resaleauthz-yaxjqxiskysxa",
    )
    assert (a.marketplace_status, a.end_status, a.ended_at) == ("CANCELLED", "CANCELLED", EVENT_TIME)
    assert a.deprovisioned_at == EVENT_TIME and a.entitlements_stale
    assert a.license_arn == license_arn(AGREEMENT)  # ResolveCustomer's, not the event's printed ARN
    assert tenant_subscription(w.uow, "t1").view.type.value == "expired"  # R3: the paying agreement ended
    assert w.market.called("DescribeAgreement") == [AGREEMENT]  # at registration only


def test_a_renewal_example_carries_the_tenant_over(w: World) -> None:
    """The RENEW example names ``previousAgreementId``: R4 follows it without asking AWS."""
    asked = len(w.market.called("DescribeAgreement"))
    assert deliver(w, example(RENEW_FIXTURE)) == "processed"
    view = tenant_subscription(w.uow, "t1").view
    assert (view.agreement_id, view.aws_account_id, view.type.value) == (
        "agmt-newrenewalagreementid",
        BUYER,
        "aws_marketplace",
    )
    assert len(w.market.called("DescribeAgreement")) == asked


def replacement(agreement_id: str = "agmt-replacement") -> dict[str, Any]:
    """A Created - Manufacturer example for a REPLACE: AWS shows no REPLACE example, and the Created examples
    carry no previousAgreementId, so neither does this one."""
    raw = example("agreement-created-manufacturer.json", id=agreement_id, intent="REPLACE")
    raw["id"] = f"doc-created-{agreement_id}"
    raw["resources"] = [f"arn:aws:aws-marketplace::aws:agreement:{agreement_id}"]
    return raw


def facts(agreement_id: str, initial: str | None) -> AgreementFacts:
    return AgreementFacts(agreement_id, "offer-1234567890123", ISV, BUYER, "ACTIVE", None, None, None, initial)


def test_a_replacement_gets_its_predecessor_from_describe_agreement(w: World) -> None:
    """R4 from DescribeAgreement's initialAgreementId (botocore's marketplace-agreement model: "the very first
    agreement in a chain of related agreements, such as renewals or replacements")."""
    w.market.facts["agmt-replacement"] = facts("agmt-replacement", AGREEMENT)
    assert deliver(w, replacement()) == "processed"
    assert w.market.called("DescribeAgreement")[-1] == "agmt-replacement"
    assert tenant_subscription(w.uow, "t1").view.agreement_id == "agmt-replacement"
    assert w.uow.committed.agreements[AGREEMENT].replaced_by == "agmt-replacement"
    # a second replacement of the same chain follows the first: the chain's first agreement, then its successors
    w.market.facts["agmt-second"] = facts("agmt-second", AGREEMENT)
    assert deliver(w, replacement("agmt-second")) == "processed"
    assert w.uow.committed.agreements["agmt-replacement"].replaced_by == "agmt-second"
    assert tenant_subscription(w.uow, "t1").view.agreement_id == "agmt-second"


def test_a_failed_describe_agreement_is_kept_and_replayed(w: World) -> None:
    """R8: the event is stored first; when AWS cannot say what it lacks it is kept as failed, and applied by
    the replay once AWS answers."""
    receipt = receive_event(w.uow, envelope_from_eventbridge(replacement()), w.market)
    assert receipt.status == "failed" and "DescribeAgreement" in (receipt.error or "")
    assert w.uow.committed.inbox[receipt.dedup_key].status == "failed"
    assert tenant_subscription(w.uow, "t1").view.agreement_id == AGREEMENT
    w.market.facts["agmt-replacement"] = facts("agmt-replacement", AGREEMENT)
    assert [r.status for r in replay_failed(w.uow, marketplace=w.market)] == ["processed"]
    assert tenant_subscription(w.uow, "t1").view.agreement_id == "agmt-replacement"


def test_without_a_marketplace_client_a_replacement_fails_and_is_kept(w: World) -> None:
    receipt = receive_event(w.uow, envelope_from_eventbridge(replacement()))
    assert receipt.status == "failed" and "DescribeAgreement" in (receipt.error or "")
    assert w.uow.committed.inbox[receipt.dedup_key].status == "failed"


def test_a_chain_of_one_agreement_has_no_predecessor(w: World) -> None:
    """An agreement that replaced nothing is its own initialAgreementId: the tenant stays where it is."""
    w.market.facts["agmt-replacement"] = facts("agmt-replacement", "agmt-replacement")
    assert deliver(w, replacement()) == "processed"
    assert tenant_subscription(w.uow, "t1").view.agreement_id == AGREEMENT


@pytest.mark.parametrize("resale", ["null", "id-null", "absent"])
def test_a_direct_offer_has_no_resale_authorization_however_aws_writes_it(w: World, resale: str) -> None:
    """The SaaS EventBridge page: resaleAuthorization "would be null" on a direct offer, without saying how."""
    raw = example("agreement-created-proposer.json", id="agmt-direct")
    if resale == "absent":
        del raw["detail"]["resaleAuthorization"]
    else:
        raw["detail"]["resaleAuthorization"] = None if resale == "null" else {"id": None}
    assert deliver(w, raw) == "processed"
    assert w.uow.committed.agreements["agmt-direct"].resale_authorization_id is None


def test_the_buyers_events_are_not_the_sellers(w: World) -> None:
    raw = example("agreement-ended-proposer.json")
    raw["detail-type"] = "Purchase Agreement Ended - Acceptor"
    assert deliver(w, raw) == "ignored"
    assert not w.uow.committed.agreements[AGREEMENT].ended


def test_a_license_event_before_the_registration_leaves_the_license_arn_to_resolve_customer() -> None:
    world = World()
    world.tenant("t1", "u1")
    assert deliver(world, example("license-updated-manufacturer.json")) == "processed"
    assert world.uow.committed.agreements[AGREEMENT].license_arn is None
    world.subscribe("tok", AGREEMENT, BUYER, at=LINKED_AT)
    world.link("tok", at=LINKED_AT)
    registered = world.uow.committed.agreements[AGREEMENT]
    assert registered.license_arn == license_arn(AGREEMENT) and registered.entitlements_stale


# -- legacy SNS messages ---------------------------------------------------------------------------------
def sns_notification(message: str) -> dict[str, Any]:
    """SNS's documented Notification with a Marketplace message in it (no AWS page shows one that way)."""
    envelope = load("sns-notification.json")
    envelope["Message"] = message
    return envelope


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("sns-subscribe-success.json", LegacyAction.SUBSCRIBE_SUCCESS),
        ("sns-subscribe-fail.json", LegacyAction.SUBSCRIBE_FAIL),
        ("sns-unsubscribe-pending.json", LegacyAction.UNSUBSCRIBE_PENDING),
        ("sns-unsubscribe-success.json", LegacyAction.UNSUBSCRIBE_SUCCESS),
        ("sns-entitlement-updated.json", LegacyAction.ENTITLEMENT_UPDATED),
    ],
)
def test_documented_sns_messages_parse(name: str, action: LegacyAction) -> None:
    event = parse_sns_message(sns_notification((FIXTURES / name).read_text()))
    assert isinstance(event, LegacyEvent) and event.action is action
    # AWS's example prints " X01EXAMPLEX": identifiers never have blanks around them
    assert (event.customer_identifier, event.product_code) == ("X01EXAMPLEX", "n0123EXAMPLEXXXXXXXXXXXX")
    offers = action in (LegacyAction.SUBSCRIBE_SUCCESS, LegacyAction.SUBSCRIBE_FAIL)
    assert event.offer_id == ("offer-abcexample123" if offers else None)
    assert event.free_trial is (action is not LegacyAction.ENTITLEMENT_UPDATED)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("sns-subscription-message-documented.json", "unknown action"),  # the template's "<action-name>"
        ("sns-entitlement-message-documented.txt", "not JSON"),  # printed with a trailing comma
    ],
)
def test_the_documented_templates_are_refused_not_guessed(name: str, words: str) -> None:
    with pytest.raises(InvalidEvent, match=words):
        parse_sns_message(sns_notification((FIXTURES / name).read_text()))


def test_snss_generic_example_is_not_a_marketplace_message() -> None:
    with pytest.raises(InvalidEvent, match="not JSON"):
        parse_sns_message(load("sns-notification.json"))


# -- the sandbox builds the documented shapes ---------------------------------------------------------------
SELLER = "999999999999"
RESELLER = "888888888888"
PRODUCT = Product("prod-g232pyu6l55l4", "c1saasproductcode0001", "Trend Micro Cloud One", "http://x", (), ())
DIRECT = Offer("offer-public-tm4saas", "Trend Micro for SaaS", False, SELLER, proposer_name="Trend Micro")
CPPO = Offer("offer-cm-sppo-20260101", "Classmethod", True, RESELLER, resale_authorization_id="resaleauthz-cm")
T = datetime(2026, 11, 27, 9, 0, 0, 123456, tzinfo=UTC)


def sandbox_agreement(offer: Offer, intent: str = "NEW", status: str = "ACTIVE") -> SbAgreement:
    return SbAgreement(
        agreement_id="agmt-sandbox0000000000000000000",
        account_id="222222222222",
        product_id=PRODUCT.product_id,
        offer_id=offer.offer_id,
        proposer_account_id=offer.proposer_account_id,
        intent=intent,
        status=status,
        acceptance_time=T,
        start_time=T,
        license_arn=f"arn:aws:license-manager::{SELLER}:license:l-0123456789abcdef0123456789abcdef",
        request_id="req-1",
        provisioned_at=T,
        previous_agreement_id="agmt-before" if intent in ("REPLACE", "RENEW") else None,
        end_time=T if status != "ACTIVE" else None,
    )


CASES = [
    ("Created", DIRECT, "NEW", "ACTIVE", "Purchase Agreement Created - Proposer"),
    ("Created", CPPO, "NEW", "ACTIVE", "Purchase Agreement Created - Manufacturer"),
    ("Created", CPPO, "REPLACE", "ACTIVE", "Purchase Agreement Created - Manufacturer"),
    ("Created", DIRECT, "REPLACE", "ACTIVE", "Purchase Agreement Created - Proposer"),
    ("Created", DIRECT, "RENEW", "ACTIVE", "Purchase Agreement Created - Proposer"),
    ("Amended", DIRECT, "AMEND", "ACTIVE", "Purchase Agreement Amended - Proposer"),
    ("Amended", CPPO, "AMEND", "ACTIVE", "Purchase Agreement Amended - Manufacturer"),
    ("Ended", DIRECT, "NEW", "CANCELLED", "Purchase Agreement Ended - Proposer"),
    ("Ended", CPPO, "REPLACE", "REPLACED", "Purchase Agreement Ended - Manufacturer"),
    ("License Updated", CPPO, "NEW", "ACTIVE", "License Updated - Manufacturer"),
    ("License Updated", DIRECT, "NEW", "ACTIVE", "License Updated - Manufacturer"),
    ("License Deprovisioned", DIRECT, "NEW", "CANCELLED", "License Deprovisioned - Manufacturer"),
]


@pytest.mark.parametrize(("kind", "offer", "intent", "status", "detail_type"), CASES)
def test_the_sandbox_builds_each_event_with_the_examples_keys(
    kind: str, offer: Offer, intent: str, status: str, detail_type: str
) -> None:
    """One event, to the seller in its one role; exactly the keys of AWS's example of that detail-type, in
    its order; ``resources`` the agreement's ARN; times in whole seconds."""
    a = sandbox_agreement(offer, intent, status)
    build = license_events if kind.startswith("License") else agreement_events
    built = build(kind, a, offer, PRODUCT, SELLER)
    assert [t for t, _, _ in built] == [detail_type]
    event = json.loads(json.dumps(envelope(*built[0], SELLER, T)))
    name = fixture_name_for(event)
    assert name == (RENEW_FIXTURE if (kind, intent) == ("Created", "RENEW") else EVENT_FIXTURES[detail_type])
    assert structure(event) == structure(load(name)), name
    match = AGREEMENT_ARN.match(event["resources"][0])
    assert match is not None and match.group(1) == a.agreement_id and len(event["resources"]) == 1
    assert all(AWS_TIME.match(t) for t in times_in(event)), times_in(event)
    assert event["account"] == SELLER and event["region"] == "us-east-1"


def test_the_sandbox_prints_license_arns_and_offers_as_the_license_example() -> None:
    a = sandbox_agreement(CPPO)
    (_, detail, _) = license_events("License Updated", a, CPPO, PRODUCT, SELLER)[0]
    assert detail["license"]["arn"] == a.license_arn.removeprefix("arn:")
    assert detail["offer"]["id"] == "cm-sppo-20260101"  # the example's offer id has no "offer-"
    assert detail["agreement"] == {"id": a.agreement_id}


def test_an_open_ended_agreement_has_a_far_future_end_and_a_direct_offer_a_null_resale_id() -> None:
    """No example shows either: the closest ones have a date and an id; the choices are in docs/sandbox.md."""
    (_, detail, _) = agreement_events("Created", sandbox_agreement(DIRECT), DIRECT, PRODUCT, SELLER)[0]
    assert detail["agreement"]["endTime"] == "9999-12-31T23:59:59Z"
    assert detail["resaleAuthorization"] == {"id": None}
    assert "previousAgreementId" not in detail["agreement"]


def test_a_later_replacement_delivered_first_is_not_undone_by_an_earlier_one(w: World) -> None:
    """R8 with R4 from DescribeAgreement: AWS's agreement replaced twice (A -> B -> C), C's Created delivered
    before B's. Both name only the chain's first agreement; start times say B came first: the tenant ends on C."""
    b, c = replacement("agmt-b"), replacement("agmt-c")
    c["time"] = c["detail"]["agreement"]["startTime"] = "2024-09-30T00:00:00Z"
    for agreement_id in ("agmt-b", "agmt-c"):
        w.market.facts[agreement_id] = facts(agreement_id, AGREEMENT)
    assert [deliver(w, c), deliver(w, b)] == ["processed", "processed"]
    assert tenant_subscription(w.uow, "t1").view.agreement_id == "agmt-c"
    assert w.uow.committed.agreements[AGREEMENT].replaced_by == "agmt-c"
