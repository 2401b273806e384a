"""account changes: the state 'completed' is now 'done'; the destination account a change was started for

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_changes = sa.table(
    "account_changes",
    sa.column("id", sa.String(36)),
    sa.column("state", sa.String(32)),
    sa.column("history", sa.JSON()),
)


def _rename_state(old: str, new: str) -> None:
    """Rename a state in the column and in every history entry (the steps are read from the history)."""
    conn = op.get_bind()
    conn.execute(_changes.update().where(_changes.c.state == old).values(state=new))
    for row in conn.execute(sa.select(_changes.c.id, _changes.c.history)).all():
        history: list[dict[str, Any]] = row.history or []
        renamed = [{k: (new if k in ("from", "to") and v == old else v) for k, v in h.items()} for h in history]
        if renamed != history:
            conn.execute(_changes.update().where(_changes.c.id == row.id).values(history=renamed))


def upgrade() -> None:
    with op.batch_alter_table("account_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("destination_account_id", sa.String(length=12), nullable=True))
    _rename_state("completed", "done")


def downgrade() -> None:
    _rename_state("done", "completed")
    with op.batch_alter_table("account_changes", schema=None) as batch_op:
        batch_op.drop_column("destination_account_id")
