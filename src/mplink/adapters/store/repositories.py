"""Repositories: load and save domain objects; the ledger is loaded as the closure a use case needs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

import orjson
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Text,
    any_,
    bindparam,
    cast,
    column,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mplink.adapters.store import metering_hours
from mplink.adapters.store import tables as t
from mplink.domain.agreement import Agreement
from mplink.domain.billing import AccountChange, BillingLink
from mplink.domain.catalog import BuyerAccount, Catalog, Dimension, Offer, Product, Service
from mplink.domain.ledger import Ledger, LegacySubscription, LicenseFacts
from mplink.domain.tenant import Tenant, User
from mplink.domain.usage import BillingPeriod, MeteringRecord
from mplink.services.ports import ApiKeyRow, InboxEntry, MissedHour, PendingLoad, RedeemedToken, UsageIssue


class TenantRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, tenant: Tenant) -> None:
        self.session.add(tenant)

    def add_user(self, user: User) -> None:
        self.session.add(user)

    def get(self, tenant_id: str, *, lock: bool = False) -> Tenant | None:
        stmt = select(Tenant).where(t.tenants.c.id == tenant_id)
        if lock:
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt).first()

    def existing(self, tenant_ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(tenant_ids))
        if not wanted:
            return set()
        return set(self.session.scalars(select(t.tenants.c.id).where(t.tenants.c.id.in_(wanted))))

    def all(self, offset: int = 0, limit: int | None = None) -> list[Tenant]:
        stmt = select(Tenant).order_by(t.tenants.c.created_at, t.tenants.c.id).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        return list(self.session.scalars(stmt))

    def user_by_email(self, email: str) -> User | None:
        return self.session.scalars(select(User).where(t.users.c.email == email)).first()

    def user(self, user_id: str) -> User | None:
        return self.session.get(User, user_id)

    def users(self, user_ids: Iterable[str]) -> list[User]:
        ids = list(user_ids)
        return list(self.session.scalars(select(User).where(t.users.c.id.in_(ids)))) if ids else []


class CatalogRepository:
    """The catalog is replaced whole: a load either takes every row or none."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def replace(self, catalog: Catalog) -> None:
        s = self.session
        for table in (t.offers, t.dimensions, t.services, t.products, t.buyer_accounts, t.catalog_meta):
            s.execute(delete(table))
        s.execute(
            insert(t.catalog_meta),
            [
                {"key": "seller_account_id", "value": catalog.seller_account_id},
                {"key": "seller_name", "value": catalog.seller_name},
            ],
        )
        for pi, p in enumerate(catalog.products):
            s.execute(
                insert(t.products),
                [
                    {
                        "product_id": p.product_id,
                        "product_code": p.product_code,
                        "title": p.title,
                        "fulfillment_url": p.fulfillment_url,
                        "position": pi,
                        "legacy": p.legacy,
                    }
                ],
            )
            svc_rows = [{"product_id": p.product_id, "name": sv.name, "position": i} for i, sv in enumerate(p.services)]
            s.execute(insert(t.services), svc_rows)
            dim_rows = [
                {
                    "product_id": p.product_id,
                    "key": d.key,
                    "service_name": sv.name,
                    "name": d.name,
                    "unit": d.unit,
                    "position": i,
                }
                for i, (sv, d) in enumerate((sv, d) for sv in p.services for d in sv.dimensions)
            ]
            if dim_rows:
                s.execute(insert(t.dimensions), dim_rows)
            s.execute(
                insert(t.offers),
                [
                    {
                        "offer_id": o.offer_id,
                        "product_id": p.product_id,
                        "name": o.name,
                        "private": o.private,
                        "proposer_account_id": o.proposer_account_id,
                        "resale_authorization_id": o.resale_authorization_id,
                        "buyer_account_ids": list(o.buyer_account_ids),
                        "position": i,
                        "proposer_name": o.proposer_name,
                        "prices": dict(o.prices),
                        "api_cancellable": o.api_cancellable,
                    }
                    for i, o in enumerate(p.offers)
                ],
            )
        if catalog.buyer_accounts:
            s.execute(
                insert(t.buyer_accounts),
                [{"account_id": b.account_id, "name": b.name} for b in catalog.buyer_accounts],
            )

    def get(self) -> Catalog | None:
        s = self.session
        meta = {k: v for k, v in s.execute(select(t.catalog_meta.c.key, t.catalog_meta.c.value))}
        seller = meta.get("seller_account_id")
        if seller is None:
            return None
        services: dict[str, list[tuple[str, list[Dimension]]]] = {}
        for row in s.execute(select(t.services).order_by(t.services.c.position)):
            services.setdefault(row.product_id, []).append((row.name, []))
        for row in s.execute(select(t.dimensions).order_by(t.dimensions.c.position)):
            for name, dims in services.get(row.product_id, []):
                if name == row.service_name:
                    dims.append(Dimension(row.key, row.name, row.unit))
        offers: dict[str, list[Offer]] = {}
        for row in s.execute(select(t.offers).order_by(t.offers.c.position)):
            offers.setdefault(row.product_id, []).append(
                Offer(
                    row.offer_id,
                    row.name,
                    row.private,
                    row.proposer_account_id,
                    row.resale_authorization_id,
                    tuple(row.buyer_account_ids),
                    row.proposer_name,
                    tuple(sorted(row.prices.items())),
                    row.api_cancellable,
                )
            )
        products = tuple(
            Product(
                row.product_id,
                row.product_code,
                row.title,
                row.fulfillment_url,
                tuple(Service(n, tuple(d)) for n, d in services.get(row.product_id, [])),
                tuple(offers.get(row.product_id, [])),
                row.legacy,
            )
            for row in s.execute(select(t.products).order_by(t.products.c.position))
        )
        buyers = tuple(
            BuyerAccount(r.account_id, r.name)
            for r in s.execute(select(t.buyer_accounts).order_by(t.buyer_accounts.c.account_id))
        )
        return Catalog(seller, products, buyers, meta.get("seller_name", "Seller"))


class LedgerRepository:
    """Loads the part of the ledger a use case touches, locking its agreements on PostgreSQL (not in a
    read-only snapshot, where nothing is written and nothing needs locking)."""

    def __init__(self, session: Session, *, lock: bool = True) -> None:
        self.session = session
        self.lock = lock

    def _agreements(self, *criteria: object) -> list[Agreement]:
        conds = [c for c in criteria if c is not None]
        if not conds:
            return []
        stmt = select(Agreement).where(or_(*conds))  # type: ignore[arg-type]
        if self.lock and self.session.get_bind().dialect.name == "postgresql":
            # rows locked in one order by every transaction: two loads of overlapping agreements wait for
            # each other instead of deadlocking
            stmt = stmt.order_by(t.agreements.c.agreement_id).with_for_update()
        return list(self.session.scalars(stmt))

    def load(
        self,
        agreement_ids: Iterable[str] = (),
        tenant_ids: Iterable[str] = (),
        license_arns: Iterable[str] = (),
        legacy_keys: Iterable[tuple[str, str]] = (),
    ) -> Ledger:
        ids = {a for a in agreement_ids if a}
        tenants = {x for x in tenant_ids if x}
        arns = {a for a in license_arns if a}
        keys = {k for k in legacy_keys if all(k)}
        c = t.agreements.c
        found: dict[str, Agreement] = {}

        def take(more: list[Agreement]) -> set[str]:
            new = {a.agreement_id for a in more} - set(found)
            for a in more:
                found.setdefault(a.agreement_id, a)
            return new

        frontier = take(
            self._agreements(
                c.agreement_id.in_(ids) if ids else None,
                c.license_arn.in_(arns) if arns else None,
                tuple_(c.product_code, c.customer_identifier).in_(list(keys)) if keys else None,
            )
        )
        frontier |= ids - set(found)
        links: dict[str, BillingLink] = {}
        for _ in range(50):  # follow predecessors, successors and links until nothing new turns up
            if not frontier and not tenants - {lk.tenant_id for lk in links.values()}:
                break
            related = {
                x
                for a in (found[i] for i in frontier if i in found)
                for x in (a.previous_agreement_id, a.replaced_by)
                if x
            }
            link_rows = self.session.scalars(
                select(BillingLink).where(
                    or_(
                        t.billing_links.c.agreement_id.in_(frontier | related), t.billing_links.c.tenant_id.in_(tenants)
                    )
                )
            )
            for lk in link_rows:
                links.setdefault(lk.id, lk)
            tenants |= {lk.tenant_id for lk in links.values()}
            tenant_links = self.session.scalars(select(BillingLink).where(t.billing_links.c.tenant_id.in_(tenants)))
            for lk in tenant_links:
                links.setdefault(lk.id, lk)
            wanted = (related | {lk.agreement_id for lk in links.values()}) - set(found)
            successors = self._agreements(c.previous_agreement_id.in_(frontier) if frontier else None)
            frontier = take(self._agreements(c.agreement_id.in_(wanted) if wanted else None) + successors)
        ledger = Ledger(agreements=found, links=list(links.values()))
        agreement_set = set(found)
        ledger.changes = list(
            self.session.scalars(
                select(AccountChange).where(
                    or_(
                        t.account_changes.c.tenant_id.in_(tenants),
                        t.account_changes.c.from_agreement_id.in_(agreement_set),
                    )
                )
            )
        )
        arns |= {a.license_arn for a in found.values() if a.license_arn}
        if arns:
            for facts in self.session.scalars(select(LicenseFacts).where(t.license_facts.c.license_arn.in_(arns))):
                ledger.licenses[facts.license_arn] = facts
        keys |= {
            (a.product_code, a.customer_identifier) for a in found.values() if a.product_code and a.customer_identifier
        }
        if keys:
            lc = t.legacy_subscriptions.c
            for sub in self.session.scalars(
                select(LegacySubscription).where(tuple_(lc.product_code, lc.customer_identifier).in_(list(keys)))
            ):
                ledger.legacy[(sub.product_code, sub.customer_identifier)] = sub
        return ledger

    def agreements_page(self, offset: int, limit: int) -> list[Agreement]:
        stmt = select(Agreement).order_by(t.agreements.c.agreement_id).offset(offset).limit(limit)
        return list(self.session.scalars(stmt))

    def changes_page(self, offset: int, limit: int) -> list[AccountChange]:
        ac = t.account_changes.c
        stmt = select(AccountChange).order_by(ac.started_at, ac.id).offset(offset).limit(limit)
        return list(self.session.scalars(stmt))

    def superseded_running(self) -> list[str]:
        c = t.agreements.c
        stmt = (
            select(c.agreement_id)
            .where(c.superseded_at.is_not(None), c.ended_at.is_(None), c.deprovisioned_at.is_(None))
            .order_by(c.agreement_id)
        )
        return list(self.session.scalars(stmt))

    def save(self, ledger: Ledger) -> None:
        """Objects loaded are tracked by the session; the ones the domain created are added here."""
        for obj in ledger.added:
            self.session.add(obj)
        ledger.added.clear()
        self.session.flush()


class InboxRepository:
    """R8: every delivered event is stored raw before it is processed; its id makes redelivery harmless."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_by_key(self, dedup_key: str, *, lock: bool = False) -> InboxEntry | None:
        stmt = select(t.inbox_events).where(t.inbox_events.c.dedup_key == dedup_key)
        if lock and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self.session.execute(stmt).first()
        return InboxEntry(**row._mapping) if row else None

    def add(self, dedup_key: str, channel: str, kind: str, payload: dict[str, object] | str, at: datetime) -> None:
        text_payload = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True)
        self.session.execute(
            insert(t.inbox_events).values(
                dedup_key=dedup_key,
                channel=channel,
                kind=kind,
                payload=text_payload,
                status="pending",
                attempts=0,
                received_at=at,
            )
        )

    def mark(self, dedup_key: str, status: str, at: datetime, error: str | None = None) -> None:
        entry = self.get_by_key(dedup_key)
        if entry is None:
            return
        self.session.execute(
            t.inbox_events.update()
            .where(t.inbox_events.c.dedup_key == dedup_key)
            .values(
                status=status,
                attempts=entry.attempts + 1,
                last_error=error,
                processed_at=at if status in ("processed", "ignored") else None,
            )
        )

    def entries(self, statuses: Iterable[str] = (), limit: int = 100) -> list[InboxEntry]:
        stmt = select(t.inbox_events).order_by(t.inbox_events.c.id).limit(limit)
        wanted = list(statuses)
        if wanted:
            stmt = stmt.where(t.inbox_events.c.status.in_(wanted))
        return [InboxEntry(**r._mapping) for r in self.session.execute(stmt)]


class AccessRepository:
    """API keys (stored as hashes) and redeemed registration tokens."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_api_key(self, row: ApiKeyRow) -> None:
        self.session.execute(insert(t.api_keys).values(**row.__dict__))

    def api_key_by_prefix(self, prefix: str) -> ApiKeyRow | None:
        found = self.session.execute(select(t.api_keys).where(t.api_keys.c.prefix == prefix)).first()
        return ApiKeyRow(**found._mapping) if found else None

    def api_keys(self, tenant_id: str | None = None) -> list[ApiKeyRow]:
        stmt = select(t.api_keys).order_by(t.api_keys.c.created_at)
        if tenant_id is not None:
            stmt = stmt.where(t.api_keys.c.tenant_id == tenant_id)
        return [ApiKeyRow(**r._mapping) for r in self.session.execute(stmt)]

    def touch_api_key(self, key_id: str, at: datetime) -> None:
        self.session.execute(t.api_keys.update().where(t.api_keys.c.id == key_id).values(last_used_at=at))

    def redeemed_token(self, token_hash: str, *, lock: bool = False) -> RedeemedToken | None:
        stmt = select(t.registration_tokens).where(t.registration_tokens.c.token_hash == token_hash)
        if lock and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self.session.execute(stmt).first()
        if row is None:
            return None
        m = row._mapping
        return RedeemedToken(m["token_hash"], m["agreement_id"], m["redeemed_at"], m["linked_tenant_id"])

    def redeem_token(self, token_hash: str, agreement_id: str, at: datetime) -> None:
        self.session.execute(
            insert(t.registration_tokens).values(token_hash=token_hash, agreement_id=agreement_id, redeemed_at=at)
        )

    def token_linked(self, token_hash: str, tenant_id: str) -> None:
        self.session.execute(
            t.registration_tokens.update()
            .where(t.registration_tokens.c.token_hash == token_hash)
            .values(linked_tenant_id=tenant_id)
        )


class EntitlementRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def replace(self, agreement_id: str, rows: list[dict[str, object]], at: datetime) -> None:
        self.session.execute(delete(t.entitlements).where(t.entitlements.c.agreement_id == agreement_id))
        if rows:
            self.session.execute(
                insert(t.entitlements), [{**r, "agreement_id": agreement_id, "fetched_at": at} for r in rows]
            )

    def of_agreement(self, agreement_id: str) -> list[dict[str, object]]:
        stmt = (
            select(t.entitlements)
            .where(t.entitlements.c.agreement_id == agreement_id)
            .order_by(t.entitlements.c.dimension)
        )
        return [dict(r._mapping) for r in self.session.execute(stmt)]

    def stale_agreements(self, limit: int = 100) -> list[Agreement]:
        stmt = select(Agreement).where(t.agreements.c.entitlements_stale.is_(True)).limit(limit)
        return list(self.session.scalars(stmt))


#: the columns a usage event is stored with (the others have defaults or are set when its hour is written)
_USAGE_COLUMNS = (
    "tenant_id",
    "idempotency_key",
    "dimension",
    "quantity",
    "occurred_at",
    "hour",
    "agreement_id",
    "received_at",
    "metered_hour",
)


def _usage_json(rows: list[dict[str, object]]) -> str:
    """Usage rows as one JSON array, encoded in C (orjson writes an aware datetime in ISO 8601 with its offset).
    A naive datetime is refused, as UTCDateTime does: the database would read it in its own time zone."""
    for row in rows:
        for name in ("occurred_at", "hour", "received_at", "metered_hour"):
            value = row.get(name)
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError("naive datetime given to the store; the domain works in aware UTC")
    return orjson.dumps(rows).decode()


class MeteringRepository:
    """Usage as reported and the hourly records sent to BatchMeterUsage."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def metered_dimensions(self) -> frozenset[str] | None:
        """The dimension keys of every product in the catalog, in one query (not the whole catalog); None when no
        catalog is loaded."""
        meta, d, sv = t.catalog_meta.c, t.dimensions.c, t.services.c
        rows = self.session.execute(
            select(meta.value, d.key)
            .select_from(t.catalog_meta)
            .outerjoin(
                t.dimensions.join(t.services, (sv.product_id == d.product_id) & (sv.name == d.service_name)),
                true(),
            )
            .where(meta.key == "seller_account_id")
        ).all()
        return frozenset(r.key for r in rows if r.key is not None) if rows else None

    def billing_periods(self, tenant_ids: Iterable[str]) -> dict[str, list[BillingPeriod]]:
        """One Core query (no ORM objects): each of the tenants that exists, with its links joined to their
        agreements' ends (none when it was never linked). On PostgreSQL the ids go as one array parameter."""
        wanted = sorted(set(tenant_ids))
        if not wanted:
            return {}
        tn, bl, ag = t.tenants.c, t.billing_links.c, t.agreements.c
        instants: tuple[ColumnElement[datetime], ...] = (bl.starts_at, bl.ends_at, ag.ended_at, ag.deprovisioned_at)
        if self.session.get_bind().dialect.name == "postgresql":
            chosen = tn.id == any_(bindparam("tenant_ids", wanted, type_=ARRAY(tn.id.type)))
            # psycopg returns aware datetimes already: skip UTCDateTime's per-value conversion (routing compares
            # instants, whatever their zone)
            instants = tuple(type_coerce(c, DateTime(timezone=True)) for c in instants)
        else:
            chosen = tn.id.in_(wanted)
        rows = self.session.execute(
            select(tn.id, bl.agreement_id, *instants)
            .select_from(t.tenants)
            .outerjoin(t.billing_links.join(t.agreements, bl.agreement_id == ag.agreement_id), bl.tenant_id == tn.id)
            .where(chosen)
        )
        out: dict[str, list[BillingPeriod]] = {}
        for tenant_id, agreement_id, starts_at, ends_at, ended_at, deprovisioned_at in rows:
            periods = out.setdefault(tenant_id, [])
            if agreement_id is not None:
                if ended_at is None or (deprovisioned_at is not None and deprovisioned_at < ended_at):
                    ended_at = deprovisioned_at  # the agreement ended at the first of the two
                periods.append(BillingPeriod(tenant_id, agreement_id, starts_at, ends_at, ended_at))
        return out

    def add_usage(self, rows: list[dict[str, object]]) -> set[tuple[str, str]]:
        """One INSERT ... ON CONFLICT DO NOTHING RETURNING on the (tenant_id, idempotency_key) unique index: a
        resent event is skipped by the index itself, so intake costs the same however many events are stored."""
        if not rows:
            return set()
        ue = t.usage_events.c
        if self.session.get_bind().dialect.name == "postgresql":
            return self._add_usage_json(rows)
        stmt = (
            sqlite_insert(t.usage_events)
            .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
            .returning(ue.tenant_id, ue.idempotency_key)
        )
        return {(r.tenant_id, r.idempotency_key) for r in self.session.execute(stmt, rows)}

    def _add_usage_json(self, rows: list[dict[str, object]]) -> set[tuple[str, str]]:
        """PostgreSQL: the rows go as one JSON parameter that ``json_to_recordset`` turns back into typed rows; the
        driver neither renders nor parses thousands of placeholders, and the JSON is encoded in C."""
        ue = t.usage_events.c
        payload = _usage_json(rows)
        source = (
            func.json_to_recordset(cast(bindparam("rows", payload, type_=Text), JSON))
            .table_valued(*(column(c, ue[c].type) for c in _USAGE_COLUMNS))
            .render_derived(with_types=True)
        )
        stmt = (
            postgresql_insert(t.usage_events)
            .from_select(list(_USAGE_COLUMNS), select(*(source.c[c] for c in _USAGE_COLUMNS)))
            .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
            .returning(ue.tenant_id, ue.idempotency_key)
        )
        return {(r.tenant_id, r.idempotency_key) for r in self.session.execute(stmt)}

    def hourly_totals(self, hour: datetime) -> dict[tuple[str, str, datetime], int]:
        ue = t.usage_events.c
        rows = self.session.execute(
            select(ue.agreement_id, ue.dimension, func.sum(ue.quantity).label("total"))
            .where(ue.hour == hour, ue.agreement_id.is_not(None))
            .group_by(ue.agreement_id, ue.dimension)
        )
        return {(r.agreement_id, r.dimension, hour): int(r.total) for r in rows}

    def metered_agreements(self) -> list[Agreement]:
        """Agreements whose buyer is known (registered or announced): the ones AWS expects records for."""
        return list(self.session.scalars(select(Agreement).where(t.agreements.c.aws_account_id.is_not(None))))

    def recorded_in_hour(self, hour: datetime) -> set[tuple[str, str]]:
        mr = t.metering_records.c
        return {
            (r.agreement_id, r.dimension)
            for r in self.session.execute(select(mr.agreement_id, mr.dimension).where(mr.hour == hour))
        }

    def add_record(self, record: MeteringRecord) -> None:
        self.session.add(record)

    # -- hour bookkeeping, in bulk SQL (adapters.store.metering_hours) --
    def metered_through(self, *, lock: bool = False) -> datetime | None:
        return metering_hours.metered_through(self.session, lock=lock)

    def hold_metered_through(self) -> datetime | None:
        return metering_hours.hold_metered_through(self.session)

    def set_metered_through(self, hour: datetime, at: datetime) -> None:
        metering_hours.set_metered_through(self.session, hour, at)

    def oldest_unmetered_usage_hour(self) -> datetime | None:
        return metering_hours.oldest_unmetered_usage_hour(self.session)

    def write_hour(self, hour: datetime, agreement_ids: Sequence[str] | None = None) -> int:
        return metering_hours.write_hour(self.session, hour, agreement_ids)

    def miss_hour(self, hour: datetime, reason: str, at: datetime) -> MissedHour:
        return metering_hours.miss_hour(self.session, hour, reason, at)

    def agreements_in_final_window(self, now: datetime) -> list[Agreement]:
        return metering_hours.agreements_in_final_window(self.session, now)

    def missed_hours(self, limit: int = 100) -> list[MissedHour]:
        return metering_hours.missed_hours(self.session, limit)

    def usage_issues(self) -> list[UsageIssue]:
        return metering_hours.usage_issues(self.session)

    def pending_load(self) -> PendingLoad:
        return metering_hours.pending_load(self.session)

    def pending_records(self) -> list[MeteringRecord]:
        return list(self.session.scalars(select(MeteringRecord).where(t.metering_records.c.status == "pending")))

    def record(self, record_id: str) -> MeteringRecord | None:
        return self.session.get(MeteringRecord, record_id)

    def agreements_by_id(self) -> dict[str, Agreement]:
        return {a.agreement_id: a for a in self.session.scalars(select(Agreement))}
