"""The account-change use cases on the in-memory unit of work: the view the pages, the API and ``mplink move``
read (its JSON shape), the three writes, one transaction each, and refusals that keep nothing."""

from __future__ import annotations

import pytest

from mplink.domain.errors import Conflict, NotAuthorized, NotFound
from mplink.domain.tenant import Role
from mplink.services.account_change import (
    abort_account_change,
    account_change,
    report_source_cancellation,
    request_source_end,
    start_account_change,
)
from mplink.services.events import envelope_from_eventbridge, receive_event
from mplink.services.ports import CancellationRequest
from tests.support.factories import DST, SRC, at
from tests.support.world import World


@pytest.fixture
def w() -> World:
    """Tenant t1 pays from SRC (agreement agmt-src); DST can subscribe with token 'dst'."""
    world = World()
    world.tenant("t1", "u1")
    world.subscribe("src", "agmt-src", SRC)
    world.link("src", at=at(1))
    world.subscribe("dst", "agmt-dst", DST)
    return world


def test_a_tenant_that_never_changed_has_no_change(w: World) -> None:
    before = w.uow.snapshots
    assert account_change(w.uow, "t1") is None
    assert w.uow.snapshots == before + 1  # read in one snapshot


def test_an_unknown_tenant_is_not_found(w: World) -> None:
    with pytest.raises(NotFound):
        account_change(w.uow, "nope")
    with pytest.raises(NotFound):
        start_account_change(w.uow, "nope", DST, Role.ADMIN)


def test_start_answers_the_api_object(w: World) -> None:
    view = start_account_change(w.uow, "t1", "2222-2222-2222", Role.ADMIN, at(10))
    assert view.as_api() == {
        "state": "started",
        "from": {"aws_account_id": SRC, "agreement_id": "agmt-src"},
        "to": {"aws_account_id": None, "agreement_id": None},
        "steps": [
            {"name": "link", "done": False, "at": None},
            {"name": "check", "done": False, "at": None},
            {"name": "cancel", "done": False, "at": None},
        ],
        "started_at": at(10).isoformat(),
        "updated_at": at(10).isoformat(),
        "destination_account_id": DST,
        "cancellation_request": None,
    }
    assert account_change(w.uow, "t1") == view  # kept: it was committed


def test_the_link_is_read_back_as_verified(w: World) -> None:
    start_account_change(w.uow, "t1", DST, Role.ADMIN, at(10))
    w.link("dst", at=at(60))
    view = account_change(w.uow, "t1")
    assert view is not None and view.state.value == "verified"
    assert (view.from_.aws_account_id, view.to.aws_account_id, view.to.agreement_id) == (SRC, DST, "agmt-dst")
    assert [(s.done, s.at) for s in view.steps] == [(True, at(60)), (True, at(60)), (False, None)]


def test_report_then_abort_refused(w: World) -> None:
    w.link("dst", at=at(60))
    view = report_source_cancellation(w.uow, "t1", "agmt-src", Role.BILLING, at(70))
    assert view.state.value == "source_cancel_pending" and view.updated_at == at(70)
    commits = w.uow.commits
    with pytest.raises(Conflict):
        abort_account_change(w.uow, "t1", Role.OWNER, at(80))
    assert w.uow.commits == commits and account_change(w.uow, "t1") == view


def test_abort_a_started_change(w: World) -> None:
    start_account_change(w.uow, "t1", DST, Role.ADMIN, at(10))
    view = abort_account_change(w.uow, "t1", Role.OWNER, at(20))
    assert view.state.value == "aborted" and account_change(w.uow, "t1") == view


def test_a_viewer_writes_nothing(w: World) -> None:
    commits = w.uow.commits
    with pytest.raises(NotAuthorized):
        start_account_change(w.uow, "t1", DST, Role.VIEWER, at(10))
    assert w.uow.commits == commits and account_change(w.uow, "t1") is None


# -- the seller asks AWS to end the source (SendAgreementCancellationRequest) ------------------------------------
def cancellation_event(request_id: str, status: str, minute: int, agreement_id: str = "agmt-src") -> dict[str, object]:
    """``Agreement Cancellation Request <status> - Proposer`` in the shape of the seller guide's examples."""
    names = {
        "PENDING_APPROVAL": "Pending Approval",
        "APPROVED": "Approved",
        "REJECTED": "Rejected",
        "CANCELLED": "Cancelled",
        "VALIDATION_FAILED": "Validation Failed",
    }
    return {
        "version": "0",
        "id": f"ev-{request_id}-{status}",
        "detail-type": f"Agreement Cancellation Request {names[status]} - Proposer",
        "source": "aws.agreement-marketplace",
        "account": "123456789012",
        "time": at(minute).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "requestId": "3d4c9f9b-b809-4f5e-9fac-a9ae98b05cbb",
            "catalog": "AWSMarketplace",
            "agreement": {"id": agreement_id, "acceptorId": SRC, "productId": "prod-x", "offerId": "offer-x"},
            "agreementCancellationRequest": {
                "id": request_id,
                "reasonCode": "REPLACING_AGREEMENT",
                "reasonMessage": "",
                "statusCode": status,
                "statusMessage": "",
                "createdAt": at(minute).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "updatedAt": at(minute).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        },
    }


def deliver(w: World, raw: dict[str, object]) -> str:
    return receive_event(w.uow, envelope_from_eventbridge(raw), w.market).status


def test_the_seller_is_asked_to_end_the_source_only_once_verified(w: World) -> None:
    start_account_change(w.uow, "t1", DST, Role.ADMIN, at(10))
    with pytest.raises(Conflict):
        request_source_end(w.uow, w.market, "t1", Role.ADMIN, at(20))
    assert w.market.called("SendAgreementCancellationRequest") == []
    with pytest.raises(NotAuthorized):
        request_source_end(w.uow, w.market, "t1", Role.VIEWER, at(20))
    with pytest.raises(NotFound):
        request_source_end(w.uow, w.market, "nope", Role.ADMIN, at(20))


def test_one_request_whatever_the_number_of_asks_and_its_events_followed(w: World) -> None:
    w.link("dst", at=at(60))
    view = request_source_end(w.uow, w.market, "t1", Role.ADMIN, at(70))
    assert view.state.value == "source_cancel_pending"
    assert view.as_api()["cancellation_request"] == {"id": "acr-1", "status": "PENDING_APPROVAL"}
    assert request_source_end(w.uow, w.market, "t1", Role.OWNER, at(80)) == view  # the same request
    assert len(w.market.called("SendAgreementCancellationRequest")) == 1
    assert deliver(w, cancellation_event("acr-1", "APPROVED", 90)) == "processed"
    assert deliver(w, cancellation_event("acr-1", "PENDING_APPROVAL", 70)) == "processed"  # late: changes nothing
    after = account_change(w.uow, "t1")
    assert after is not None and after.cancellation_request == ("acr-1", "APPROVED")
    assert after.state.value == "source_cancel_pending"  # done when the agreement's Ended event comes
    assert request_source_end(w.uow, w.market, "t1", Role.ADMIN, at(95)).cancellation_request == ("acr-1", "APPROVED")
    assert len(w.market.called("SendAgreementCancellationRequest")) == 1


def test_a_rejected_request_leaves_the_change_verified_and_a_new_ask_sends_another(w: World) -> None:
    w.link("dst", at=at(60))
    request_source_end(w.uow, w.market, "t1", Role.ADMIN, at(70))
    deliver(w, cancellation_event("acr-1", "REJECTED", 80))
    view = account_change(w.uow, "t1")
    assert view is not None and view.state.value == "verified" and view.cancellation_request == ("acr-1", "REJECTED")
    again = request_source_end(w.uow, w.market, "t1", Role.ADMIN, at(90))
    assert again.state.value == "source_cancel_pending" and again.cancellation_request == ("acr-2", "PENDING_APPROVAL")
    tokens = [token for _, token in w.market.called("SendAgreementCancellationRequest")]
    assert len(tokens) == 2 and tokens[0] != tokens[1]


def test_a_refused_request_writes_nothing(w: World) -> None:
    w.link("dst", at=at(60))
    w.market.refused_cancellations.add("agmt-src")
    commits = w.uow.commits
    with pytest.raises(Conflict):
        request_source_end(w.uow, w.market, "t1", Role.ADMIN, at(70))
    assert w.uow.commits == commits
    view = account_change(w.uow, "t1")
    assert view is not None and view.state.value == "verified" and view.cancellation_request is None


def test_a_rejection_heard_of_before_the_send_is_recorded_keeps_the_change_verified(w: World) -> None:
    """R8: the buyer rejects at once, and its event is applied between AWS's answer to the send and the seller's
    write of what it sent."""
    w.link("dst", at=at(60))
    send = w.market.send_cancellation_request

    def send_then_rejected(agreement_id: str, client_token: str) -> CancellationRequest:
        sent = send(agreement_id, client_token)
        assert deliver(w, cancellation_event(sent.request_id, "REJECTED", 71)) == "processed"
        return sent

    w.market.send_cancellation_request = send_then_rejected  # type: ignore[method-assign]
    view = request_source_end(w.uow, w.market, "t1", Role.ADMIN, at(70))
    assert view.state.value == "verified" and view.cancellation_request == ("acr-1", "REJECTED")
