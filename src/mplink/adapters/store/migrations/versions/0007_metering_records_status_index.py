"""metering records: drop the full status index; the only status looked up is 'pending', which the partial
send-queue index (0006) already serves, and every record written or settled paid for the full one

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12 10:00:00
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_metering_records_status", table_name="metering_records")


def downgrade() -> None:
    op.create_index("ix_metering_records_status", "metering_records", ["status"], unique=False)
