"""Running a use case again when a concurrent transaction won a race."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from mplink.services.ports import ConcurrentUpdate, UnitOfWork, UnitOfWorkFactory

__all__ = ["UnitOfWork", "UnitOfWorkFactory", "retry_on_conflict"]

P = ParamSpec("P")
R = TypeVar("R")

ATTEMPTS = 6
#: the first wait before a retry, doubled each time; each wait is drawn at random up to it (full jitter),
#: so two transactions that deadlocked do not meet again at the same instant
FIRST_BACKOFF = 0.05


def retry_on_conflict(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a use case again when a concurrent transaction won a race (the same new agreement inserted by an
    event and by a registration, a row lock timed out, a serialization failure): the retry reloads and sees
    the winner's rows. After the last attempt the store's own error is raised, so a real bug stays visible."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(ATTEMPTS):
            try:
                return fn(*args, **kwargs)
            except ConcurrentUpdate as exc:
                if attempt == ATTEMPTS - 1:
                    raise (exc.__cause__ or exc) from None
                time.sleep(random.uniform(0, FIRST_BACKOFF * 2**attempt))
        raise AssertionError("unreachable")

    return wrapper
