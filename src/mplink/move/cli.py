"""``mplink move plan|apply|status``: the buyer's billing-account change in one safe, resumable command,
in English or Japanese (``locales/ja/LC_MESSAGES/move.po``).

Kept light to import (``mplink --help`` loads it): boto3 and httpx are imported by the commands that
use them."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from mplink.move.change import ChangeStatus, format_account_id, is_done
from mplink.move.errors import BadStateFile, MoveError, SellerApiError
from mplink.move.plan import OFFER_CHANGE, ORGANIZATION_UNKNOWN, MoveArgs, Plan, preflight
from mplink.move.runner import Observer, Runner
from mplink.move.state import STEPS, StateFile

if TYPE_CHECKING:
    from babel.support import NullTranslations

move_app = typer.Typer(help="Change the AWS account that pays for a tenant (the buyer's side).", no_args_is_help=True)
LOCALES = str(Path(__file__).resolve().parent.parent / "locales")
out = Console(soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

#: the values of these keys are AWS account ids, shown the way the console shows them
ACCOUNT_KEYS = frozenset({"src", "dst", "account", "aws_account_id"})


# -- output ------------------------------------------------------------------------------------------------------
def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr saying what to fix; exit 2 for bad input, 1 when a started move stopped."""
    err.print(f"mplink: error: {message}", markup=False)
    raise typer.Exit(code)


@contextmanager
def reported(say: Say, code: int = 2) -> Iterator[None]:
    """A move's error becomes one line in the user's language instead of a stack trace."""
    try:
        yield
    except MoveError as exc:
        if exc.values:
            # a value that is itself one of our phrases (why a check failed) is said in the user's language too
            shown = display({k: v if isinstance(v, int) else say.t.gettext(str(v)) for k, v in exc.values.items()})
            fail(say(exc.template, **shown), code)
        fail(say.t.gettext(exc.message), code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def default_lang() -> str:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def display(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values a message shows: account ids as ``2222-2222-2222``; nothing but text and numbers."""
    shown: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(value, str | int):
            continue
        if key in ACCOUNT_KEYS and isinstance(value, str) and len(value) == 12 and value.isdigit():
            value = format_account_id(value)
        shown[key] = value
    return shown


class Say:
    """Messages in the chosen language (English is the msgid), printed as plain text."""

    def __init__(self, lang: str, console: Console = out) -> None:
        self.lang = lang
        self.t = _translations(lang)
        self.console = console

    def __call__(self, msgid: str, **values: Any) -> str:
        return self.t.gettext(msgid).format(**values)

    def line(self, msgid: str, **values: Any) -> None:
        self.console.print(self(msgid, **values), markup=False, highlight=False)


def _translations(lang: str) -> NullTranslations:
    from mplink.i18n import translations

    return translations(LOCALES, "move", lang)


# -- options -----------------------------------------------------------------------------------------------------
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
AllowOfferChange = Annotated[
    bool,
    typer.Option(
        "--allow-offer-change",
        help="Accept a destination on another seller's offer, or on a public offer after a private one.",
    ),
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
) -> MoveArgs:
    if not seller_url.startswith(("http://", "https://")):
        fail("--seller-url must be an http:// or https:// URL")
    return MoveArgs(
        product,
        from_profile,
        to_profile,
        seller_url,
        tenant,
        seller_key,
        offer_name,
        offer_id,
        allowed,
    )


def _lang(lang: str | None) -> str:
    chosen = lang or default_lang()
    if chosen not in ("en", "ja"):
        fail("--lang must be en or ja")
    return chosen


# -- what is shown -----------------------------------------------------------------------------------------------
def plan_lines(plan: Plan, tenant: str, manual: bool = False) -> list[tuple[str, dict[str, str]]]:
    """The plan, step by step, as (msgid, values) in the order printed."""
    src, dst = format_account_id(plan.src_account), format_account_id(plan.dst_account)
    first = {
        "use_held": "  1. {dst} already holds '{offer}' (current subscription): it is used as it is",
        "switch": "  1. In {dst}: subscribe to '{offer}'; this switches its current public offer to it",
        "subscribe": "  1. In {dst}: subscribe to '{offer}'",
    }[plan.first_step]
    lines: list[tuple[str, dict[str, str]]] = [
        (
            "Plan: move the billing of tenant {tenant} from AWS account {src} to {dst}",
            {"tenant": tenant, "src": src, "dst": dst},
        ),
        (first, {"dst": dst, "offer": plan.offer_name}),
        ("  2. Wait until it is provisioned and link it to the tenant at the seller", {}),
        ("  3. Verify at the seller: type AWS Marketplace, account {dst}, every service registered", {"dst": dst}),
        ("  4. Only then, in {src}: cancel the old subscription", {"src": src}),
        ("  5. Wait until the seller reports the old subscription ended", {}),
    ]
    if OFFER_CHANGE in plan.warnings and plan.offer_change:
        lines.append(
            (
                "warning: offer change (--allow-offer-change): the destination takes '{to_offer}' sold by "
                "{to_seller} instead of '{from_offer}' sold by {from_seller}; the current offer's price, support "
                "and license no longer apply",
                {
                    "to_offer": plan.offer_change["to"]["name"],
                    "to_seller": plan.offer_change["to"]["seller"],
                    "from_offer": plan.offer_change["from"]["name"],
                    "from_seller": plan.offer_change["from"]["seller"],
                },
            )
        )
    if ORGANIZATION_UNKNOWN in plan.warnings:
        lines.append(
            ("warning: the accounts' AWS Organization could not be read; give --allowed-accounts to check them", {})
        )
    if manual:
        lines.append(("(manual mode: each step is done in the AWS console and checked through the seller)", {}))
    return lines


PROGRESS = {
    "step.requested": "- subscription requested in the destination account",
    "step.accepted": "- agreement {agreement_id} accepted",
    "step.provisioned": "- provisioned",
    "step.linked": "- linked to the tenant at the seller",
    "step.verified": "- verified at the seller: {aws_account_id} pays and every service is registered",
    "step.source_cancel.api": "- the old subscription in {account} was cancelled",
    "step.source_cancel.already_ended": "- the old subscription in {account} had already ended",
    "step.source_cancel.console": "- the old subscription in {account} is to be cancelled in the AWS console (see "
    "above)",
    "step.source_cancel.none": "- there was no old subscription to cancel",
    "step.source_cancel.seller_request": "- the old subscription in {account} is ended by the seller's cancellation "
    "request {request_id}, accepted from that account",
    "step.completed": "- the seller reports the old subscription ended",
    "cancel.api": "AWS lets the buyer cancel this subscription: it was cancelled from AWS account {account}.",
    "cancel.seller_request": "AWS does not let the buyer cancel this subscription: the seller sent a cancellation "
    "request ({request_id}) and AWS account {account} accepted it.",
    "console_cancel": "AWS refused to cancel through the API, and the seller could not send a cancellation request. "
    "In AWS account {account} open: AWS Marketplace Subscriptions -> {product} -> Manage -> Actions -> Cancel",
    "manual.subscribe": "Step 1. Sign in to AWS account {dst}; open {product} in AWS Marketplace; Continue to "
    "Subscribe; choose '{offer}'; Subscribe; Set up your account; log in to the SaaS and confirm.",
    "manual.verified": "Checked: {dst} pays and every service is registered.",
    "manual.cancel": "Step 2. Sign in to AWS account {src}: AWS Marketplace Subscriptions -> {product} -> Manage -> "
    "Actions -> Cancel.",
    "manual.done": "Done: {dst} pays; the subscription in {src} has ended.",
}

#: what each saved step of a move means (``mplink move status``)
STEP_LABELS = {
    "requested": "subscription requested",
    "accepted": "agreement accepted",
    "provisioned": "provisioned",
    "linked": "linked at the seller",
    "verified": "verified at the seller",
    "source_cancel": "old subscription's cancellation handled",
    "completed": "old subscription ended",
}

#: what ``apply`` is doing while it works on each step (its spinner)
DOING = {
    "requested": "Subscribing AWS account {dst} to '{offer}' ...",
    "accepted": "Accepting the new subscription in {dst} ...",
    "provisioned": "Waiting for AWS Marketplace to set up the new subscription ...",
    "linked": "Linking the new subscription to the tenant at the seller ...",
    "verified": "Waiting for the seller to show every service registered under {dst} ...",
    "source_cancel": "Cancelling the old subscription in {src} ...",
    "completed": "Waiting for the seller to report that the old subscription in {src} ended ...",
}
SAFE_TO_STOP = "(safe to stop with Ctrl-C: the same command resumes)"

CHANGE_STATES = {
    "started": "started (nothing linked yet)",
    "destination_linked": "destination linked (not every service registered yet)",
    "verified": "verified (every service registered)",
    "source_cancel_pending": "source cancellation pending",
    "done": "done",
    "aborted": "aborted",
}

CHANGE_STEPS = {
    "link": "link: the destination account pays",
    "check": "check: every service registered under the new subscription",
    "cancel": "cancel: the source subscription ended",
}


def change_lines(change: ChangeStatus | None, gettext: Callable[[str], str] = str) -> list[tuple[str, dict[str, str]]]:
    """The seller's account change: its state, then its three steps, done or to do (``gettext`` translates
    the state's and the steps' names)."""
    if change is None:
        return [("No account change at the seller", {})]
    state = CHANGE_STATES.get(change.state)
    lines: list[tuple[str, dict[str, str]]] = [
        ("Account change at the seller: {state}", {"state": gettext(state) if state else change.state})
    ]
    for step in change.steps:
        label = gettext(CHANGE_STEPS[step.name]) if step.name in CHANGE_STEPS else step.name
        if step.done:
            lines.append(("  [x] {step} ({at})", {"step": label, "at": step.at or ""}))
        else:
            lines.append(("  [ ] {step}", {"step": label}))
    return lines


def _say_lines(say: Say, lines: list[tuple[str, dict[str, str]]]) -> None:
    for msgid, values in lines:
        say.line(msgid, **values)


class Progress(Observer):
    """Prints each saved step and each notice; ``quiet`` (--json) keeps only the manual mode's steps."""

    def __init__(self, say: Say, quiet: bool = False, src_account: str = "") -> None:
        self.say = say
        self.quiet = quiet
        self.src_account = src_account

    def step_saved(self, step: str, values: Mapping[str, Any]) -> None:
        key = f"step.{step}"
        if step == "source_cancel":  # how the old subscription was dealt with, in the user's words
            key, values = f"{key}.{values.get('mode')}", {**values, "account": self.src_account}
        if not self.quiet and key in PROGRESS:
            self.say.line(PROGRESS[key], **display(values))

    def notice(self, key: str, values: Mapping[str, Any]) -> None:
        if key in PROGRESS and (not self.quiet or key.startswith("manual.")):
            self.say.line(PROGRESS[key], **display(values))


class Spinner(Observer):
    """Says on the spinner which step ``apply`` works on now: the first one not saved yet."""

    def __init__(self, say: Say, status: Any, values: Mapping[str, Any], done: Iterable[str]) -> None:
        self.say, self.status, self.values, self.done = say, status, display(values), set(done)
        self.update()

    def text(self) -> str:
        step = next((s for s in STEPS if s not in self.done), STEPS[-1])
        return f"{self.say(DOING[step], **self.values)} {self.say(SAFE_TO_STOP)}"

    def update(self) -> None:
        self.status.update(self.text())

    def step_saved(self, step: str, values: Mapping[str, Any]) -> None:
        self.done.add(step)
        self.update()


def resume_command(options: Iterable[tuple[str, object]]) -> str:
    """The command that resumes this ``apply``: the same options, as typed at a shell (flags given as True)."""
    program = sys.argv[0] if Path(sys.argv[0]).name == "mplink" else "mplink"
    words = [program, "move", "apply"]
    for name, value in options:
        if value is True:
            words.append(name)
        elif value not in (None, False):
            words += [name, str(value)]
    return shlex.join(words)


def stopped(say: Say, command: str) -> NoReturn:
    """Ctrl-C: every finished step is saved, so the same command continues where this one stopped."""
    say.line("Stopped. Nothing is lost: to continue where it stopped, run:")
    err.print(f"  {command}", markup=False, highlight=False)
    raise typer.Exit(130)


# -- commands ----------------------------------------------------------------------------------------------------
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
    allow_offer_change: AllowOfferChange = False,
    lang: Lang = None,
    as_json: Json = False,
) -> None:
    """Read-only preflight: check both accounts, the tenant, the offer; print the plan step by step."""
    from mplink.move.aws import BuyerAccount
    from mplink.move.seller import SellerApi

    say = Say(_lang(lang))
    args = _args(
        product, from_profile, to_profile, seller_url, tenant, seller_key, offer_name, offer_id, allowed_accounts
    )
    args.allow_offer_change = allow_offer_change
    with reported(say):
        plan, _, _ = preflight(args, BuyerAccount.open, SellerApi(seller_url, seller_key, tenant))
    if as_json:
        print_json(asdict(plan))
    else:
        _say_lines(say, plan_lines(plan, tenant))


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
    allow_offer_change: AllowOfferChange = False,
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
    from mplink.move.aws import BuyerAccount
    from mplink.move.seller import SellerApi

    say = Say(_lang(lang))
    args = _args(
        product, from_profile, to_profile, seller_url, tenant, seller_key, offer_name, offer_id, allowed_accounts
    )
    args.allow_offer_change = allow_offer_change
    store = StateFile(state or Path(f".mplink-move-{tenant}.json"))
    seller = SellerApi(seller_url, seller_key, tenant)
    with reported(say):
        plan, src, dst = preflight(args, BuyerAccount.open, seller, resuming=store.exists())
    if not as_json:
        _say_lines(say, plan_lines(plan, tenant, manual))
    if not yes:
        if not sys.stdin.isatty():
            fail("add --yes to run without a prompt")
        if not typer.confirm(say("Proceed?"), default=False):
            raise typer.Exit(1)
    command = resume_command(
        [
            ("--product", product), ("--from-profile", from_profile), ("--to-profile", to_profile),
            ("--seller-url", seller_url), ("--tenant", tenant), ("--seller-key", seller_key),
            ("--offer-name", offer_name), ("--offer-id", offer_id), ("--allowed-accounts", allowed_accounts),
            ("--lang", lang), ("--state", None if manual else store.where), ("--yes", yes), ("--manual", manual),
            ("--wait", None if wait == 600 else f"{wait:g}"), ("--json", as_json),
        ]
    )  # fmt: skip
    runner = Runner(args, plan, src, dst, seller, observers=[Progress(say, as_json, plan.src_account)])
    try:
        if manual:
            with reported(say, code=1):
                runner.manual(wait)
            return
        if not as_json:
            say.line("State file: {state} (the same command run again resumes from it)", state=store.where)
        with reported(say, code=1):
            if as_json:
                result = runner.apply(store, wait)
            else:
                with out.status("") as status:
                    saved = store.load() if store.exists() else None
                    values = {"dst": plan.dst_account, "src": plan.src_account, "offer": plan.offer_name}
                    spinner = Spinner(say, status, values, saved.done if saved else ())
                    runner.observers.append(spinner)
                    result = runner.apply(store, wait)
    except KeyboardInterrupt:
        stopped(Say(say.lang, err), command)
    if as_json:
        account_change = dict(runner.change.raw) if runner.change else None
        print_json({"state_file": store.where, **asdict(result), "account_change": account_change})
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
            state=store.where,
        )


@move_app.command("status")
def status_cmd(
    state: Annotated[Path, typer.Option("--state", help="The state file of 'mplink move apply'.")],
    seller_url: SellerUrl,
    seller_key: SellerKey,
    wait: Annotated[float, typer.Option(min=0, help="Keep checking this many seconds.")] = 0,
    lang: Lang = None,
    as_json: Json = False,
) -> None:
    """Show how far a move got and the seller's account change; keep checking until the source has ended."""
    from mplink.move.seller import SellerApi

    say = Say(_lang(lang))
    store = StateFile(state)
    try:
        data = store.load()
    except BadStateFile:
        fail(f"{state} is not a move state file")
    if data is None:
        fail(f"no state file {state}: run 'mplink move apply' first")
    seller = SellerApi(seller_url, seller_key, data.tenant_id)
    deadline = time.monotonic() + wait
    while True:
        try:
            sub = seller.subscription()
            change = seller.account_change()
        except SellerApiError as exc:
            fail(exc.message)
        ended = is_done(change, data.dst_account)
        if ended and data.step_done("source_cancel") and not data.step_done("completed"):
            data.done["completed"] = {"aws_account_id": data.dst_account}
            store.save(data)
        if ended or time.monotonic() >= deadline:
            break
        time.sleep(2)
    if as_json:
        print_json(
            {
                "steps_done": data.steps_done(),
                "paying_account": sub.get("aws_account_id"),
                "source_pending": not ended,
                "account_change": dict(change.raw) if change else None,
            }
        )
        return
    steps = [say(STEP_LABELS.get(step, step)) for step in data.steps_done()]
    say.line("Steps done: {steps}", steps=say(", ").join(steps) or say("none"))
    _say_lines(say, change_lines(change, say))
    paying = sub.get("aws_account_id")
    say.line("Paying account at the seller: {account}", account=format_account_id(paying) if paying else say("none"))
    request = change.cancellation_request if change else None
    if ended:
        say.line("The old subscription has ended.")
    elif request is not None and request[1] == "PENDING_APPROVAL":
        say.line(
            "The seller's cancellation request {request_id} waits for {src} to approve it: AWS Marketplace "
            "Subscriptions -> Manage in that account (AWS approves it by itself after 7 days).",
            request_id=request[0],
            src=format_account_id(data.src_account),
        )
    else:
        say.line(
            "The subscription in {src} is still active: AWS Marketplace Subscriptions -> Manage -> Actions -> "
            "Cancel in that account.",
            src=format_account_id(data.src_account),
        )
