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
    start_account_change,
)
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
