"""`mplink` commands that start long-running processes, run as a user runs them (a subprocess each):
`mplink demo` starts the sandbox, the seller app and the worker and stops them; `mplink sandbox` serves
until it is terminated."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.pgserver import free_port

MPLINK = [str(Path(sys.executable).with_name("mplink"))]


def port_is_free(port: int) -> bool:
    """A server could listen on it now (as servers do, connections left in TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.slow
def test_demo_starts_seeds_and_stops(tmp_path: Path) -> None:
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
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = proc.stdout
    assert "Example Corp now pays from 1111-1111-1111" in out
    assert f"http://127.0.0.1:{port}/login" in out and f"http://127.0.0.1:{sandbox_port}/console" in out
    assert "admin@example.com" in out
    assert "mplink move plan --product prod-g232pyu6l55l4 --from-profile demo-source" in out
    assert str(Path(sys.executable).with_name("mplink")) in out  # runnable as printed
    assert (tmp_path / "mplink-demo-aws-credentials").read_text().count("aws_access_key_id") == 2
    # nothing was left running: both ports are free again
    assert port_is_free(port) and port_is_free(sandbox_port)


def test_sandbox_command_serves_until_terminated(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*MPLINK, "sandbox", "--port", str(port), "--state", str(tmp_path / "sb.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
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
    assert port_is_free(port)
