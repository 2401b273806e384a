"""People and API keys: log in with email and password; authenticate API keys (stored as hashes)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from mplink.domain.clock import now_utc
from mplink.domain.errors import InvalidValue, NotFound
from mplink.domain.tenant import Role, parse_email
from mplink.services.passwords import verify_password
from mplink.services.ports import ApiKeyRow, UnitOfWork

KEY_PREFIX = "mpl_"


@dataclass(frozen=True)
class Membership:
    tenant_id: str
    tenant_name: str
    role: Role


@dataclass(frozen=True)
class LoggedIn:
    user_id: str
    email: str
    memberships: tuple[Membership, ...]


def _memberships(uow: UnitOfWork, user_id: str) -> tuple[Membership, ...]:
    return tuple(Membership(t.id, t.name, role) for t in uow.tenants.all() if (role := t.role_of(user_id)) is not None)


def authenticate(uow: UnitOfWork, email: str, password: str) -> LoggedIn | None:
    """None for an unknown email or a wrong password (the caller says the same thing for both)."""
    try:
        address = parse_email(email)
    except InvalidValue:
        return None
    with uow:
        user = uow.tenants.user_by_email(address)
        if user is None or not verify_password(user.password_hash, password):
            return None
        return LoggedIn(user.id, user.email, _memberships(uow, user.id))


def logged_in(uow: UnitOfWork, user_id: str) -> LoggedIn | None:
    with uow.snapshot():
        user = uow.tenants.user(user_id)
        return LoggedIn(user.id, user.email, _memberships(uow, user.id)) if user else None


@dataclass(frozen=True)
class ApiPrincipal:
    key_id: str
    scope: str  # "tenant" or "operator"
    tenant_id: str | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(uow: UnitOfWork, tenant_id: str | None, name: str = "") -> tuple[str, ApiKeyRow]:
    """A new key, returned once; only its hash is kept. ``tenant_id`` None makes an operator key."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with uow:
        if tenant_id is not None and uow.tenants.get(tenant_id) is None:
            raise NotFound(f"no tenant with id {tenant_id!r}; 'mplink tenants list' shows the ids")
        row = ApiKeyRow(
            id=str(uuid.uuid4()),
            prefix=prefix,
            key_hash=_hash(key),
            tenant_id=tenant_id,
            scope="tenant" if tenant_id else "operator",
            name=name.strip()[:200] or ("operator" if tenant_id is None else "tenant key"),
            created_at=now_utc(),
            last_used_at=None,
            revoked_at=None,
        )
        uow.access.add_api_key(row)
        uow.commit()
    return key, row


def authenticate_api_key(uow: UnitOfWork, key: str) -> ApiPrincipal | None:
    parts = key.strip().split("_")
    if len(parts) < 3 or not key.startswith(KEY_PREFIX):
        return None
    with uow:
        row = uow.access.api_key_by_prefix(parts[1])
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _hash(key.strip())):
            return None
        uow.access.touch_api_key(row.id, now_utc())
        uow.commit()
        return ApiPrincipal(row.id, row.scope, row.tenant_id)


def operator_key_active(uow: UnitOfWork, key_id: str) -> bool:
    """The operator key a page session was opened with is still there and not revoked."""
    with uow.snapshot():
        row = next((r for r in uow.access.api_keys() if r.id == key_id), None)
        return row is not None and row.scope == "operator" and row.revoked_at is None
