"""metering aggregation indexes: metering_records drops its full status index (the only status looked up is
'pending', which the partial send-queue index of 0006 serves, and every record written or settled paid for
it); usage_events' metered-hour index becomes partial (metered_hour IS NOT NULL), so a look-up of unmetered
usage uses the hour range of ix_usage_events_unmetered instead of reading every event still to be metered;
metering_records' unique (agreement, dimension, hour) key puts the hour first, so an hour's records, written
together, land side by side in it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_METERED = sa.text("metered_hour IS NOT NULL")
_METERED_HOUR_COLUMNS = ["metered_hour", "agreement_id", "dimension"]


def _record_hour_key(columns: list[str]) -> None:
    with op.batch_alter_table("metering_records", schema=None) as batch_op:
        batch_op.drop_constraint("uq_metering_records_hour", type_="unique")
        batch_op.create_unique_constraint("uq_metering_records_hour", columns)


def upgrade() -> None:
    op.drop_index("ix_metering_records_status", table_name="metering_records")
    _record_hour_key(["hour", "agreement_id", "dimension"])
    op.drop_index("ix_usage_events_metered_hour", table_name="usage_events")
    op.create_index(
        "ix_usage_events_metered_hour",
        "usage_events",
        _METERED_HOUR_COLUMNS,
        sqlite_where=_METERED,
        postgresql_where=_METERED,
    )


def downgrade() -> None:
    _record_hour_key(["agreement_id", "dimension", "hour"])
    op.drop_index("ix_usage_events_metered_hour", table_name="usage_events")
    op.create_index("ix_usage_events_metered_hour", "usage_events", _METERED_HOUR_COLUMNS)
    op.create_index("ix_metering_records_status", "metering_records", ["status"], unique=False)
