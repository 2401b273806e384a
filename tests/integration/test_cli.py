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
from mplink.adapters.store.uow import Store
from mplink.cli import main
from mplink.services.metering import metering_status
from tests.support.metering_status import metered_state


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


@pytest.mark.parametrize(
    "command",
    [
        ("metering", "status"),
        ("tenants", "list"),
        ("tenant", "show", "t-1"),
        ("events", "list"),
    ],
)
def test_read_only_commands_leave_no_empty_database_behind(run: Mplink, tmp_path: Path, command: tuple[str]) -> None:
    """No SQLite file yet: a command that only reads says so in one line (exit 2) and creates nothing."""
    db = tmp_path / "mplink.db"
    assert_usage_error(run(f"sqlite:///{db}", *command), "there is no database yet")
    assert not db.exists() and list(tmp_path.iterdir()) == []


def test_db_status_without_a_database_says_empty_and_creates_nothing(run: Mplink, tmp_path: Path) -> None:
    db = tmp_path / "mplink.db"
    status = run.ok_json(f"sqlite:///{db}", "db", "status")
    assert status["current"] is None and status["head"] and not status["up_to_date"]
    assert not db.exists()


def test_a_demo_refuses_a_folder_another_running_demo_uses(run: Mplink, tmp_path: Path) -> None:
    """The folder's lock is held (as a running demo holds it): one line, exit 2, and its files are left alone."""
    from mplink.demo import claim_workdir

    db = tmp_path / "mplink-demo.db"
    db.write_bytes(b"the first demo's data")
    held = claim_workdir(tmp_path)
    try:
        refused = run("sqlite:///unused.db", "demo", "--workdir", str(tmp_path), "--port", "1", "--sandbox-port", "2")
        assert_usage_error(refused, "is in use by another running demo")
        assert db.read_bytes() == b"the first demo's data"
    finally:
        held.close()
    claim_workdir(tmp_path).close()  # free again once the first demo is gone


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


def test_metering_status_shows_the_point_the_load_missed_hours_and_usage_per_tenant(
    run: Mplink, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = metered_state(store)
    monkeypatch.setenv("MPLINK_METERING_RATE", "2")  # 2 calls/s x 25 records x 3,600 s
    shown = run.ok_json(store.url, "metering", "status")
    assert shown == metering_status(store.uow(), 2).as_dict()
    assert shown["metered_through"] == state.metered_through.isoformat()
    assert shown["pending"] == {"final_window": 0, "usage": 2, "zeros": 280, "total": 282}
    assert (shown["hourly_capacity"], shown["over_capacity"]) == (180_000, False)
    assert shown["send_order"] == ["final_window", "usage", "zeros"]
    missed = [(m["hour"], m["reason"], m["usage_events"], m["quantity"]) for m in shown["missed_hours"]]
    assert missed == [(state.missed_hour.isoformat(), "older_than_24_hours", 1, 4)]
    issues = {(i["tenant_id"], i["reason"], i["billed"], i["events"], i["quantity"]) for i in shown["usage_issues"]}
    assert issues == {
        (state.paying, "hour_missed", False, 1, 4),
        (state.paying, "late_billed", True, 1, 5),
        (state.unlinked, "no_agreement", False, 1, 3),
    }

    human = run(store.url, "metering", "status")
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert "metered through: 2026-11-21 10:00 UTC" in lines
    assert any(
        line.startswith("pending 282 of 180,000 records/hour; order when over: final window, usage, zeros")
        for line in lines
    ), human.stdout
    assert any("2026-11-20 10:00 UTC" in line and "older_than_24_hours" in line for line in lines), human.stdout
    for tenant, reason in [
        (state.paying, "hour_missed"),
        (state.paying, "late_billed"),
        (state.unlinked, "no_agreement"),
    ]:
        assert any(tenant in line and reason in line for line in lines), human.stdout

    monkeypatch.setenv("MPLINK_METERING_RATE", "0.001")  # 90 records an hour: the load is over the capacity
    over = run.ok_json(store.url, "metering", "status")
    assert (over["hourly_capacity"], over["over_capacity"]) == (90, True)
    assert "pending 282 of 90 records/hour" in run(store.url, "metering", "status").stdout


def test_metering_status_with_nothing_metered_yet(run: Mplink, store: Store) -> None:
    shown = run.ok_json(store.url, "metering", "status")
    assert shown["metered_through"] is None and shown["missed_hours"] == [] and shown["usage_issues"] == []
    human = run(store.url, "metering", "status").stdout
    assert "metered through: nothing metered yet" in human
    assert "pending 0 of 900,000 records/hour; order when over: final window, usage, zeros" in human


def test_metering_status_bad_input_is_one_line(
    run: Mplink, store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert_usage_error(run(store.url, "metering", "status", "--bogus"), "--bogus")
    assert_usage_error(run(store.url, "metering", "frobnicate"), "frobnicate")
    monkeypatch.setenv("MPLINK_METERING_RATE", "fast")
    assert_usage_error(run(store.url, "metering", "status"), "MPLINK_METERING_RATE")
    monkeypatch.delenv("MPLINK_METERING_RATE")
    assert_usage_error(run(f"sqlite:///{tmp_path}/empty.db", "metering", "status"), "db upgrade")
