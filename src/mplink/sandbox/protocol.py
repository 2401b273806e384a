"""The AWS wire protocols the sandbox speaks, using botocore's own service models: AWS JSON 1.0/1.1
(``X-Amz-Target``), REST JSON (marketplace-discovery) and Smithy RPC v2 CBOR.

Requests are checked against the operation's input shape as AWS checks them (every constraint the model
declares, worded as AWS words it); the sandbox's answers can be checked against the output shape
(``output_errors``); errors carry the members of the service's modelled exception shape."""

from __future__ import annotations

import json
import math
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
import cbor2
from botocore.model import NoShapeFoundError, OperationModel, ServiceModel, Shape
from botocore.utils import parse_timestamp

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


# -- what AWS checks before an operation runs, and what the sandbox checks of its own answers ---------------

_NULL = "Member must not be null"
_REDACTED = "*** Sensitive Data Redacted ***"
_NUMBER_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


@dataclass(frozen=True)
class Violation:
    """One broken constraint, worded as AWS words it:
    ``Value 'x' at 'usageRecords.1.member.dimension' failed to satisfy constraint: Member must ...``."""

    path: str
    shown: str
    constraint: str

    def __str__(self) -> str:
        return f"{self.shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def _java_text(value: Any, depth: int = 0) -> str:
    """How AWS's (Java) services print a value in a validation message (nesting beyond a few levels elided)."""
    if depth > 4 and isinstance(value, list | dict):
        return "[...]" if isinstance(value, list) else "{...}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return (
            "[" + ", ".join(_java_text(v, depth + 1) for v in value[:20]) + (", ..." if len(value) > 20 else "") + "]"
        )
    if isinstance(value, dict):
        shown = list(value.items())[:20]
        return "{" + ", ".join(f"{k}={_java_text(v, depth + 1)}" for k, v in shown) + "}"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _shown(value: Any, shape: Shape) -> str:
    if value is None:
        return "Value null"
    if shape.metadata.get("sensitive"):
        return f"Value '{_REDACTED}'"
    text = _java_text(value)
    return f"Value '{text[:256]}{'...' if len(text) > 256 else ''}'"


@cache
def _category_class(category: str) -> str:
    """The code points of a Unicode general category (``C``, ``Lu``, ...), as the inside of a regex class."""
    ranges: list[tuple[int, int]] = []
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp)).startswith(category):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


def _python_regex(regex: str) -> str:
    """Java's ``\\p{Category}`` (which Python's ``re`` lacks) spelled as the category's code point ranges."""
    out, depth, i = [], 0, 0
    while i < len(regex):
        m = re.match(r"\\p\{(\w+)\}", regex[i:])
        if m:
            inner = _category_class(m.group(1))
            out.append(inner if depth else f"[{inner}]")
            i += m.end()
            continue
        if regex[i] == "\\":
            out.append(regex[i : i + 2])
            i += 2
            continue
        if regex[i] == "[":
            depth += 1
        elif regex[i] == "]" and depth:
            depth -= 1
        out.append(regex[i])
        i += 1
    return "".join(out)


@cache
def _pattern(regex: str) -> re.Pattern[str] | None:
    try:
        return re.compile(_python_regex(regex))
    except re.error:  # a Java-only construct: left to the operation's own checks
        return None


def pattern_matches(regex: str, value: str) -> bool:
    """A model's ``pattern``, with Smithy's meaning: it is not implicitly anchored, so it holds when the value
    contains a match (patterns that must match the whole value say so with ``^...$``)."""
    compiled = _pattern(regex)
    return compiled is None or compiled.search(value) is not None


def _timestamp(value: Any) -> datetime | None:
    """A request's timestamp: epoch seconds (JSON, and CBOR after parse_cbor) or a date string; None if neither."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC) if math.isfinite(value) else None
        if isinstance(value, str):
            parsed: datetime = parse_timestamp(value)
            return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError, TypeError):
        return None
    return None


def _join(path: str, name: str, verbatim: bool) -> str:
    wire = name if verbatim else name[:1].lower() + name[1:]
    return f"{path}.{wire}" if path else wire


def _element(item: Any, shape: Shape, where: str, output: bool) -> Iterator[Violation]:
    """A list member or map value: null is a violation of its own, anything else is checked against its shape."""
    if item is None:
        yield Violation(where, "Value null", _NULL)
    else:
        yield from violations(item, shape, where, output=output)


def violations(value: Any, shape: Shape, path: str = "", *, output: bool = False) -> Iterator[Violation]:
    """Every constraint of ``shape`` that ``value`` breaks, walking nested structures, lists and maps: required
    members, types, length and list size, value ranges, patterns, enums, unions.

    For a request (``output=False``) paths are AWS's (``usageRecords.1.member.dimension``), members the model does
    not declare are ignored as AWS ignores them, and timestamps arrive as numbers or strings. For one of the
    sandbox's own answers (``output=True``) paths keep the members' names, an undeclared member is an error and a
    timestamp must be a datetime."""
    t = shape.type_name
    meta = shape.metadata

    def bad(constraint: str) -> Violation:
        return Violation(path or "$", _shown(value, shape), constraint)

    if t == "structure":
        if not isinstance(value, dict):
            yield bad("Member must be a structure")
            return
        members: dict[str, Shape] = shape.members
        for name in shape.required_members:
            if value.get(name) is None:
                yield Violation(_join(path, name, output), "Value null", _NULL)
        for name, v in value.items():
            member = members.get(name)
            if member is None:
                if output and v is not None:
                    where = _join(path, str(name), output)
                    yield Violation(where, _shown(v, shape), f"Member is not declared by {shape.name}")
            elif v is not None:
                yield from violations(v, member, _join(path, name, output), output=output)
        if meta.get("union"):
            chosen = [n for n in members if value.get(n) is not None]
            if len(chosen) != 1:
                yield bad(f"Member must have exactly one of its members set: [{', '.join(members)}]")
    elif t == "list":
        if not isinstance(value, list):
            yield bad("Member must be a list")
            return
        yield from _size(bad, len(value), meta, "length")
        for i, item in enumerate(value, 1):
            yield from _element(item, shape.member, f"{path}.{i}.member", output)
    elif t == "map":
        if not isinstance(value, dict):
            yield bad("Member must be a map")
            return
        yield from _size(bad, len(value), meta, "length")
        for key, item in value.items():
            broken = [v.constraint for v in violations(key, shape.key, path, output=output)]
            if broken:
                yield bad(f"Map keys must satisfy constraint: [{', '.join(broken)}]")
            yield from _element(item, shape.value, f"{path}.{key}", output)
    elif t == "string":
        if not isinstance(value, str):
            yield bad("Member must be a string")
            return
        yield from _size(bad, len(value), meta, "length")
        if "pattern" in meta and not pattern_matches(meta["pattern"], value):
            yield bad(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        enum = shape.enum
        if enum and value not in enum:
            yield bad(f"Member must satisfy enum value set: [{', '.join(enum)}]")
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            yield bad(f"Member must be an {'integer' if t == 'integer' else 'integer (long)'}")
            return
        lo, hi = _NUMBER_RANGE[t]
        if not lo <= value <= hi:
            yield bad(f"Member must be a {32 if t == 'integer' else 64}-bit integer")
        yield from _size(bad, value, meta, "value")
    elif t in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            yield bad("Member must be a number")
            return
        yield from _size(bad, value, meta, "value")
    elif t == "boolean":
        if not isinstance(value, bool):
            yield bad("Member must be a boolean")
    elif t == "timestamp":
        if (output and not (isinstance(value, datetime) and value.tzinfo is not None)) or (
            not output and _timestamp(value) is None
        ):
            yield bad("Member must be a timestamp")
    elif t == "blob" and not (isinstance(value, bytes | bytearray) or (not output and isinstance(value, str))):
        yield bad("Member must be a blob")


def _size(bad: Callable[[str], Violation], n: float, meta: dict[str, Any], word: str) -> Iterator[Violation]:
    if "min" in meta and n < meta["min"]:
        yield bad(f"Member must have {word} greater than or equal to {meta['min']}")
    if "max" in meta and n > meta["max"]:
        yield bad(f"Member must have {word} less than or equal to {meta['max']}")


#: how many broken constraints one answer spells out (a list of thousands of bad items is counted, not listed)
SHOWN_VIOLATIONS = 10


def validation_message(broken: list[Violation]) -> str:
    n = len(broken)
    more = f"; and {n - SHOWN_VIOLATIONS} more" if n > SHOWN_VIOLATIONS else ""
    listed = "; ".join(map(str, broken[:SHOWN_VIOLATIONS]))
    return f"{n} validation error{'s' if n != 1 else ''} detected: {listed}{more}"


def validated_input(op: OperationModel, params: Any) -> dict[str, Any]:
    """Check a request against the operation's input shape as AWS does (ValidationException, every broken
    constraint listed), then hand the operation only declared, non-null members, timestamps as datetimes."""
    if not isinstance(params, dict):
        raise SandboxError("SerializationException", "The request body must be an object of the operation's members")
    shape = op.input_shape
    if shape is None:
        return {}
    broken = list(violations(params, shape))
    if broken:
        shown = broken[:SHOWN_VIOLATIONS]
        raise validation(validation_message(broken), fields=[(v.path, v.constraint) for v in shown])
    cleaned = _clean(params, shape)
    assert isinstance(cleaned, dict)
    return cleaned


def _clean(value: Any, shape: Shape) -> Any:
    t = shape.type_name
    if t == "structure":
        members: dict[str, Shape] = shape.members
        return {k: _clean(v, members[k]) for k, v in value.items() if k in members and v is not None}
    if t == "list":
        return [_clean(v, shape.member) for v in value]
    if t == "map":
        return {k: _clean(v, shape.value) for k, v in value.items()}
    if t == "timestamp":
        return _timestamp(value)
    return value


def output_errors(value: Any, shape: Shape | None) -> list[str]:
    """What is wrong with one of the sandbox's answers, held against the operation's output (or error) shape:
    members the shape does not declare, required members missing, wrong types, enums, lengths, patterns."""
    if shape is None:
        return [] if not value else [f"the operation declares no output, got {sorted(value)}"]
    return [str(v) for v in violations(value, shape, output=True)]


# -- errors as the models declare them ---------------------------------------------------------------------------

#: a reason a service raised, spelled as another service's enum spells it
_REASON_ALIASES = {"INVALID_NEXT_TOKEN": "INVALID_PAGINATION_TOKEN", "INVALID_PAGINATION_TOKEN": "INVALID_NEXT_TOKEN"}
#: a ValidationException's reason when none more precise fits, in order of preference
_DEFAULT_REASONS = ("OTHER", "MALFORMED_REQUEST_PARAMETERS")


def error_shape(service: str, code: str) -> Shape | None:
    """The service model's exception shape named ``code`` (None for codes no model declares, such as
    UnknownOperationException or SerializationException)."""
    model = service_model(service)
    try:
        shape = model.shape_for(code)
    except NoShapeFoundError:
        return None
    return shape if shape.metadata.get("exception") else None


@cache
def _faults(service: str) -> frozenset[str]:
    """The service's exception shapes marked ``fault`` (botocore's Shape does not keep that trait)."""
    loader = botocore.session.get_session().get_component("data_loader")
    shapes: dict[str, Any] = loader.load_service_model(service, "service-2")["shapes"]
    return frozenset(name for name, shape in shapes.items() if shape.get("exception") and shape.get("fault"))


def internal_error_code(service: str | None) -> str:
    """The service's modelled server fault (InternalServerException, InternalServiceErrorException)."""
    return min(_faults(service)) if service is not None and _faults(service) else "InternalFailure"


def error_status(service: str | None, exc: SandboxError) -> int:
    """The model's ``error.httpStatusCode`` for the exception; 500 for a modelled fault, 400 for any other
    modelled client error (AWS JSON's default); the sandbox's own table for codes no model declares."""
    if exc.explicit_status is not None:
        return exc.explicit_status
    shape = error_shape(service, exc.code) if service else None
    if shape is None:
        return exc.status
    status = shape.metadata.get("error", {}).get("httpStatusCode")
    if status is not None:
        return int(status)
    return 500 if exc.code in _faults(service or "") else 400


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _validation_reason(enum: list[str], fields: list[tuple[str, str]]) -> str | None:
    """MISSING_/INVALID_ + the member, as the agreement service's ValidationExceptionReason names them
    (``MISSING_AGREEMENT_ID``, ``INVALID_REQUESTED_TERM_ID``, ...), else the enum's catch-all."""
    if fields:
        path, constraint = fields[0]
        names = [part for part in path.split(".") if part and not part.isdigit() and part != "member"]
        top, leaf = _snake(names[0]), _snake(names[-1])
        kind = "MISSING_" if constraint == _NULL else "INVALID_"
        singular = top[:-1] if top.endswith("S") else top
        for candidate in (f"{singular}_{leaf}", leaf, top):
            if kind + candidate in enum:
                return kind + candidate
    return next((r for r in _DEFAULT_REASONS if r in enum), None)


def _resource_of(op: OperationModel | None, params: Any, enum: list[str]) -> tuple[str | None, str | None]:
    """The resource a request names: its member ``<resourceType>Id`` or ``<resourceType>Identifier`` (agreementId
    -> Agreement, agreementRequestId -> AgreementRequest, agreementProposalIdentifier -> AgreementProposal)."""
    if op is None or op.input_shape is None or not isinstance(params, dict):
        return None, None
    for name in op.input_shape.members:
        base = re.sub(r"(Identifier|Id)$", "", name)
        kind = base[:1].upper() + base[1:]
        if base != name and kind in enum and isinstance(params.get(name), str):
            return params[name], kind
    return None, None


def error_body(
    service: str | None, op: OperationModel | None, exc: SandboxError, request_id: str, params: Any
) -> tuple[dict[str, Any], Shape | None]:
    """The members of an error answer: those the service's exception shape declares, under their modelled
    names, filled from the error (or, for ``reason``, ``resourceId`` and ``resourceType``, worked out from the
    request when the service did not say); just ``message`` for codes no model declares."""
    shape = error_shape(service, exc.code) if service else None
    if shape is None:
        return {"message": exc.message}, None
    members: dict[str, Shape] = shape.members
    body: dict[str, Any] = {}
    for name, member in members.items():
        enum: list[str] = getattr(member, "enum", None) or []
        value: Any = None
        if name.lower() == "message":
            value = exc.message[: member.metadata.get("max", len(exc.message))]
        elif name == "requestId":
            value = request_id
        elif name == "reason":
            value = exc.reason
            if value is not None and enum and value not in enum:
                value = _REASON_ALIASES.get(value, value)
            if value is None and exc.code == "ValidationException":
                value = _validation_reason(enum, exc.fields)
        elif name == "fields" and exc.fields:
            value = [{"name": n, "message": m} for n, m in exc.fields]
        elif name in ("resourceId", "resourceType") and member.type_name == "string":
            type_enum: list[str] = getattr(members.get("resourceType"), "enum", None) or []
            inferred_id, inferred_type = _resource_of(op, params, type_enum)
            if exc.resource_id is not None or exc.resource_type is not None:
                inferred_id, inferred_type = exc.resource_id, exc.resource_type
            value = inferred_id if name == "resourceId" else inferred_type
        if value is not None:
            body[member.serialization.get("name", name)] = value
    return body, shape


def fit_error_body(body: dict[str, Any], shape: Shape | None) -> dict[str, Any]:
    """Leave out the members that would break the error shape (an id too long for ``resourceId``, say)."""
    if shape is None:
        return body
    members: dict[str, Shape] = shape.members
    return {k: v for k, v in body.items() if k not in members or not list(violations(v, members[k], output=True))}


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
        value = json.loads(body)
        json.dumps(value, ensure_ascii=False).encode()  # a lone UTF-16 surrogate (\ud800) is not Unicode text
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SandboxError("SerializationException", f"The request body is not valid JSON: {exc}") from exc
    except UnicodeEncodeError as exc:
        raise SandboxError("SerializationException", "The request body holds a lone UTF-16 surrogate") from exc
    except RecursionError as exc:
        raise SandboxError("SerializationException", "The request body nests too deeply") from exc
    return value


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
