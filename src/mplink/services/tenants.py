"""Create tenants and their first admin; list and show them with their subscription."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from mplink.domain.clock import now_utc
from mplink.domain.errors import Conflict, InvalidValue, NotFound
from mplink.domain.subscription import SubscriptionView, subscription_view
from mplink.domain.tenant import Role, Tenant, User, parse_email, parse_tenant_name
from mplink.services.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from mplink.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class MemberInfo:
    email: str
    role: str


@dataclass(frozen=True)
class TenantInfo:
    id: str
    name: str
    created_at: datetime
    members: tuple[MemberInfo, ...]
    subscription: SubscriptionView | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "members": [{"email": m.email, "role": m.role} for m in self.members],
        }
        if self.subscription is not None:
            out["subscription"] = self.subscription.as_api()
        return out


def create_tenant(uow: UnitOfWork, name: str, admin_email: str, admin_password: str) -> str:
    """A new tenant with its owner. An existing user (e.g. a reseller's consultant) must give their password."""
    tenant_name = parse_tenant_name(name)
    email = parse_email(admin_email)
    if len(admin_password) < MIN_PASSWORD_LENGTH:
        raise InvalidValue(f"the admin password must be at least {MIN_PASSWORD_LENGTH} characters")
    now = now_utc()
    with uow:
        user = uow.tenants.user_by_email(email)
        if user is None:
            user = User(id=str(uuid.uuid4()), email=email, password_hash=hash_password(admin_password), created_at=now)
            uow.tenants.add_user(user)
        elif not verify_password(user.password_hash, admin_password):
            raise Conflict(f"{email} already has an account; give that account's password to add it to a new tenant")
        tenant = Tenant(id=str(uuid.uuid4()), name=tenant_name, created_at=now)
        tenant.add_member(user.id, Role.OWNER)
        uow.tenants.add(tenant)
        uow.commit()
        return tenant.id


def _info(uow: UnitOfWork, tenant: Tenant) -> TenantInfo:
    users = {u.id: u for u in uow.tenants.users(m.user_id for m in tenant.memberships)}
    members = tuple(
        sorted(
            (MemberInfo(users[m.user_id].email, m.role.value) for m in tenant.memberships if m.user_id in users),
            key=lambda m: m.email,
        )
    )
    return TenantInfo(tenant.id, tenant.name, tenant.created_at, members)


def list_tenants(uow: UnitOfWork, offset: int = 0, limit: int | None = None) -> list[TenantInfo]:
    with uow.snapshot():
        return [_info(uow, t) for t in uow.tenants.all(offset, limit)]


def show_tenant(uow: UnitOfWork, tenant_id: str) -> TenantInfo:
    with uow.snapshot():
        tenant = uow.tenants.get(tenant_id.strip())
        if tenant is None:
            raise NotFound(f"no tenant with id {tenant_id!r}; 'mplink tenants list' shows the ids")
        info = _info(uow, tenant)
        catalog = uow.catalog.get()
        if catalog is None:
            return info
        ledger = uow.ledger.load(tenant_ids=[tenant.id])
        view = subscription_view(tenant.id, ledger, catalog)
        return TenantInfo(info.id, info.name, info.created_at, info.members, view)
