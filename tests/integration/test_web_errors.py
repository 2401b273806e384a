"""An unexpected error never shows a stack trace: the answer is a plain 500 that carries an id, and the log
has the traceback under the same id, so support can find it from what the user reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mplink.web.app import create_app
from tests.support.web import fresh_store, seller_settings


@pytest.mark.parametrize(("path", "accept"), [("/api/v1/boom", "application/json"), ("/boom", "text/html")])
def test_a_500_carries_an_id_that_the_log_has_with_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str, accept: str
) -> None:
    store = fresh_store(tmp_path)
    try:
        app = create_app(seller_settings(store.url, None), store=store)

        def boom() -> None:
            raise RuntimeError("a bug, on purpose")

        app.add_api_route(path, boom)
        with TestClient(app, raise_server_exceptions=False) as client:
            r = client.get(path, headers={"Accept": accept})
        assert r.status_code == 500
        error_id = r.headers["X-Error-Id"]
        assert re.fullmatch(r"[0-9a-f]{16}", error_id)
        assert "Traceback" not in r.text and "a bug, on purpose" not in r.text and error_id in r.text
        if accept == "application/json":
            assert r.json()["error"] == "internal_error" and r.json()["error_id"] == error_id
        logged = capsys.readouterr()
        log = logged.out + logged.err
        assert error_id in log and "Traceback" in log and "RuntimeError: a bug, on purpose" in log
    finally:
        store.dispose()
