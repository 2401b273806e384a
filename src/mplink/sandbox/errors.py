"""Errors the sandbox answers with: AWS's error codes, so botocore raises its modelled exceptions.

A SandboxError carries the code, a message and, optionally, the members AWS's error shapes declare
(``reason``, ``resourceId``, ``resourceType``, ``fields``, ...). The wire (wire.py) writes only the members
that the operation's modelled error shape declares, and takes the HTTP status from the model
(``error.httpStatusCode``); ``status`` here is what the sandbox's own pages and control API use.
"""

from __future__ import annotations

from collections.abc import Sequence

#: statuses for the control API and the console, and for codes no service model declares
_STATUS = {
    "ThrottlingException": 400,
    "InternalServiceErrorException": 500,
    "InternalServerException": 500,
    "ResourceNotFoundException": 404,
    "AccessDeniedException": 403,
    "ConflictException": 409,
    "UnrecognizedClientException": 403,
    "MissingAuthenticationTokenException": 403,
    "UnknownOperationException": 400,
}


class SandboxError(Exception):
    """An AWS error answer. ``reason``, ``resource_id``, ``resource_type`` and ``fields`` (name, message pairs)
    go out only where the operation's error shape declares them; an explicit ``status`` overrides the model's."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        reason: str | None = None,
        resource_id: str | None = None,
        resource_type: str | None = None,
        fields: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.explicit_status = status
        self.reason = reason
        self.resource_id = resource_id
        self.resource_type = resource_type
        self.fields = list(fields)

    @property
    def status(self) -> int:
        return self.explicit_status if self.explicit_status is not None else _STATUS.get(self.code, 400)

    def copy(self) -> SandboxError:
        """A fresh instance to raise (an exception raised twice keeps growing its traceback)."""
        return SandboxError(
            self.code,
            self.message,
            self.explicit_status,
            reason=self.reason,
            resource_id=self.resource_id,
            resource_type=self.resource_type,
            fields=self.fields,
        )


def validation(message: str, *, reason: str | None = None, fields: Sequence[tuple[str, str]] = ()) -> SandboxError:
    return SandboxError("ValidationException", message, reason=reason, fields=fields)
