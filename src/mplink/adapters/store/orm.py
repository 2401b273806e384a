"""Map the domain's plain classes onto the tables (classical mapping: the domain never imports SQLAlchemy)."""

from __future__ import annotations

from sqlalchemy.orm import registry, relationship

from mplink.adapters.store import tables as t
from mplink.domain.agreement import Agreement
from mplink.domain.billing import AccountChange, BillingLink
from mplink.domain.ledger import LegacySubscription, LicenseFacts
from mplink.domain.tenant import Membership, Tenant, User
from mplink.domain.usage import MeteringRecord

mapper_registry = registry(metadata=t.metadata)
_started = False


def start_mappers() -> None:
    """Idempotent: every entry point calls it before opening a session."""
    global _started
    if _started:
        return
    _started = True
    mapper_registry.map_imperatively(User, t.users)
    mapper_registry.map_imperatively(Membership, t.memberships)
    mapper_registry.map_imperatively(
        Tenant,
        t.tenants,
        properties={
            "memberships": relationship(Membership, cascade="all, delete-orphan", lazy="selectin"),
        },
    )
    mapper_registry.map_imperatively(Agreement, t.agreements)
    mapper_registry.map_imperatively(BillingLink, t.billing_links)
    mapper_registry.map_imperatively(AccountChange, t.account_changes)
    mapper_registry.map_imperatively(LicenseFacts, t.license_facts)
    mapper_registry.map_imperatively(LegacySubscription, t.legacy_subscriptions)
    mapper_registry.map_imperatively(MeteringRecord, t.metering_records)
