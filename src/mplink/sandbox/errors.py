"""Errors the sandbox answers with: AWS's error codes, so botocore raises its modelled exceptions."""

from __future__ import annotations

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
    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else _STATUS.get(code, 400)


def validation(message: str) -> SandboxError:
    return SandboxError("ValidationException", message)
