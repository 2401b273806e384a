"""The `mplink` console script, run as a user would (subprocess), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mplink import __version__

MPLINK = [str(Path(sys.executable).with_name("mplink"))]


def run(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPLINK_DATABASE_URL": db}
    env.pop("MPLINK_CATALOG", None)
    return subprocess.run(
        [*MPLINK, *args], capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL
    )


def ok_json(db: str, *args: str) -> Any:
    proc = run(db, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def assert_usage_error(proc: subprocess.CompletedProcess[str], words: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mplink: error: ") and words in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_version_and_help() -> None:
    proc = subprocess.run([*MPLINK, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"mplink {__version__}"
    proc = subprocess.run([*MPLINK, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for group in ("db", "catalog", "tenant", "tenants"):
        assert group in proc.stdout


def test_admin_commands_end_to_end(database_url: str, tmp_path: Path) -> None:
    db = database_url
    assert_usage_error(run(db, "tenants", "list"), "mplink db upgrade")
    first = ok_json(db, "db", "upgrade")
    assert first["changed"] and first["to"]
    second = ok_json(db, "db", "upgrade")
    assert not second["changed"] and second["to"] == first["to"]

    loaded = ok_json(db, "catalog", "load")
    assert loaded["products"][0]["title"] == "Trend Micro Cloud One" and loaded["products"][0]["services"] == 7

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"seller_account_id": "999999999999", "products": []}))
    assert_usage_error(run(db, "catalog", "load", str(bad)), "products")
    assert_usage_error(run(db, "catalog", "load", str(tmp_path / "missing.json")), "no such file")

    created = ok_json(
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
    listed = ok_json(db, "tenants", "list")
    assert [t["name"] for t in listed] == ["Example Corp", "Other Corp"]
    shown = ok_json(db, "tenant", "show", created["id"])
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
    assert len(ok_json(db, "tenants", "list")) == 2
    assert ok_json(db, "events", "list") == []
    assert ok_json(db, "events", "replay")["replayed"] == 0
    assert_usage_error(run(db, "events", "list", "--status", "bogus"), "unknown status")
    # the catalog that was loaded before the bad file is still there, whole
    assert ok_json(db, "tenant", "show", created["id"])["subscription"]["type"] == "none"


def test_bad_database_url_is_one_line() -> None:
    proc = run("mysql://nowhere/db", "db", "upgrade")
    assert_usage_error(proc, "unsupported database")


@pytest.mark.parametrize("args", [["frobnicate"], ["tenant", "create"], ["db", "upgrade", "--nope"]])
def test_usage_errors_are_one_line(args: list[str], tmp_path: Path) -> None:
    assert_usage_error(run(f"sqlite:///{tmp_path}/x.db", *args), "")


def test_demo_starts_seeds_and_stops(tmp_path: Path) -> None:
    from tests.support.pgserver import free_port

    port, sandbox_port = free_port(), free_port()
    proc = subprocess.run(
        [
            *MPLINK,
            "demo",
            "--check",
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = proc.stdout
    assert "Example Corp now pays from 1111-1111-1111" in out
    assert f"http://127.0.0.1:{port}/login" in out and f"http://127.0.0.1:{sandbox_port}/console" in out
    assert "admin@example.com" in out
    assert "mplink move plan --product prod-g232pyu6l55l4 --from-profile demo-source" in out
    assert str(Path(sys.executable).with_name("mplink")) in out  # runnable as printed
    assert (tmp_path / "mplink-demo-aws-credentials").read_text().count("aws_access_key_id") == 2
    # the same ports again: nothing was left running
    again = subprocess.run(
        [*MPLINK, "demo", "--check", "--port", str(port), "--sandbox-port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_usage_error(again, "must differ")


def test_sandbox_command_serves_and_refuses_bad_flags(tmp_path: Path) -> None:
    import time

    import httpx

    from tests.support.pgserver import free_port

    bad = subprocess.run(
        [*MPLINK, "sandbox", "--event-endpoint", "ftp://x"], capture_output=True, text=True, timeout=60
    )
    assert_usage_error(bad, "--event-endpoint")
    port = free_port()
    proc = subprocess.Popen(
        [*MPLINK, "sandbox", "--port", str(port), "--state", str(tmp_path / "sb.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.2)
        assert health["status"] == "ok"
        catalog = httpx.get(f"http://127.0.0.1:{port}/_sandbox/catalog").json()
        assert catalog["products"][0]["title"] == "Trend Micro Cloud One"
    finally:
        proc.terminate()
        proc.wait(20)
