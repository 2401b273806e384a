"""Password hashing with argon2id. The cost comes from one of argon2-cffi's named profiles: RFC 9106's
low-memory recommendation (64 MiB, argon2-cffi's default) unless ``MPLINK_ARGON2_PROFILE`` names another,
e.g. for a small machine. A hash records its own parameters, so changing the profile never locks anyone
out: old hashes still verify."""

from __future__ import annotations

import functools
import os

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from mplink.domain.errors import InvalidValue

MIN_PASSWORD_LENGTH = 10
PROFILE_VARIABLE = "MPLINK_ARGON2_PROFILE"
DEFAULT_PROFILE = "RFC_9106_LOW_MEMORY"


@functools.cache
def _hasher(profile: str) -> PasswordHasher:
    parameters = getattr(profiles, profile, None)
    if not profile.isupper() or parameters is None:
        names = ", ".join(n for n in dir(profiles) if n.isupper())
        raise InvalidValue(f"{PROFILE_VARIABLE}={profile!r} is not an argon2 profile; use one of: {names}")
    return PasswordHasher.from_parameters(parameters)


def hasher() -> PasswordHasher:
    return _hasher(os.environ.get(PROFILE_VARIABLE, "").strip() or DEFAULT_PROFILE)


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
