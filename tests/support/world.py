"""A small in-memory world for service tests: the seed's catalog, tenants and scripted AWS registrations."""

from __future__ import annotations

import functools
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from unittest.mock import patch

from mplink.domain.agreement import Registration
from mplink.domain.catalog import Catalog
from mplink.domain.tenant import Membership, Role, Tenant, User
from mplink.services import registration
from mplink.services.ports import AgreementFacts
from mplink.services.registration import confirm_registration, register_customer
from tests.support.factories import PRIVATE_OFFER, PRODUCT_CODE, RESELLER, T0, license_arn
from tests.support.fakes import FakeMarketplace, FakeUnitOfWork


@functools.cache
def seed_catalog() -> Catalog:
    """The seed's catalog as shipped in the package, read once per test session."""
    from mplink.adapters.catalog_file import load_catalog

    return load_catalog()


@dataclass
class World:
    uow: FakeUnitOfWork = field(default_factory=FakeUnitOfWork)
    market: FakeMarketplace = field(default_factory=FakeMarketplace)

    def __post_init__(self) -> None:
        with self.uow:
            self.uow.catalog.replace(seed_catalog())
            self.uow.commit()

    @classmethod
    def paying(cls, account: str, offer: str = PRIVATE_OFFER) -> World:
        """Tenant t1 (user u1) pays from ``account`` through ``offer`` (agreement agmt-src, token tok-src)."""
        world = cls()
        world.tenant("t1", "u1")
        world.subscribe("tok-src", "agmt-src", account, offer)
        world.link("tok-src")
        return world

    def tenant(self, tid: str = "t1", user: str = "u1", role: Role = Role.OWNER) -> str:
        with self.uow:
            if self.uow.tenants.user(user) is None:
                self.uow.tenants.add_user(User(id=user, email=f"{user}@example.com", password_hash="x", created_at=T0))
            tenant = Tenant(id=tid, name=f"Tenant {tid}", created_at=T0)
            tenant.memberships.append(Membership(tenant_id=tid, user_id=user, role=role))
            self.uow.tenants.add(tenant)
            self.uow.commit()
        return tid

    def subscribe(
        self, token: str, agreement_id: str, account: str, offer: str = PRIVATE_OFFER, at: datetime = T0
    ) -> None:
        """AWS's side of "Subscribe": ResolveCustomer and DescribeAgreement will know this agreement."""
        self.market.registrations[token] = Registration(account, PRODUCT_CODE, agreement_id, license_arn(agreement_id))
        self.market.facts[agreement_id] = AgreementFacts(
            agreement_id, offer, RESELLER, account, "ACTIVE", accepted_at=at, starts_at=at, ends_at=None
        )

    def link(self, token: str, tenant_id: str = "t1", user: str = "u1", at: datetime | None = None) -> None:
        """The fulfilment POST, then the admin's confirmation (at ``at``: the clock the services read)."""
        with patch.object(registration, "now_utc", lambda: at) if at else nullcontext():
            pending = register_customer(self.uow, self.market, token)
            confirm_registration(self.uow, tenant_id, user, pending.agreement_id, pending.token_hash)
