"""The fidelity suite: the sandbox held to botocore's installed service models (issue 9, "ground truth").

Cases are generated from the models (tests/support/model_cases.py), so a new botocore release shows its new
operations and rules as new cases. Each case is tagged with its operation here; tests/support/fidelity_report.py
prints the count per operation at the end of the run.

``NOT_IMPLEMENTED`` lists the operations of the models that the sandbox does not answer yet. Their cases that need
the operation's own answer (tests marked ``fidelity_answer``) are expected to fail (strict xfail, so they turn
into failures the moment the operation answers): remove an operation from the list when it is added to
``mplink.sandbox.wire.handlers()`` or to ``mplink.sandbox.wire.refusals``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support.fidelity_report import OPERATION_PROPERTY
from tests.support.model_cases import Case, operations
from tests.support.sandbox_fixtures import RunningSandbox

NOT_IMPLEMENTED: frozenset[tuple[str, str]] = frozenset()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fidelity_answer: the case needs the operation's own answer (xfail while it is NOT_IMPLEMENTED)"
    )


def _operation_of(item: pytest.Item) -> tuple[str, str] | None:
    params = getattr(getattr(item, "callspec", None), "params", {})
    for value in params.values():
        if isinstance(value, Case):
            return value.service, value.operation
        if isinstance(value, tuple) and len(value) == 2 and value in set(operations()):
            return value[0], value[1]
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fidelity/" not in item.nodeid:
            continue
        op = _operation_of(item)
        if op is None:
            continue
        item.user_properties.append((OPERATION_PROPERTY, f"{op[0]} {op[1]}"))
        if op in NOT_IMPLEMENTED and item.get_closest_marker("fidelity_answer"):
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"not implemented: {op[1]}"))


@pytest.fixture(scope="session")
def model_client(shared_sandbox: RunningSandbox) -> Callable[[str, str], Any]:
    """boto3 clients that send what they are given (parameter validation off) and try once (no retries)."""
    clients: dict[tuple[str, str], Any] = {}
    config = Config(parameter_validation=False, retries={"total_max_attempts": 1, "mode": "standard"})

    def client(service: str, account: str) -> Any:
        if (service, account) not in clients:
            clients[(service, account)] = boto3.client(
                service,
                endpoint_url=shared_sandbox.url,
                region_name="us-east-1",
                aws_access_key_id=f"AKIA{account}",
                aws_secret_access_key="sandbox",
                config=config,
            )
        return clients[(service, account)]

    return client
