"""Tenants of the SaaS and the people who act for them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from mplink.domain.errors import InvalidValue, NotAuthorized


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    BILLING = "billing"
    VIEWER = "viewer"


#: R1: the roles that may link a marketplace subscription or change the paying account.
BILLING_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.BILLING})

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL_RE.match(email) or len(email) > 254:
        raise InvalidValue(f"not an email address: {value!r}")
    return email


def parse_tenant_name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidValue("tenant name must not be empty")
    if len(name) > 200:
        raise InvalidValue("tenant name must be at most 200 characters")
    return name


@dataclass(eq=False)
class User:
    id: str
    email: str
    password_hash: str
    created_at: datetime


@dataclass(eq=False)
class Membership:
    """A user's role in one tenant (a reseller's consultant may belong to many tenants)."""

    tenant_id: str
    user_id: str
    role: Role


@dataclass(eq=False)
class Tenant:
    id: str
    name: str
    created_at: datetime
    memberships: list[Membership] = field(default_factory=list)

    def role_of(self, user_id: str) -> Role | None:
        for m in self.memberships:
            if m.user_id == user_id:
                return m.role
        return None

    def require_billing_role(self, user_id: str) -> Role:
        """R1: the logged-in user must be owner, admin or billing of this tenant."""
        role = self.role_of(user_id)
        if role is None:
            raise NotAuthorized("you are not a member of this tenant")
        if role not in BILLING_ROLES:
            raise NotAuthorized(
                f"role {role.value!r} may not link or change billing; ask an owner, admin or billing user"
            )
        return role

    def add_member(self, user_id: str, role: Role) -> Membership:
        if self.role_of(user_id) is not None:
            raise InvalidValue("user is already a member of this tenant")
        m = Membership(tenant_id=self.id, user_id=user_id, role=role)
        self.memberships.append(m)
        return m
