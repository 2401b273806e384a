"""The `mplink` command line, called in-process through its entry point (`main(argv)`), on SQLite and
PostgreSQL: the same exit codes, output and one-line errors a user sees, without a process start per call.
Commands that must run as real processes (`mplink demo`, `mplink sandbox` serving) are in
tests/e2e/test_cli_processes.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mplink import __version__
from mplink.cli import main


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Mplink:
    """`mplink ARGS` with MPLINK_DATABASE_URL set, as a user runs it; output captured by pytest."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        monkeypatch.delenv("MPLINK_CATALOG", raising=False)
        monkeypatch.setenv("COLUMNS", "200")

    def __call__(self, db: str, *args: str) -> Result:
        self.monkeypatch.setenv("MPLINK_DATABASE_URL", db)
        self.capsys.readouterr()  # drop anything printed before this call
        code = main(list(args))
        out = self.capsys.readouterr()
        return Result(code, out.out, out.err)

    def ok_json(self, db: str, *args: str) -> Any:
        result = self(db, *args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Mplink:
    return Mplink(capsys, monkeypatch)


def assert_usage_error(result: Result, words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mplink: error: ") and words in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_version_and_help(run: Mplink, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/x.db"
    version = run(db, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"mplink {__version__}"
    shown = run(db, "--help")
    assert shown.returncode == 0
    for group in ("db", "catalog", "tenant", "tenants"):
        assert group in shown.stdout


def test_admin_commands_end_to_end(run: Mplink, database_url: str, tmp_path: Path) -> None:
    db = database_url
    assert_usage_error(run(db, "tenants", "list"), "mplink db upgrade")
    first = run.ok_json(db, "db", "upgrade")
    assert first["changed"] and first["to"]
    second = run.ok_json(db, "db", "upgrade")
    assert not second["changed"] and second["to"] == first["to"]

    loaded = run.ok_json(db, "catalog", "load")
    assert loaded["products"][0]["title"] == "Trend Micro Cloud One" and loaded["products"][0]["services"] == 7

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"seller_account_id": "999999999999", "products": []}))
    assert_usage_error(run(db, "catalog", "load", str(bad)), "products")
    assert_usage_error(run(db, "catalog", "load", str(tmp_path / "missing.json")), "no such file")

    created = run.ok_json(
        db,
        "tenant",
        "create",
        "Example Corp",
        "--admin-email",
        "admin@example.com",
        "--admin-password",
        "correct horse battery",
    )
    plain = run(
        db,
        "tenant",
        "create",
        "Other Corp",
        "--admin-email",
        "other@example.com",
        "--admin-password",
        "correct horse battery",
    )
    assert plain.returncode == 0 and len(plain.stdout.strip()) == 36  # prints the tenant id
    listed = run.ok_json(db, "tenants", "list")
    assert [t["name"] for t in listed] == ["Example Corp", "Other Corp"]
    shown = run.ok_json(db, "tenant", "show", created["id"])
    assert shown["members"] == [{"email": "admin@example.com", "role": "owner"}]
    assert shown["subscription"]["type"] == "none" and len(shown["subscription"]["services"]) == 0
    human = run(db, "tenant", "show", created["id"])
    assert human.returncode == 0 and "Example Corp" in human.stdout and "subscription type: none" in human.stdout

    # bad input: exit 2, one line, nothing written
    assert_usage_error(run(db, "tenant", "show", "no-such-id"), "no tenant")
    assert_usage_error(
        run(db, "tenant", "create", "X", "--admin-email", "not-an-email", "--admin-password", "correct horse"),
        "not an email",
    )
    assert_usage_error(run(db, "tenant", "create", "X", "--admin-email", "x@example.com"), "--admin-password")
    assert_usage_error(
        run(db, "tenant", "create", "   ", "--admin-email", "x@example.com", "--admin-password", "correct horse"),
        "name must not be empty",
    )
    assert_usage_error(run(db, "tenants", "list", "--limit", "0"), "limit")
    assert len(run.ok_json(db, "tenants", "list")) == 2
    assert run.ok_json(db, "events", "list") == []
    assert run.ok_json(db, "events", "replay")["replayed"] == 0
    assert_usage_error(run(db, "events", "list", "--status", "bogus"), "unknown status")
    # the catalog that was loaded before the bad file is still there, whole
    assert run.ok_json(db, "tenant", "show", created["id"])["subscription"]["type"] == "none"


def test_bad_database_url_is_one_line(run: Mplink) -> None:
    assert_usage_error(run("mysql://nowhere/db", "db", "upgrade"), "unsupported database")


@pytest.mark.parametrize("args", [["frobnicate"], ["tenant", "create"], ["db", "upgrade", "--nope"]])
def test_usage_errors_are_one_line(run: Mplink, args: list[str], tmp_path: Path) -> None:
    assert_usage_error(run(f"sqlite:///{tmp_path}/x.db", *args), "")


def test_demo_refuses_the_same_port_twice(run: Mplink, tmp_path: Path) -> None:
    assert_usage_error(
        run(f"sqlite:///{tmp_path}/x.db", "demo", "--check", "--port", "8123", "--sandbox-port", "8123"), "must differ"
    )


@pytest.mark.parametrize("flag", ["--event-endpoint", "--event-queue-url", "--sns-endpoint", "--fulfillment-url"])
def test_sandbox_refuses_a_url_that_is_not_http(run: Mplink, flag: str, tmp_path: Path) -> None:
    assert_usage_error(run(f"sqlite:///{tmp_path}/x.db", "sandbox", flag, "ftp://x"), flag)
