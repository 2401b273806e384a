"""The AWS wire protocols the sandbox speaks, using botocore's own service models: AWS JSON 1.0/1.1
(``X-Amz-Target``), REST JSON (marketplace-discovery) and Smithy RPC v2 CBOR. Input is validated with
botocore's ParamValidator; errors come back in the shape botocore parses into its modelled exceptions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
import cbor2
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.utils import parse_timestamp
from botocore.validate import ParamValidator

from mplink.sandbox.errors import SandboxError, validation

#: X-Amz-Target prefix (also the CBOR service name) -> botocore service name
TARGET_PREFIXES = {
    "AWSMPMeteringService": "meteringmarketplace",
    "AWSMPEntitlementService": "marketplace-entitlement",
    "AWSMPCommerceService_v20200301": "marketplace-agreement",
}
DISCOVERY = "marketplace-discovery"

_ACCESS_KEY = re.compile(r"Credential=([A-Z0-9]+)/")
_ACCOUNT_KEY = re.compile(r"^AKIA(\d{12})$")


@cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


@cache
def discovery_routes() -> dict[str, str]:
    """requestUri -> operation name, read from botocore's model."""
    model = service_model(DISCOVERY)
    return {model.operation_model(op).http["requestUri"]: op for op in model.operation_names}


def caller_account(headers: dict[str, str]) -> str:
    """The sandbox's convention: the SigV4 access key id is ``AKIA`` + the 12-digit account id."""
    auth = headers.get("authorization", "")
    if not auth:
        raise SandboxError("MissingAuthenticationTokenException", "Missing Authentication Token")
    m = _ACCESS_KEY.search(auth)
    key = m.group(1) if m else ""
    account = _ACCOUNT_KEY.match(key)
    if account is None:
        raise SandboxError(
            "UnrecognizedClientException",
            f"The security token included in the request is invalid: the sandbox takes access key ids of the form "
            f"AKIA<12-digit account id>, got {key or 'none'!r}",
        )
    return account.group(1)


def operation(service: str, name: str) -> OperationModel:
    model = service_model(service)
    if name not in model.operation_names:
        raise SandboxError("UnknownOperationException", f"Unknown operation {name!r} for {model.service_name}")
    return model.operation_model(name)


def _convert_timestamps(value: Any, shape: Shape) -> Any:
    if value is None:
        return None
    if shape.type_name == "timestamp":
        dt = parse_timestamp(value)
        return dt.astimezone(UTC)
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: _convert_timestamps(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_convert_timestamps(v, shape.member) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _convert_timestamps(v, shape.value) for k, v in value.items()}
    return value


@cache
def _pattern(regex: str) -> re.Pattern[str] | None:
    try:
        return re.compile(regex)
    except re.error:  # a Java-only construct: left to the operation's own checks
        return None


def _constraint_errors(value: Any, shape: Shape, where: str) -> Iterator[str]:
    """What botocore's client-side validator leaves to the server: max lengths and sizes, patterns and enums,
    as the service model declares them (AWS answers such a request with a ValidationException)."""
    meta = shape.metadata
    fails = f"at '{where}' failed to satisfy constraint: Member must"
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from _constraint_errors(value[name], member, f"{where}.{name}" if where else name)
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            yield f"Value {fails} have length less than or equal to {meta['max']}"
        for i, item in enumerate(value):
            yield from _constraint_errors(item, shape.member, f"{where}.{i + 1}.member")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from _constraint_errors(item, shape.value, f"{where}.{key}")
    elif shape.type_name == "string" and isinstance(value, str):
        shown = repr(value[:64])
        if "max" in meta and len(value) > meta["max"]:
            yield f"Value {fails} have length less than or equal to {meta['max']}"
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.search(value):
            yield f"Value {shown} {fails} satisfy regular expression pattern: {meta['pattern']}"
        if shape.enum and value not in shape.enum:
            yield f"Value {shown} {fails} satisfy enum value set: {shape.enum}"
    elif shape.type_name in ("integer", "long") and isinstance(value, int) and "max" in meta and value > meta["max"]:
        yield f"Value {value} {fails} have value less than or equal to {meta['max']}"


def validated_input(op: OperationModel, params: Any) -> dict[str, Any]:
    """Check members against the model the way AWS does, and turn timestamps into datetimes."""
    if not isinstance(params, dict):
        raise SandboxError("SerializationException", "The request body must be a JSON object")
    shape = op.input_shape
    if shape is None:
        return {}
    unknown = sorted(set(params) - set(shape.members))
    if unknown:
        raise validation(
            f"Unknown parameter {unknown[0]!r} for {op.name}; valid parameters: {', '.join(shape.members)}"
        )
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        lines = [line.strip() for line in report.generate_report().splitlines() if line.strip()]
        raise validation(f"{len(lines)} validation error(s) detected: " + "; ".join(lines))
    broken = list(_constraint_errors(params, shape, ""))
    if broken:
        raise validation(f"{len(broken)} validation error(s) detected: " + "; ".join(broken))
    converted = _convert_timestamps(params, shape)
    assert isinstance(converted, dict)
    return converted


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def json_body(value: Any) -> bytes:
    return json.dumps(_jsonable(value), separators=(",", ":")).encode()


def cbor_body(value: Any) -> bytes:
    return bytes(cbor2.dumps(_drop_none(value), datetime_as_timestamp=True, timezone=UTC))


def parse_json(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SandboxError("SerializationException", f"The request body is not valid JSON: {exc}") from exc


def parse_cbor(body: bytes) -> Any:
    if not body:
        return {}
    try:
        value = cbor2.loads(body)
    except Exception as exc:  # cbor2 raises several decoder errors
        raise SandboxError("SerializationException", f"The request body is not valid CBOR: {exc}") from exc
    return _cbor_plain(value)


def _cbor_plain(value: Any) -> Any:
    """CBOR timestamps arrive as datetimes; the validator and converter take epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _cbor_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cbor_plain(v) for v in value]
    return value
