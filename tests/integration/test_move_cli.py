"""`mplink move plan|apply|status` in this process (``main(argv)``), against the sandbox and a running
seller: the plan reads only, apply moves the billing and cancels the source once, the verification comes
from the seller's account change, refusals change nothing, the manual mode checks each console step."""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

import mplink.move
from mplink.move import cli as move_cli
from mplink.move.runner import Observer, add_observer, remove_observer
from tests.support.journey import link
from tests.support.move_world import MoveWorld, make_move_world
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, PUBLIC_OFFER, SRC


@pytest.fixture
def move_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[MoveWorld]:
    yield from make_move_world(tmp_path, monkeypatch, capsys)


def test_plan_is_read_only_and_names_the_steps(move_world: MoveWorld) -> None:
    before = move_world.snapshot()
    plan = move_world.run("plan")
    assert plan.code == 0, plan.err
    assert "1111-1111-1111" in plan.out and "2222-2222-2222" in plan.out
    assert "Classmethod, Inc. for SaaS 2026-01-01- Private Offer" in plan.out
    assert "  1. In 2222-2222-2222: subscribe to 'Classmethod, Inc. for SaaS 2026-01-01- Private Offer'" in plan.out
    assert "warning" in plan.out  # no AWS Organization in the sandbox, no --allowed-accounts
    ja = move_world.run("plan", "--lang", "ja")
    assert ja.code == 0 and "切換先AWSアカウント" in ja.out
    as_json = move_world.run("plan", "--json")
    result = json.loads(as_json.out)
    assert result["src_account"] == SRC and result["dst_account"] == DST and result["dst_holds_offer"] is None
    assert result["offer_id"] == PRIVATE_OFFER and result["src_agreement_id"] == move_world.src_agreement
    assert move_world.snapshot() == before
    seller = move_world.world.seller
    assert seller.api("GET", f"/tenants/{seller.tenant_id}/account-change").status_code == 404  # nothing started


def test_apply_moves_the_billing_and_cancels_the_source(move_world: MoveWorld) -> None:
    allowed = move_world.tmp / "allowed.txt"
    allowed.write_text("1111-1111-1111\n222222222222\n")
    state = str(move_world.tmp / "move.json")
    applied = move_world.run("apply", "--yes", "--state", state, "--wait", "60", **{"--allowed-accounts": str(allowed)})
    assert applied.code == 0, applied.err + applied.out
    assert "- verified at the seller: 2222-2222-2222 pays and every service is registered" in applied.out
    assert "- the old subscription in 1111-1111-1111 was cancelled" in applied.out
    assert f"State file: {state} (the same command run again resumes from it)" in applied.out
    assert "Done: 2222-2222-2222 pays for tenant" in applied.out
    assert_moved(move_world)
    change = move_world.account_change()
    assert change["state"] == "done" and change["from"]["aws_account_id"] == SRC
    assert change["to"]["aws_account_id"] == DST
    assert [(s["name"], s["done"]) for s in change["steps"]] == [("link", True), ("check", True), ("cancel", True)]
    status = move_world.status(state, "--json")
    assert status.code == 0, status.err
    result = json.loads(status.out)
    assert result["source_pending"] is False and result["paying_account"] == DST
    assert result["steps_done"][-1] == "completed" and result["account_change"]["state"] == "done"
    shown = move_world.status(state, "--lang", "ja")
    assert "販売者側の関連付け変更: 完了" in shown.out and "  [x] キャンセル" in shown.out


def test_a_rerun_after_the_move_changes_nothing(move_world: MoveWorld) -> None:
    state = str(move_world.tmp / "move.json")
    assert move_world.run("apply", "--yes", "--state", state, "--wait", "60").code == 0
    before = move_world.snapshot(), move_world.account_change()
    again = move_world.run("apply", "--yes", "--state", state, "--wait", "60", "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["done"].keys() >= {"requested", "linked", "verified", "source_cancel", "completed"}
    assert (move_world.snapshot(), move_world.account_change()) == before
    assert_moved(move_world)


def assert_moved(mw: MoveWorld) -> None:
    """One new agreement in DST, the source cancelled by exactly one CancelAgreement, the seller shows DST."""
    sub = mw.world.seller.subscription()
    assert sub["type"] == "aws_marketplace" and sub["aws_account_id"] == DST
    assert all(s["registered"] for s in sub["services"]) and sub["pending_cancellations"] == []
    agreements = mw.world.sandbox.control("GET", "agreements")
    dst = [a for a in agreements if a["account_id"] == DST]
    src = [a for a in agreements if a["account_id"] == SRC]
    assert len(dst) == 1 and dst[0]["status"] == "ACTIVE"
    assert [a["status"] for a in src] == ["CANCELLED"]
    calls = mw.world.sandbox.control("GET", "calls", params={"operation": "CancelAgreement"})
    assert [(c["account_id"], c["outcome"]) for c in calls] == [(SRC, "ok")]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"--from-profile": "nosuchprofile"}, "not found"),
        ({"--tenant": "no-such-tenant"}, "no tenant"),
        ({"--seller-key": "mpl_wrong_key"}, "refused the key"),
        ({"--offer-name": "Nobody's * Offer"}, "no offer"),
        ({"--offer-name": "", "--offer-id": ""}, "exactly one of --offer-name"),
        ({"--to-profile": "same"}, "same AWS account"),
        ({"--from-profile": "destination", "--to-profile": "source"}, "does not pay from 2222-2222-2222"),
        ({"--seller-url": "ftp://seller"}, "--seller-url must be"),
    ],
)
def test_refusals_exit_2_and_change_nothing(move_world: MoveWorld, overrides: dict[str, str], words: str) -> None:
    before = move_world.snapshot()
    state = move_world.tmp / "m.json"
    for result in (
        move_world.run("plan", **overrides),
        move_world.run("apply", "--yes", "--state", str(state), **overrides),
    ):
        assert result.code == 2, result.out + result.err
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mplink: error: ") and words in lines[0], result.err
    assert move_world.snapshot() == before
    assert not state.exists()
    seller = move_world.world.seller
    assert seller.api("GET", f"/tenants/{seller.tenant_id}/account-change").status_code == 404


def test_a_bad_language_or_state_file_is_refused(move_world: MoveWorld) -> None:
    bad_lang = move_world.run("plan", "--lang", "fr")
    assert bad_lang.code == 2 and "--lang must be en or ja" in bad_lang.err
    missing = move_world.status(str(move_world.tmp / "none.json"))
    assert missing.code == 2 and "run 'mplink move apply' first" in missing.err
    garbage = move_world.tmp / "garbage.json"
    garbage.write_text("{not json")
    assert move_world.status(str(garbage)).code == 2
    applied = move_world.run("apply", "--yes", "--state", str(garbage))
    assert applied.code == 1 and "is not a move state file" in applied.err
    assert applied.err.count("\n") == 1 and "Traceback" not in applied.err
    applied_ja = move_world.run("apply", "--yes", "--state", str(garbage), "--lang", "ja")
    assert applied_ja.code == 1 and "は move の状態ファイルではありません" in applied_ja.err, applied_ja.err


def test_source_not_cancellable_prints_console_steps_and_status_waits(move_world: MoveWorld) -> None:
    sb = move_world.world.sandbox
    sb.control("POST", f"agreements/{move_world.src_agreement}/cancellable", json={"cancellable": False})
    state = str(move_world.tmp / "move.json")
    applied = move_world.run("apply", "--yes", "--state", state, "--wait", "1")
    assert applied.code == 0, applied.err
    assert "In AWS account 1111-1111-1111 open: AWS Marketplace Subscriptions" in applied.out
    assert "Manage -> Actions -> Cancel" in applied.out and "mplink move status" in applied.out
    sub = move_world.world.seller.subscription()
    assert sub["aws_account_id"] == DST and sub["pending_cancellations"] != []  # verified, not yet cancelled
    assert move_world.account_change()["state"] == "verified"  # no cancellation was reported
    pending = json.loads(move_world.status(state, "--json").out)
    assert pending["source_pending"] is True and "completed" not in pending["steps_done"]
    assert pending["account_change"]["state"] == "verified"
    shown = move_world.status(state)
    assert "The subscription in 1111-1111-1111 is still active" in shown.out and "  [ ] cancel:" in shown.out
    sb.box.market.agreement.cancel_agreement(SRC, {"agreementId": move_world.src_agreement}, from_console=True)
    ended = json.loads(move_world.status(state, "--wait", "30", "--json").out)
    assert ended["source_pending"] is False and "completed" in ended["steps_done"]


class CtrlC(Observer):
    """The user presses Ctrl-C once ``step`` is saved."""

    def __init__(self, step: str) -> None:
        self.step = step

    def step_saved(self, step: str, values: Mapping[str, Any]) -> None:
        if step == self.step:
            raise KeyboardInterrupt


def test_ctrl_c_during_apply_says_the_command_that_resumes_and_exits_130(move_world: MoveWorld) -> None:
    state = str(move_world.tmp / "move.json")
    stop = CtrlC("accepted")
    add_observer(stop)
    try:
        stopped = move_world.run("apply", "--yes", "--state", state, "--wait", "60")
    finally:
        remove_observer(stop)
    assert stopped.code == 130, stopped.err + stopped.out
    assert "Traceback" not in stopped.err
    said = stopped.err.strip().splitlines()
    assert said[0] == "Stopped. Nothing is lost: to continue where it stopped, run:"
    command = shlex.split(said[1])
    assert command[:3] == ["mplink", "move", "apply"] and command[command.index("--state") + 1] == state
    assert "--yes" in command and command[command.index("--wait") + 1] == "60"
    resumed = move_world.run(*command[2:])  # the very command, as printed
    assert resumed.code == 0, resumed.err + resumed.out
    assert_moved(move_world)


def test_move_speaks_the_users_words_in_japanese(move_world: MoveWorld) -> None:
    """No internal words (step keys, the cancel's mode) and account ids shown one way, with dashes."""
    state = str(move_world.tmp / "move.json")
    applied = move_world.run("apply", "--yes", "--state", state, "--wait", "60", "--lang", "ja")
    assert applied.code == 0, applied.err + applied.out
    shown = move_world.status(state, "--lang", "ja")
    assert shown.code == 0, shown.err
    for out in (applied.out, shown.out):
        assert not re.search(r"(?<![\d-])\d{12}(?![\d-])", out), out  # never 111111111111
        assert not re.search(r"\b(api|console|already_ended|source_cancel|requested|accepted|completed)\b", out), out
    assert "1111-1111-1111 の古いサブスクリプションをキャンセルしました" in applied.out
    assert f"状態ファイル: {state}" in applied.out
    assert "完了した手順: サブスクリプションを申し込み済み、契約を承諾済み、" in shown.out
    assert "販売者側の支払いアカウント: 2222-2222-2222" in shown.out


def test_the_spinner_says_what_apply_is_doing() -> None:
    class Status:
        text = ""

        def update(self, text: str) -> None:
            self.text = text

    status = Status()
    values = {"dst": DST, "src": SRC, "offer": "Private Offer"}
    spinner = move_cli.Spinner(move_cli.Say("en"), status, values, ())
    assert status.text.startswith("Subscribing AWS account 2222-2222-2222 to 'Private Offer' ...")
    assert status.text.endswith("(safe to stop with Ctrl-C: the same command resumes)")
    for step in ("requested", "accepted", "provisioned", "linked", "verified"):
        spinner.step_saved(step, {})
    assert status.text.startswith("Cancelling the old subscription in 1111-1111-1111 ...")
    ja = move_cli.Spinner(move_cli.Say("ja"), status, values, ("requested",))
    assert ja.text().startswith("2222-2222-2222 の新しいサブスクリプションを承諾しています ...")


class ConsoleBuyer(Observer):
    """Does in the sandbox what the manual mode asks the buyer to do in the AWS console, when it asks."""

    def __init__(self, mw: MoveWorld) -> None:
        self.mw = mw
        self.asked: list[str] = []

    def notice(self, key: str, values: Mapping[str, Any]) -> None:
        self.asked.append(key)
        market, seller = self.mw.world.sandbox.box.market, self.mw.world.seller
        if key == "manual.subscribe":
            assert seller.subscription()["aws_account_id"] == SRC  # move waits for the buyer
            agreement = market.agreement.subscribe(DST, PRIVATE_OFFER)  # the buyer's clicks in the console ...
            link(seller, market.agreement.issue_token(agreement, "console").token)  # ... and the confirmation
        elif key == "manual.cancel":
            assert seller.subscription()["pending_cancellations"] != []  # verified, the source still active
            market.agreement.cancel_agreement(SRC, {"agreementId": self.mw.src_agreement}, from_console=True)


def test_manual_mode_checks_each_console_step_through_the_seller(move_world: MoveWorld) -> None:
    buyer = ConsoleBuyer(move_world)
    add_observer(buyer)
    try:
        result = move_world.run("apply", "--manual", "--yes", "--wait", "60", "--lang", "ja")
    finally:
        remove_observer(buyer)
    assert result.code == 0, result.err
    assert buyer.asked == ["manual.subscribe", "manual.verified", "manual.cancel", "manual.done"]
    assert "手順 1." in result.out and "手順 2." in result.out and "完了" in result.out
    sub = move_world.world.seller.subscription()
    assert sub["aws_account_id"] == DST and sub["pending_cancellations"] == []
    assert move_world.account_change()["state"] == "done"
    calls = move_world.world.sandbox.control("GET", "calls", params={"operation": "CreateAgreementRequest"})
    assert [c for c in calls if c["account_id"] == DST] == []  # manual: the buyer clicked, mplink only checked


def test_manual_mode_stops_when_the_buyer_does_not_subscribe(move_world: MoveWorld) -> None:
    """Nothing happens in the console: the seller never verifies, so nothing is cancelled (exit 1)."""
    before = move_world.snapshot()
    result = move_world.run("apply", "--manual", "--yes", "--wait", "1")
    assert result.code == 1 and "run the command again when done" in result.err
    assert move_world.snapshot() == before
    assert move_world.account_change()["state"] == "started"


def test_every_message_has_its_japanese_translation() -> None:
    """The English msgids in the code and the Japanese catalog agree, both ways."""
    po = Path(move_cli.LOCALES) / "ja" / "LC_MESSAGES" / "move.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale="ja", domain="move")
    translated = {m.id for m in catalog if m.id and m.string}
    # the commands' own messages, and the errors the move's modules raise (said in the user's language too)
    used = {
        node.value
        for module in Path(move_cli.__file__).parent.glob("*.py")
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in translated
    }
    shown = (
        set(move_cli.PROGRESS.values())
        | set(move_cli.CHANGE_STATES.values())
        | set(move_cli.CHANGE_STEPS.values())
        | set(move_cli.STEP_LABELS.values())
        | set(move_cli.DOING.values())
        | {"Proceed?", move_cli.SAFE_TO_STOP}
    )
    assert shown <= translated, shown - translated
    assert translated <= used, translated - used  # no translation left for a message the code no longer has


def test_the_move_commands_import_no_database_or_web_module() -> None:
    """``mplink --help`` loads the move commands: their module-level imports stay light (boto3, httpx and
    the store are imported by the commands that need them)."""
    heavy = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "boto3", "botocore", "httpx")
    package = Path(mplink.move.__file__).parent
    seen: set[str] = set()
    todo = ["mplink.move.cli"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = package.parent.parent / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = path.with_suffix("") / "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for imported in names:
                assert not imported.startswith(heavy), f"{name} imports {imported}"
                assert not imported.startswith(("mplink.web", "mplink.adapters")), f"{name} imports {imported}"
                if imported.startswith("mplink."):
                    todo.append(imported)
    assert {"mplink.move.cli", "mplink.move.runner", "mplink.move.plan"} <= seen


def test_the_move_package_imports_nothing_of_the_seller() -> None:
    """`mplink move` is the buyer's program: it talks to the seller over HTTP only (docs/architecture.md)."""
    seller = ("mplink.domain", "mplink.services", "mplink.adapters", "mplink.web", "mplink.bootstrap", "mplink.cli")
    for path in Path(mplink.move.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith(seller), f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith(seller) for a in node.names), f"{path.name} imports {node.names}"


def test_plan_refuses_the_public_offer_unless_the_offer_change_is_allowed(move_world: MoveWorld) -> None:
    """The offer guard (issue 11): the seed's main warning. The public offer after the reseller's private one is
    refused with exit 2 and one line naming both offers; --allow-offer-change plans it, with the warning."""
    before = move_world.snapshot()
    refused = move_world.run("plan", **{"--offer-name": "Trend Micro for SaaS"})
    assert refused.code == 2 and refused.out == ""
    assert len(refused.err.strip().splitlines()) == 1
    for words in ("'Trend Micro for SaaS' sold by Trend Micro", "Classmethod, Inc. for SaaS", "--allow-offer-change"):
        assert words in refused.err
    allowed = move_world.run("plan", "--allow-offer-change", **{"--offer-name": "Trend Micro for SaaS"})
    assert allowed.code == 0, allowed.err
    assert "warning: offer change (--allow-offer-change): the destination takes 'Trend Micro for SaaS'" in allowed.out
    ja = move_world.run("plan", "--allow-offer-change", "--lang", "ja", **{"--offer-name": "Trend Micro for SaaS"})
    assert ja.code == 0 and "警告: オファーの変更" in ja.out
    refused_ja = move_world.run("plan", "--lang", "ja", **{"--offer-name": "Trend Micro for SaaS"})
    assert refused_ja.code == 2 and len(refused_ja.err.strip().splitlines()) == 1
    for words in ("プライベートオファーではなくパブリックオファー", "Trend Micro が販売する 'Trend Micro for SaaS'"):
        assert words in refused_ja.err, refused_ja.err
    as_json = json.loads(move_world.run("plan", "--allow-offer-change", "--json", **{"--offer-name": "Trend*"}).out)
    assert "offer_change" in as_json["warnings"]
    assert as_json["offer_change"]["to"] == {"name": "Trend Micro for SaaS", "seller": "Trend Micro"}
    assert move_world.snapshot() == before
    # the reseller's private offer, as the seed says, is no offer change
    assert "offer change" not in move_world.run("plan").out


def test_apply_with_allow_offer_change_links_the_public_offer(move_world: MoveWorld) -> None:
    """The second confirmation reaches the seller: apply links with allow_offer_change, so the move completes."""
    allowed = move_world.tmp / "allowed.txt"
    allowed.write_text(f"{SRC} {DST}\n")
    state = str(move_world.tmp / "move.json")
    args = {"--offer-name": "Trend Micro for SaaS", "--allowed-accounts": str(allowed)}
    refused = move_world.run("apply", "--yes", "--state", state, **args)
    assert refused.code == 2 and "--allow-offer-change" in refused.err
    applied = move_world.run("apply", "--yes", "--allow-offer-change", "--state", state, "--wait", "60", **args)
    assert applied.code == 0, applied.err + applied.out
    assert "warning: offer change" in applied.out
    assert_moved(move_world)
    assert move_world.world.seller.subscription()["offer"]["id"] == PUBLIC_OFFER
