"""catalog details: seller of record names, prices, legacy products, API-cancellable offers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proposer_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("prices", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("api_cancellable", sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legacy", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("legacy")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_column("api_cancellable")
        batch_op.drop_column("prices")
        batch_op.drop_column("proposer_name")
