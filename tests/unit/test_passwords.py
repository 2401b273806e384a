"""Passwords are hashed with argon2id at RFC 9106's low-memory cost unless MPLINK_ARGON2_PROFILE names
another of argon2-cffi's profiles; a hash keeps its own parameters, so a profile change locks nobody out."""

from __future__ import annotations

import pytest

from mplink.domain.errors import InvalidValue
from mplink.services.passwords import PROFILE_VARIABLE, hash_password, verify_password


def test_the_default_is_rfc_9106_low_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILE_VARIABLE, raising=False)
    digest = hash_password("correct horse battery")
    assert digest.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(digest, "correct horse battery")


def test_a_named_profile_sets_the_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE_VARIABLE, "CHEAPEST")
    assert hash_password("correct horse battery").startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_hashes_made_under_another_profile_still_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE_VARIABLE, "CHEAPEST")
    cheap = hash_password("correct horse battery")
    monkeypatch.setenv(PROFILE_VARIABLE, "RFC_9106_LOW_MEMORY")
    assert verify_password(cheap, "correct horse battery") and not verify_password(cheap, "wrong password!")


@pytest.mark.parametrize("digest", ["", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$broken"])
def test_a_damaged_hash_never_verifies(digest: str) -> None:
    assert not verify_password(digest, "anything")


@pytest.mark.parametrize("profile", ["cheapest", "FAST", "__dict__"])
def test_an_unknown_profile_says_which_exist(monkeypatch: pytest.MonkeyPatch, profile: str) -> None:
    monkeypatch.setenv(PROFILE_VARIABLE, profile)
    with pytest.raises(InvalidValue, match="RFC_9106_LOW_MEMORY"):
        hash_password("correct horse battery")
