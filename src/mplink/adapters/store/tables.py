"""Table definitions. Invariants the database can hold are constraints here too:
one open link per agreement and per tenant, no overlapping links per tenant (PostgreSQL),
unique event dedup keys, unique metering record per (agreement, dimension, hour)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint

from mplink.adapters.store.types import UTCDateTime
from mplink.domain.billing import ChangeState
from mplink.domain.tenant import Role
from mplink.domain.usage import RecordStatus

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _enum(cls: type, name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


tenants = Table(
    "tenants",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("tenant_id", String(36), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", _enum(Role, "role"), nullable=False),
)

catalog_meta = Table(
    "catalog_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("product_id", String(64), primary_key=True),
    Column("product_code", String(255), nullable=False, unique=True),
    Column("title", String(255), nullable=False),
    Column("fulfillment_url", String(2048), nullable=False),
    Column("position", Integer, nullable=False),
    Column("legacy", Boolean, nullable=False, server_default=false()),
)

services = Table(
    "services",
    metadata,
    Column("product_id", String(64), ForeignKey("products.product_id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("position", Integer, nullable=False),
)

dimensions = Table(
    "dimensions",
    metadata,
    Column("product_id", String(64), ForeignKey("products.product_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("service_name", String(200), nullable=False),
    Column("name", String(255), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("position", Integer, nullable=False),
)

offers = Table(
    "offers",
    metadata,
    Column("offer_id", String(255), primary_key=True),
    Column("product_id", String(64), ForeignKey("products.product_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("private", Boolean, nullable=False),
    Column("proposer_account_id", String(12), nullable=False),
    Column("resale_authorization_id", String(255)),
    Column("buyer_account_ids", JSON, nullable=False),
    Column("position", Integer, nullable=False),
    Column("proposer_name", String(255)),
    Column("prices", JSON, nullable=False, server_default="{}"),
    Column("api_cancellable", Boolean, nullable=False, server_default=true()),
)

buyer_accounts = Table(
    "buyer_accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(255), nullable=False),
)

agreements = Table(
    "agreements",
    metadata,
    Column("agreement_id", String(128), primary_key=True),
    Column("product_id", String(64)),
    Column("product_code", String(255)),
    Column("aws_account_id", String(12), index=True),
    Column("license_arn", String(1024), index=True),
    Column("customer_identifier", String(255)),
    Column("offer_id", String(255)),
    Column("proposer_account_id", String(12)),
    Column("resale_authorization_id", String(255)),
    Column("intent", String(16)),
    Column("previous_agreement_id", String(128), index=True),
    Column("free_trial", Boolean, nullable=False),
    Column("marketplace_status", String(32), nullable=False),
    Column("accepted_at", UTCDateTime()),
    Column("starts_at", UTCDateTime()),
    Column("term_ends_at", UTCDateTime()),
    Column("ended_at", UTCDateTime()),
    Column("end_status", String(32)),
    Column("deprovisioned_at", UTCDateTime()),
    Column("superseded_at", UTCDateTime()),
    Column("replaced_by", String(128)),
    Column("replaced_at", UTCDateTime()),
    Column("entitlements_stale", Boolean, nullable=False),
    Column("stamps", JSON, nullable=False),
    Index("ix_agreements_customer", "product_code", "customer_identifier"),
)

billing_links = Table(
    "billing_links",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("agreement_id", String(128), ForeignKey("agreements.agreement_id"), nullable=False, index=True),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime()),
    Column("end_reason", String(16)),
    CheckConstraint("ends_at IS NULL OR ends_at >= starts_at", name="interval"),
    # R1: one open link per agreement; R2: one paying link per tenant
    Index(
        "ux_billing_links_open_agreement",
        "agreement_id",
        unique=True,
        sqlite_where=text("ends_at IS NULL"),
        postgresql_where=text("ends_at IS NULL"),
    ),
    Index(
        "ux_billing_links_open_tenant",
        "tenant_id",
        unique=True,
        sqlite_where=text("ends_at IS NULL"),
        postgresql_where=text("ends_at IS NULL"),
    ),
)

#: R2/R5: a tenant's links never overlap in time (half-open intervals). PostgreSQL only (btree_gist).
NO_OVERLAP = ExcludeConstraint(
    (Column("tenant_id"), "="),
    (text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
    name="ex_billing_links_no_overlap",
    using="gist",
)
billing_links.append_constraint(NO_OVERLAP.ddl_if(dialect="postgresql"))

account_changes = Table(
    "account_changes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("from_agreement_id", String(128), index=True),
    Column("to_agreement_id", String(128)),
    Column("state", _enum(ChangeState, "change_state"), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("source_ended_at", UTCDateTime()),
    Column("history", JSON, nullable=False),
    Column("destination_account_id", String(12)),
    Column("cancellation_request_id", String(128)),
    Column("cancellation_request_status", String(32)),
)

license_facts = Table(
    "license_facts",
    metadata,
    Column("license_arn", String(1024), primary_key=True),
    Column("updated_stamp", String(160)),
    Column("deprovisioned_at", UTCDateTime()),
)

legacy_subscriptions = Table(
    "legacy_subscriptions",
    metadata,
    Column("product_code", String(255), primary_key=True),
    Column("customer_identifier", String(255), primary_key=True),
    Column("action", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("version", String(160), nullable=False),
    Column("offer_id", String(255)),
    Column("free_trial", Boolean, nullable=False),
)

inbox_events = Table(
    "inbox_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # R8: the same event delivered again is recognised by its id and stored once
    Column("dedup_key", String(255), nullable=False, unique=True),
    Column("channel", String(32), nullable=False),
    Column("kind", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("processed_at", UTCDateTime()),
)

usage_events = Table(
    "usage_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("dimension", String(255), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("hour", UTCDateTime(), nullable=False),
    # NULL: nobody paid for the tenant then; kept and reported as unbillable (R5)
    Column("agreement_id", String(128), ForeignKey("agreements.agreement_id")),
    Column("received_at", UTCDateTime(), nullable=False),
    # the hour whose record bills it: its own hour, or a later one when it came late; NULL until written
    Column("metered_hour", UTCDateTime()),
    # it came after its own hour was written (billed in a later hour, or unbilled)
    Column("late", Boolean, nullable=False, server_default=false()),
    # why it will not be billed (domain.usage.UnbilledReason); NULL while billed or still to be metered
    Column("unbilled_reason", String(32)),
    UniqueConstraint("tenant_id", "idempotency_key", name="uq_usage_events_idempotency"),
    Index("ix_usage_events_hour", "agreement_id", "hour"),
    # the usage still to be metered, found without reading the history
    Index(
        "ix_usage_events_unmetered",
        "hour",
        sqlite_where=text("metered_hour IS NULL AND unbilled_reason IS NULL"),
        postgresql_where=text("metered_hour IS NULL AND unbilled_reason IS NULL"),
    ),
    # the usage billed in an hour. Partial: usage still to be metered is not in it, so it costs nothing at
    # intake, and a look-up of unmetered usage (metered_hour IS NULL) cannot pick it over
    # ix_usage_events_unmetered's hour range and read every event of the hours still to come
    Index(
        "ix_usage_events_metered_hour",
        "metered_hour",
        "agreement_id",
        "dimension",
        sqlite_where=text("metered_hour IS NOT NULL"),
        postgresql_where=text("metered_hour IS NOT NULL"),
    ),
    # late and unbilled usage per tenant, for operators
    Index(
        "ix_usage_events_late_or_unbilled",
        "tenant_id",
        sqlite_where=text("late OR unbilled_reason IS NOT NULL OR agreement_id IS NULL"),
        postgresql_where=text("late OR unbilled_reason IS NOT NULL OR agreement_id IS NULL"),
    ),
)

#: the metering worker's bookkeeping: the last hour metered (every hour up to it is written or reported missed)
metering_state = Table(
    "metering_state",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("metered_through", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: hours metered when AWS no longer took them: reported to operators with the reason, never dropped
missed_metering_hours = Table(
    "missed_metering_hours",
    metadata,
    Column("hour", UTCDateTime(), primary_key=True),
    Column("reason", String(32), nullable=False),
    Column("usage_events", Integer, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("reported_at", UTCDateTime(), nullable=False),
)

metering_records = Table(
    "metering_records",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agreement_id", String(128), ForeignKey("agreements.agreement_id"), nullable=False),
    Column("product_code", String(255), nullable=False),
    Column("aws_account_id", String(12), nullable=False),
    Column("license_arn", String(1024)),
    Column("customer_identifier", String(255)),
    Column("dimension", String(255), nullable=False),
    Column("hour", UTCDateTime(), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    # no index of its own: the only status looked up is 'pending', through ix_metering_records_send_queue
    Column("status", _enum(RecordStatus, "record_status"), nullable=False),
    Column("detail", Text),
    # the send order (domain.usage.SendPriority); NULL until the sender first sees the record
    Column("send_priority", SmallInteger),
    # a worker's claim on a pending record: nobody else sends it before claimed_until
    Column("claimed_by", String(64)),
    Column("claimed_until", UTCDateTime()),
    # hour first: an hour's records are written together, so they land side by side in this index
    UniqueConstraint("hour", "agreement_id", "dimension", name="uq_metering_records_hour"),
    # the send queue: pending records in send order, without the sent history
    Index(
        "ix_metering_records_send_queue",
        "send_priority",
        "hour",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
)

# token buckets shared by every worker on the database (domain.pacing): BatchMeterUsage's quota
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("tokens", Float, nullable=False),
    # seconds since the epoch when ``tokens`` was counted
    Column("counted_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    # the first characters of the key, shown in listings; the key itself is never stored
    Column("prefix", String(16), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("tenant_id", String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True),
    Column("scope", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
    CheckConstraint(
        "(scope = 'operator' AND tenant_id IS NULL) OR (scope = 'tenant' AND tenant_id IS NOT NULL)", name="scope"
    ),
)

registration_tokens = Table(
    "registration_tokens",
    metadata,
    # sha256 of the token: a token redeemed once is recognised if it is posted again
    Column("token_hash", String(64), primary_key=True),
    Column("agreement_id", String(128), ForeignKey("agreements.agreement_id"), nullable=False),
    Column("redeemed_at", UTCDateTime(), nullable=False),
    Column("linked_tenant_id", String(36), ForeignKey("tenants.id", ondelete="SET NULL")),
)

entitlements = Table(
    "entitlements",
    metadata,
    Column("agreement_id", String(128), ForeignKey("agreements.agreement_id"), primary_key=True),
    Column("dimension", String(255), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("fetched_at", UTCDateTime(), nullable=False),
)
