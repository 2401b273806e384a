"""metering hours: the metered-through point in the database, missed hours reported, late and unbilled usage

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_UNMETERED = "metered_hour IS NULL AND unbilled_reason IS NULL"
_LATE_OR_UNBILLED = "late OR unbilled_reason IS NOT NULL OR agreement_id IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("metered_hour", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("late", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("unbilled_reason", sa.String(length=32), nullable=True))
    # usage already in a record is billed in its own hour; the rest is metered from now on
    op.execute(
        "UPDATE usage_events SET metered_hour = hour WHERE agreement_id IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM metering_records mr WHERE mr.agreement_id = usage_events.agreement_id "
        "AND mr.dimension = usage_events.dimension AND mr.hour = usage_events.hour)"
    )
    op.create_index(
        "ix_usage_events_unmetered",
        "usage_events",
        ["hour"],
        sqlite_where=sa.text(_UNMETERED),
        postgresql_where=sa.text(_UNMETERED),
    )
    op.create_index("ix_usage_events_metered_hour", "usage_events", ["metered_hour", "agreement_id", "dimension"])
    op.create_index(
        "ix_usage_events_late_or_unbilled",
        "usage_events",
        ["tenant_id"],
        sqlite_where=sa.text(_LATE_OR_UNBILLED),
        postgresql_where=sa.text(_LATE_OR_UNBILLED),
    )
    op.create_table(
        "metering_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("metered_through", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_metering_state")),
    )
    # the worker kept its point in memory: the last hour with records is where it had got to
    op.execute(
        "INSERT INTO metering_state (name, metered_through, updated_at) "
        "SELECT 'hours', MAX(hour), CURRENT_TIMESTAMP FROM metering_records HAVING MAX(hour) IS NOT NULL"
    )
    op.create_table(
        "missed_metering_hours",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("usage_events", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_missed_metering_hours")),
    )


def downgrade() -> None:
    op.drop_table("missed_metering_hours")
    op.drop_table("metering_state")
    op.drop_index("ix_usage_events_late_or_unbilled", table_name="usage_events")
    op.drop_index("ix_usage_events_metered_hour", table_name="usage_events")
    op.drop_index("ix_usage_events_unmetered", table_name="usage_events")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_column("unbilled_reason")
        batch_op.drop_column("late")
        batch_op.drop_column("metered_hour")
