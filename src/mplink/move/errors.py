"""What can stop a move, each with a message a user can act on."""

from __future__ import annotations

from typing import Any


class MoveError(Exception):
    """Base of every error ``mplink move`` reports in one line instead of a stack trace.

    ``message`` is an English template (the msgid of its translation) filled with ``values``: the command line
    shows it in the user's language, ``message`` holds it in English."""

    code = "move_error"

    def __init__(self, message: str, **values: Any) -> None:
        self.template, self.values = message, values
        self.message = message.format(**values) if values else message
        super().__init__(self.message)


class MoveRefused(MoveError):
    """Preflight found something to fix; nothing was changed."""

    code = "move_refused"


class BadStateFile(MoveError):
    """The state file is unreadable or belongs to another move."""

    code = "bad_state_file"


class AwsCallFailed(MoveError):
    """A buyer API call failed; ``aws_code`` is AWS's error code when AWS gave one."""

    code = "aws_call_failed"

    def __init__(self, message: str, aws_code: str = "") -> None:
        super().__init__(message)
        self.aws_code = aws_code


class SellerApiError(MoveError):
    """The seller's API refused a call or did not answer (``status`` 0)."""

    code = "seller_api_error"

    def __init__(self, message: str, status: int, body: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


class VerificationFailed(MoveError):
    """The seller does not show the change verified; nothing was cancelled."""

    code = "verification_failed"


class SourceNotEnded(MoveError):
    """The source subscription has not ended yet (manual mode waits for the buyer's console cancel)."""

    code = "source_not_ended"
