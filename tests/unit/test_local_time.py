"""Times on pages: in the viewer's time zone (Japan's for a Japanese page, UTC otherwise), UTC on hover. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime

from mplink.i18n import local_time
from mplink.rendering import template_environment, time_element

T0 = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)


def test_a_japanese_page_reads_japan_time_and_others_read_utc() -> None:
    assert local_time(T0, "ja") == "2026-01-01 19:30 JST"
    assert local_time(T0, "en") == "2026-01-01 10:30 UTC"
    assert local_time(T0.replace(tzinfo=None), "ja") == "2026-01-01 19:30 JST"  # naive means UTC


def test_the_time_element_carries_the_instant_and_utc_on_hover() -> None:
    assert str(time_element(T0, "ja")) == (
        '<time datetime="2026-01-01T10:30:00Z" title="2026-01-01 10:30 UTC">2026-01-01 19:30 JST</time>'
    )
    assert str(time_element(T0, "en")) == (
        '<time datetime="2026-01-01T10:30:00Z" title="2026-01-01 10:30 UTC">2026-01-01 10:30 UTC</time>'
    )
    assert str(time_element(None, "ja")) == ""


def test_templates_show_a_time_with_the_time_filter_in_the_pages_language() -> None:
    env = template_environment("mplink.web")
    shown = env.from_string("{{ at|time }}")
    assert ">2026-01-02 00:30 JST</time>" in shown.render(at=datetime(2026, 1, 1, 15, 30, tzinfo=UTC), lang="ja")
    assert ">2026-01-01 15:30 UTC</time>" in shown.render(at=datetime(2026, 1, 1, 15, 30, tzinfo=UTC), lang="en")
