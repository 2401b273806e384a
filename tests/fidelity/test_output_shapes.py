"""The sandbox's check of its own answers against botocore's output shapes (mplink.sandbox.protocol.output_errors),
which the test suite turns on for every answer (MPLINK_SANDBOX_STRICT_OUTPUT): each kind of departure from the
model is caught and named by the path of the bad member.

Source: botocore's service models (output shapes of DescribeAgreement and BatchMeterUsage).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mplink.sandbox import protocol
from tests.support.model_cases import operation

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _describe() -> dict[str, Any]:
    return {
        "agreementId": "agmt-1",
        "acceptor": {"accountId": "222222222222"},
        "proposalSummary": {"resources": [{"id": "prod-1", "type": "SaaSProduct"}], "offerId": "offer-1"},
        "status": "ACTIVE",
        "acceptanceTime": NOW,
    }


def _errors(value: dict[str, Any], service: str = "marketplace-agreement", op: str = "DescribeAgreement") -> list[str]:
    return protocol.output_errors(value, operation(service, op).output_shape)


def test_a_valid_answer_passes() -> None:
    assert _errors(_describe()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda v: v.update(product={"id": "p"}), "at 'product' failed to satisfy constraint: Member is not declared"),
        (
            lambda v: v.update(status="GONE"),
            "at 'status' failed to satisfy constraint: Member must satisfy enum value set",
        ),
        (
            lambda v: v.update(acceptanceTime="2026-01-01"),
            "at 'acceptanceTime' failed to satisfy constraint: Member must be a timestamp",
        ),
        (
            lambda v: v["acceptor"].update(accountId=2222),
            "at 'acceptor.accountId' failed to satisfy constraint: Member must be a string",
        ),
        (
            lambda v: v["proposalSummary"]["resources"][0].update(extra=1),
            "at 'proposalSummary.resources.1.member.extra'",
        ),
        (
            lambda v: v.update(agreementId="x" * 65),
            "at 'agreementId' failed to satisfy constraint: Member must have length less than or equal to 64",
        ),
    ],
    ids=["undeclared-member", "enum", "timestamp-type", "nested-type", "nested-undeclared", "length"],
)
def test_each_departure_from_the_output_shape_is_named_by_its_path(change: Any, expected: str) -> None:
    value = _describe()
    change(value)
    problems = _errors(value)
    assert any(expected in p for p in problems), problems


def test_required_members_and_none_values() -> None:
    """BatchMeterUsage's Results members require UsageRecord? No: the model requires nothing there; a UsageRecord
    without its required Timestamp is caught, and a member set to None counts as absent (the wire drops it)."""
    record = {"Dimension": "users", "Quantity": 1}
    problems = _errors(
        {"Results": [{"UsageRecord": record, "Status": "Success"}]}, "meteringmarketplace", "BatchMeterUsage"
    )
    assert problems == [
        "Value null at 'Results.1.member.UsageRecord.Timestamp' failed to satisfy constraint: Member must not be null"
    ]
    assert _errors({**_describe(), "endTime": None}) == []


def test_an_operation_without_output_takes_no_members() -> None:
    op = operation("marketplace-agreement", "CancelAgreement")
    assert protocol.output_errors({}, op.output_shape) == []
