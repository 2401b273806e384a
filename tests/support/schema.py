"""The drift check: what Alembic's autogenerate would change between the migrations and the table models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from mplink.adapters.store.tables import metadata


def schema_differences(engine: Engine) -> list[Any]:
    """What autogenerate would change: empty when the migrations match the models."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return list(compare_metadata(ctx, metadata))
