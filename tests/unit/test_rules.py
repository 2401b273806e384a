"""Domain rules R1-R8 (DESIGN.md), each with its named errors. Pure domain: no I/O."""

from __future__ import annotations

import itertools

import pytest

from mplink.adapters.catalog_file import load_catalog
from mplink.domain.agreement import Lifecycle
from mplink.domain.billing import ChangeState, LinkEnd
from mplink.domain.clock import hour_of
from mplink.domain.errors import AgreementNotActive, InvalidTransition, InvalidValue, NotAuthorized, UnknownDimension
from mplink.domain.event_parsing import parse_eventbridge, parse_sns_message
from mplink.domain.ledger import Ledger
from mplink.domain.subscription import SubscriptionType, subscription_view
from mplink.domain.tenant import Role, Tenant
from mplink.domain.usage import (
    MAX_BATCH,
    BillingPeriod,
    BillingPeriods,
    RecordStatus,
    UsageEvent,
    plan_metering,
    records_for_hour,
    route_usage,
)
from tests.support.factories import (
    DST,
    PRIVATE_OFFER,
    PUBLIC_OFFER,
    SELLER,
    SRC,
    at,
    eventbridge,
    license_arn,
    license_event,
    registered,
    sns_envelope,
    tenant,
)

CATALOG = load_catalog()
PRODUCT = CATALOG.products[0]
DIMS = PRODUCT.dimension_keys()
_ids = itertools.count()


def new_id() -> str:
    return f"r{next(_ids)}"


def apply(ledger: Ledger, raw: dict) -> None:  # type: ignore[type-arg]
    event = parse_eventbridge(raw)
    assert event is not None
    ledger.apply(event)


def paying_from_src() -> tuple[Ledger, Tenant]:
    ledger = Ledger()
    t = tenant()
    registered(ledger, "agmt-src", SRC)
    apply(ledger, eventbridge("Purchase Agreement Created", "agmt-src", account=SRC, time=at(0)))
    ledger.link(t, "u1", "agmt-src", at(1))
    return ledger, t


# -- R1 ----------------------------------------------------------------------------------------------
class TestR1OneTenantPerAgreement:
    def test_linking_to_another_tenant_moves_the_agreement(self) -> None:
        ledger, _t1 = paying_from_src()
        t2 = tenant("t2", user="u2")
        ledger.link(t2, "u2", "agmt-src", at(10))
        assert ledger.open_link_of_agreement("agmt-src").tenant_id == "t2"  # type: ignore[union-attr]
        first = next(lk for lk in ledger.links if lk.tenant_id == "t1")
        assert first.ends_at == at(10) and first.end_reason == LinkEnd.MOVED.value
        assert subscription_view("t1", ledger, CATALOG).type is SubscriptionType.EXPIRED

    @pytest.mark.parametrize("role", [Role.VIEWER])
    def test_viewer_may_not_link(self, role: Role) -> None:
        ledger = Ledger()
        registered(ledger, "agmt-dst", DST)
        with pytest.raises(NotAuthorized, match="may not link"):
            ledger.link(tenant(role=role), "u1", "agmt-dst", at(0))
        assert ledger.links == []

    @pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING])
    def test_owner_admin_billing_may_link(self, role: Role) -> None:
        ledger = Ledger()
        registered(ledger, "agmt-dst", DST)
        ledger.link(tenant(role=role), "u1", "agmt-dst", at(0))
        assert ledger.open_link_of_tenant("t1") is not None

    def test_non_member_may_not_link(self) -> None:
        ledger = Ledger()
        registered(ledger, "agmt-dst", DST)
        with pytest.raises(NotAuthorized, match="not a member"):
            ledger.link(tenant(), "stranger", "agmt-dst", at(0))

    def test_ended_or_unknown_agreement_cannot_be_linked(self) -> None:
        ledger = Ledger()
        registered(ledger, "agmt-dst", DST)
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-dst", status="CANCELLED", time=at(5)))
        with pytest.raises(AgreementNotActive):
            ledger.link(tenant(), "u1", "agmt-dst", at(6))
        with pytest.raises(AgreementNotActive):
            ledger.link(tenant(), "u1", "agmt-nope", at(6))
        assert ledger.links == []

    def test_linking_the_same_agreement_again_changes_nothing(self) -> None:
        ledger, t = paying_from_src()
        result = ledger.link(t, "u1", "agmt-src", at(30))
        assert result.unchanged and len(ledger.links) == 1 and ledger.changes == []


# -- R2 ----------------------------------------------------------------------------------------------
class TestR2BillingAccountChange:
    def test_linking_a_new_agreement_ends_the_old_link_at_that_instant(self) -> None:
        ledger, t = paying_from_src()
        registered(ledger, "agmt-dst", DST)
        result = ledger.link(t, "u1", "agmt-dst", at(60))
        assert result.previous_link is not None and result.previous_link.ends_at == at(60)
        assert result.previous_link.end_reason == LinkEnd.CHANGED.value
        assert result.link.starts_at == at(60) and result.link.is_open
        src = ledger.agreement("agmt-src")
        assert src is not None and src.lifecycle is Lifecycle.SUPERSEDED and src.cancellation_pending
        # the destination's agreement runs, so every service is registered under it at once
        assert result.change is not None and result.change.state is ChangeState.VERIFIED
        assert (result.change.from_agreement_id, result.change.to_agreement_id) == ("agmt-src", "agmt-dst")

    def test_page_shows_cancel_step_until_source_ends(self) -> None:
        ledger, t = paying_from_src()
        registered(ledger, "agmt-dst", DST)
        ledger.link(t, "u1", "agmt-dst", at(60))
        view = subscription_view("t1", ledger, CATALOG)
        assert view.type is SubscriptionType.AWS_MARKETPLACE and view.aws_account_id == DST
        assert [(p.aws_account_id, p.agreement_id) for p in view.pending_cancellations] == [(SRC, "agmt-src")]
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(90)))
        view = subscription_view("t1", ledger, CATALOG)
        assert view.pending_cancellations == ()
        assert view.type is SubscriptionType.AWS_MARKETPLACE and all(s.registered for s in view.services)
        change = ledger.changes[0]
        assert change.state is ChangeState.DONE and change.source_ended_at == at(90)

    def test_account_change_lifecycle_refuses_skipping_back(self) -> None:
        ledger, t = paying_from_src()
        registered(ledger, "agmt-dst", DST)
        change = ledger.link(t, "u1", "agmt-dst", at(60)).change
        assert change is not None and change.state is ChangeState.VERIFIED
        change.advance(ChangeState.SOURCE_CANCEL_PENDING, at(62))
        with pytest.raises(InvalidTransition):
            change.advance(ChangeState.STARTED, at(63))
        with pytest.raises(InvalidTransition):
            change.advance(ChangeState.ABORTED, at(63))
        change.source_ended(at(70))
        assert change.state is ChangeState.DONE
        with pytest.raises(InvalidTransition):
            change.advance(ChangeState.VERIFIED, at(71))

    def test_started_change_is_continued_by_the_link(self) -> None:
        ledger, t = paying_from_src()
        started = ledger.start_account_change(t, Role.OWNER, DST, at(30))
        assert started.state is ChangeState.STARTED and started.from_agreement_id == "agmt-src"
        registered(ledger, "agmt-dst", DST)
        result = ledger.link(t, "u1", "agmt-dst", at(60))
        assert result.change is started and started.state is ChangeState.VERIFIED
        assert len(ledger.changes) == 1

    def test_viewer_may_not_start_a_change(self) -> None:
        ledger, t = paying_from_src()
        with pytest.raises(NotAuthorized):
            ledger.start_account_change(t, Role.VIEWER, DST, at(0))
        assert ledger.changes == []


# -- R3 ----------------------------------------------------------------------------------------------
class TestR3EndingNeverRevokesWrongly:
    def test_superseded_agreement_ending_keeps_the_tenant(self) -> None:
        ledger, t = paying_from_src()
        registered(ledger, "agmt-dst", DST)
        ledger.link(t, "u1", "agmt-dst", at(60))
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(61)))
        assert subscription_view("t1", ledger, CATALOG).type is SubscriptionType.AWS_MARKETPLACE

    @pytest.mark.parametrize("status", ["REPLACED", "RENEWED"])
    def test_ending_by_successor_keeps_the_tenant(self, status: str) -> None:
        ledger, _ = paying_from_src()
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status=status, time=at(61)))
        view = subscription_view("t1", ledger, CATALOG)
        assert view.type is SubscriptionType.AWS_MARKETPLACE and all(s.registered for s in view.services)

    def test_current_agreement_ending_expires_the_tenant_and_deletes_nothing(self) -> None:
        ledger, _ = paying_from_src()
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(61)))
        view = subscription_view("t1", ledger, CATALOG)
        assert view.type is SubscriptionType.EXPIRED
        assert view.services and not any(s.registered for s in view.services)
        assert len(ledger.links) == 1 and "agmt-src" in ledger.agreements  # nothing deleted

    def test_wrong_order_then_linking_destination_restores_services(self) -> None:
        ledger, t = paying_from_src()
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(30)))
        assert subscription_view("t1", ledger, CATALOG).type is SubscriptionType.EXPIRED
        registered(ledger, "agmt-dst", DST)
        result = ledger.link(t, "u1", "agmt-dst", at(60))
        view = subscription_view("t1", ledger, CATALOG)
        assert view.type is SubscriptionType.AWS_MARKETPLACE and all(s.registered for s in view.services)
        assert view.pending_cancellations == ()
        assert result.change is not None and result.change.state is ChangeState.DONE

    def test_wrong_order_source_cancelled_first_the_view_names_no_payer(self) -> None:
        ledger, _ = paying_from_src()
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(30)))
        view = subscription_view("t1", ledger, CATALOG)
        assert view.type is SubscriptionType.EXPIRED and view.paying_account_id is None
        assert view.aws_account_id == SRC and view.ended_at == at(30)  # the account that ended, not a payer
        assert view.pending_cancellations == () and view.still_running == ()

    def test_wrong_order_destination_cancelled_the_source_is_the_way_back_not_a_step_to_do(self) -> None:
        ledger, t = paying_from_src()
        registered(ledger, "agmt-dst", DST)
        ledger.link(t, "u1", "agmt-dst", at(60))
        view = subscription_view("t1", ledger, CATALOG)
        assert view.paying_account_id == DST and [p.agreement_id for p in view.pending_cancellations] == ["agmt-src"]
        # the buyer cancels the destination instead of the source
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-dst", account=DST, status="CANCELLED", time=at(61)))
        view = subscription_view("t1", ledger, CATALOG)
        assert view.type is SubscriptionType.EXPIRED and view.paying_account_id is None
        assert view.pending_cancellations == ()  # cancelling the source now would leave nothing at all
        assert [(p.aws_account_id, p.agreement_id) for p in view.still_running] == [(SRC, "agmt-src")]
        assert view.as_api()["pending_cancellations"] == []
        # linking the source again: it pays, and nothing is left to cancel
        ledger.link(t, "u1", "agmt-src", at(90))
        view = subscription_view("t1", ledger, CATALOG)
        assert view.type is SubscriptionType.AWS_MARKETPLACE and view.paying_account_id == SRC
        assert view.pending_cancellations == () and view.still_running == ()
        assert ledger.agreements["agmt-src"].lifecycle is Lifecycle.ACTIVE

    def test_license_deprovisioned_revokes_the_current_agreement(self) -> None:
        ledger, _ = paying_from_src()
        raw = license_event("Deprovisioned", license_arn("agmt-src"), event_id="lic-1", time=at(50), drop_prefix=True)
        event = parse_eventbridge(raw)
        assert event is not None
        ledger.apply(event)
        assert subscription_view("t1", ledger, CATALOG).type is SubscriptionType.EXPIRED


# -- R4 ----------------------------------------------------------------------------------------------
class TestR4OfferSwitch:
    def test_replace_carries_the_link_to_the_private_offer(self) -> None:
        ledger = Ledger()
        t = tenant()
        registered(ledger, "agmt-pub", DST)
        apply(
            ledger,
            eventbridge("Purchase Agreement Created", "agmt-pub", offer=PUBLIC_OFFER, proposer=SELLER, time=at(0)),
        )
        ledger.link(t, "u1", "agmt-pub", at(1))
        apply(
            ledger,
            eventbridge("Purchase Agreement Created", "agmt-priv", intent="REPLACE", previous="agmt-pub", time=at(30)),
        )
        apply(
            ledger,
            eventbridge("Purchase Agreement Ended", "agmt-pub", status="REPLACED", offer=PUBLIC_OFFER, time=at(30)),
        )
        view = subscription_view("t1", ledger, CATALOG)
        assert view.agreement_id == "agmt-priv" and view.type is SubscriptionType.AWS_MARKETPLACE
        assert view.offer is not None and view.offer.private and view.offer.proposer_account_id == "888888888888"
        assert view.pending_cancellations == () and ledger.changes == []
        assert ledger.link_at("t1", at(10)).agreement_id == "agmt-pub"  # type: ignore[union-attr]
        assert ledger.link_at("t1", at(31)).agreement_id == "agmt-priv"  # type: ignore[union-attr]

    def test_replace_arriving_before_the_link_is_followed_when_linking(self) -> None:
        ledger = Ledger()
        registered(ledger, "agmt-pub", DST)
        apply(
            ledger,
            eventbridge("Purchase Agreement Created", "agmt-priv", intent="REPLACE", previous="agmt-pub", time=at(30)),
        )
        ledger.link(tenant(), "u1", "agmt-pub", at(40))
        assert ledger.open_link_of_tenant("t1").agreement_id == "agmt-priv"  # type: ignore[union-attr]


# -- R5 ----------------------------------------------------------------------------------------------
class TestR5UsageRouting:
    def test_usage_goes_to_the_agreement_linked_at_its_timestamp(self) -> None:
        ledger, t = paying_from_src()
        registered(ledger, "agmt-dst", DST)
        ledger.link(t, "u1", "agmt-dst", at(30))
        dim = "workload_security_hours"
        before = route_usage(UsageEvent("t1", dim, 3, at(29), "k1"), ledger, DIMS)
        after = route_usage(UsageEvent("t1", dim, 4, at(30), "k2"), ledger, DIMS)
        assert (before.agreement_id, after.agreement_id) == ("agmt-src", "agmt-dst")
        # both are in the same hour, so both agreements get a record for it
        assert before.hour == after.hour == hour_of(at(0))

    def test_the_billing_periods_route_as_the_ledger_does(self) -> None:
        """Intake routes with the tenants' billing periods alone (one query, no ledger): same answer at every
        minute around a change, the source's end and a period with no link."""
        ledger, t = paying_from_src()
        registered(ledger, "agmt-dst", DST)
        ledger.link(t, "u1", "agmt-dst", at(30))
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(20)))
        periods = BillingPeriods(
            BillingPeriod(
                lk.tenant_id,
                lk.agreement_id,
                lk.starts_at,
                lk.ends_at,
                ledger.agreements[lk.agreement_id].ended_since(),
            )
            for lk in ledger.links
        )
        answers = [(ledger.payer_at("t1", at(m)), periods.payer_at("t1", at(m))) for m in range(-5, 60)]
        assert all(a == b for a, b in answers)
        assert {a for a, _ in answers} == {None, "agmt-src", "agmt-dst"}

    def test_usage_with_no_link_is_kept_as_unbillable(self) -> None:
        ledger, _ = paying_from_src()
        r = route_usage(UsageEvent("t1", "conformity_accounts", 2, at(-5), "k"), ledger, DIMS)
        assert r.agreement_id is None and r.hour == hour_of(at(-5))

    def test_unknown_dimension_and_bad_quantity_are_refused(self) -> None:
        ledger, _ = paying_from_src()
        with pytest.raises(UnknownDimension, match="conformity_accounts"):
            route_usage(UsageEvent("t1", "cpu", 1, at(5), "k"), ledger, DIMS)
        with pytest.raises(InvalidValue):
            UsageEvent("t1", "conformity_accounts", -1, at(5), "k")
        with pytest.raises(InvalidValue):
            UsageEvent("t1", "conformity_accounts", 1, at(5), "")


# -- R6 ----------------------------------------------------------------------------------------------
class TestR6FinalMetering:
    def _records(self, ledger: Ledger, hour_minutes: float) -> list:  # type: ignore[type-arg]
        agreements = list(ledger.agreements.values())
        return records_for_hour(hour_of(at(hour_minutes)), agreements, sorted(DIMS), {}, new_id)

    def test_ended_agreement_is_flushed_first(self) -> None:
        ledger, _t = paying_from_src()
        registered(ledger, "agmt-dst", DST)
        apply(ledger, eventbridge("Purchase Agreement Created", "agmt-dst", time=at(0)))
        records = self._records(ledger, 0)
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(70)))
        plan = plan_metering(at(75), records, ledger.agreements)
        assert plan.batches[0][0].agreement_id == "agmt-src"
        assert plan.expired == []

    def test_after_the_final_window_records_are_kept_as_expired(self) -> None:
        ledger, _ = paying_from_src()
        records = self._records(ledger, 0)
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(70)))
        plan = plan_metering(at(131), records, ledger.agreements)
        assert plan.batches == [] and len(plan.expired) == len(records)

    def test_batches_hold_at_most_25_records_of_one_product(self) -> None:
        ledger = Ledger()
        for i in range(6):
            registered(ledger, f"agmt-{i}", f"{i + 1:012d}")
        records = self._records(ledger, 0)
        assert len(records) == 36
        plan = plan_metering(at(30), records, ledger.agreements)
        assert [len(b) for b in plan.batches] == [MAX_BATCH, 11]
        assert all(len({r.product_code for r in b}) == 1 for b in plan.batches)

    def test_records_older_than_the_lookback_expire(self) -> None:
        ledger, _ = paying_from_src()
        records = self._records(ledger, 0)
        plan = plan_metering(at(25 * 60 + 1), records, ledger.agreements)
        assert plan.batches == [] and all(r.status is RecordStatus.PENDING for r in plan.expired)


# -- R7 ----------------------------------------------------------------------------------------------
class TestR7ZeroRecords:
    def test_every_active_agreement_gets_every_dimension_each_hour(self) -> None:
        ledger, t = paying_from_src()
        registered(ledger, "agmt-dst", DST)
        ledger.link(t, "u1", "agmt-dst", at(30))
        usage = route_usage(UsageEvent("t1", "conformity_accounts", 5, at(40), "k"), ledger, DIMS)
        records = records_for_hour(
            hour_of(at(0)),
            ledger.agreements.values(),
            sorted(DIMS),
            {(usage.agreement_id or "", usage.event.dimension, usage.hour): 5},
            new_id,
        )
        assert len(records) == 2 * len(DIMS)
        by_key = {(r.agreement_id, r.dimension): r.quantity for r in records}
        assert by_key[("agmt-dst", "conformity_accounts")] == 5
        assert sum(by_key.values()) == 5  # every other record is an explicit zero

    def test_agreement_ended_before_the_hour_gets_no_record(self) -> None:
        ledger, _ = paying_from_src()
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-src", account=SRC, status="CANCELLED", time=at(30)))
        assert records_for_hour(hour_of(at(60)), ledger.agreements.values(), sorted(DIMS), {}, new_id) == []
        assert len(records_for_hour(hour_of(at(0)), ledger.agreements.values(), sorted(DIMS), {}, new_id)) == len(DIMS)


# -- R8 ----------------------------------------------------------------------------------------------
class TestR8Events:
    def test_duplicate_and_reordered_events_give_the_same_state(self) -> None:
        created = eventbridge("Purchase Agreement Created", "agmt-dst", time=at(0))
        ended = eventbridge("Purchase Agreement Ended", "agmt-dst", status="CANCELLED", time=at(50))
        a, b = Ledger(), Ledger()
        for raw in (created, ended):
            apply(a, raw)
        for raw in (ended, created, ended, created):
            apply(b, raw)
        for ledger in (a, b):
            agr = ledger.agreement("agmt-dst")
            assert agr is not None and agr.ended_at == at(50) and agr.end_status == "CANCELLED"
            assert agr.offer_id == PRIVATE_OFFER and agr.aws_account_id == DST

    def test_amendment_older_than_what_we_know_is_ignored(self) -> None:
        ledger = Ledger()
        apply(ledger, eventbridge("Purchase Agreement Amended", "a1", event_id="new", offer="offer-new", time=at(20)))
        apply(ledger, eventbridge("Purchase Agreement Amended", "a1", event_id="old", offer="offer-old", time=at(10)))
        assert ledger.agreements["a1"].offer_id == "offer-new"

    def test_legacy_sns_unsubscribe_and_resubscribe(self) -> None:
        ledger, _ = paying_from_src()
        ledger.agreements["agmt-src"].customer_identifier = "cust-1"
        for raw in (
            sns_envelope("subscribe-success", "cust-1", message_id="m3", time=at(40)),
            sns_envelope("unsubscribe-success", "cust-1", message_id="m2", time=at(20)),
        ):
            event = parse_sns_message(raw)
            assert event is not None
            ledger.apply(event)
        assert not ledger.agreements["agmt-src"].ended  # the later subscribe-success wins
        event = parse_sns_message(sns_envelope("unsubscribe-success", "cust-1", message_id="m4", time=at(60)))
        assert event is not None
        ledger.apply(event)
        assert ledger.agreements["agmt-src"].ended
        assert subscription_view("t1", ledger, CATALOG).type is SubscriptionType.EXPIRED

    def test_legacy_message_before_registration_is_not_lost(self) -> None:
        ledger = Ledger()
        event = parse_sns_message(sns_envelope("unsubscribe-success", "cust-9", message_id="m1", time=at(5)))
        assert event is not None
        ledger.apply(event)
        agr = ledger.record_registration("agmt-9", DST, license_arn(9), "c1saasproductcode0001", "cust-9")
        assert agr.ended
