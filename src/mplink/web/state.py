"""What every request handler needs, built once per app: the store, AWS Marketplace, settings."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter

from mplink.adapters.store.uow import SqlUnitOfWork, Store
from mplink.config import Settings
from mplink.services.ports import SellerMarketplace as SellerMarketplacePort


@dataclass
class Metrics:
    registry: CollectorRegistry
    events: Counter
    registrations: Counter
    links: Counter
    api_requests: Counter

    @classmethod
    def create(cls) -> Metrics:
        reg = CollectorRegistry()
        return cls(
            registry=reg,
            events=Counter("mplink_events_total", "Marketplace events received", ["channel", "status"], registry=reg),
            registrations=Counter("mplink_registrations_total", "Fulfilment URL posts", ["outcome"], registry=reg),
            links=Counter("mplink_links_total", "Agreements linked to tenants", ["kind"], registry=reg),
            api_requests=Counter(
                "mplink_api_requests_total", "JSON API requests", ["endpoint", "status"], registry=reg
            ),
        )


@dataclass
class AppState:
    store: Store
    marketplace: SellerMarketplacePort
    settings: Settings
    metrics: Metrics

    def uow(self) -> SqlUnitOfWork:
        return self.store.uow()


def app_state(request: Request) -> AppState:
    state = request.app.state.mplink
    assert isinstance(state, AppState)
    return state
