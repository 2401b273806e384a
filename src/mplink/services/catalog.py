"""Load the catalog (products, services, dimensions, offers) into the store, all or nothing."""

from __future__ import annotations

from mplink.domain.catalog import Catalog
from mplink.services.unit_of_work import UnitOfWork


def load_catalog(uow: UnitOfWork, catalog: Catalog) -> None:
    with uow:
        uow.catalog.replace(catalog)
        uow.commit()
