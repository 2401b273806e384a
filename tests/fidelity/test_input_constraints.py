"""Every constraint botocore's installed service models declare for a request is enforced by the sandbox, with
AWS's answer: a ValidationException, the HTTP status the model declares for it, the exception's modelled members
and AWS's message (``1 validation error detected: Value ... at 'usageRecords.1.member.dimension' failed to satisfy
constraint: Member must ...``).

Source: botocore's service models (``botocore/data/<service>/<version>/service-2.json``), the constraint named by
each case id. botocore checks only ``required``, ``min``, types and unions on the client (``botocore/validate.py``);
``max``, ``pattern`` and ``enum`` reach AWS, which answers them. The cases are sent by boto3 with its own
parameter validation turned off, so the client serializes exactly what the case holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.model_cases import (
    Case,
    account_for,
    call,
    constraint_cases,
    error_problems,
    error_shape,
    operations,
)
from tests.support.sandbox_fixtures import DST, SELLER

CASES = [case for service, op in operations() for case in constraint_cases(service, op)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_request_that_breaks_the_model_is_refused_as_aws_refuses_it(
    case: Case, model_client: Callable[[str, str], Any]
) -> None:
    """botocore's model for the operation declares the constraint in the case id; AWS refuses a request that
    breaks it with a ValidationException (HTTP 400 in the agreement and discovery models; AWS JSON's 400 in the
    metering and entitlement models, which do not model the exception) naming the member."""
    client = model_client(case.service, account_for(case.service, SELLER, DST))
    response = call(client, case.operation, case.params())
    assert error_problems(case.service, None, response, "ValidationException") == []
    message = response["Error"]["Message"]
    assert case.expect in message
    assert message.split(":")[0].endswith(("validation error detected", "validation errors detected"))
    shape = error_shape(case.service, "ValidationException")
    if shape is not None and "fields" in shape.members:
        named = case.expect.split("'")[1]
        assert named in [f["name"] for f in response["fields"]]
