"""`mplink move` against the sandbox and a running seller: plan, apply, resume after a crash at every
step, and refusals that change nothing anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mplink.services.move import STEPS
from tests.support.buyer import subscribe
from tests.support.journey import link, token_for
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, PRODUCT_ID, SRC
from tests.support.seller_fixtures import World, make_world

MPLINK = [str(Path(sys.executable).with_name("mplink"))]


@dataclass
class MoveWorld:
    world: World
    env: dict[str, str]
    tmp: Path
    src_agreement: str

    def run(
        self, command: str, *extra: str, crash: tuple[str, str] | None = None, **overrides: str
    ) -> subprocess.CompletedProcess[str]:
        args = {
            "--product": PRODUCT_ID,
            "--from-profile": "source",
            "--to-profile": "destination",
            "--seller-url": self.world.seller.url,
            "--tenant": self.world.seller.tenant_id,
            "--seller-key": self.world.seller.tenant_key,
            "--offer-name": "Classmethod, Inc. for SaaS * Private Offer",
            **overrides,
        }
        argv = [*MPLINK, "move", command, *[x for k, v in args.items() if v for x in (k, v)], *extra]
        env = dict(self.env)
        if crash:
            env[crash[0]] = crash[1]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, stdin=subprocess.DEVNULL)

    def status(self, state: str, *extra: str) -> subprocess.CompletedProcess[str]:
        seller = self.world.seller
        argv = [
            *MPLINK,
            "move",
            "status",
            "--state",
            state,
            "--seller-url",
            seller.url,
            "--seller-key",
            seller.tenant_key,
            *extra,
            "--json",
        ]
        return subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=90)

    def snapshot(self) -> tuple[Any, Any]:
        sb = self.world.sandbox
        return sb.control("GET", "agreements"), self.world.seller.subscription()


@pytest.fixture
def move_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MoveWorld]:
    for world in make_world(tmp_path, f"sqlite:///{tmp_path}/seller.db", monkeypatch):
        src = subscribe(world.sandbox, SRC, PRIVATE_OFFER)
        link(world.seller, token_for(world.sandbox, SRC, src))
        creds = tmp_path / "credentials"
        creds.write_text(
            f"[source]\naws_access_key_id = AKIA{SRC}\naws_secret_access_key = x\n"
            f"[destination]\naws_access_key_id = AKIA{DST}\naws_secret_access_key = x\n"
            f"[same]\naws_access_key_id = AKIA{SRC}\naws_secret_access_key = y\n"
        )
        (tmp_path / "config").write_text("[default]\nregion = us-east-1\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MPLINK_"))}
        env.update(
            AWS_SHARED_CREDENTIALS_FILE=str(creds),
            AWS_CONFIG_FILE=str(tmp_path / "config"),
            MPLINK_AWS_ENDPOINT_URL=world.sandbox.url,
            LANG="en_US.UTF-8",
        )
        yield MoveWorld(world, env, tmp_path, src)


def test_plan_is_read_only_and_names_the_steps(move_world: MoveWorld) -> None:
    before = move_world.snapshot()
    proc = move_world.run("plan")
    assert proc.returncode == 0, proc.stderr
    assert "1111-1111-1111" in proc.stdout and "2222-2222-2222" in proc.stdout
    assert "Classmethod, Inc. for SaaS 2026-01-01- Private Offer" in proc.stdout
    assert "warning" in proc.stdout  # no AWS Organization in the sandbox, no --allowed-accounts
    ja = move_world.run("plan", "--lang", "ja")
    assert ja.returncode == 0 and "切換先AWSアカウント" in ja.stdout
    as_json = json.loads(move_world.run("plan", "--json").stdout)
    assert as_json["src_account"] == SRC and as_json["dst_account"] == DST and as_json["dst_holds_offer"] is None
    assert move_world.snapshot() == before


def test_apply_moves_the_billing_and_cancels_the_source(move_world: MoveWorld) -> None:
    allowed = move_world.tmp / "allowed.txt"
    allowed.write_text("1111-1111-1111\n222222222222\n")
    proc = move_world.run(
        "apply",
        "--yes",
        "--state",
        str(move_world.tmp / "move.json"),
        "--wait",
        "60",
        **{"--allowed-accounts": str(allowed)},
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "Done" in proc.stdout
    _assert_moved(move_world)


def _assert_moved(mw: MoveWorld) -> None:
    sub = mw.world.seller.subscription()
    assert sub["type"] == "aws_marketplace" and sub["aws_account_id"] == DST
    assert all(s["registered"] for s in sub["services"]) and sub["pending_cancellations"] == []
    agreements = mw.world.sandbox.control("GET", "agreements")
    dst = [a for a in agreements if a["account_id"] == DST]
    src = [a for a in agreements if a["account_id"] == SRC]
    assert len(dst) == 1 and dst[0]["status"] == "ACTIVE"  # exactly one new agreement
    assert [a["status"] for a in src] == ["CANCELLED"]
    calls = mw.world.sandbox.control("GET", "calls", params={"operation": "CancelAgreement"})
    assert [(c["account_id"], c["outcome"]) for c in calls] == [(SRC, "ok")]  # exactly one cancel


@pytest.mark.parametrize("when", ["after", "before"])
@pytest.mark.parametrize("step", STEPS[:-1])
def test_crash_after_each_step_then_resume(move_world: MoveWorld, step: str, when: str) -> None:
    """Killed right after a step was saved, or after its AWS call but before saving it: the re-run completes
    with one new agreement and one cancel."""
    state = str(move_world.tmp / "move.json")
    crashed = move_world.run(
        "apply", "--yes", "--state", state, "--wait", "60", crash=(f"MPLINK_MOVE_CRASH_{when.upper()}", step)
    )
    assert crashed.returncode == (99 if when == "after" else 98), crashed.stderr + crashed.stdout
    resumed = move_world.run("apply", "--yes", "--state", state, "--wait", "60")
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    _assert_moved(move_world)
    accepted = move_world.world.sandbox.control("GET", "calls", params={"operation": "AcceptAgreementRequest"})
    assert [c["outcome"] for c in accepted if c["account_id"] == DST].count("ok") == 1


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"--from-profile": "nosuchprofile"}, "not found"),
        ({"--tenant": "no-such-tenant"}, "no tenant"),
        ({"--seller-key": "mpl_wrong_key"}, "refused the key"),
        ({"--offer-name": "Nobody's * Offer"}, "no offer"),
        ({"--to-profile": "same"}, "same AWS account"),
        ({"--from-profile": "destination", "--to-profile": "source"}, "does not pay from 2222-2222-2222"),
    ],
)
def test_refusals_exit_2_and_change_nothing(move_world: MoveWorld, overrides: dict[str, str], words: str) -> None:
    before = move_world.snapshot()
    for command in ("plan", "apply"):
        proc = (
            move_world.run(command, "--yes", "--state", str(move_world.tmp / "m.json"), **overrides)
            if command == "apply"
            else move_world.run(command, **overrides)
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr
    assert move_world.snapshot() == before
    assert not (move_world.tmp / "m.json").exists()


def test_source_not_cancellable_prints_console_steps_and_status_waits(move_world: MoveWorld) -> None:
    sb = move_world.world.sandbox
    sb.control("POST", f"agreements/{move_world.src_agreement}/cancellable", json={"cancellable": False})
    state = str(move_world.tmp / "move.json")
    proc = move_world.run("apply", "--yes", "--state", state, "--wait", "2")
    assert proc.returncode == 0, proc.stderr
    assert "Manage -> Actions -> Cancel" in proc.stdout and "mplink move status" in proc.stdout
    sub = move_world.world.seller.subscription()
    assert sub["aws_account_id"] == DST and sub["pending_cancellations"] != []  # verified, not yet cancelled
    status = move_world.status(state)
    assert json.loads(status.stdout)["source_pending"] is True
    sb.box.market.cancel_agreement(SRC, {"agreementId": move_world.src_agreement}, from_console=True)
    status = move_world.status(state, "--wait", "30")
    result = json.loads(status.stdout)
    assert result["source_pending"] is False and "completed" in result["steps_done"]


def test_manual_mode_checks_each_console_step_through_the_seller(move_world: MoveWorld) -> None:
    import time

    args = {
        "--product": PRODUCT_ID,
        "--from-profile": "source",
        "--to-profile": "destination",
        "--seller-url": move_world.world.seller.url,
        "--tenant": move_world.world.seller.tenant_id,
        "--seller-key": move_world.world.seller.tenant_key,
        "--offer-name": "Classmethod, Inc. for SaaS * Private Offer",
    }
    argv = [
        *MPLINK,
        "move",
        "apply",
        "--manual",
        "--yes",
        "--wait",
        "60",
        "--lang",
        "ja",
        *[x for k, v in args.items() for x in (k, v)],
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=move_world.env)
    try:
        time.sleep(3)
        assert proc.poll() is None  # waiting for step 1 to be done in the console
        market = move_world.world.sandbox.box.market
        agreement = market.subscribe(DST, PRIVATE_OFFER)  # the buyer's clicks in the console ...
        link(move_world.world.seller, market.issue_token(agreement, "console").token)  # ... and the confirmation
        time.sleep(3)
        assert proc.poll() is None  # now waiting for step 2
        market.cancel_agreement(SRC, {"agreementId": move_world.src_agreement}, from_console=True)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "手順 1." in out and "手順 2." in out and "完了" in out
    _assert_moved_manually(move_world)


def _assert_moved_manually(mw: MoveWorld) -> None:
    sub = mw.world.seller.subscription()
    assert sub["aws_account_id"] == DST and sub["pending_cancellations"] == []
    calls = mw.world.sandbox.control("GET", "calls", params={"operation": "CreateAgreementRequest"})
    assert [c for c in calls if c["account_id"] == DST] == []  # manual: the buyer clicked, mplink only checked
