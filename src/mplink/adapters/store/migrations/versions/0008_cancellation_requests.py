"""account changes: the agreement cancellation request the seller sent for the source agreement, and its status

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancellation_request_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("cancellation_request_status", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("account_changes", schema=None) as batch_op:
        batch_op.drop_column("cancellation_request_status")
        batch_op.drop_column("cancellation_request_id")
