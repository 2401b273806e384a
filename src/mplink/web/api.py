"""The JSON API under /api/v1: a tenant's subscription, linking, entitlements, usage; operator listings.
``Authorization: Bearer <api key>``; tenant keys see their own tenant, operator keys see all."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mplink.domain.billing import ChangeState
from mplink.domain.clock import utc
from mplink.domain.errors import InvalidValue, NotFound
from mplink.domain.ids import parse_account_id
from mplink.domain.tenant import Role
from mplink.domain.usage import UsageEvent
from mplink.services import auth
from mplink.services.account_change import (
    abort_account_change,
    account_change,
    report_source_cancellation,
    request_source_end,
    start_account_change,
)
from mplink.services.metering import ingest_usage, metering_status, tenant_usage_issues, usage_issue_dict
from mplink.services.registration import link_with_token
from mplink.services.stale_subscriptions import list_stale_subscriptions
from mplink.services.subscriptions import (
    list_account_changes,
    list_agreements,
    tenant_entitlements,
    tenant_subscription,
)
from mplink.services.tenants import list_tenants
from mplink.web.limits import DepthLimitedJsonRoute
from mplink.web.operator import csv_download
from mplink.web.state import app_state

router = APIRouter(prefix="/api/v1", tags=["api"], route_class=DepthLimitedJsonRoute)


def principal(request: Request) -> auth.ApiPrincipal:
    checked = getattr(request.state, "api_principal", None)
    if isinstance(checked, auth.ApiPrincipal):  # checked before the body was read (web/limits.py)
        return checked
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise HTTPException(
            401,
            "send 'Authorization: Bearer <api key>' (create one with 'mplink apikey create')",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = auth.authenticate_api_key(app_state(request).uow(), key)
    if found is None:
        raise HTTPException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    return found


Principal = Annotated[auth.ApiPrincipal, Depends(principal)]


def _tenant_access(p: auth.ApiPrincipal, tenant_id: str) -> None:
    if p.scope != "operator" and p.tenant_id != tenant_id:
        raise HTTPException(403, "this API key belongs to another tenant")


#: a tenant's API key acts as that tenant's admin; an operator key acts as admin of any tenant
API_KEY_ROLE = Role.ADMIN


def _operator(p: auth.ApiPrincipal) -> None:
    if p.scope != "operator":
        raise HTTPException(403, "operator listings need an operator key ('mplink apikey create --operator')")


class Offer(BaseModel):
    id: str
    name: str | None
    private: bool
    proposer_account_id: str | None
    resale_authorization_id: str | None


class Service(BaseModel):
    name: str
    registered: bool


class PendingCancellation(BaseModel):
    aws_account_id: str | None
    agreement_id: str


class Subscription(BaseModel):
    tenant_id: str
    type: str = Field(description="aws_marketplace, expired (Trial or Subscription Expired) or none")
    aws_account_id: str | None
    agreement_id: str | None
    license_arn: str | None
    offer: Offer | None
    services: list[Service]
    pending_cancellations: list[PendingCancellation]


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    registration_token: str = Field(min_length=1, max_length=4096)
    allow_offer_change: bool = Field(
        default=False,
        description="link even when the destination's offer is another seller's, or public after a private one "
        "(otherwise 409 offer_change)",
    )


class LinkWarning(BaseModel):
    code: str = Field(description="offer_change")
    message: str


class LinkAnswer(Subscription):
    warnings: list[LinkWarning] = Field(
        default=[], description="what was accepted with allow_offer_change (an offer change), else empty"
    )


def _account_id(value: str) -> str:
    try:
        return parse_account_id(value)
    except InvalidValue as exc:
        raise ValueError(exc.message) from None


class AccountChangeSide(BaseModel):
    aws_account_id: str | None
    agreement_id: str | None


class AccountChangeStep(BaseModel):
    name: str = Field(description="link (the destination pays), check (all services registered), cancel (source ended)")
    done: bool
    at: str | None = Field(description="when the step became done (ISO 8601); null while it is not")


class CancellationRequestState(BaseModel):
    id: str
    status: str = Field(description="PENDING_APPROVAL, APPROVED, REJECTED, CANCELLED or VALIDATION_FAILED")


class AccountChange(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    state: ChangeState
    from_: AccountChangeSide = Field(alias="from")
    to: AccountChangeSide = Field(description="null values until the destination is linked")
    steps: list[AccountChangeStep]
    started_at: str
    updated_at: str
    destination_account_id: str | None
    cancellation_request: CancellationRequestState | None = Field(
        default=None, description="the agreement cancellation request the seller sent for the source agreement"
    )


class StartChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destination_aws_account_id: Annotated[str, Field(max_length=40), AfterValidator(_account_id)] = Field(
        description="the AWS account that will pay: 12 digits, or the console's 2222-2222-2222"
    )


class SourceCancellationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agreement_id: str = Field(min_length=1, max_length=128, description="the change's source agreement")


class UsageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(min_length=1, max_length=36)
    dimension: str = Field(min_length=1, max_length=255)
    quantity: int = Field(ge=0, le=2_147_483_647)
    timestamp: datetime
    idempotency_key: str = Field(min_length=1, max_length=200)


class UsageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[UsageIn] = Field(min_length=1, max_length=1000)


class UsageResult(BaseModel):
    accepted: int
    duplicates: int
    unbillable: int


class Page(BaseModel):
    items: list[dict[str, Any]]
    offset: int
    limit: int
    next_offset: int | None


@router.get("/tenants/{tenant_id}/subscription", response_model=Subscription)
def get_subscription(tenant_id: str, request: Request, p: Principal) -> dict[str, object]:
    _tenant_access(p, tenant_id)
    return tenant_subscription(app_state(request).uow(), tenant_id).view.as_api()


@router.post(
    "/tenants/{tenant_id}/link",
    response_model=LinkAnswer,
    responses={
        409: {
            "description": "offer_change: the destination leaves the current offer's seller, or goes "
            "from a private to a public offer; nothing was linked"
        }
    },
)
def link(tenant_id: str, body: LinkRequest, request: Request, p: Principal) -> dict[str, object]:
    """Link the AWS account that holds the registration token; a billing-account change if another pays."""
    _tenant_access(p, tenant_id)
    state = app_state(request)
    linked = link_with_token(
        state.uow(), state.marketplace, tenant_id, body.registration_token, body.allow_offer_change
    )
    state.metrics.links.labels("api").inc()
    check = linked.offer_check
    warnings = [{"code": "offer_change", "message": check.message()}] if check and check.needs_confirmation else []
    return {**linked.view.as_api(), "warnings": warnings}


@router.get("/tenants/{tenant_id}/account-change", response_model=AccountChange)
def get_account_change(tenant_id: str, request: Request, p: Principal) -> dict[str, object]:
    """The tenant's open account change, else its most recent one; 404 when it never changed accounts."""
    _tenant_access(p, tenant_id)
    view = account_change(app_state(request).uow(), tenant_id)
    if view is None:
        raise NotFound("this tenant never changed its paying AWS account")
    return view.as_api()


@router.post("/tenants/{tenant_id}/account-change", response_model=AccountChange, status_code=201)
def start_change(tenant_id: str, body: StartChangeRequest, request: Request, p: Principal) -> dict[str, object]:
    """Start moving the tenant's billing to another AWS account; the same destination again changes nothing."""
    _tenant_access(p, tenant_id)
    uow = app_state(request).uow()
    return start_account_change(uow, tenant_id, body.destination_aws_account_id, API_KEY_ROLE).as_api()


@router.post("/tenants/{tenant_id}/account-change/abort", response_model=AccountChange)
def abort_change(tenant_id: str, request: Request, p: Principal) -> dict[str, object]:
    """Give up the started change; refused (409) once the destination is linked."""
    _tenant_access(p, tenant_id)
    return abort_account_change(app_state(request).uow(), tenant_id, API_KEY_ROLE).as_api()


@router.post("/tenants/{tenant_id}/account-change/source-cancellation", response_model=AccountChange)
def source_cancellation(
    tenant_id: str, body: SourceCancellationRequest, request: Request, p: Principal
) -> dict[str, object]:
    """Report that AWS was asked to cancel the source agreement (e.g. by ``mplink move``); only once verified."""
    _tenant_access(p, tenant_id)
    uow = app_state(request).uow()
    return report_source_cancellation(uow, tenant_id, body.agreement_id, API_KEY_ROLE).as_api()


@router.post("/tenants/{tenant_id}/account-change/cancellation-request", response_model=AccountChange)
def seller_cancellation_request(tenant_id: str, request: Request, p: Principal) -> dict[str, object]:
    """Ask AWS, as the seller, to end the change's source agreement (an agreement cancellation request the source
    account approves); only once verified. Asking again returns the same request while it stands. An operator key,
    or the tenant's own key (as its admin, like the change page: ``mplink move apply`` uses it)."""
    _tenant_access(p, tenant_id)
    state = app_state(request)
    return request_source_end(state.uow(), state.marketplace, tenant_id, API_KEY_ROLE).as_api()


@router.get("/tenants/{tenant_id}/entitlements")
def get_entitlements(tenant_id: str, request: Request, p: Principal) -> dict[str, Any]:
    _tenant_access(p, tenant_id)
    return tenant_entitlements(app_state(request).uow(), tenant_id)


@router.post("/usage", response_model=UsageResult)
def post_usage(body: UsageRequest, request: Request, p: Principal) -> dict[str, int]:
    """Usage is billed to whichever AWS account paid for the tenant at each event's timestamp."""
    events = [
        UsageEvent(e.tenant_id, e.dimension, e.quantity, utc(e.timestamp), e.idempotency_key) for e in body.events
    ]
    receipt = ingest_usage(app_state(request).uow(), events, None if p.scope == "operator" else p.tenant_id)
    return {"accepted": receipt.accepted, "duplicates": receipt.duplicates, "unbillable": receipt.unbillable}


class PendingRecords(BaseModel):
    final_window: int
    usage: int
    zeros: int
    total: int


class MissedHourOut(BaseModel):
    hour: str
    reason: str = Field(description="older_than_24_hours or previous_month_closed")
    usage_events: int
    quantity: int
    reported_at: str


class UsageIssueOut(BaseModel):
    tenant_id: str
    reason: str = Field(
        description="late_billed (came late, billed in a later hour), agreement_ended, hour_missed, not_metered, "
        "no_agreement"
    )
    billed: bool
    events: int
    quantity: int


class MeteringStatusOut(BaseModel):
    metered_through: str | None = Field(description="the last hour metered (ISO 8601); null before the first")
    pending: PendingRecords
    hourly_capacity: int = Field(description="records BatchMeterUsage takes in an hour at MPLINK_METERING_RATE")
    over_capacity: bool
    send_order: list[str] = Field(description="the order records are sent in when pending exceeds the capacity")
    missed_hours: list[MissedHourOut]
    usage_issues: list[UsageIssueOut]


class TenantUsageIssues(BaseModel):
    tenant_id: str
    usage_issues: list[UsageIssueOut]


@router.get("/metering/status", response_model=MeteringStatusOut | TenantUsageIssues)
def get_metering_status(request: Request, p: Principal, tenant_id: str | None = None) -> dict[str, object]:
    """Operator key: the whole metering status, as ``mplink metering status --json`` prints it (``tenant_id``
    narrows its usage issues to one tenant). Tenant key: that tenant's late and unbilled usage only."""
    state = app_state(request)
    if p.scope != "operator":
        if tenant_id is not None:
            _tenant_access(p, tenant_id)
        own = p.tenant_id or ""
        issues = tenant_usage_issues(state.uow(), own)
        return {"tenant_id": own, "usage_issues": [usage_issue_dict(i) for i in issues]}
    return metering_status(state.uow(), state.settings.metering_rate, tenant_id).as_dict()


Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _page(items: list[dict[str, Any]], offset: int, limit: int, more: bool) -> dict[str, Any]:
    return {"items": items, "offset": offset, "limit": limit, "next_offset": offset + limit if more else None}


@router.get("/tenants", response_model=Page)
def operator_tenants(request: Request, p: Principal, offset: Offset = 0, limit: Limit = 100) -> dict[str, Any]:
    _operator(p)
    infos = list_tenants(app_state(request).uow(), offset, limit + 1)
    return _page([i.as_dict() for i in infos[:limit]], offset, limit, len(infos) > limit)


@router.get("/agreements", response_model=Page)
def operator_agreements(request: Request, p: Principal, offset: Offset = 0, limit: Limit = 100) -> dict[str, Any]:
    _operator(p)
    rows = list_agreements(app_state(request).uow(), offset, limit + 1)
    return _page(rows[:limit], offset, limit, len(rows) > limit)


@router.get("/account-changes", response_model=Page)
def operator_changes(request: Request, p: Principal, offset: Offset = 0, limit: Limit = 100) -> dict[str, Any]:
    _operator(p)
    rows = list_account_changes(app_state(request).uow(), offset, limit + 1)
    return _page(rows[:limit], offset, limit, len(rows) > limit)


class StaleOffer(BaseModel):
    id: str | None
    name: str | None = Field(description="the offer's name in the catalog; null when the catalog does not know it")


class StaleCancellationRequest(BaseModel):
    id: str
    status: str


class StaleSubscription(BaseModel):
    tenant_id: str
    aws_account_id: str | None
    agreement_id: str
    offer: StaleOffer
    since: str = Field(description="when the tenant linked another agreement instead of this one (ISO 8601, UTC)")
    cancellation_request: StaleCancellationRequest | None = Field(
        description="the seller's agreement cancellation request for it; null when none is known"
    )


class StaleSubscriptions(BaseModel):
    items: list[StaleSubscription]


@router.get(
    "/stale-subscriptions",
    response_model=StaleSubscriptions,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with ?format=csv"}},
)
def operator_stale_subscriptions(
    request: Request, p: Principal, format: Annotated[str, Query(pattern="^(json|csv)$")] = "json"
) -> Any:
    """Every agreement a tenant superseded (it changed its paying AWS account) that AWS still runs and bills,
    oldest first. ``?format=csv`` gives the same rows, ``offer`` and ``cancellation_request`` flattened."""
    _operator(p)
    report = list_stale_subscriptions(app_state(request).uow())
    return csv_download(report) if format == "csv" else report.as_api()
