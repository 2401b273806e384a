"""`mplink move apply` killed for real at every step, then run again: the re-run completes with one new
agreement and one cancel. The process that crashes is a subprocess whose observer ends it with
``os._exit`` (no clean-up, as a kill would); the re-run runs in this process. The rest of `mplink move`
is tested in process in tests/integration/test_move_cli.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mplink.move.state import STEPS
from tests.support.move_world import MoveWorld, make_move_world
from tests.support.sandbox_fixtures import DST, SRC


@pytest.fixture
def move_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[MoveWorld]:
    yield from make_move_world(tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("when", ["after", "before"])
@pytest.mark.parametrize("step", STEPS[:-1])
def test_crash_at_each_step_then_resume(move_world: MoveWorld, step: str, when: str) -> None:
    """Killed right after a step was saved, or after its AWS or seller call but before saving it."""
    state = str(move_world.tmp / "move.json")
    crashed = move_world.crash(step, when, "apply", "--yes", "--state", state, "--wait", "60")
    assert crashed.returncode == (99 if when == "after" else 98), crashed.stderr + crashed.stdout
    resumed = move_world.run("apply", "--yes", "--state", state, "--wait", "60")
    assert resumed.code == 0, resumed.err + resumed.out
    assert "Done" in resumed.out
    sub = move_world.world.seller.subscription()
    assert sub["type"] == "aws_marketplace" and sub["aws_account_id"] == DST and sub["pending_cancellations"] == []
    sandbox = move_world.world.sandbox
    dst = [a for a in sandbox.control("GET", "agreements") if a["account_id"] == DST]
    assert len(dst) == 1 and dst[0]["status"] == "ACTIVE"  # exactly one new agreement
    accepted = sandbox.control("GET", "calls", params={"operation": "AcceptAgreementRequest"})
    assert [c["outcome"] for c in accepted if c["account_id"] == DST].count("ok") == 1
    cancels = sandbox.control("GET", "calls", params={"operation": "CancelAgreement"})
    assert [(c["account_id"], c["outcome"]) for c in cancels] == [(SRC, "ok")]  # exactly one cancel
    assert move_world.account_change()["state"] == "done"
