"""The one place where mplink's parts are wired together: the store, AWS Marketplace, the unit of work.

The web app, the CLI, the worker and the demo ask ``bootstrap`` for their dependencies instead of building
adapters themselves, so swapping an adapter (the sandbox's endpoint, a test's fake) happens here only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mplink.adapters.store.uow import SqlUnitOfWork, Store
from mplink.config import Settings
from mplink.services.passwords import hasher
from mplink.services.ports import SellerMarketplace


@dataclass
class Wiring:
    """What a running process needs: settings, a store (one engine and its pool), AWS Marketplace.
    The boto3 client is made on first use, so commands that never call AWS never load it."""

    settings: Settings
    store: Store
    _marketplace: SellerMarketplace | None = field(default=None, repr=False)

    @property
    def marketplace(self) -> SellerMarketplace:
        if self._marketplace is None:
            from mplink.adapters.aws import SellerMarketplace as Boto3SellerMarketplace
            from mplink.adapters.store.pacing import SqlTokenBucket

            # BatchMeterUsage is paced by a bucket in the database: every worker on it shares the quota
            pacer = SqlTokenBucket(self.store.engine, rate=self.settings.metering_rate)
            self._marketplace = Boto3SellerMarketplace(self.settings.aws_endpoint_url, pacer=pacer)
        return self._marketplace

    def uow(self) -> SqlUnitOfWork:
        """A new unit of work; also usable as the services' ``UnitOfWorkFactory``."""
        return self.store.uow()

    def close(self) -> None:
        self.store.dispose()


def bootstrap(
    settings: Settings | None = None, *, store: Store | None = None, marketplace: SellerMarketplace | None = None
) -> Wiring:
    """Build the real adapters from settings (``MPLINK_*``), unless a caller hands in its own."""
    cfg = settings or Settings.from_env()
    hasher()  # a mistyped MPLINK_ARGON2_PROFILE stops the process at start, not at someone's log-in
    return Wiring(settings=cfg, store=store or Store(cfg.database_url), _marketplace=marketplace)
