"""A world for ``mplink move``: the sandbox and a running seller, a tenant paying from 1111-1111-1111, and
AWS profiles for the buyer's accounts. Runs ``mplink move`` in this process (``main(argv)``), or in a
subprocess that an observer ends at a chosen step (the crash tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mplink.cli import main
from tests.support.buyer import subscribe
from tests.support.journey import link, token_for
from tests.support.sandbox_fixtures import DST, PRIVATE_OFFER, PRODUCT_ID, SRC
from tests.support.seller_fixtures import World, make_world

OFFER_PATTERN = "Classmethod, Inc. for SaaS * Private Offer"

#: ends the process (os._exit, no clean-up) when the run reaches a step: "after" it was saved (exit 99),
#: or "before": its AWS or seller call returned but it is not saved yet (exit 98)
CRASH_AT_STEP = """
import os, sys
from mplink.move.runner import Observer, add_observer

step, when = sys.argv[1], sys.argv[2]

class Crash(Observer):
    def step_finished(self, name, values):
        if when == "before" and name == step:
            os._exit(98)

    def step_saved(self, name, values):
        if when == "after" and name == step:
            os._exit(99)

add_observer(Crash())
from mplink.cli import main
raise SystemExit(main(sys.argv[3:]))
"""


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class MoveWorld:
    world: World
    env: dict[str, str]
    tmp: Path
    src_agreement: str
    capsys: pytest.CaptureFixture[str]

    def argv(self, command: str, *extra: str, **overrides: str) -> list[str]:
        args = {
            "--product": PRODUCT_ID,
            "--from-profile": "source",
            "--to-profile": "destination",
            "--seller-url": self.world.seller.url,
            "--tenant": self.world.seller.tenant_id,
            "--seller-key": self.world.seller.tenant_key,
            "--offer-name": OFFER_PATTERN,
            **overrides,
        }
        return ["move", command, *[x for k, v in args.items() if v for x in (k, v)], *extra]

    def run(self, command: str, *extra: str, **overrides: str) -> Result:
        """``mplink move COMMAND`` in this process, as a user would type it."""
        self.capsys.readouterr()
        code = main(self.argv(command, *extra, **overrides))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def status(self, state: str, *extra: str) -> Result:
        seller = self.world.seller
        self.capsys.readouterr()
        argv = ["move", "status", "--state", state, "--seller-url", seller.url, "--seller-key", seller.tenant_key]
        code = main([*argv, *extra])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def crash(self, step: str, when: str, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """``mplink move COMMAND`` in a subprocess that ends itself at ``step`` (``when``: after or before)."""
        argv = [sys.executable, "-c", CRASH_AT_STEP, step, when, *self.argv(command, *extra)]
        return subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=180, stdin=subprocess.DEVNULL)

    def snapshot(self) -> tuple[Any, Any]:
        """What a refused command must leave as it was: the sandbox's agreements and the seller's view."""
        return self.world.sandbox.control("GET", "agreements"), self.world.seller.subscription()

    def account_change(self) -> dict[str, Any]:
        seller = self.world.seller
        response = seller.api("GET", f"/tenants/{seller.tenant_id}/account-change")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def make_move_world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    catalog_text: str | None = None,
    offer: str = PRIVATE_OFFER,
) -> Iterator[MoveWorld]:
    """The tenant pays from SRC through ``offer`` (the seed's private offer unless the catalog is another); profiles
    ``source``, ``destination`` and ``same`` (SRC again) sign in to the sandbox."""
    for world in make_world(tmp_path, f"sqlite:///{tmp_path}/seller.db", monkeypatch, catalog_text=catalog_text):
        src = subscribe(world.sandbox, SRC, offer)
        link(world.seller, token_for(world.sandbox, SRC, src))
        creds = tmp_path / "credentials"
        creds.write_text(
            f"[source]\naws_access_key_id = AKIA{SRC}\naws_secret_access_key = x\n"
            f"[destination]\naws_access_key_id = AKIA{DST}\naws_secret_access_key = x\n"
            f"[same]\naws_access_key_id = AKIA{SRC}\naws_secret_access_key = y\n"
        )
        (tmp_path / "config").write_text("[default]\nregion = us-east-1\n")
        mine = {
            "AWS_SHARED_CREDENTIALS_FILE": str(creds),
            "AWS_CONFIG_FILE": str(tmp_path / "config"),
            "MPLINK_AWS_ENDPOINT_URL": world.sandbox.url,
            "LANG": "en_US.UTF-8",
        }
        # in this process: the seller's own AWS key stays (its app runs here too); the profiles are explicit
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "LC_ALL", "LC_MESSAGES"):
            monkeypatch.delenv(name, raising=False)
        for name, value in mine.items():
            monkeypatch.setenv(name, value)
        # in a subprocess: nothing of the test's own AWS or mplink settings
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MPLINK_"))}
        env.update(mine)
        yield MoveWorld(world, env, tmp_path, src, capsys)
