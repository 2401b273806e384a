"""Tenants, people and API keys as use cases, on the in-memory unit of work: a tenant and its owner are
created together or not at all, log-in says the same for an unknown email and a wrong password, and an
API key is shown once and kept only as a hash."""

from __future__ import annotations

import pytest

from mplink.domain.errors import Conflict, InvalidValue, NotFound
from mplink.domain.subscription import SubscriptionType
from mplink.services.auth import authenticate, authenticate_api_key, create_api_key, logged_in
from mplink.services.tenants import create_tenant, list_tenants, show_tenant
from tests.support.factories import SRC
from tests.support.world import World

PASSWORD = "correct horse battery"


@pytest.fixture
def w() -> World:
    return World()


def test_a_tenant_is_created_with_its_owner(w: World) -> None:
    tid = create_tenant(w.uow, "  Example   Corp ", "Admin@Example.com", PASSWORD)
    (info,) = list_tenants(w.uow)
    assert (info.id, info.name) == (tid, "Example Corp")
    assert [(m.email, m.role) for m in info.members] == [("admin@example.com", "owner")]


def test_show_tenant_includes_the_subscription(w: World) -> None:
    tid = create_tenant(w.uow, "Example Corp", "admin@example.com", PASSWORD)
    info = show_tenant(w.uow, f" {tid} ")
    assert info.subscription is not None and info.subscription.type is SubscriptionType.NONE
    assert info.as_dict()["subscription"]["type"] == "none"  # type: ignore[index]


def test_show_tenant_of_a_paying_tenant(w: World) -> None:
    w.tenant("t1", "u1")
    w.subscribe("tok", "agmt-src", SRC)
    w.link("tok")
    info = show_tenant(w.uow, "t1")
    assert info.subscription is not None and info.subscription.aws_account_id == SRC


def test_an_unknown_tenant_is_not_found(w: World) -> None:
    with pytest.raises(NotFound, match="tenants list"):
        show_tenant(w.uow, "nope")


@pytest.mark.parametrize(
    ("name", "email", "password"),
    [("", "a@example.com", PASSWORD), ("X", "not-an-email", PASSWORD), ("X", "a@example.com", "short")],
)
def test_bad_input_creates_nothing(w: World, name: str, email: str, password: str) -> None:
    with pytest.raises(InvalidValue):
        create_tenant(w.uow, name, email, password)
    assert list_tenants(w.uow) == [] and w.uow.committed.users == {}


def test_an_existing_person_owns_a_second_tenant_with_their_password(w: World) -> None:
    create_tenant(w.uow, "First", "admin@example.com", PASSWORD)
    create_tenant(w.uow, "Second", "admin@example.com", PASSWORD)
    with pytest.raises(Conflict):
        create_tenant(w.uow, "Third", "admin@example.com", "wrong password!")
    assert [t.name for t in list_tenants(w.uow)] == ["First", "Second"] and len(w.uow.committed.users) == 1


def test_tenants_are_listed_in_pages(w: World) -> None:
    for i in range(5):
        create_tenant(w.uow, f"T{i}", "admin@example.com", PASSWORD)
    assert [t.name for t in list_tenants(w.uow, offset=1, limit=2)] == ["T1", "T2"]


def test_log_in_with_the_right_password(w: World) -> None:
    tid = create_tenant(w.uow, "Example Corp", "admin@example.com", PASSWORD)
    who = authenticate(w.uow, " Admin@Example.com ", PASSWORD)
    assert who is not None and [(m.tenant_id, m.role.value) for m in who.memberships] == [(tid, "owner")]
    assert logged_in(w.uow, who.user_id) == who


@pytest.mark.parametrize(("email", "password"), [("admin@example.com", "wrong"), ("nobody@example.com", PASSWORD)])
def test_a_wrong_password_and_an_unknown_email_look_the_same(w: World, email: str, password: str) -> None:
    create_tenant(w.uow, "Example Corp", "admin@example.com", PASSWORD)
    assert authenticate(w.uow, email, password) is None


def test_a_malformed_email_does_not_log_in(w: World) -> None:
    assert authenticate(w.uow, "not an email", PASSWORD) is None


def test_a_deleted_user_is_no_longer_logged_in(w: World) -> None:
    assert logged_in(w.uow, "gone") is None


def test_an_api_key_is_shown_once_and_stored_as_a_hash(w: World) -> None:
    tid = create_tenant(w.uow, "Example Corp", "admin@example.com", PASSWORD)
    key, row = create_api_key(w.uow, tid, " ci ")
    assert key.startswith("mpl_") and key not in row.key_hash and row.name == "ci" and row.scope == "tenant"
    principal = authenticate_api_key(w.uow, key)
    assert principal is not None and (principal.scope, principal.tenant_id) == ("tenant", tid)
    assert w.uow.committed.api_keys[row.id].last_used_at is not None


def test_an_operator_key_has_no_tenant(w: World) -> None:
    key, row = create_api_key(w.uow, None)
    principal = authenticate_api_key(w.uow, key)
    assert principal is not None and principal.scope == "operator" and principal.tenant_id is None
    assert row.name == "operator"


def test_a_key_for_an_unknown_tenant_is_refused(w: World) -> None:
    with pytest.raises(NotFound):
        create_api_key(w.uow, "nope")
    assert w.uow.committed.api_keys == {}


@pytest.mark.parametrize("mangle", [lambda k: k + "x", lambda k: k[:-1], lambda k: "nope", lambda k: "mpl_x"])
def test_a_wrong_key_is_refused(w: World, mangle: object) -> None:
    key, _ = create_api_key(w.uow, None)
    assert authenticate_api_key(w.uow, mangle(key)) is None  # type: ignore[operator]


def test_a_revoked_key_is_refused(w: World) -> None:
    key, row = create_api_key(w.uow, None)
    with w.uow:
        w.uow.work.api_keys[row.id] = type(row)(**{**row.__dict__, "revoked_at": row.created_at})
        w.uow.commit()
    assert authenticate_api_key(w.uow, key) is None
