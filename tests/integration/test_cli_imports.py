"""`mplink --help`, `--version` and `move --help` start without loading the database or web layers.

Each start of `mplink` would otherwise pay for SQLAlchemy, Alembic, FastAPI and the sandbox before printing
a line. The check needs a fresh interpreter (this one has them all loaded), so it runs one subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HEAVY = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "psycopg",
    "mplink.web",
    "mplink.adapters.store",
    "mplink.sandbox",
)

#: runs each command line in turn in one interpreter and reports, after each, what it has imported so far
PROBE = """
import contextlib, io, json, sys
from mplink.cli import main
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    print(json.dumps({"argv": argv, "rc": rc, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_help_and_version_import_no_database_or_web_module(tmp_path: Path) -> None:
    commands = [["--help"], ["--version"], ["move", "--help"], ["db", "status", "--json"]]
    env = {**os.environ, "MPLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    runs: list[dict[str, Any]] = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["argv"] for r in runs] == commands
    help_run, version_run, move_help_run, db_run = runs
    assert help_run["rc"] == 0 and "tenants" in help_run["out"] and "move" in help_run["out"]
    assert version_run["rc"] == 0 and version_run["out"].startswith("mplink ")
    assert move_help_run["rc"] == 0 and "apply" in move_help_run["out"]
    for run in (help_run, version_run, move_help_run):
        assert heavy(run["modules"]) == [], run["argv"]
    # the same probe does see the database layer once a command opens the database: the check can fail
    assert db_run["rc"] == 0 and json.loads(db_run["out"])["current"] is None
    assert "sqlalchemy" in heavy(db_run["modules"]) and "alembic" in heavy(db_run["modules"])
