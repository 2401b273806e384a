"""Shared fixtures: a real PostgreSQL server started for the session, and a fresh database per test
on SQLite and on PostgreSQL (parametrized, so the output shows each test running on both)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mplink.adapters.catalog_file import load_catalog
from mplink.adapters.store.migrate import upgrade
from mplink.adapters.store.uow import Store
from mplink.services.catalog import load_catalog as store_catalog
from tests.support.pgserver import TempPostgres, find_bindir

# pytester runs other pytest sessions in tests (tests/integration/test_pytest_plugin.py); pytest takes it only here
pytest_plugins = [
    "pytester",
    "tests.support.fidelity_report",
    "tests.support.sandbox_fixtures",
    "tests.support.seller_fixtures",
    "tests.support.browser",
]

REQUIRE_POSTGRES = os.environ.get("MPLINK_REQUIRE_POSTGRES") == "1"

# Hundreds of tests create people and log in: hash their passwords with argon2's cheapest profile (the
# processes the tests start inherit it). tests/unit/test_passwords.py checks the default profile.
os.environ.setdefault("MPLINK_ARGON2_PROFILE", "CHEAPEST")
# Every answer the sandbox gives in the suite is checked against botocore's output and error shapes: a wrong
# shape fails loudly with the path of the bad member (mplink.sandbox.wire; off by default outside tests).
os.environ.setdefault("MPLINK_SANDBOX_STRICT_OUTPUT", "1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that drives Chromium (the ``browser`` fixture) takes seconds: it is marked ``slow``."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TempPostgres | None]:
    if find_bindir() is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (MPLINK_REQUIRE_POSTGRES=1) but its binaries are not installed")
        yield None
        return
    server = TempPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'mplink.db'}"
    server = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("PostgreSQL is not installed here")
    return str(server.create_database())


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated database with the seed's catalog loaded."""
    upgrade(database_url)
    s = Store(database_url)
    store_catalog(s.uow(), load_catalog())
    try:
        yield s
    finally:
        s.dispose()
