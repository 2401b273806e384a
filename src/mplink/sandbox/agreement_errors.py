"""The agreement service's error answers, each built from the members its error shape declares.

botocore's model gives ValidationException a ``reason`` (an enum of AWS's reason codes) and
ResourceNotFoundException and ConflictException a ``resourceId`` and ``resourceType`` (enum ``ResourceType``).
SandboxError carries them as members, which the wire writes under the model's names; the reason is also written
at the end of the message.
"""

from __future__ import annotations

from mplink.sandbox.errors import SandboxError


def invalid(reason: str, message: str) -> SandboxError:
    """A ValidationException with its ``reason`` (``ValidationExceptionReason`` in the model)."""
    return SandboxError("ValidationException", f"{message} ({reason})", reason=reason)


def not_found(resource_type: str, resource_id: str, message: str | None = None) -> SandboxError:
    """ResourceNotFoundException; AWS answers the same whether the resource is missing or not the caller's."""
    return SandboxError(
        "ResourceNotFoundException",
        message or f"{resource_type} {resource_id} not found",
        resource_id=resource_id,
        resource_type=resource_type,
    )


def conflict(resource_type: str, resource_id: str, message: str) -> SandboxError:
    """ConflictException naming the resource involved in the conflict."""
    return SandboxError("ConflictException", message, resource_id=resource_id, resource_type=resource_type)
