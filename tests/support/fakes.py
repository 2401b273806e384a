"""In-memory stand-ins for the services' ports: a unit of work with real transaction semantics (work on a
copy, keep it only on commit) and a scriptable AWS Marketplace. They let the service layer be tested in
milliseconds, with no database and no server."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from mplink.domain.agreement import Agreement, Registration
from mplink.domain.billing import AccountChange, BillingLink
from mplink.domain.catalog import Catalog
from mplink.domain.ledger import Ledger, LegacySubscription, LicenseFacts
from mplink.domain.tenant import Tenant, User
from mplink.domain.usage import (
    BillingPeriod,
    MeteringRecord,
    RecordStatus,
    SendPriority,
    UnbilledReason,
    active_during,
    records_for_hour,
    send_priority,
)
from mplink.services.ports import (
    AgreementFacts,
    ApiKeyRow,
    CancellationRequest,
    CancellationRequestRefused,
    ConcurrentUpdate,
    Entitlement,
    InboxEntry,
    MarketplaceUnavailable,
    MeterOutcome,
    MeterStatus,
    MissedHour,
    PendingLoad,
    RedeemedToken,
    RegistrationTokenRejected,
    Settlement,
    UsageIssue,
)

T = TypeVar("T")


def clone(value: T) -> T:
    """A deep copy that builds dataclasses through their constructors (safe for classes the store maps)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if type(value).__dataclass_params__.frozen:  # type: ignore[attr-defined]
            return value
        fields = dataclasses.fields(value)
        made = type(value)(**{f.name: clone(getattr(value, f.name)) for f in fields if f.init})
        for f in fields:
            if not f.init:
                setattr(made, f.name, clone(getattr(value, f.name)))
        return made
    if isinstance(value, list):
        return [clone(v) for v in value]  # type: ignore[return-value]
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}  # type: ignore[return-value]
    return value


@dataclass
class Data:
    """Everything a store keeps, as plain objects."""

    tenants: dict[str, Tenant] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    catalog: Catalog | None = None
    agreements: dict[str, Agreement] = field(default_factory=dict)
    links: dict[str, BillingLink] = field(default_factory=dict)
    changes: dict[str, AccountChange] = field(default_factory=dict)
    licenses: dict[str, LicenseFacts] = field(default_factory=dict)
    legacy: dict[tuple[str, str], LegacySubscription] = field(default_factory=dict)
    inbox: dict[str, InboxEntry] = field(default_factory=dict)
    api_keys: dict[str, ApiKeyRow] = field(default_factory=dict)
    tokens: dict[str, RedeemedToken] = field(default_factory=dict)
    entitlements: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    usage: list[dict[str, object]] = field(default_factory=list)
    records: dict[str, MeteringRecord] = field(default_factory=dict)
    #: the send queue's columns of a record: its send priority and its claim (who, until when)
    priorities: dict[str, int] = field(default_factory=dict)
    claims: dict[str, tuple[str | None, datetime | None]] = field(default_factory=dict)
    metered_through: datetime | None = None
    missed_hours: dict[datetime, MissedHour] = field(default_factory=dict)

    def copy(self) -> Data:
        return Data(**{f.name: clone(getattr(self, f.name)) for f in dataclasses.fields(self)})


class FakeTenants:
    def __init__(self, data: Data) -> None:
        self.data = data

    def add(self, tenant: Tenant) -> None:
        self.data.tenants[tenant.id] = tenant

    def add_user(self, user: User) -> None:
        if any(u.email == user.email for u in self.data.users.values()):
            raise ConcurrentUpdate(f"a user with email {user.email} exists")
        self.data.users[user.id] = user

    def get(self, tenant_id: str, *, lock: bool = False) -> Tenant | None:
        return self.data.tenants.get(tenant_id)

    def existing(self, tenant_ids: Iterable[str]) -> set[str]:
        return set(tenant_ids) & set(self.data.tenants)

    def all(self, offset: int = 0, limit: int | None = None) -> list[Tenant]:
        ordered = sorted(self.data.tenants.values(), key=lambda t: (t.created_at, t.id))[offset:]
        return ordered if limit is None else ordered[:limit]

    def user_by_email(self, email: str) -> User | None:
        return next((u for u in self.data.users.values() if u.email == email), None)

    def user(self, user_id: str) -> User | None:
        return self.data.users.get(user_id)

    def users(self, user_ids: Iterable[str]) -> list[User]:
        return [self.data.users[i] for i in user_ids if i in self.data.users]


class FakeCatalog:
    def __init__(self, data: Data) -> None:
        self.data = data

    def replace(self, catalog: Catalog) -> None:
        self.data.catalog = catalog

    def get(self) -> Catalog | None:
        return self.data.catalog


class FakeLedger:
    """Loads the whole ledger: a superset of the closure the SQL repository loads, which the domain allows."""

    def __init__(self, data: Data) -> None:
        self.data = data
        self.loads = 0

    def load(
        self,
        agreement_ids: Iterable[str] = (),
        tenant_ids: Iterable[str] = (),
        license_arns: Iterable[str] = (),
        legacy_keys: Iterable[tuple[str, str]] = (),
    ) -> Ledger:
        self.loads += 1
        d = self.data
        return Ledger(
            agreements=dict(d.agreements),
            links=list(d.links.values()),
            changes=list(d.changes.values()),
            licenses=dict(d.licenses),
            legacy=dict(d.legacy),
        )

    def agreements_page(self, offset: int, limit: int) -> list[Agreement]:
        return [self.data.agreements[k] for k in sorted(self.data.agreements)][offset : offset + limit]

    def changes_page(self, offset: int, limit: int) -> list[AccountChange]:
        ordered = sorted(self.data.changes.values(), key=lambda c: (c.started_at, c.id))
        return ordered[offset : offset + limit]

    def superseded_running(self) -> list[str]:
        return sorted(k for k, a in self.data.agreements.items() if a.superseded_at is not None and not a.ended)

    def save(self, ledger: Ledger) -> None:
        d = self.data
        for obj in ledger.added:
            if isinstance(obj, Agreement):
                d.agreements[obj.agreement_id] = obj
            elif isinstance(obj, BillingLink):
                d.links[obj.id] = obj
            elif isinstance(obj, AccountChange):
                d.changes[obj.id] = obj
            elif isinstance(obj, LicenseFacts):
                d.licenses[obj.license_arn] = obj
            elif isinstance(obj, LegacySubscription):
                d.legacy[(obj.product_code, obj.customer_identifier)] = obj
        ledger.added.clear()
        open_links = [lk for lk in d.links.values() if lk.is_open]
        # the database's partial unique indexes: one open link per tenant and per agreement
        for key in ("tenant_id", "agreement_id"):
            values = [getattr(lk, key) for lk in open_links]
            if len(values) != len(set(values)):
                raise ConcurrentUpdate(f"two open links share a {key}")


class FakeInbox:
    def __init__(self, data: Data) -> None:
        self.data = data

    def get_by_key(self, dedup_key: str, *, lock: bool = False) -> InboxEntry | None:
        return self.data.inbox.get(dedup_key)

    def add(self, dedup_key: str, channel: str, kind: str, payload: dict[str, object] | str, at: datetime) -> None:
        import json

        if dedup_key in self.data.inbox:
            raise ConcurrentUpdate(f"event {dedup_key} is stored already")
        text = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True)
        entry = InboxEntry(len(self.data.inbox) + 1, dedup_key, channel, kind, text, "pending", 0, None, at, None)
        self.data.inbox[dedup_key] = entry

    def mark(self, dedup_key: str, status: str, at: datetime, error: str | None = None) -> None:
        entry = self.data.inbox.get(dedup_key)
        if entry is None:
            return
        done = at if status in ("processed", "ignored") else None
        self.data.inbox[dedup_key] = dataclasses.replace(
            entry, status=status, attempts=entry.attempts + 1, last_error=error, processed_at=done
        )

    def entries(self, statuses: Iterable[str] = (), limit: int = 100) -> list[InboxEntry]:
        wanted = set(statuses)
        found = sorted(self.data.inbox.values(), key=lambda e: e.id)
        return [e for e in found if not wanted or e.status in wanted][:limit]


class FakeAccess:
    def __init__(self, data: Data) -> None:
        self.data = data

    def add_api_key(self, row: ApiKeyRow) -> None:
        self.data.api_keys[row.id] = row

    def api_key_by_prefix(self, prefix: str) -> ApiKeyRow | None:
        return next((k for k in self.data.api_keys.values() if k.prefix == prefix), None)

    def api_keys(self, tenant_id: str | None = None) -> list[ApiKeyRow]:
        rows = sorted(self.data.api_keys.values(), key=lambda k: k.created_at)
        return [k for k in rows if tenant_id is None or k.tenant_id == tenant_id]

    def touch_api_key(self, key_id: str, at: datetime) -> None:
        self.data.api_keys[key_id] = dataclasses.replace(self.data.api_keys[key_id], last_used_at=at)

    def redeemed_token(self, token_hash: str, *, lock: bool = False) -> RedeemedToken | None:
        return self.data.tokens.get(token_hash)

    def redeem_token(self, token_hash: str, agreement_id: str, at: datetime) -> None:
        if token_hash in self.data.tokens:
            raise ConcurrentUpdate("the token was redeemed by a concurrent request")
        self.data.tokens[token_hash] = RedeemedToken(token_hash, agreement_id, at, None)

    def token_linked(self, token_hash: str, tenant_id: str) -> None:
        self.data.tokens[token_hash] = dataclasses.replace(self.data.tokens[token_hash], linked_tenant_id=tenant_id)


class FakeEntitlements:
    def __init__(self, data: Data) -> None:
        self.data = data

    def replace(self, agreement_id: str, rows: list[dict[str, object]], at: datetime) -> None:
        self.data.entitlements[agreement_id] = [{**r, "agreement_id": agreement_id, "fetched_at": at} for r in rows]

    def of_agreement(self, agreement_id: str) -> list[dict[str, object]]:
        return sorted(self.data.entitlements.get(agreement_id, []), key=lambda r: str(r["dimension"]))

    def stale_agreements(self, limit: int = 100) -> list[Agreement]:
        return [a for a in self.data.agreements.values() if a.entitlements_stale][:limit]


class FakeMetering:
    def __init__(self, data: Data) -> None:
        self.data = data

    def metered_dimensions(self) -> frozenset[str] | None:
        catalog = self.data.catalog
        return None if catalog is None else frozenset(d for p in catalog.products for d in p.dimension_keys())

    def billing_periods(self, tenant_ids: Iterable[str]) -> dict[str, list[BillingPeriod]]:
        out: dict[str, list[BillingPeriod]] = {tid: [] for tid in set(tenant_ids) & set(self.data.tenants)}
        for lk in self.data.links.values():
            if lk.tenant_id in out:
                ended = self.data.agreements[lk.agreement_id].ended_since()
                out[lk.tenant_id].append(BillingPeriod(lk.tenant_id, lk.agreement_id, lk.starts_at, lk.ends_at, ended))
        return out

    def add_usage(self, rows: list[dict[str, object]]) -> set[tuple[str, str]]:
        stored = {(str(r["tenant_id"]), str(r["idempotency_key"])) for r in self.data.usage}
        added: set[tuple[str, str]] = set()
        for row in rows:
            key = (str(row["tenant_id"]), str(row["idempotency_key"]))
            if key not in stored and key not in added:
                added.add(key)
                self.data.usage.append(row)
        return added

    def hourly_totals(self, hour: datetime) -> dict[tuple[str, str, datetime], int]:
        out: dict[tuple[str, str, datetime], int] = {}
        for r in self.data.usage:
            if r["hour"] == hour and r["agreement_id"] is not None:
                key = (str(r["agreement_id"]), str(r["dimension"]), hour)
                out[key] = out.get(key, 0) + int(r["quantity"])  # type: ignore[call-overload]
        return out

    def metered_agreements(self) -> list[Agreement]:
        return [a for a in self.data.agreements.values() if a.aws_account_id is not None]

    def recorded_in_hour(self, hour: datetime) -> set[tuple[str, str]]:
        return {(r.agreement_id, r.dimension) for r in self.data.records.values() if r.hour == hour}

    def add_record(self, record: MeteringRecord) -> None:
        self.data.records[record.id] = record

    # -- hour bookkeeping: the SQL store's bulk statements, as plain Python over the domain's rules --
    def metered_through(self, *, lock: bool = False) -> datetime | None:
        return self.data.metered_through

    def hold_metered_through(self) -> datetime | None:
        return self.data.metered_through

    def set_metered_through(self, hour: datetime, at: datetime) -> None:
        if self.data.metered_through is None or self.data.metered_through < hour:
            self.data.metered_through = hour

    @staticmethod
    def _unbilled(row: dict[str, object]) -> bool:
        return (
            row.get("metered_hour") is None and row.get("unbilled_reason") is None and row["agreement_id"] is not None
        )

    def _not_in_a_record(self, row: dict[str, object]) -> bool:
        if row.get("unbilled_reason") is not None or row["agreement_id"] is None:
            return False
        marked = row.get("metered_hour")
        return marked is None or (row["agreement_id"], row["dimension"]) not in self.recorded_in_hour(marked)  # type: ignore[arg-type]

    def oldest_unmetered_usage_hour(self) -> datetime | None:
        hours = [r["hour"] for r in self.data.usage if self._not_in_a_record(r)]
        return min(hours) if hours else None  # type: ignore[type-var]

    def write_hour(self, hour: datetime, agreement_ids: Sequence[str] | None = None) -> int:
        catalog = self.data.catalog
        dims = {p.product_code: sorted(p.dimension_keys()) for p in (catalog.products if catalog else [])}
        named = set(agreement_ids) if agreement_ids is not None else None
        running = {
            a.agreement_id: a
            for a in self.data.agreements.values()
            if (named is None or a.agreement_id in named) and a.product_code in dims and active_during(a, hour)
        }
        have = self.recorded_in_hour(hour)
        for r in self.data.usage:
            agreement = running.get(str(r["agreement_id"]))
            if (
                self._unbilled(r)
                and r["hour"] <= hour  # type: ignore[operator]
                and agreement is not None
                and r["dimension"] in dims[str(agreement.product_code)]
                and (agreement.agreement_id, r["dimension"]) not in have
            ):
                r["metered_hour"], r["late"] = hour, r["hour"] < hour  # type: ignore[operator]
        totals: dict[tuple[str, str, datetime], int] = {}
        for r in self.data.usage:
            if r.get("metered_hour") == hour:
                key = (str(r["agreement_id"]), str(r["dimension"]), hour)
                totals[key] = totals.get(key, 0) + int(r["quantity"])  # type: ignore[call-overload]
        written = 0
        for code, product_dims in dims.items():
            mine = [a for a in running.values() if a.product_code == code]
            for rec in records_for_hour(hour, mine, product_dims, totals, lambda: str(uuid.uuid4())):
                if (rec.agreement_id, rec.dimension) not in have:
                    self.add_record(rec)
                    written += 1
        recorded = self.recorded_in_hour(hour)
        for r in self.data.usage:
            mine = named is None or r["agreement_id"] in named
            if r.get("metered_hour") == hour and mine and (r["agreement_id"], r["dimension"]) not in recorded:
                r["metered_hour"] = None  # marked at intake, and its agreement did not run in the hour after all
        for r in self.data.usage:
            if self._unbilled(r) and r["hour"] < hour and (named is None or r["agreement_id"] in named):  # type: ignore[operator]
                agreement = self.data.agreements[str(r["agreement_id"])]
                ended = agreement.ended_since() is not None
                r["unbilled_reason"] = (UnbilledReason.AGREEMENT_ENDED if ended else UnbilledReason.NOT_METERED).value
                r["late"] = True
        return written

    def miss_hour(self, hour: datetime, reason: str, at: datetime) -> MissedHour:
        rows = [r for r in self.data.usage if r["hour"] == hour and self._not_in_a_record(r)]
        for r in rows:
            r["unbilled_reason"], r["metered_hour"] = UnbilledReason.HOUR_MISSED.value, None
        quantity = sum(int(r["quantity"]) for r in rows)  # type: ignore[call-overload]
        missed = MissedHour(hour, reason, len(rows), quantity, at)
        self.data.missed_hours.setdefault(hour, missed)
        return missed

    def agreements_in_final_window(self, now: datetime) -> list[Agreement]:
        return [
            a
            for a in self.data.agreements.values()
            if a.aws_account_id is not None
            and a.ended_at is not None
            and (d := a.final_metering_deadline()) is not None
            and d > now
        ]

    def missed_hours(self, limit: int = 100) -> list[MissedHour]:
        return sorted(self.data.missed_hours.values(), key=lambda m: m.hour, reverse=True)[:limit]

    def usage_issues(self) -> list[UsageIssue]:
        out: dict[tuple[str, str], tuple[int, int]] = {}
        for r in self.data.usage:
            reason = r.get("unbilled_reason") or (
                UnbilledReason.NO_AGREEMENT.value
                if r["agreement_id"] is None
                else "late_billed"
                if r.get("late")
                else None
            )
            if reason is not None:
                key = (str(r["tenant_id"]), str(reason))
                n, q = out.get(key, (0, 0))
                out[key] = (n + 1, q + int(r["quantity"]))  # type: ignore[call-overload]
        return [UsageIssue(t, reason, n, q) for (t, reason), (n, q) in sorted(out.items())]

    def pending_load(self) -> PendingLoad:
        final = usage = zeros = 0
        for rec in self.data.records.values():
            if rec.status is not RecordStatus.PENDING:
                continue
            agreement = self.data.agreements.get(rec.agreement_id)
            if agreement is not None and agreement.ended_since() is not None:
                final += 1
            elif rec.quantity > 0:
                usage += 1
            else:
                zeros += 1
        return PendingLoad(final, usage, zeros)

    def pending_records(self) -> list[MeteringRecord]:
        return [r for r in self.data.records.values() if r.status is RecordStatus.PENDING]

    def record(self, record_id: str) -> MeteringRecord | None:
        return self.data.records.get(record_id)

    def agreements_by_id(self) -> dict[str, Agreement]:
        return dict(self.data.agreements)


class FakeSendQueue:
    """The send queue's rules (SendQueueRepository in SQL) on the records in memory."""

    def __init__(self, data: Data) -> None:
        self.data = data

    def _pending(self) -> list[MeteringRecord]:
        return [r for r in self.data.records.values() if r.status is RecordStatus.PENDING]

    def prioritize(self, now: datetime) -> None:
        for r in self._pending():
            agreement = self.data.agreements.get(r.agreement_id)
            deadline = agreement.final_metering_deadline() if agreement else None
            if deadline is not None and deadline > now:
                self.data.priorities[r.id] = int(SendPriority.FINAL_WINDOW)
            elif r.id not in self.data.priorities:
                self.data.priorities[r.id] = int(send_priority(r, None))

    def expire_before(self, cutoff: datetime, reason: str) -> int:
        old = [r for r in self._pending() if r.hour < cutoff]
        for r in old:
            r.status, r.detail = RecordStatus.EXPIRED, reason
            self.data.claims.pop(r.id, None)
        return len(old)

    def claim(self, worker_id: str, now: datetime, lease_until: datetime, limit: int) -> list[MeteringRecord]:
        def free(r: MeteringRecord) -> bool:
            until = self.data.claims.get(r.id, (None, None))[1]
            return r.id in self.data.priorities and (until is None or until < now)

        page = sorted(
            (r for r in self._pending() if free(r)), key=lambda r: (self.data.priorities[r.id], r.hour, r.id)
        )[:limit]
        for r in page:
            self.data.claims[r.id] = (worker_id, lease_until)
        return [clone(r) for r in page]

    def agreements(self, agreement_ids: Iterable[str]) -> dict[str, Agreement]:
        return {i: self.data.agreements[i] for i in agreement_ids if i in self.data.agreements}

    def settle(self, worker_id: str, settlements: Sequence[Settlement], retry_at: datetime) -> None:
        for s in settlements:
            r = self.data.records.get(s.record_id)
            if r is None or r.status is not RecordStatus.PENDING:
                continue
            if s.status is RecordStatus.PENDING:
                if self.data.claims.get(r.id, (None, None))[0] == worker_id:
                    self.data.claims[r.id] = (None, retry_at)
            else:
                r.status, r.detail = s.status, s.detail
                self.data.claims.pop(r.id, None)


class FakeUnitOfWork:
    """Works on a copy of the committed data; ``commit`` keeps the copy, leaving without it drops it.

    The same object is its own factory (``uow_factory=uow``), as the services take either."""

    def __init__(self, data: Data | None = None) -> None:
        self.committed = data or Data()
        self.commits = 0
        self.transactions = 0
        self.snapshots = 0
        self._snapshot = False
        self._bind(self.committed)

    def _bind(self, data: Data) -> None:
        self.work = data
        self.tenants = FakeTenants(data)
        self.catalog = FakeCatalog(data)
        self.ledger = FakeLedger(data)
        self.inbox = FakeInbox(data)
        self.access = FakeAccess(data)
        self.entitlements = FakeEntitlements(data)
        self.metering = FakeMetering(data)
        self.send_queue = FakeSendQueue(data)

    def __call__(self) -> FakeUnitOfWork:
        return self

    def snapshot(self) -> FakeUnitOfWork:
        self._snapshot = True
        return self

    def __enter__(self) -> FakeUnitOfWork:
        self.transactions += 1
        self.snapshots += self._snapshot
        self._bind(self.committed.copy())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._snapshot = False
        self._bind(self.committed)

    def commit(self) -> None:
        if self._snapshot:
            raise AssertionError("a read-only snapshot was asked to commit")
        self.committed = self.work
        self.commits += 1
        self._bind(self.committed.copy())

    def rollback(self) -> None:
        self._bind(self.committed.copy())


@dataclass
class FakeMarketplace:
    """AWS Marketplace as the seller sees it, scripted by the test."""

    registrations: dict[str, Registration] = field(default_factory=dict)
    expired_tokens: set[str] = field(default_factory=set)
    facts: dict[str, AgreementFacts] = field(default_factory=dict)
    entitlements: dict[str, list[Entitlement]] = field(default_factory=dict)
    #: what BatchMeterUsage answers for a record (default Success); raise MarketplaceUnavailable when None
    meter_status: Callable[[MeteringRecord], MeterStatus | None] = lambda _r: MeterStatus.SUCCESS
    down: bool = False
    calls: list[tuple[str, Any]] = field(default_factory=list)
    #: SendAgreementCancellationRequest: the requests sent, by clientToken; agreements AWS refuses to end
    cancellation_requests: dict[str, CancellationRequest] = field(default_factory=dict)
    refused_cancellations: set[str] = field(default_factory=set)

    def resolve_customer(self, token: str) -> Registration:
        self.calls.append(("ResolveCustomer", token))
        if self.down:
            raise MarketplaceUnavailable("AWS Marketplace did not answer ResolveCustomer")
        if token in self.expired_tokens:
            raise RegistrationTokenRejected("the registration token has expired", "expired")
        if token not in self.registrations:
            raise RegistrationTokenRejected("the registration token is not valid", "invalid")
        return self.registrations[token]

    def describe_agreement(self, agreement_id: str) -> AgreementFacts:
        self.calls.append(("DescribeAgreement", agreement_id))
        if self.down or agreement_id not in self.facts:
            raise MarketplaceUnavailable("AWS Marketplace did not answer DescribeAgreement")
        return self.facts[agreement_id]

    def get_entitlements(self, product_code: str, license_arn: str) -> list[Entitlement]:
        self.calls.append(("GetEntitlements", license_arn))
        if self.down:
            raise MarketplaceUnavailable("AWS Marketplace did not answer GetEntitlements")
        return list(self.entitlements.get(license_arn, []))

    def send_cancellation_request(self, agreement_id: str, client_token: str) -> CancellationRequest:
        self.calls.append(("SendAgreementCancellationRequest", (agreement_id, client_token)))
        if self.down:
            raise MarketplaceUnavailable("AWS Marketplace did not answer SendAgreementCancellationRequest")
        if agreement_id in self.refused_cancellations:
            raise CancellationRequestRefused(f"AWS refused the cancellation request for agreement {agreement_id}")
        sent = self.cancellation_requests.setdefault(
            client_token,
            CancellationRequest(f"acr-{len(self.cancellation_requests) + 1}", agreement_id, "PENDING_APPROVAL"),
        )
        return sent

    def meter(self, product_code: str, records: Sequence[MeteringRecord]) -> list[MeterOutcome]:
        self.calls.append(("BatchMeterUsage", [r.id for r in records]))
        if self.down:
            raise MarketplaceUnavailable("AWS Marketplace did not answer BatchMeterUsage")
        outcomes = []
        for r in records:
            status = self.meter_status(r)
            if status is None:
                raise MarketplaceUnavailable("throttled")
            outcomes.append(MeterOutcome(r.id, status, f"mr-{r.id}" if status is MeterStatus.SUCCESS else None))
        return outcomes

    def called(self, operation: str) -> list[Any]:
        return [arg for op, arg in self.calls if op == operation]
