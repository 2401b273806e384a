"""The account-change state machine (issue 8 point 4): the ledger moves a change from facts (the link,
marketplace events, the start/abort/source-cancellation reports) and the steps are derived from its history.
Pure domain: no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from mplink.adapters.catalog_file import load_catalog
from mplink.domain.billing import AccountChange, ChangeState, StepName, services_registered
from mplink.domain.errors import Conflict, InvalidTransition, InvalidValue, NotAuthorized, NotFound
from mplink.domain.event_parsing import parse_eventbridge, parse_sns_message
from mplink.domain.ledger import Ledger
from mplink.domain.subscription import SubscriptionType, subscription_view
from mplink.domain.tenant import Role, Tenant
from tests.support.factories import (
    DST,
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
OTHER = "333333333333"
S = ChangeState


def apply(ledger: Ledger, raw: dict[str, Any]) -> None:
    event = parse_eventbridge(raw)
    assert event is not None
    ledger.apply(event)


def paying_from_src() -> tuple[Ledger, Tenant]:
    """Tenant t1 pays from SRC (agreement agmt-src) since minute 1; DST holds a registered agreement agmt-dst."""
    ledger = Ledger()
    t = tenant()
    registered(ledger, "agmt-src", SRC).customer_identifier = "cust-src"
    apply(ledger, eventbridge("Purchase Agreement Created", "agmt-src", account=SRC, time=at(0)))
    ledger.link(t, "u1", "agmt-src", at(1))
    registered(ledger, "agmt-dst", DST)
    return ledger, t


def end_source(ledger: Ledger, minute: float, status: str = "CANCELLED", event_id: str | None = None) -> None:
    apply(
        ledger,
        eventbridge(
            "Purchase Agreement Ended", "agmt-src", account=SRC, status=status, time=at(minute), event_id=event_id
        ),
    )


def linked(minute: float = 60) -> tuple[Ledger, Tenant, AccountChange]:
    ledger, t = paying_from_src()
    change = ledger.link(t, "u1", "agmt-dst", at(minute)).change
    assert change is not None
    return ledger, t, change


def unregistered_destination() -> tuple[Ledger, Tenant, AccountChange]:
    """The destination agreement was replaced (R4) by one that was then cancelled: the link lands on an ended
    agreement, so the destination pays but no service is registered under it."""
    ledger, t = paying_from_src()
    apply(
        ledger,
        eventbridge("Purchase Agreement Created", "agmt-dst2", intent="REPLACE", previous="agmt-dst", time=at(30)),
    )
    apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-dst2", status="CANCELLED", time=at(40)))
    change = ledger.link(t, "u1", "agmt-dst", at(60)).change
    assert change is not None
    return ledger, t, change


def steps(change: AccountChange) -> list[tuple[str, bool, datetime | None]]:
    return [(s.name.value, s.done, s.at) for s in change.steps()]


def transitions(change: AccountChange) -> list[tuple[str, str]]:
    return [(h["from"], h["to"]) for h in change.history]


# -- the link ------------------------------------------------------------------------------------------------
class TestLink:
    def test_a_running_destination_is_verified_at_link_time(self) -> None:
        _, _, change = linked(60)
        assert change.state is S.VERIFIED
        assert transitions(change) == [("started", "destination_linked"), ("destination_linked", "verified")]
        assert steps(change) == [("link", True, at(60)), ("check", True, at(60)), ("cancel", False, None)]

    def test_the_change_names_both_agreements(self) -> None:
        _, _, change = linked()
        assert (change.tenant_id, change.from_agreement_id, change.to_agreement_id) == ("t1", "agmt-src", "agmt-dst")
        assert change.destination_account_id is None  # nobody started it with a destination

    def test_linking_the_same_agreement_again_records_no_change(self) -> None:
        ledger, t = paying_from_src()
        assert ledger.link(t, "u1", "agmt-src", at(30)).change is None
        assert ledger.changes == []

    def test_a_first_link_is_not_a_change(self) -> None:
        ledger = Ledger()
        registered(ledger, "agmt-dst", DST)
        assert ledger.link(tenant(), "u1", "agmt-dst", at(0)).change is None
        assert ledger.account_change_of_tenant("t1") is None

    def test_a_destination_without_registered_services_stays_linked(self) -> None:
        ledger, _, change = unregistered_destination()
        assert change.state is S.DESTINATION_LINKED
        assert steps(change) == [("link", True, at(60)), ("check", False, None), ("cancel", False, None)]
        view = subscription_view("t1", ledger, CATALOG)
        assert view.type is SubscriptionType.EXPIRED and not any(s.registered for s in view.services)

    def test_the_destination_becoming_usable_later_verifies_the_change(self) -> None:
        ledger, _, change = unregistered_destination()
        # the cancelled successor is itself replaced (R4): it no longer revokes the tenant
        apply(
            ledger,
            eventbridge("Purchase Agreement Created", "agmt-dst3", intent="REPLACE", previous="agmt-dst2", time=at(70)),
        )
        assert change.state is S.VERIFIED
        assert steps(change)[1] == ("check", True, at(70))
        view = subscription_view("t1", ledger, CATALOG)
        assert view.agreement_id == "agmt-dst3" and all(s.registered for s in view.services)


# -- the one rule behind "registered" and "verified" -----------------------------------------------------------
class TestVerifiedIsRegistered:
    @pytest.mark.parametrize(
        ("status", "registered_after"),
        [("CANCELLED", False), ("EXPIRED", False), ("REPLACED", True), ("RENEWED", True)],
    )
    def test_services_registered_is_the_subscription_views_rule(self, status: str, registered_after: bool) -> None:
        ledger, _ = paying_from_src()
        end_source(ledger, 30, status)
        agreement = ledger.agreements["agmt-src"]
        view = subscription_view("t1", ledger, CATALOG)
        assert services_registered(agreement) is registered_after
        assert [s.registered for s in view.services] == [registered_after] * len(view.services)

    @pytest.mark.parametrize("scenario", [linked, unregistered_destination])
    def test_check_step_matches_the_page(self, scenario: Any) -> None:
        ledger, _, change = scenario()
        view = subscription_view("t1", ledger, CATALOG)
        assert change.steps()[1].done == all(s.registered for s in view.services)


# -- the source ending ------------------------------------------------------------------------------------------
class TestSourceEnds:
    def test_source_ending_after_the_link_completes_the_change(self) -> None:
        ledger, _, change = linked(60)
        end_source(ledger, 90)
        assert change.state is S.DONE and change.source_ended_at == at(90)
        assert steps(change) == [("link", True, at(60)), ("check", True, at(60)), ("cancel", True, at(90))]
        assert not change.open

    @pytest.mark.parametrize("status", ["CANCELLED", "EXPIRED", "TERMINATED", "REPLACED", "RENEWED"])
    def test_any_reason_to_end_completes_it(self, status: str) -> None:
        ledger, _, change = linked()
        end_source(ledger, 90, status)
        assert change.state is S.DONE

    def test_license_deprovisioned_completes_it(self) -> None:
        ledger, _, change = linked()
        event = parse_eventbridge(license_event("Deprovisioned", license_arn("agmt-src"), event_id="l1", time=at(95)))
        assert event is not None
        ledger.apply(event)
        assert change.state is S.DONE and change.source_ended_at == at(95)

    def test_legacy_unsubscribe_success_completes_it(self) -> None:
        ledger, _, change = linked()
        event = parse_sns_message(sns_envelope("unsubscribe-success", "cust-src", message_id="m1", time=at(80)))
        assert event is not None
        ledger.apply(event)
        assert change.state is S.DONE and steps(change)[2] == ("cancel", True, at(80))

    def test_wrong_order_all_steps_done_at_link_time(self) -> None:
        """The source ended before the destination was linked: every step is done at the link's instant."""
        ledger, t = paying_from_src()
        end_source(ledger, 30)
        change = ledger.link(t, "u1", "agmt-dst", at(60)).change
        assert change is not None and change.state is S.DONE
        assert change.source_ended_at == at(30)
        assert steps(change) == [("link", True, at(60)), ("check", True, at(60)), ("cancel", True, at(60))]
        assert transitions(change)[-1] == ("verified", "done")

    def test_source_ending_before_verification_skips_the_check(self) -> None:
        ledger, _, change = unregistered_destination()
        end_source(ledger, 90)
        assert change.state is S.DONE
        assert steps(change) == [("link", True, at(60)), ("check", False, None), ("cancel", True, at(90))]

    def test_source_ending_while_started_waits_for_the_link(self) -> None:
        ledger, t = paying_from_src()
        started = ledger.start_account_change(t, Role.OWNER, DST, at(20))
        end_source(ledger, 30)
        assert started.state is S.STARTED and started.source_ended_at == at(30)

    def test_the_same_end_event_twice_records_one_transition(self) -> None:
        ledger, _, change = linked()
        end_source(ledger, 90, event_id="end-1")
        end_source(ledger, 90, event_id="end-1")
        assert transitions(change).count(("verified", "done")) == 1

    @pytest.mark.parametrize("order", [("end", "amend"), ("amend", "end")])
    def test_events_in_either_order_end_in_the_same_state(self, order: tuple[str, str]) -> None:
        ledger, _, change = linked()
        for what in order:
            if what == "end":
                end_source(ledger, 90)
            else:
                apply(ledger, eventbridge("Purchase Agreement Amended", "agmt-dst", offer="offer-x", time=at(80)))
        assert change.state is S.DONE and change.source_ended_at == at(90)

    def test_a_done_change_stays_done(self) -> None:
        ledger, _, change = linked()
        end_source(ledger, 90)
        with pytest.raises(InvalidTransition):
            change.advance(S.VERIFIED, at(100))
        end_source(ledger, 95, event_id="end-again")  # a later fact about the ending changes no state
        assert change.state is S.DONE


# -- successors (R4) ---------------------------------------------------------------------------------------------
class TestSuccessors:
    def test_destination_replaced_after_the_link_keeps_the_change_verified(self) -> None:
        ledger, _, change = linked()
        apply(
            ledger,
            eventbridge("Purchase Agreement Created", "agmt-dst2", intent="REPLACE", previous="agmt-dst", time=at(70)),
        )
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-dst", status="REPLACED", time=at(70)))
        assert change.state is S.VERIFIED and change.to_agreement_id == "agmt-dst"
        destination = ledger.destination_of(change)
        assert destination is not None and destination.agreement_id == "agmt-dst2"

    def test_source_replaced_before_the_link_moves_the_started_change_to_the_successor(self) -> None:
        ledger, t = paying_from_src()
        started = ledger.start_account_change(t, Role.OWNER, DST, at(10))
        apply(
            ledger,
            eventbridge(
                "Purchase Agreement Created",
                "agmt-src2",
                account=SRC,
                intent="REPLACE",
                previous="agmt-src",
                time=at(20),
            ),
        )
        end_source(ledger, 20, "REPLACED")
        assert started.from_agreement_id == "agmt-src2"
        result = ledger.link(t, "u1", "agmt-dst", at(60))
        # the successor still runs in the source account: it is what the buyer must cancel
        assert result.change is started and started.state is S.VERIFIED
        assert started.from_agreement_id == "agmt-src2" and started.source_ended_at is None

    def test_destination_of_follows_the_whole_chain(self) -> None:
        ledger, _, change = unregistered_destination()
        apply(
            ledger,
            eventbridge("Purchase Agreement Created", "agmt-dst3", intent="RENEW", previous="agmt-dst2", time=at(70)),
        )
        destination = ledger.destination_of(change)
        assert destination is not None and destination.agreement_id == "agmt-dst3"


# -- start ----------------------------------------------------------------------------------------------------
class TestStart:
    def test_start_records_the_source_and_the_destination(self) -> None:
        ledger, t = paying_from_src()
        change = ledger.start_account_change(t, Role.OWNER, "2222-2222-2222", at(10))
        assert (change.state, change.from_agreement_id, change.to_agreement_id) == (S.STARTED, "agmt-src", None)
        assert change.destination_account_id == DST and change.started_at == at(10)
        assert change.history == []
        assert steps(change) == [("link", False, None), ("check", False, None), ("cancel", False, None)]

    def test_starting_again_for_the_same_destination_changes_nothing(self) -> None:
        ledger, t = paying_from_src()
        first = ledger.start_account_change(t, Role.OWNER, DST, at(10))
        again = ledger.start_account_change(t, Role.ADMIN, DST, at(20))
        assert again is first and len(ledger.changes) == 1 and first.updated_at == at(10)

    def test_starting_for_another_destination_aborts_the_started_one(self) -> None:
        ledger, t = paying_from_src()
        first = ledger.start_account_change(t, Role.OWNER, DST, at(10))
        second = ledger.start_account_change(t, Role.OWNER, OTHER, at(20))
        assert second is not first and second.destination_account_id == OTHER
        assert first.state is S.ABORTED and transitions(first) == [("started", "aborted")]
        assert ledger.account_change_of_tenant("t1") is second

    def test_a_destination_named_later_fills_in_the_started_change(self) -> None:
        ledger, t = paying_from_src()
        first = ledger.start_account_change(t, Role.OWNER, None, at(10))
        assert ledger.start_account_change(t, Role.OWNER, DST, at(20)) is first
        assert first.destination_account_id == DST
        assert ledger.start_account_change(t, Role.OWNER, None, at(30)) is first  # naming none keeps it

    @pytest.mark.parametrize("state", [S.DESTINATION_LINKED, S.VERIFIED, S.SOURCE_CANCEL_PENDING])
    def test_start_is_refused_while_a_linked_change_is_open(self, state: ChangeState) -> None:
        ledger, t, change = unregistered_destination() if state is S.DESTINATION_LINKED else linked()
        if state is S.SOURCE_CANCEL_PENDING:
            ledger.report_source_cancellation(t, Role.OWNER, "agmt-src", at(70))
        assert change.state is state
        with pytest.raises(Conflict, match=state.value):
            ledger.start_account_change(t, Role.OWNER, OTHER, at(80))
        assert len(ledger.changes) == 1

    def test_start_after_a_done_change_begins_a_new_one(self) -> None:
        ledger, t, change = linked()
        end_source(ledger, 90)
        new = ledger.start_account_change(t, Role.OWNER, OTHER, at(100))
        assert new is not change and new.from_agreement_id == "agmt-dst" and new.state is S.STARTED

    @pytest.mark.parametrize("bad", ["12345", "2222-2222-222x", "", "2222222222222"])
    def test_a_bad_account_id_is_refused(self, bad: str) -> None:
        ledger, t = paying_from_src()
        with pytest.raises(InvalidValue, match="12 digits"):
            ledger.start_account_change(t, Role.OWNER, bad, at(10))
        assert ledger.changes == []

    def test_the_account_that_pays_already_is_not_a_destination(self) -> None:
        ledger, t = paying_from_src()
        with pytest.raises(Conflict, match="already pays"):
            ledger.start_account_change(t, Role.OWNER, SRC, at(10))

    def test_a_tenant_that_never_paid_has_nothing_to_change(self) -> None:
        with pytest.raises(Conflict, match="link one"):
            Ledger().start_account_change(tenant(), Role.OWNER, DST, at(10))

    @pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING])
    def test_billing_roles_may_start(self, role: Role) -> None:
        ledger, t = paying_from_src()
        assert ledger.start_account_change(t, role, DST, at(10)).state is S.STARTED

    def test_a_viewer_may_not_start(self) -> None:
        ledger, t = paying_from_src()
        with pytest.raises(NotAuthorized):
            ledger.start_account_change(t, Role.VIEWER, DST, at(10))
        assert ledger.changes == []

    def test_the_link_continues_the_started_change(self) -> None:
        ledger, t = paying_from_src()
        started = ledger.start_account_change(t, Role.OWNER, DST, at(10))
        result = ledger.link(t, "u1", "agmt-dst", at(60))
        assert result.change is started and started.destination_account_id == DST
        assert steps(started)[0] == ("link", True, at(60))

    def test_a_link_after_the_paying_agreement_moved_away_aborts_the_started_change(self) -> None:
        """R1 took the tenant's agreement to another tenant: the next link is a first link, not this change."""
        ledger, t = paying_from_src()
        started = ledger.start_account_change(t, Role.OWNER, DST, at(10))
        ledger.link(tenant("t2", user="u2"), "u2", "agmt-src", at(20))
        assert ledger.link(t, "u1", "agmt-dst", at(30)).change is None
        assert started.state is S.ABORTED


# -- abort ----------------------------------------------------------------------------------------------------
class TestAbort:
    def test_abort_gives_up_a_started_change(self) -> None:
        ledger, t = paying_from_src()
        started = ledger.start_account_change(t, Role.OWNER, DST, at(10))
        assert ledger.abort_account_change(t, Role.BILLING, at(20)) is started
        assert started.state is S.ABORTED and not started.open and started.updated_at == at(20)
        assert [s.done for s in started.steps()] == [False, False, False]

    def test_aborting_again_changes_nothing(self) -> None:
        ledger, t = paying_from_src()
        ledger.start_account_change(t, Role.OWNER, DST, at(10))
        change = ledger.abort_account_change(t, Role.OWNER, at(20))
        assert ledger.abort_account_change(t, Role.OWNER, at(30)) is change
        assert len(change.history) == 1 and change.updated_at == at(20)

    @pytest.mark.parametrize("source_ended", [False, True])
    def test_abort_is_refused_once_linked(self, source_ended: bool) -> None:
        ledger, t, change = linked()
        if source_ended:
            end_source(ledger, 90)
        with pytest.raises(Conflict, match="linked already"):
            ledger.abort_account_change(t, Role.OWNER, at(100))
        assert change.state is (S.DONE if source_ended else S.VERIFIED)

    def test_abort_without_a_change_is_not_found(self) -> None:
        ledger, t = paying_from_src()
        with pytest.raises(NotFound):
            ledger.abort_account_change(t, Role.OWNER, at(10))

    def test_a_viewer_may_not_abort(self) -> None:
        ledger, t = paying_from_src()
        started = ledger.start_account_change(t, Role.OWNER, DST, at(10))
        with pytest.raises(NotAuthorized):
            ledger.abort_account_change(t, Role.VIEWER, at(20))
        assert started.state is S.STARTED

    def test_a_link_after_an_abort_records_a_new_change(self) -> None:
        ledger, t = paying_from_src()
        aborted = ledger.start_account_change(t, Role.OWNER, DST, at(10))
        ledger.abort_account_change(t, Role.OWNER, at(20))
        change = ledger.link(t, "u1", "agmt-dst", at(60)).change
        assert change is not None and change is not aborted and aborted.state is S.ABORTED
        assert ledger.account_change_of_tenant("t1") is change


# -- the source-cancellation report ------------------------------------------------------------------------------
class TestSourceCancellationReport:
    def test_report_moves_verified_to_pending(self) -> None:
        ledger, t, change = linked()
        assert ledger.report_source_cancellation(t, Role.ADMIN, "agmt-src", at(70)) is change
        assert change.state is S.SOURCE_CANCEL_PENDING and change.open
        assert steps(change)[2] == ("cancel", False, None)

    def test_a_repeated_report_changes_nothing(self) -> None:
        ledger, t, change = linked()
        ledger.report_source_cancellation(t, Role.ADMIN, "agmt-src", at(70))
        history = list(change.history)
        ledger.report_source_cancellation(t, Role.ADMIN, "agmt-src", at(75))
        assert change.history == history and change.updated_at == at(70)

    def test_the_marketplace_ending_the_source_then_completes_it(self) -> None:
        ledger, t, change = linked()
        ledger.report_source_cancellation(t, Role.ADMIN, "agmt-src", at(70))
        end_source(ledger, 90)
        assert change.state is S.DONE
        assert steps(change) == [("link", True, at(60)), ("check", True, at(60)), ("cancel", True, at(90))]
        assert transitions(change)[-2:] == [("verified", "source_cancel_pending"), ("source_cancel_pending", "done")]

    def test_a_report_after_the_source_ended_keeps_it_done(self) -> None:
        ledger, t, change = linked()
        end_source(ledger, 65)
        assert ledger.report_source_cancellation(t, Role.ADMIN, "agmt-src", at(70)) is change
        assert change.state is S.DONE

    def test_a_report_before_verification_is_refused(self) -> None:
        ledger, t, change = unregistered_destination()
        with pytest.raises(Conflict, match="destination_linked"):
            ledger.report_source_cancellation(t, Role.ADMIN, "agmt-src", at(70))
        assert change.state is S.DESTINATION_LINKED

    def test_a_report_while_started_is_refused(self) -> None:
        ledger, t = paying_from_src()
        ledger.start_account_change(t, Role.OWNER, DST, at(10))
        with pytest.raises(Conflict, match="started"):
            ledger.report_source_cancellation(t, Role.ADMIN, "agmt-src", at(20))

    @pytest.mark.parametrize("agreement_id", ["agmt-dst", "agmt-nope"])
    def test_an_agreement_that_is_not_the_source_is_refused(self, agreement_id: str) -> None:
        ledger, t, change = linked()
        with pytest.raises(Conflict, match="not the source"):
            ledger.report_source_cancellation(t, Role.ADMIN, agreement_id, at(70))
        assert change.state is S.VERIFIED

    def test_a_report_without_any_change_is_not_found(self) -> None:
        ledger, t = paying_from_src()
        with pytest.raises(NotFound):
            ledger.report_source_cancellation(t, Role.ADMIN, "agmt-src", at(70))

    def test_a_viewer_may_not_report(self) -> None:
        ledger, t, change = linked()
        with pytest.raises(NotAuthorized):
            ledger.report_source_cancellation(t, Role.VIEWER, "agmt-src", at(70))
        assert change.state is S.VERIFIED

    def test_the_report_finds_the_change_of_that_source(self) -> None:
        """Two changes in a row (A -> B, then B -> C) while A still runs: each source names its own change."""
        ledger, t, first = linked(60)
        registered(ledger, "agmt-third", OTHER)
        second = ledger.link(t, "u1", "agmt-third", at(80)).change
        assert second is not None and second is not first
        assert ledger.report_source_cancellation(t, Role.ADMIN, "agmt-src", at(90)) is first
        assert (first.state, second.state) == (S.SOURCE_CANCEL_PENDING, S.VERIFIED)
        assert ledger.account_change_of_tenant("t1") is second


# -- the state machine itself ----------------------------------------------------------------------------------
ALLOWED = {
    (S.STARTED, S.DESTINATION_LINKED),
    (S.STARTED, S.ABORTED),
    (S.DESTINATION_LINKED, S.VERIFIED),
    (S.DESTINATION_LINKED, S.DONE),
    (S.VERIFIED, S.SOURCE_CANCEL_PENDING),
    (S.VERIFIED, S.DONE),
    (S.SOURCE_CANCEL_PENDING, S.DONE),
    # the seller's cancellation request for the source was rejected, withdrawn or failed: the source stays active
    (S.SOURCE_CANCEL_PENDING, S.VERIFIED),
}


def bare(state: ChangeState) -> AccountChange:
    return AccountChange("c1", "t1", "agmt-src", None, state, at(0), at(0))


class TestStateMachine:
    @pytest.mark.parametrize(
        ("source", "target"), [(a, b) for a in S for b in S if a is not b], ids=lambda s: str(s.value)
    )
    def test_only_the_contracts_transitions_are_allowed(self, source: ChangeState, target: ChangeState) -> None:
        change = bare(source)
        if (source, target) in ALLOWED:
            change.advance(target, at(5))
            assert change.state is target and change.history == [
                {"from": source.value, "to": target.value, "at": at(5).isoformat()}
            ]
        else:
            with pytest.raises(InvalidTransition):
                change.advance(target, at(5))
            assert change.state is source and change.history == []

    def test_every_state_is_reached_from_facts(self) -> None:
        """No state exists that the ledger never reaches."""
        reached: set[ChangeState] = set()
        ledger, t = paying_from_src()
        reached.add(ledger.start_account_change(t, Role.OWNER, DST, at(5)).state)
        reached.add(ledger.abort_account_change(t, Role.OWNER, at(6)).state)
        ledger, t, change = unregistered_destination()
        reached.add(change.state)
        ledger, t, change = linked()
        reached.add(change.state)
        reached.add(ledger.report_source_cancellation(t, Role.OWNER, "agmt-src", at(70)).state)
        end_source(ledger, 90)
        reached.add(change.state)
        assert reached == set(S)

    def test_a_transition_is_never_recorded_before_the_previous_one(self) -> None:
        change = bare(S.STARTED)
        change.advance(S.DESTINATION_LINKED, at(60))
        change.advance(S.VERIFIED, at(30))
        assert change.reached_at(S.VERIFIED) == at(60) and change.updated_at == at(60)

    @pytest.mark.parametrize("state", list(S))
    def test_steps_are_always_link_check_cancel(self, state: ChangeState) -> None:
        assert [s.name for s in bare(state).steps()] == [StepName.LINK, StepName.CHECK, StepName.CANCEL]

    def test_step_json(self) -> None:
        _, _, change = linked(60)
        assert [s.as_api() for s in change.steps()] == [
            {"name": "link", "done": True, "at": at(60).isoformat()},
            {"name": "check", "done": True, "at": at(60).isoformat()},
            {"name": "cancel", "done": False, "at": None},
        ]


class TestCurrentChange:
    def test_none_when_the_tenant_never_changed(self) -> None:
        ledger, _ = paying_from_src()
        assert ledger.account_change_of_tenant("t1") is None

    def test_the_open_change_wins_over_a_later_closed_one(self) -> None:
        ledger, t, first = linked(60)
        registered(ledger, "agmt-third", OTHER)
        second = ledger.link(t, "u1", "agmt-third", at(80)).change
        assert second is not None
        apply(ledger, eventbridge("Purchase Agreement Ended", "agmt-dst", status="CANCELLED", time=at(90)))
        assert second.state is S.DONE and first.open
        assert ledger.account_change_of_tenant("t1") is first

    def test_else_the_most_recent(self) -> None:
        ledger, t, first = linked(60)
        end_source(ledger, 70)
        second = ledger.start_account_change(t, Role.OWNER, OTHER, at(80))
        ledger.abort_account_change(t, Role.OWNER, at(85))
        assert not first.open and not second.open
        assert ledger.account_change_of_tenant("t1") is second
