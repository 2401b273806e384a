"""Malformed requests get a 4xx, as AWS answers them, never a 5xx: a member of the wrong type (a string where
the model has a list, a number where it has a string, ...), a body that is not an object, a body that does not
parse. Each sent over the wire protocols the model lists for the service (AWS JSON, REST JSON, RPC v2 CBOR).

Source: botocore's service models (member types; ``metadata.protocols``). AWS's JSON services answer a body
they cannot read with ``SerializationException`` (HTTP 400).
"""

from __future__ import annotations

import pytest

from tests.support.model_cases import (
    Case,
    account_for,
    encode,
    json_protocol,
    operation,
    operations,
    post,
    protocols_of,
    raw_error_problems,
    type_cases,
)
from tests.support.sandbox_fixtures import DST, SELLER, RunningSandbox

CASES = [case for service, op in operations() for case in type_cases(service, op)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_member_of_the_wrong_type_is_a_validation_error(case: Case, shared_sandbox: RunningSandbox) -> None:
    """botocore's model gives each member a type; a value of another type is refused with a ValidationException
    (HTTP 400) naming the member, and a body that is not an object with a SerializationException."""
    protocol = json_protocol(case.service)
    body = encode(case.params(), protocol)
    account = account_for(case.service, SELLER, DST)
    response = post(shared_sandbox.url, case.service, case.operation, body, account, protocol)
    code = "SerializationException" if not case.path else "ValidationException"
    assert raw_error_problems(case.service, response, code) == []
    assert case.expect in response.json()["message"]


CBOR_CASES = [c for c in CASES if "smithy-rpc-v2-cbor" in protocols_of(c.service) and c.kind != "type"][::5]


@pytest.mark.parametrize("case", CBOR_CASES, ids=[c.id for c in CBOR_CASES])
def test_the_same_over_cbor(case: Case, shared_sandbox: RunningSandbox) -> None:
    """The agreement and entitlement models also list Smithy RPC v2 CBOR (``metadata.protocols``); a sample of the
    wrong-type cases (every fifth) sent as CBOR gets the same ValidationException, as CBOR."""
    body = encode(case.params(), "smithy-rpc-v2-cbor")
    account = account_for(case.service, SELLER, DST)
    response = post(shared_sandbox.url, case.service, case.operation, body, account, "smithy-rpc-v2-cbor")
    assert response.headers["content-type"] == "application/cbor"
    assert raw_error_problems(case.service, response, "ValidationException") == []


OPS = operations()


@pytest.mark.parametrize("op", OPS, ids=[f"{s}.{o}" for s, o in OPS])
@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'{"a": '], ids=["garbled", "binary", "truncated"])
def test_a_body_that_does_not_parse_is_a_serialization_error(
    op: tuple[str, str], body: bytes, shared_sandbox: RunningSandbox
) -> None:
    """AWS's JSON protocols answer a body that is not JSON with SerializationException, HTTP 400."""
    service, name = op
    protocol = json_protocol(service)
    response = post(shared_sandbox.url, service, name, body, account_for(service, SELLER, DST), protocol)
    assert raw_error_problems(service, response, "SerializationException") == []


WITH_INPUT = [op for op in OPS if operation(*op).input_shape is not None]


@pytest.mark.parametrize("op", WITH_INPUT, ids=[f"{s}.{o}" for s, o in WITH_INPUT])
@pytest.mark.parametrize("depth", [800, 100_000])
def test_deeply_nested_bodies_are_refused_not_crashed_on(
    op: tuple[str, str], depth: int, shared_sandbox: RunningSandbox
) -> None:
    """A member nested hundreds of levels deep is a ValidationException; a body nested deeper than the JSON parser
    goes is a SerializationException (both HTTP 400). Found by hand: both gave a 500."""
    service, name = op
    member = next(iter(operation(service, name).input_shape.members))
    nested = "[" * depth + "]" * depth
    body = f'{{"{member}": {nested}}}'.encode()
    response = post(shared_sandbox.url, service, name, body, account_for(service, SELLER, DST), json_protocol(service))
    code = "SerializationException" if depth > 1000 else "ValidationException"
    assert raw_error_problems(service, response, code) == []


@pytest.mark.parametrize("op", WITH_INPUT, ids=[f"{s}.{o}" for s, o in WITH_INPUT])
def test_a_lone_surrogate_is_a_serialization_error(op: tuple[str, str], shared_sandbox: RunningSandbox) -> None:
    """JSON may escape a lone UTF-16 surrogate ("\\ud800"), which is not Unicode text: refused as unreadable
    (SerializationException, HTTP 400). Found by hand: one stored by SendAgreementCancellationRequest made every
    later CBOR answer about it a 500."""
    service, name = op
    member = next(iter(operation(service, name).input_shape.members))
    body = f'{{"{member}": "x\\ud800y"}}'.encode()
    response = post(shared_sandbox.url, service, name, body, account_for(service, SELLER, DST), json_protocol(service))
    assert raw_error_problems(service, response, "SerializationException") == []
