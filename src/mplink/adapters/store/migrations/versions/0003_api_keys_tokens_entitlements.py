"""API keys, redeemed registration tokens, entitlements

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 22:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(scope = 'operator' AND tenant_id IS NULL) OR (scope = 'tenant' AND tenant_id IS NOT NULL)",
            name=op.f("ck_api_keys_scope"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "registration_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.String(length=128), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_tenant_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.agreement_id"],
            name=op.f("fk_registration_tokens_agreement_id_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["linked_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_registration_tokens_linked_tenant_id_tenants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_registration_tokens")),
    )
    op.create_table(
        "entitlements",
        sa.Column("agreement_id", sa.String(length=128), nullable=False),
        sa.Column("dimension", sa.String(length=255), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"], ["agreements.agreement_id"], name=op.f("fk_entitlements_agreement_id_agreements")
        ),
        sa.PrimaryKeyConstraint("agreement_id", "dimension", name=op.f("pk_entitlements")),
    )


def downgrade() -> None:
    op.drop_table("entitlements")
    op.drop_table("registration_tokens")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_tenant_id"))
    op.drop_table("api_keys")
