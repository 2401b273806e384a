"""Limits before work, on a real `mplink serve` process: a body is judged before it is read (the API key and the
EventBridge secret first, then its size), so a huge body costs the server no memory; deeply nested JSON is a 400
with a reason, never a 500."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.pgserver import free_port

MPLINK = [str(Path(sys.executable).with_name("mplink"))]
SECRET = "limits-test-secret"
MB = 1024 * 1024


def peak_reset_rss_mb(pid: int) -> float:
    """The resident set size now, after resetting the process's peak (VmHWM) to it (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return rss_mb(pid, "VmRSS")


def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


class Server:
    def __init__(self, url: str, pid: int, operator_key: str) -> None:
        self.url, self.pid, self.operator_key = url, pid, operator_key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("limits")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPLINK_")}
    env.update(
        MPLINK_DATABASE_URL=f"sqlite:///{folder / 'mplink.db'}",
        MPLINK_SECRET_KEY="limits-test",
        MPLINK_EVENTBRIDGE_SECRET=SECRET,
    )
    run = dict(env=env, capture_output=True, text=True, check=True, timeout=60)
    subprocess.run([*MPLINK, "db", "upgrade"], **run)  # type: ignore[call-overload]
    created = subprocess.run([*MPLINK, "apikey", "create", "--operator", "--json"], **run)  # type: ignore[call-overload]
    key = json.loads(created.stdout)["key"]
    port = free_port()
    with (folder / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            [*MPLINK, "serve", "--port", str(port)], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, (folder / "serve.log").read_text()
                time.sleep(0.2)
        yield Server(url, proc.pid, key)
    finally:
        proc.terminate()
        proc.wait(20)


def chunks(total: int, size: int = MB) -> Iterator[bytes]:
    """``total`` bytes of a JSON-looking body, made as they are sent (the test never holds them all)."""
    block = b" " * size
    sent = 0
    while sent < total:
        part = block[: min(size, total - sent)]
        sent += len(part)
        yield part


def send_streamed(url: str, total: int, headers: dict[str, str]) -> int | None:
    """POST ``total`` bytes chunked (no Content-Length); the status, or None when the server closed first."""
    try:
        response = httpx.post(url, content=chunks(total), headers=headers, timeout=120)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        return None
    return response.status_code


def raw_post(url: str, path: str, headers: dict[str, str], first_bytes: bytes) -> bytes:
    """Send headers and a few body bytes only, then read the answer: the server must answer without the rest."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + first_bytes)
        answer = b""
        while not _complete(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer


def _complete(answer: bytes) -> bool:
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator:
        return False
    length = next(
        (line.split(b":")[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length")), b"0"
    )
    return len(body) >= int(length)


def test_a_150_mb_body_without_a_key_is_refused_and_the_server_does_not_grow(server: Server) -> None:
    before = peak_reset_rss_mb(server.pid)
    status = send_streamed(f"{server.url}/api/v1/usage", 150 * MB, {"content-type": "application/json"})
    grown = rss_mb(server.pid, "VmHWM") - before
    assert grown < 50, f"the server grew by {grown:.0f} MB"
    assert status in (401, None)
    # it still answers
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_150_mb_body_with_a_key_stops_at_the_usage_limit(server: Server) -> None:
    before = peak_reset_rss_mb(server.pid)
    headers = {"content-type": "application/json", "authorization": f"Bearer {server.operator_key}"}
    status = send_streamed(f"{server.url}/api/v1/usage", 150 * MB, headers)
    grown = rss_mb(server.pid, "VmHWM") - before
    assert grown < 50, f"the server grew by {grown:.0f} MB"
    assert status in (413, None)


@pytest.mark.parametrize("path", ["/events/sns", "/events/eventbridge"])
def test_a_huge_streamed_event_is_refused_without_growing(server: Server, path: str) -> None:
    before = peak_reset_rss_mb(server.pid)
    headers = {"content-type": "application/json", "x-mplink-secret": SECRET}
    status = send_streamed(f"{server.url}{path}", 150 * MB, headers)
    grown = rss_mb(server.pid, "VmHWM") - before
    assert grown < 50, f"the server grew by {grown:.0f} MB"
    assert status in (413, None)


def test_without_a_key_the_answer_comes_before_the_body(server: Server) -> None:
    answer = raw_post(server.url, "/api/v1/usage", {"Content-Length": str(100 * MB)}, b'{"events": [')
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    answer = raw_post(server.url, "/events/eventbridge", {"Content-Length": str(100 * MB)}, b"{")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


@pytest.mark.parametrize(
    ("path", "headers", "limit"),
    [
        ("/api/v1/usage", {"Authorization": "Bearer KEY"}, 4 * MB),
        ("/events/sns", {}, 512 * 1024),
        ("/events/eventbridge", {"X-Mplink-Secret": SECRET}, 512 * 1024),
    ],
)
def test_a_content_length_over_the_limit_gets_413_before_the_body_is_read(
    server: Server, path: str, headers: dict[str, str], limit: int
) -> None:
    headers = {k: v.replace("KEY", server.operator_key) for k, v in headers.items()}
    answer = raw_post(
        server.url,
        path,
        {**headers, "Content-Type": "application/json", "Accept": "application/json", "Content-Length": str(limit + 1)},
        b"{",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert f"larger than the {limit} bytes".encode() in answer


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v1/usage", {"authorization": "Bearer KEY"}),
        ("/events/sns", {}),
        ("/events/eventbridge", {"x-mplink-secret": SECRET}),
    ],
)
@pytest.mark.parametrize("depth", [33, 5000, 100_000])
def test_deeply_nested_json_is_a_400_with_a_reason(
    server: Server, path: str, headers: dict[str, str], depth: int
) -> None:
    headers = {k: v.replace("KEY", server.operator_key) for k, v in headers.items()}
    body = '{"events": ' + "[" * depth + "]" * depth + "}"
    response = httpx.post(f"{server.url}{path}", content=body, headers={**headers, "content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "nests deeper than 32 levels" in response.json()["message"]


def test_json_within_the_depth_limit_is_judged_as_usual(server: Server) -> None:
    headers = {"authorization": f"Bearer {server.operator_key}", "content-type": "application/json"}
    response = httpx.post(f"{server.url}/api/v1/usage", content=b'{"events": [[]]}', headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith("events.0:")


def test_a_streamed_body_over_the_limit_gets_413_with_the_limit(server: Server) -> None:
    headers = {"content-type": "application/json", "authorization": f"Bearer {server.operator_key}"}
    response = httpx.post(f"{server.url}/api/v1/usage", content=chunks(5 * MB), headers=headers, timeout=60)
    assert response.status_code == 413
    assert response.json() == {
        "error": "http_error",
        "message": "the request body is larger than the 4194304 bytes this address accepts; send less at a time",
    }


def test_a_limit_setting_that_is_not_a_number_stops_serve_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "MPLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "MPLINK_SECRET_KEY": "x"}
    env["MPLINK_MAX_BODY_BYTES"] = "1MB"
    done = subprocess.run(
        [*MPLINK, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "mplink: error: MPLINK_MAX_BODY_BYTES must be a positive whole number, not '1MB'"


def test_a_form_over_the_limit_gets_a_page_that_says_so_in_the_visitors_language(server: Server) -> None:
    for language, text in [("en", "larger than this page accepts"), ("ja", "受け付けられる大きさを超えています")]:
        answer = raw_post(
            server.url,
            "/login",
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept-Language": language,
                "Content-Length": str(MB + 1),
            },
            b"email=",
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
        assert text in answer.decode()
