"""``mplink move``: the buyer's billing-account change (the seed's runbook) through AWS's buyer APIs and
the seller's API. Never cancels the source before the seller has verified the destination. Every step
is saved to a state file before the next begins, so a re-run after a crash continues where it stopped
without a second agreement or a second cancel."""

from __future__ import annotations

import fnmatch
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mplink.adapters.buyer import AwsCallFailed, BuyerAccount, SellerApi, SellerApiError
from mplink.domain.errors import DomainError, InvalidValue
from mplink.domain.ids import format_account_id

STEPS = ("requested", "accepted", "provisioned", "linked", "verified", "source_cancel", "completed")
CRASH_ENV = "MPLINK_MOVE_CRASH_AFTER"  # tests: end the process right after this step is saved
CRASH_BEFORE_ENV = "MPLINK_MOVE_CRASH_BEFORE"  # tests: end it after the step's AWS call, before saving it


class MoveRefused(DomainError):
    """Preflight found something to fix; nothing was changed."""

    code = "move_refused"


class VerificationFailed(DomainError):
    code = "verification_failed"


@dataclass
class MoveArgs:
    product_id: str
    from_profile: str
    to_profile: str
    seller_url: str
    tenant_id: str
    seller_key: str
    offer_name: str | None = None
    offer_id: str | None = None
    allowed_accounts: Path | None = None


@dataclass
class Plan:
    src_account: str
    dst_account: str
    offer_id: str
    offer_name: str
    proposal_id: str
    term_ids: list[str]
    dst_holds_offer: str | None  # agreement id when the destination already has this offer
    replaces: str | None  # the destination's public-offer agreement the new one replaces
    src_agreement_id: str | None
    product_title: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class MoveState:
    tenant_id: str
    src_account: str
    dst_account: str
    offer_id: str
    client_token: str
    done: dict[str, dict[str, Any]] = field(default_factory=dict)

    def step_done(self, step: str) -> bool:
        return step in self.done


def _client_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


class Mover:
    def __init__(self, args: MoveArgs, log: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.args = args
        self.log = log or (lambda key, values: None)
        self.seller = SellerApi(args.seller_url, args.seller_key, args.tenant_id)
        self.src: BuyerAccount | None = None
        self.dst: BuyerAccount | None = None

    # -- preflight (read-only) ------------------------------------------------------------------------
    def plan(self, resuming: bool = False) -> Plan:
        """Check everything, change nothing. ``resuming``: a saved move may already have moved the billing."""
        a = self.args
        if bool(a.offer_name) == bool(a.offer_id):
            raise MoveRefused("give exactly one of --offer-name PATTERN or --offer-id ID")
        self.src = BuyerAccount.open(a.from_profile)
        self.dst = BuyerAccount.open(a.to_profile)
        src, dst = self.src.account_id, self.dst.account_id
        if src == dst:
            raise MoveRefused(f"--from-profile and --to-profile are the same AWS account ({format_account_id(src)})")
        warnings: list[str] = []
        if a.allowed_accounts is not None:
            allowed = _read_accounts(a.allowed_accounts)
            for acct in (src, dst):
                if acct not in allowed:
                    raise MoveRefused(f"AWS account {format_account_id(acct)} is not in {a.allowed_accounts}")
        else:
            orgs = (self.src.organization_id(), self.dst.organization_id())
            if None in orgs:
                warnings.append("organization_unknown")
            elif orgs[0] != orgs[1]:
                raise MoveRefused(
                    "the two AWS accounts belong to different AWS Organizations; give "
                    "--allowed-accounts to confirm both are yours"
                )
        try:
            sub = self.seller.subscription()
        except SellerApiError as exc:
            raise MoveRefused(exc.message) from exc
        payers = (src, dst) if resuming else (src,)
        if sub.get("type") != "aws_marketplace" or sub.get("aws_account_id") not in payers:
            now = sub.get("aws_account_id")
            raise MoveRefused(
                f"tenant {a.tenant_id} does not pay from {format_account_id(src)} now"
                + (f" (it pays from {format_account_id(now)})" if now else f" (subscription type: {sub.get('type')})")
            )
        offer = self._find_offer(self.dst)
        disc = self.dst.client("marketplace-discovery")
        detail = disc.get_offer(offerId=offer["purchaseOptionId"])
        terms = disc.get_offer_terms(offerId=offer["purchaseOptionId"])["offerTerms"]
        held = self._active_agreements(self.dst, offer_id=offer["purchaseOptionId"])
        # the source agreement is known only while the source pays; on a resumed move the seller lists it
        # among the pending cancellations instead
        src_agreement = sub.get("agreement_id") if sub.get("aws_account_id") == src else None
        title = next(
            (e["product"]["productName"] for e in detail.get("associatedEntities", []) if "product" in e), a.product_id
        )
        return Plan(
            src_account=src,
            dst_account=dst,
            offer_id=offer["purchaseOptionId"],
            offer_name=offer.get("purchaseOptionName") or offer["purchaseOptionId"],
            proposal_id=detail["agreementProposalId"],
            term_ids=[next(iter(t.values()))["id"] for t in terms],
            dst_holds_offer=held[0]["agreementId"] if held else None,
            replaces=detail.get("replacementAgreementId"),
            src_agreement_id=src_agreement,
            product_title=title,
            warnings=warnings,
        )

    def _find_offer(self, dst: BuyerAccount) -> dict[str, Any]:
        a = self.args
        disc = dst.client("marketplace-discovery")
        options: list[dict[str, Any]] = []
        params: dict[str, Any] = {"filters": [{"filterType": "PRODUCT_ID", "filterValues": [a.product_id]}]}
        try:
            while True:
                page = disc.list_purchase_options(**params)
                options += page.get("purchaseOptions", [])
                if not page.get("nextToken"):
                    break
                params["nextToken"] = page["nextToken"]
        except (ClientError, BotoCoreError) as exc:
            raise MoveRefused(f"cannot list the offers of {a.product_id} for the destination: {exc}") from exc
        if a.offer_id:
            found = [o for o in options if o["purchaseOptionId"] == a.offer_id]
        else:
            found = [o for o in options if fnmatch.fnmatchcase(o.get("purchaseOptionName", ""), a.offer_name or "")]
        if not found:
            wanted = a.offer_id or a.offer_name
            names = "; ".join(o.get("purchaseOptionName", o["purchaseOptionId"]) for o in options) or "none"
            raise MoveRefused(
                f"no offer {wanted!r} of {a.product_id} is available to "
                f"{format_account_id(dst.account_id)} (its offers: {names})"
            )
        if len(found) > 1:
            raise MoveRefused(
                f"{len(found)} offers match {a.offer_name!r}: make the pattern narrower or use --offer-id"
            )
        return found[0]

    def _active_agreements(self, who: BuyerAccount, offer_id: str | None = None) -> list[dict[str, Any]]:
        filters = [
            {"name": "PartyType", "values": ["Acceptor"]},
            {"name": "Status", "values": ["ACTIVE"]},
            {"name": "ResourceIdentifier", "values": [self.args.product_id]},
        ]
        if offer_id:
            filters.append({"name": "OfferId", "values": [offer_id]})
        out = who.client("marketplace-agreement").search_agreements(catalog="AWSMarketplace", filters=filters)
        return sorted(out.get("agreementViewSummaries", []), key=lambda s: s["acceptanceTime"], reverse=True)

    # -- apply (resumable) -----------------------------------------------------------------------------------
    def apply(self, state_path: Path, plan: Plan, wait_seconds: float = 300, poll: float = 1.0) -> MoveState:
        state = load_state(state_path, self.args.tenant_id, plan)
        assert self.dst is not None and self.src is not None
        agr = self.dst.client("marketplace-agreement")

        def save(step: str, **values: Any) -> None:
            if os.environ.get(CRASH_BEFORE_ENV) == step:
                os._exit(98)
            state.done[step] = values
            save_state(state_path, state)
            self.log(f"step.{step}", values)
            if os.environ.get(CRASH_ENV) == step:
                os._exit(99)

        if not state.step_done("requested"):
            if plan.dst_holds_offer:
                save("requested", agreement_request_id=None, existing_agreement_id=plan.dst_holds_offer)
            else:
                params: dict[str, Any] = {
                    "intent": "REPLACE" if plan.replaces else "NEW",
                    "clientToken": state.client_token,
                    "agreementProposalIdentifier": plan.proposal_id,
                    "requestedTerms": [{"id": t} for t in plan.term_ids],
                }
                if plan.replaces:
                    params["sourceAgreementIdentifier"] = plan.replaces
                req = self._aws(lambda: agr.create_agreement_request(**params), "CreateAgreementRequest")
                save("requested", agreement_request_id=req["agreementRequestId"])
        if not state.step_done("accepted"):
            existing = state.done["requested"].get("existing_agreement_id")
            if existing:
                save("accepted", agreement_id=existing)
            else:
                save("accepted", agreement_id=self._accept(agr, state.done["requested"]["agreement_request_id"], plan))
        agreement_id = state.done["accepted"]["agreement_id"]
        token: str | None = None
        if not state.step_done("linked"):
            token = self._wait_provisioned(agr, agreement_id, wait_seconds, poll)
            if not state.step_done("provisioned"):
                save("provisioned", agreement_id=agreement_id)
            save("linked", subscription=self._link(token, agreement_id))
        if not state.step_done("verified"):
            save("verified", **self.verify(plan))
        if not state.step_done("source_cancel"):
            save("source_cancel", **self._cancel_source(plan))
        if not state.step_done("completed") and self.wait_source_ended(plan, wait_seconds, poll):
            save("completed", aws_account_id=plan.dst_account)
        return state

    def _aws(self, call: Callable[[], Any], what: str) -> Any:
        try:
            return call()
        except (ClientError, BotoCoreError) as exc:
            raise AwsCallFailed(f"{what} failed: {exc}") from exc

    def _accept(self, agr: Any, request_id: str, plan: Plan) -> str:
        try:
            return str(agr.accept_agreement_request(agreementRequestId=request_id)["agreementId"])
        except ClientError as exc:
            if _client_error(exc) != "ConflictException":
                raise AwsCallFailed(f"AcceptAgreementRequest failed: {exc}") from exc
        # accepted before a crash: find that agreement instead of making another
        assert self.dst is not None
        held = self._active_agreements(self.dst, offer_id=plan.offer_id)
        if not held:
            raise AwsCallFailed("the agreement request was accepted but its agreement is not active")
        return str(held[0]["agreementId"])

    def _wait_provisioned(self, agr: Any, agreement_id: str, wait_seconds: float, poll: float) -> str:
        deadline = time.monotonic() + wait_seconds
        while True:
            ents = self._aws(
                lambda: agr.get_agreement_entitlements(agreementId=agreement_id), "GetAgreementEntitlements"
            )["agreementEntitlements"]
            ready = [e for e in ents if e.get("status") == "PROVISIONED" and e.get("registrationToken")]
            if ready:
                return str(ready[0]["registrationToken"])
            failed = [e for e in ents if e.get("status") in ("FAILED", "DEPROVISIONED")]
            if failed:
                raise AwsCallFailed(
                    f"the new agreement's entitlement is {failed[0]['status']} "
                    f"({failed[0].get('statusReasonCode', 'no reason given')})"
                )
            if time.monotonic() > deadline:
                raise AwsCallFailed("the new agreement was not provisioned in time; run the command again later")
            time.sleep(poll)

    def _link(self, token: str, agreement_id: str) -> dict[str, Any]:
        try:
            return self.seller.link(token)
        except SellerApiError as exc:
            sub = self.seller.subscription()
            if sub.get("agreement_id") == agreement_id:
                return sub  # linked before a crash
            raise AwsCallFailed(f"the seller refused the link: {exc.message}") from exc

    def verify(self, plan: Plan) -> dict[str, Any]:
        """The gate before anything is cancelled: the seller shows the destination paying, every service on."""
        sub = self.seller.subscription()
        services = sub.get("services") or []
        problems = []
        if sub.get("type") != "aws_marketplace":
            problems.append(f"subscription type is {sub.get('type')}")
        if sub.get("aws_account_id") != plan.dst_account:
            problems.append(f"the paying account is {sub.get('aws_account_id')}")
        if not services or not all(s.get("registered") for s in services):
            problems.append("not every service is registered")
        if problems:
            raise VerificationFailed(
                "the seller does not show the change yet (" + "; ".join(problems) + "); nothing was cancelled"
            )
        return {"aws_account_id": sub["aws_account_id"], "services_registered": len(services)}

    def _cancel_source(self, plan: Plan) -> dict[str, Any]:
        assert self.src is not None
        sub = self.seller.subscription()
        pending = [
            p["agreement_id"]
            for p in sub.get("pending_cancellations") or []
            if p.get("aws_account_id") == plan.src_account
        ]
        target = pending[0] if pending else plan.src_agreement_id
        if not target:
            return {"agreement_id": None, "mode": "none"}
        agr = self.src.client("marketplace-agreement")
        try:
            # a cancel sent just before a crash is not sent again
            if agr.describe_agreement(agreementId=target).get("status") != "ACTIVE":
                return {"agreement_id": target, "mode": "already_ended"}
            agr.cancel_agreement(agreementId=target)
            return {"agreement_id": target, "mode": "api"}
        except ClientError as exc:
            code = _client_error(exc)
            if code == "ConflictException":
                return {"agreement_id": target, "mode": "already_ended"}
            if code in ("ValidationException", "AccessDeniedException"):
                self.log(
                    "console_cancel",
                    {"account": format_account_id(plan.src_account), "product": plan.product_title, "reason": str(exc)},
                )
                return {"agreement_id": target, "mode": "console"}
            raise AwsCallFailed(f"CancelAgreement failed: {exc}") from exc

    def wait_source_ended(self, plan: Plan, wait_seconds: float, poll: float) -> bool:
        deadline = time.monotonic() + wait_seconds
        while True:
            sub = self.seller.subscription()
            if not any(p.get("aws_account_id") == plan.src_account for p in sub.get("pending_cancellations") or []):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(poll)


def _read_accounts(path: Path) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MoveRefused(f"cannot read --allowed-accounts {path}: {exc.strerror}") from exc
    found = {w.replace("-", "") for w in text.replace(",", " ").split() if not w.startswith("#")}
    bad = sorted(w for w in found if not (len(w) == 12 and w.isdigit()))
    if bad:
        raise MoveRefused(f"{path}: {bad[0]!r} is not a 12-digit AWS account id")
    return found


def load_state(path: Path, tenant_id: str, plan: Plan) -> MoveState:
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            state = MoveState(**data)
        except (ValueError, TypeError) as exc:
            raise InvalidValue(f"{path} is not a move state file; remove it or give another --state") from exc
        mine = (state.tenant_id, state.src_account, state.dst_account, state.offer_id)
        if mine != (tenant_id, plan.src_account, plan.dst_account, plan.offer_id):
            raise InvalidValue(
                f"{path} belongs to another move ({state.tenant_id}: "
                f"{state.src_account} -> {state.dst_account}); give another --state"
            )
        return state
    return MoveState(tenant_id, plan.src_account, plan.dst_account, plan.offer_id, f"mplink-{uuid.uuid4()}")


def save_state(path: Path, state: MoveState) -> None:
    """Write-then-rename, so a crash leaves the old state or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
    os.replace(tmp, path)
