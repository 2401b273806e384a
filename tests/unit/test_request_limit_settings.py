"""The limits' settings (MPLINK_MAX_*) and how JSON depth is measured."""

from __future__ import annotations

import pytest

from mplink.config import Settings
from mplink.domain.errors import InvalidValue
from mplink.web.limits import body_limit, json_depth


def test_limits_have_defaults_and_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BODY", "USAGE_BODY", "EVENT_BODY"):
        monkeypatch.delenv(f"MPLINK_MAX_{name}_BYTES", raising=False)
    monkeypatch.delenv("MPLINK_MAX_JSON_DEPTH", raising=False)
    settings = Settings.from_env()
    assert (body_limit(settings, "/login"), body_limit(settings, "/api/v1/tenants/t/link")) == (2**20, 2**20)
    assert body_limit(settings, "/api/v1/usage") == 4 * 2**20
    assert body_limit(settings, "/events/sns") == body_limit(settings, "/events/eventbridge") == 512 * 1024
    assert settings.max_json_depth == 32
    monkeypatch.setenv("MPLINK_MAX_USAGE_BODY_BYTES", "8388608")
    monkeypatch.setenv("MPLINK_MAX_JSON_DEPTH", "10")
    settings = Settings.from_env()
    assert (body_limit(settings, "/api/v1/usage"), settings.max_json_depth) == (8388608, 10)


@pytest.mark.parametrize("value", ["0", "-1", "1MB", "1.5"])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MPLINK_MAX_BODY_BYTES", value)
    with pytest.raises(InvalidValue, match="MPLINK_MAX_BODY_BYTES must be a positive whole number"):
        Settings.from_env()


def test_json_depth_counts_objects_and_arrays() -> None:
    assert [json_depth(v) for v in (1, "x", None, [], {}, [[]], {"a": [1, {"b": []}]})] == [0, 0, 0, 1, 1, 2, 4]
    deep: list[object] = []
    for _ in range(100_000):  # no recursion: as deep as json.loads can build
        deep = [deep]
    assert json_depth(deep) == 100_001
