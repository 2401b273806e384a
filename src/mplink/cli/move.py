"""``mplink move plan|apply|status``: the buyer's billing-account change in one safe, resumable command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from mplink.cli.common import console, fail, friendly_errors, print_json
from mplink.domain.errors import DomainError
from mplink.domain.ids import format_account_id
from mplink.i18n import translations

move_app = typer.Typer(help="Change the AWS account that pays for a tenant (the buyer's side).", no_args_is_help=True)
LOCALES = str(Path(__file__).resolve().parent.parent / "locales")


def default_lang() -> str:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


class Say:
    def __init__(self, lang: str, out: Console) -> None:
        self.t = translations(LOCALES, "move", lang)
        self.out = out

    def __call__(self, msgid: str, **values: Any) -> str:
        return self.t.gettext(msgid).format(**values)

    def line(self, msgid: str, **values: Any) -> None:
        self.out.print(self(msgid, **values), markup=False, highlight=False)


Product = Annotated[str, typer.Option("--product", help="Product id, e.g. prod-g232pyu6l55l4.")]
FromProfile = Annotated[str, typer.Option("--from-profile", help="AWS profile of the account that pays now.")]
ToProfile = Annotated[str, typer.Option("--to-profile", help="AWS profile of the account that will pay.")]
SellerUrl = Annotated[str, typer.Option("--seller-url", help="Base URL of the seller's mplink.")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="The tenant's id at the seller.")]
SellerKey = Annotated[str, typer.Option("--seller-key", help="The tenant's API key at the seller.")]
OfferName = Annotated[
    str | None,
    typer.Option("--offer-name", help="Offer name pattern, e.g. 'Classmethod, Inc. for SaaS * Private Offer'."),
]
OfferId = Annotated[str | None, typer.Option("--offer-id", help="Offer id instead of a name pattern.")]
Allowed = Annotated[
    Path | None, typer.Option("--allowed-accounts", help="File listing the accounts you may move between.")
]
Lang = Annotated[str | None, typer.Option("--lang", help="en or ja (default: from the locale).")]
StateOpt = Annotated[Path | None, typer.Option("--state", help="State file (default: .mplink-move-<tenant>.json).")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _args(
    product: str,
    from_profile: str,
    to_profile: str,
    seller_url: str,
    tenant: str,
    seller_key: str,
    offer_name: str | None,
    offer_id: str | None,
    allowed: Path | None,
) -> Any:
    from mplink.services.move import MoveArgs

    if not seller_url.startswith(("http://", "https://")):
        fail("--seller-url must be an http:// or https:// URL")
    return MoveArgs(product, from_profile, to_profile, seller_url, tenant, seller_key, offer_name, offer_id, allowed)


def _lang(lang: str | None) -> str:
    chosen = lang or default_lang()
    if chosen not in ("en", "ja"):
        fail("--lang must be en or ja")
    return chosen


def _print_plan(say: Say, plan: Any, tenant: str, manual: bool = False) -> None:
    src, dst = format_account_id(plan.src_account), format_account_id(plan.dst_account)
    say.line(
        "Plan: move the billing of tenant {tenant} from AWS account {src} to {dst}", tenant=tenant, src=src, dst=dst
    )
    if plan.dst_holds_offer:
        say.line(
            "  1. {dst} already holds '{offer}' (current subscription): it is used as it is",
            dst=dst,
            offer=plan.offer_name,
        )
    elif plan.replaces:
        say.line(
            "  1. In {dst}: subscribe to '{offer}'; this switches its current public offer to it",
            dst=dst,
            offer=plan.offer_name,
        )
    else:
        say.line("  1. In {dst}: subscribe to '{offer}'", dst=dst, offer=plan.offer_name)
    say.line("  2. Wait until it is provisioned and link it to the tenant at the seller")
    say.line("  3. Verify at the seller: type AWS Marketplace, account {dst}, every service registered", dst=dst)
    say.line("  4. Only then, in {src}: cancel the old subscription", src=src)
    say.line("  5. Wait until the seller reports the old subscription ended")
    if "organization_unknown" in plan.warnings:
        say.line("warning: the accounts' AWS Organization could not be read; give --allowed-accounts to check them")
    if manual:
        say.line("(manual mode: each step is done in the AWS console and checked through the seller)")


@move_app.command("plan")
def plan_cmd(
    product: Product,
    from_profile: FromProfile,
    to_profile: ToProfile,
    seller_url: SellerUrl,
    tenant: TenantOpt,
    seller_key: SellerKey,
    offer_name: OfferName = None,
    offer_id: OfferId = None,
    allowed_accounts: Allowed = None,
    lang: Lang = None,
    as_json: Json = False,
) -> None:
    """Read-only preflight: check both accounts, the tenant, the offer; print the plan step by step."""
    from mplink.services.move import Mover

    say = Say(_lang(lang), console)
    mover = Mover(
        _args(product, from_profile, to_profile, seller_url, tenant, seller_key, offer_name, offer_id, allowed_accounts)
    )
    with friendly_errors():
        plan = mover.plan()
    if as_json:
        print_json(plan.__dict__)
    else:
        _print_plan(say, plan, tenant)


@move_app.command("apply")
def apply_cmd(
    product: Product,
    from_profile: FromProfile,
    to_profile: ToProfile,
    seller_url: SellerUrl,
    tenant: TenantOpt,
    seller_key: SellerKey,
    offer_name: OfferName = None,
    offer_id: OfferId = None,
    allowed_accounts: Allowed = None,
    lang: Lang = None,
    state: StateOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before starting.")] = False,
    manual: Annotated[
        bool,
        typer.Option(
            "--manual", help="Show console steps instead of calling the buyer APIs, checking each through the seller."
        ),
    ] = False,
    wait: Annotated[float, typer.Option(min=1, help="Seconds to wait for each slow step.")] = 600,
    as_json: Json = False,
) -> None:
    """Do the change: subscribe DST, link, verify, and only then cancel SRC. Re-run to resume."""
    from mplink.services.move import Mover

    say = Say(_lang(lang), console)
    mover = Mover(
        _args(
            product, from_profile, to_profile, seller_url, tenant, seller_key, offer_name, offer_id, allowed_accounts
        ),
        log=lambda key, values: _progress(say, key, values, as_json),
    )
    state_path = state or Path(f".mplink-move-{tenant}.json")
    with friendly_errors():
        plan = mover.plan(resuming=state_path.exists())
    if not as_json:
        _print_plan(say, plan, tenant, manual)
    if not yes:
        if not sys.stdin.isatty():
            fail("add --yes to run without a prompt")
        if not typer.confirm(say("Proceed?"), default=False):
            raise typer.Exit(1)
    if manual:
        _manual(say, mover, plan, wait)
        return
    try:
        if as_json:
            result = mover.apply(state_path, plan, wait_seconds=wait)
        else:
            with console.status(say("Working ... (safe to stop with Ctrl-C and run again)")):
                result = mover.apply(state_path, plan, wait_seconds=wait)
    except DomainError as exc:
        fail(exc.message, code=1)
    if as_json:
        print_json({"state_file": str(state_path), **result.__dict__})
    elif result.step_done("completed"):
        say.line(
            "Done: {dst} pays for tenant {tenant}; the subscription in {src} has ended.",
            dst=format_account_id(plan.dst_account),
            tenant=tenant,
            src=format_account_id(plan.src_account),
        )
    else:
        say.line(
            "Waiting for the old subscription to end; check with: mplink move status --state {state}",
            state=str(state_path),
        )


def _progress(say: Say, key: str, values: dict[str, Any], quiet: bool) -> None:
    if quiet:
        return
    messages = {
        "step.requested": "- subscription requested in the destination account",
        "step.accepted": "- agreement {agreement_id} accepted",
        "step.provisioned": "- provisioned",
        "step.linked": "- linked to the tenant at the seller",
        "step.verified": "- verified at the seller: {aws_account_id} pays, {services_registered} services registered",
        "step.source_cancel": "- old subscription: cancel {mode}",
        "step.completed": "- the seller reports the old subscription ended",
        "console_cancel": "AWS refused to cancel through the API. In AWS account {account} open: AWS Marketplace "
        "Subscriptions -> {product} -> Manage -> Actions -> Cancel",
    }
    say.line(messages[key], **{k: v for k, v in values.items() if isinstance(v, str | int)})


def _manual(say: Say, mover: Any, plan: Any, wait: float) -> None:
    import time

    src, dst = format_account_id(plan.src_account), format_account_id(plan.dst_account)
    say.line(
        "Step 1. Sign in to AWS account {dst}; open {product} in AWS Marketplace; Continue to Subscribe; "
        "choose '{offer}'; Subscribe; Set up your account; log in to the SaaS and confirm.",
        dst=dst,
        product=plan.product_title,
        offer=plan.offer_name,
    )
    deadline = time.monotonic() + wait
    while True:
        sub = mover.seller.subscription()
        if sub.get("aws_account_id") == plan.dst_account and sub.get("type") == "aws_marketplace":
            break
        if time.monotonic() > deadline:
            fail("the seller does not show the destination account yet; run the command again when done", code=1)
        time.sleep(2)
    mover.verify(plan)
    say.line("Checked: {dst} pays and every service is registered.", dst=dst)
    say.line(
        "Step 2. Sign in to AWS account {src}: AWS Marketplace Subscriptions -> {product} -> Manage -> "
        "Actions -> Cancel.",
        src=src,
        product=plan.product_title,
    )
    if not mover.wait_source_ended(plan, wait, 2):
        fail("the old subscription has not ended yet; run the command again when it is cancelled", code=1)
    say.line("Done: {dst} pays; the subscription in {src} has ended.", dst=dst, src=src)


@move_app.command("status")
def status_cmd(
    state: Annotated[Path, typer.Option("--state", help="The state file of 'mplink move apply'.")],
    seller_url: SellerUrl,
    seller_key: SellerKey,
    wait: Annotated[float, typer.Option(min=0, help="Keep checking this many seconds.")] = 0,
    lang: Lang = None,
    as_json: Json = False,
) -> None:
    """Show how far a move got, and keep checking until the seller sees the old subscription ended."""
    import json
    import time

    from mplink.adapters.buyer import SellerApi, SellerApiError
    from mplink.services.move import MoveState, save_state

    say = Say(_lang(lang), console)
    try:
        data = MoveState(**json.loads(state.read_text(encoding="utf-8")))
    except FileNotFoundError:
        fail(f"no state file {state}: run 'mplink move apply' first")
    except (ValueError, TypeError):
        fail(f"{state} is not a move state file")
    seller = SellerApi(seller_url, seller_key, data.tenant_id)
    deadline = time.monotonic() + wait
    while True:
        try:
            sub = seller.subscription()
        except SellerApiError as exc:
            fail(exc.message)
        pending = any(p.get("aws_account_id") == data.src_account for p in sub.get("pending_cancellations") or [])
        if not pending and data.step_done("source_cancel") and not data.step_done("completed"):
            data.done["completed"] = {"aws_account_id": data.dst_account}
            save_state(state, data)
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(2)
    if as_json:
        print_json(
            {"steps_done": list(data.done), "paying_account": sub.get("aws_account_id"), "source_pending": pending}
        )
        return
    say.line("Steps done: {steps}", steps=", ".join(data.done) or "none")
    say.line(
        "Paying account at the seller: {account}", account=format_account_id(sub.get("aws_account_id") or "0" * 12)
    )
    if pending:
        say.line(
            "The subscription in {src} is still active: AWS Marketplace Subscriptions -> Manage -> Actions -> "
            "Cancel in that account.",
            src=format_account_id(data.src_account),
        )
    else:
        say.line("The old subscription has ended.")
