"""Requests generated from botocore's installed service models, for the fidelity suite (tests/fidelity): a
valid request for every operation of the four Marketplace services, and for every constraint the input shape
declares (required, length, list size, value range, pattern, enum, union, type) a request that breaks just that
one. A new botocore release with new members or rules therefore brings new cases by itself.

Read from the models only, never from the sandbox: the cases must not share the sandbox's own reading of them.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import re._parser as sre  # the stdlib's own regex parser: shortest strings that match a model's pattern
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore
import botocore.session
import cbor2
import httpx
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel, Shape

from tests.support.shapes import shape_errors

SERVICES = ("meteringmarketplace", "marketplace-entitlement", "marketplace-agreement", "marketplace-discovery")
#: X-Amz-Target prefixes (AWS JSON) and the REST JSON path prefix, read from the models
SELLER_SERVICES = frozenset({"meteringmarketplace", "marketplace-entitlement"})
NOW = datetime.now(UTC).replace(microsecond=0)

#: Java regex constructs Python's ``re`` lacks, for picking values only (a control character is in \p{C})
_JAVA_ONLY = {r"\p{C}": r"\x00-\x1f\x7f-\x9f"}


@cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operations() -> list[tuple[str, str]]:
    return [(s, op) for s in SERVICES for op in service_model(s).operation_names]


def operation(service: str, name: str) -> OperationModel:
    return service_model(service).operation_model(name)


@cache
def python_regex(pattern: str) -> re.Pattern[str]:
    for java, python in _JAVA_ONLY.items():
        pattern = pattern.replace(java, python)
    return re.compile(pattern)


def matches(pattern: str, value: str) -> bool:
    """Smithy's pattern trait: not implicitly anchored (https://smithy.io/2.0/spec/constraint-traits.html#pattern-trait)."""
    return python_regex(pattern).search(value) is not None


# -- valid values ----------------------------------------------------------------------------------------------------


def _char_in(items: list[tuple[Any, Any]]) -> str:
    """A character a regex class accepts."""
    negated = bool(items) and items[0][0] is sre.NEGATE
    body = items[1:] if negated else items
    cls = re.compile("[" + ("^" if negated else "") + "".join(_class_text(body)) + "]")
    for c in "aA0-_. @":
        if cls.fullmatch(c):
            return c
    op, av = body[0]
    return chr(av) if op is sre.LITERAL else chr(av[0]) if op is sre.RANGE else "a"


_CATEGORY_TEXT = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}


def _class_text(items: list[tuple[Any, Any]]) -> list[str]:
    out = []
    for op, av in items:
        if op is sre.LITERAL:
            out.append(re.escape(chr(av)))
        elif op is sre.RANGE:
            out.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif op is sre.CATEGORY:
            out.append(_CATEGORY_TEXT.get(av, ""))
    return out


def _shortest(items: Any) -> str:
    """The shortest string a parsed regex matches (first branch, fewest repeats)."""
    out = []
    for op, av in items:
        if op is sre.LITERAL:
            out.append(chr(av))
        elif op is sre.NOT_LITERAL:
            out.append("a" if chr(av) != "a" else "b")
        elif op is sre.ANY:
            out.append("a")
        elif op is sre.IN:
            out.append(_char_in(list(av)))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, _high, sub = av
            out.append(_shortest(sub) * low)
        elif op is sre.SUBPATTERN:
            out.append(_shortest(av[-1]))
        elif op is sre.BRANCH:
            out.append(_shortest(av[1][0]))
    return "".join(out)


def _longer(pattern: str, value: str, length: int) -> str:
    """``value`` grown to ``length`` characters and still matching: repeat its last character, else pad."""
    for filler in (value[-1:] or "a", "a", "0", "A"):
        grown = value + filler * (length - len(value))
        if matches(pattern, grown):
            return grown
    return value


def valid_string(shape: Shape) -> str:
    meta, enum = shape.metadata, getattr(shape, "enum", None)
    if enum:
        return str(enum[0])
    low, high = meta.get("min", 0), meta.get("max", 1_000_000)
    want = max(low, 1) if high >= 1 else 0
    pattern = meta.get("pattern")
    if pattern is None:
        return "a" * want
    value = _shortest(sre.parse(python_regex(pattern).pattern))
    if len(value) < want:
        value = _longer(pattern, value, want)
    if not (matches(pattern, value) and low <= len(value) <= high):
        raise AssertionError(f"no value found for pattern {pattern!r} ({low}..{high}); teach model_cases one")
    return value


def sample(shape: Shape, depth: int = 0) -> Any:
    """A valid value: the required members only, lists as short as allowed, numbers in range."""
    t, meta = shape.type_name, shape.metadata
    if t == "structure":
        members = shape.members
        if meta.get("union"):
            first = next(iter(members))
            return {first: sample(members[first], depth + 1)}
        return {name: sample(members[name], depth + 1) for name in shape.required_members}
    if t == "list":
        return [sample(shape.member, depth + 1) for _ in range(max(meta.get("min", 0), 1 if depth < 6 else 0))]
    if t == "map":
        return {valid_string(shape.key): sample(shape.value, depth + 1)} if meta.get("min", 0) > 0 else {}
    if t == "string":
        return valid_string(shape)
    if t in ("integer", "long", "float", "double"):
        return max(meta.get("min", 1), min(1, meta.get("max", 1)))
    if t == "boolean":
        return True
    if t == "timestamp":
        return NOW
    if t == "blob":
        return b"x"
    return {}


def request(service: str, op: str) -> dict[str, Any]:
    shape = operation(service, op).input_shape
    value = sample(shape) if shape is not None else {}
    assert isinstance(value, dict)
    return value


def to_json(value: Any) -> Any:
    """A request as AWS JSON carries it: timestamps as epoch seconds, blobs in base64."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


# -- cases that break one constraint ---------------------------------------------------------------------------------

#: one step of a path into a request: ("member", name), ("item", index) or ("key", map key)
Step = tuple[str, Any]
_MISSING = object()


def aws_path(path: tuple[Step, ...]) -> str:
    """How AWS names a member in a validation message: ``usageRecords.1.member.dimension``."""
    parts = []
    for kind, x in path:
        if kind == "member":
            parts.append(x[:1].lower() + x[1:])
        elif kind == "item":
            parts.append(f"{x + 1}.member")
        else:
            parts.append(str(x))
    return ".".join(parts)


@dataclass(frozen=True)
class Case:
    """A request that breaks one constraint of the model, and what AWS's message must then say."""

    service: str
    operation: str
    kind: str
    path: tuple[Step, ...]
    value: Any = field(compare=False)
    expect: str

    @property
    def id(self) -> str:
        return f"{self.service}.{self.operation}:{aws_path(self.path) or '$'}:{self.kind}"

    def params(self) -> Any:
        base = request(self.service, self.operation)
        if not self.path:
            return copy.deepcopy(self.value)  # type: ignore[no-any-return]
        return _put(base, operation(self.service, self.operation).input_shape, self.path, self.value)


def _put(container: Any, shape: Shape, path: tuple[Step, ...], value: Any) -> Any:
    """``container`` with ``value`` at ``path`` (the containers on the way made from valid samples)."""
    (kind, x), rest = path[0], path[1:]
    if kind == "member":
        child_shape = shape.members[x]
        # a union holds one member: the one the case is about
        container = {} if shape.metadata.get("union") else dict(container)
        if not rest:
            if value is _MISSING:
                container.pop(x, None)
            else:
                container[x] = value
            return container
        child = container.get(x, sample(child_shape))
        container[x] = _put(child, child_shape, rest, value)
        return container
    if kind == "item":
        items = list(container) or [sample(shape.member)]
        items[0] = value if not rest else _put(items[0], shape.member, rest, value)
        return items
    entries = dict(container)
    entries[x] = value if not rest else _put(entries.get(x, sample(shape.value)), shape.value, rest, value)
    return entries


def _violating_string(shape: Shape) -> str | None:
    meta = shape.metadata
    low, high = meta.get("min", 0), meta.get("max", 1_000_000)
    for c in ("!", " ", "\n", "@", "~", "\x00", "é", "-", ".", "0", "a", "A"):
        value = c * max(low, 1)
        if len(value) <= high and not matches(meta["pattern"], value):
            return value
    return None


def _targets(
    shape: Shape, path: tuple[Step, ...], seen: tuple[str, ...]
) -> Iterator[tuple[tuple[Step, ...], Shape, bool]]:
    """Every member a request can hold: (path, shape, required), nested structures, lists and maps included."""
    if shape.name in seen or len(path) > 10:
        return
    seen = (*seen, shape.name)
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            p = (*path, ("member", name))
            yield p, member, name in shape.required_members
            yield from _targets(member, p, seen)
    elif shape.type_name == "list":
        p = (*path, ("item", 0))
        yield p, shape.member, False
        yield from _targets(shape.member, p, seen)
    elif shape.type_name == "map":
        p = (*path, ("key", valid_string(shape.key)))
        yield p, shape.value, False
        yield from _targets(shape.value, p, seen)


def _phrase(path: tuple[Step, ...], constraint: str) -> str:
    return f"at '{aws_path(path) or '$'}' failed to satisfy constraint: {constraint}"


def constraint_cases(service: str, op: str) -> list[Case]:
    """One case for each constraint the operation's input declares, wherever in the request it sits."""
    shape = operation(service, op).input_shape
    if shape is None:
        return []
    cases: list[Case] = []

    def add(kind: str, path: tuple[Step, ...], value: Any, constraint: str) -> None:
        cases.append(Case(service, op, kind, path, value, _phrase(path, constraint)))

    for path, s, required in _targets(shape, (), ()):
        t, meta = s.type_name, s.metadata
        if required:
            cases.append(
                Case(service, op, "required", path, _MISSING, f"Value null {_phrase(path, 'Member must not be null')}")
            )
        word = "value" if t in ("integer", "long", "float", "double") else "length"
        if t == "string":
            good = valid_string(s)
            if meta.get("min", 0) > 0:
                add(
                    "min-length",
                    path,
                    good[: meta["min"] - 1],
                    f"Member must have length greater than or equal to {meta['min']}",
                )
            if "max" in meta:
                grown = good + (good[-1:] or "a") * (meta["max"] + 1 - len(good))
                add("max-length", path, grown, f"Member must have length less than or equal to {meta['max']}")
            if "pattern" in meta and not getattr(s, "enum", None):
                bad = _violating_string(s)
                if bad is not None:
                    add("pattern", path, bad, f"Member must satisfy regular expression pattern: {meta['pattern']}")
            if getattr(s, "enum", None):
                add("enum", path, "NOT_A_MODELLED_VALUE", "Member must satisfy enum value set")
        elif t in ("list", "map"):
            one = sample(s.member) if t == "list" else None
            if meta.get("min", 0) > 0:
                value = [one] * (meta["min"] - 1) if t == "list" else {}
                add("min-size", path, value, f"Member must have length greater than or equal to {meta['min']}")
            if "max" in meta and t == "list":
                add(
                    "max-size",
                    path,
                    [one] * (meta["max"] + 1),
                    f"Member must have length less than or equal to {meta['max']}",
                )
            if t == "map" and getattr(s.key, "enum", None):
                add("map-key-enum", path, {"NOT_A_MODELLED_KEY": sample(s.value)}, "Map keys must satisfy constraint")
        elif t in ("integer", "long", "float", "double"):
            if "min" in meta:
                add(
                    "min-value",
                    path,
                    meta["min"] - 1,
                    f"Member must have {word} greater than or equal to {meta['min']}",
                )
            if "max" in meta:
                add("max-value", path, meta["max"] + 1, f"Member must have {word} less than or equal to {meta['max']}")
        elif t == "structure" and meta.get("union"):
            names = list(s.members)
            if len(names) > 1:
                two = {n: sample(s.members[n]) for n in names[:2]}
                add("union-two", path, two, "Member must have exactly one of its members set")
            add("union-none", path, {}, "Member must have exactly one of its members set")
    return cases


#: a value of another type than the model's, per type
_WRONG_TYPE: dict[str, Any] = {
    "structure": "not-a-structure",
    "list": "not-a-list",
    "map": ["not", "a", "map"],
    "string": 12345,
    "integer": "1",
    "long": "1",
    "float": "1.5",
    "double": "1.5",
    "boolean": "true",
    "timestamp": "not-a-timestamp",
    "blob": 12345,
}


def type_cases(service: str, op: str) -> list[Case]:
    """For every member, the request with a value of the wrong type (a string where a list is modelled, ...)."""
    shape = operation(service, op).input_shape
    if shape is None:
        return []
    cases = [Case(service, op, "type", (), ["not", "an", "object"], "")]
    for path, s, _ in _targets(shape, (), ()):
        if s.type_name in _WRONG_TYPE:
            wrong = _WRONG_TYPE[s.type_name]
            cases.append(Case(service, op, f"type-{s.type_name}", path, wrong, _phrase(path, "Member must be a")))
    return cases


def required_members_of(shape: Shape) -> list[str]:
    return list(shape.required_members) if shape.type_name == "structure" else []


# -- what the model says an error looks like -------------------------------------------------------------------------


def error_shape(service: str, code: str) -> Shape | None:
    try:
        shape = service_model(service).shape_for(code)
    except Exception:  # botocore's NoShapeFoundError: a code the model does not declare
        return None
    return shape if shape.metadata.get("exception") else None


def modelled_status(service: str, code: str) -> int:
    """The HTTP status the model declares for an exception (``error.httpStatusCode``); AWS JSON's defaults (500 for a
    fault, else 400) where it declares none, and for codes outside the model."""
    shape = error_shape(service, code)
    if shape is None:
        return 400
    declared = shape.metadata.get("error", {}).get("httpStatusCode")
    if declared is not None:
        return int(declared)
    return 500 if code in faults(service) else 400


@cache
def faults(service: str) -> frozenset[str]:
    """The exception shapes the model marks ``fault`` (a server error; botocore's Shape drops the trait)."""
    loader = botocore.session.get_session().get_component("data_loader")
    shapes = loader.load_service_model(service, "service-2")["shapes"]
    return frozenset(name for name, shape in shapes.items() if shape.get("exception") and shape.get("fault"))


def account_for(service: str, seller: str, buyer: str) -> str:
    return seller if service in SELLER_SERVICES else buyer


# -- sending a request as each protocol of the model does, and reading the answer ------------------------------------

_HTTP = httpx.Client(timeout=30)


def protocols_of(service: str) -> list[str]:
    """The wire protocols the model lists for the service (botocore itself picks JSON where it is listed)."""
    meta = service_model(service).metadata
    return list(meta.get("protocols") or [meta["protocol"]])


def post(url: str, service: str, op: str, body: bytes, account: str, protocol: str = "json") -> httpx.Response:
    """POST a body as the model's protocol addresses the operation: AWS JSON (X-Amz-Target), REST JSON (the
    operation's requestUri) or Smithy RPC v2 CBOR (/service/<target prefix>/operation/<name>)."""
    meta = service_model(service).metadata
    headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential=AKIA{account}/20260101/us-east-1/aws-marketplace/x"}
    if protocol == "rest-json":
        model = service_model(service)
        if op in model.operation_names:
            path = operation(service, op).http["requestUri"]
        else:  # where the API's operations live, under a name none of them has
            path = operation(service, model.operation_names[0]).http["requestUri"].rsplit("/", 1)[0] + "/" + op
        return _HTTP.post(
            url + path,
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
    if protocol == "smithy-rpc-v2-cbor":
        return _HTTP.post(
            f"{url}/service/{meta['targetPrefix']}/operation/{op}",
            content=body,
            headers={**headers, "Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
        )
    return _HTTP.post(
        url,
        content=body,
        headers={
            **headers,
            "Content-Type": f"application/x-amz-json-{meta.get('jsonVersion', '1.0')}",
            "X-Amz-Target": f"{meta['targetPrefix']}.{op}",
        },
    )


def encode(value: Any, protocol: str) -> bytes:
    if protocol == "smithy-rpc-v2-cbor":
        return bytes(cbor2.dumps(value, datetime_as_timestamp=True, timezone=UTC))
    return json.dumps(to_json(value)).encode()


def decode(response: httpx.Response) -> Any:
    if response.headers.get("content-type", "").startswith("application/cbor"):
        return cbor2.loads(response.content) if response.content else {}
    return response.json() if response.content else {}


def json_protocol(service: str) -> str:
    """The JSON protocol the service speaks: REST JSON where the model says so, else AWS JSON."""
    return "rest-json" if "rest-json" in protocols_of(service) else "json"


def call(client: Any, op: str, params: Any) -> dict[str, Any]:
    """Call an operation through botocore; the parsed answer, success or error alike."""
    try:
        response: dict[str, Any] = getattr(client, botocore.xform_name(op))(**params)
    except ClientError as exc:
        return dict(exc.response)
    return response


def error_problems(service: str, op: str | None, response: dict[str, Any], code: str | None = None) -> list[str]:
    """What is wrong with a botocore-parsed error answer, held against the model: the code (one the operation
    declares, unless ``code`` names the one expected), the HTTP status the model declares for it, a UUID
    ``x-amzn-RequestId`` in ResponseMetadata, and the members of the exception shape (each valid, and
    ``message``, ``requestId``, ``reason``, ``resourceId``/``resourceType`` present where declared)."""
    problems: list[str] = []
    got = response.get("Error", {}).get("Code")
    meta = response.get("ResponseMetadata", {})
    if code is not None and got != code:
        problems.append(f"code {got!r}, expected {code!r} ({response.get('Error', {}).get('Message')})")
    if code is None and op is not None:
        declared = {e.name for e in operation(service, op).error_shapes}
        if got not in declared:
            problems.append(f"code {got!r} is not an error {op} declares ({sorted(declared)}): {response.get('Error')}")
    if meta.get("HTTPStatusCode") != modelled_status(service, str(got)):
        problems.append(f"HTTP {meta.get('HTTPStatusCode')}, the model says {modelled_status(service, str(got))}")
    request_id = meta.get("RequestId")
    problems += request_id_problems(response)
    shape = error_shape(service, str(got))
    if shape is not None:
        members = {k: response[k] for k in shape.members if k in response}
        problems += shape_errors(members, shape, f"${got}")
        expected = {"message"}
        if "requestId" in shape.members:
            expected.add("requestId")
            if members.get("requestId") != request_id:
                problems.append(f"requestId {members.get('requestId')!r} is not the request id {request_id!r}")
        if "reason" in shape.members and got == "ValidationException":
            expected.add("reason")
        if got in ("ResourceNotFoundException", "ConflictException"):
            expected |= {"resourceId", "resourceType"} & set(shape.members)
        problems += [f"modelled member {m!r} missing" for m in sorted(expected - set(members))]
    return problems


def request_id_problems(response: dict[str, Any]) -> list[str]:
    """A botocore-parsed answer's ResponseMetadata.RequestId: a UUID, read from the x-amzn-RequestId header."""
    meta = response.get("ResponseMetadata", {})
    return _request_id_problems(meta.get("RequestId"), meta.get("HTTPHeaders", {}).get("x-amzn-requestid"))


def _request_id_problems(request_id: Any, header: Any) -> list[str]:
    try:
        uuid.UUID(str(request_id))
    except ValueError:
        return [f"ResponseMetadata.RequestId {request_id!r} is not a UUID"]
    return [] if header == request_id else [f"x-amzn-RequestId header {header!r} != {request_id!r}"]


def raw_error_problems(service: str, response: httpx.Response, code: str) -> list[str]:
    """The same checks for an answer read off the wire (the body's ``__type`` names the code)."""
    body = decode(response)
    problems = _request_id_problems(response.headers.get("x-amzn-requestid"), response.headers.get("x-amzn-requestid"))
    if body.get("__type") != code:
        problems.append(f"__type {body.get('__type')!r}, expected {code!r}: {body}")
    if response.status_code != modelled_status(service, code):
        problems.append(f"HTTP {response.status_code}, the model says {modelled_status(service, code)}")
    shape = error_shape(service, code)
    if shape is not None:
        members = {k: v for k, v in body.items() if k != "__type"}
        problems += shape_errors(members, shape, f"${code}")
        if "requestId" in shape.members and members.get("requestId") != response.headers.get("x-amzn-requestid"):
            problems.append("the body's requestId is not the x-amzn-RequestId header")
    return problems
