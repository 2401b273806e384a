"""Check a botocore-parsed response against the operation's output shape, recursively: required
members present, types right, enums in range, string patterns and lengths, numeric ranges, unions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from botocore.model import Shape


def shape_errors(value: Any, shape: Shape, path: str = "$") -> list[str]:
    errors: list[str] = []
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        members = shape.members  # type: ignore[attr-defined]
        present = {k: v for k, v in value.items() if k != "ResponseMetadata"}
        for name in shape.required_members:  # type: ignore[attr-defined]
            if name not in present:
                errors.append(f"{path}.{name}: required member missing")
        for name, v in present.items():
            if name not in members:
                errors.append(f"{path}.{name}: not a member of {shape.name}")
                continue
            errors += shape_errors(v, members[name], f"{path}.{name}")
        if shape.metadata.get("union") and len(present) != 1:
            errors.append(f"{path}: a union must set exactly one member, got {sorted(present)}")
    elif t == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        for i, item in enumerate(value):
            errors += shape_errors(item, shape.member, f"{path}[{i}]")  # type: ignore[attr-defined]
        errors += _length(len(value), shape, path)
    elif t == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map"]
        for k, v in value.items():
            errors += shape_errors(k, shape.key, f"{path}<key>")  # type: ignore[attr-defined]
            errors += shape_errors(v, shape.value, f"{path}[{k!r}]")  # type: ignore[attr-defined]
    elif t == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {type(value).__name__}"]
        enum = shape.enum  # type: ignore[attr-defined]
        if enum and value not in enum:
            errors.append(f"{path}: {value!r} is not one of {enum}")
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            errors.append(f"{path}: {value!r} does not match {pattern}")
        errors += _length(len(value), shape, path)
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected an integer"]
        errors += _range(value, shape, path)
    elif t in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{path}: expected a number"]
    elif t == "boolean":
        if not isinstance(value, bool):
            return [f"{path}: expected a boolean"]
    elif t == "timestamp":
        if not isinstance(value, datetime):
            return [f"{path}: expected a timestamp"]
    elif t == "blob" and not isinstance(value, bytes | bytearray):
        return [f"{path}: expected bytes"]
    return errors


def _length(n: int, shape: Shape, path: str) -> list[str]:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    out = []
    if lo is not None and n < lo:
        out.append(f"{path}: length {n} < min {lo}")
    if hi is not None and n > hi:
        out.append(f"{path}: length {n} > max {hi}")
    return out


def _range(v: int, shape: Shape, path: str) -> list[str]:
    return [e.replace("length ", "value ") for e in _length(v, shape, path)]


def assert_valid_output(client: Any, operation: str, response: dict[str, Any]) -> None:
    op = client.meta.service_model.operation_model(operation)
    errors = shape_errors(response, op.output_shape)
    assert not errors, "\n".join(errors)
