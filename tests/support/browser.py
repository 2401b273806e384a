"""Shared by the page tests: headless Chromium (Debian's, driven by Playwright), screenshots, and the
check that every message of a page set has its Japanese translation."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po
from jinja2 import Environment
from jinja2.ext import extract_from_ast

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("MPLINK_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"Chromium is required (MPLINK_REQUIRE_CHROMIUM=1) but {CHROMIUM} is not installed")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MPLINK_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def japanese_catalog(package_dir: Path, module: str, domain: str) -> dict[str, str]:
    """The msgids used by ``package_dir``'s templates and ``module``, each mapped to its Japanese text;
    asserts that none is missing and that placeholders match."""
    used: set[str] = set()
    env = Environment()
    for template in (package_dir / "templates").glob("*.html"):
        used |= {m for _, _, m in extract_from_ast(env.parse(template.read_text()), gettext_functions=("_",))}
    with (package_dir / module).open("rb") as fh:
        used |= {str(m[1]) for m in extract("python", fh, keywords={"N_": None, "_": None})}
    with (package_dir / "locales" / "ja" / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
        catalog = read_po(fh, locale="ja")
    translated = {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    assert sorted(used - set(translated)) == []
    for msgid in used:
        assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(re.findall(r"%\(\w+\)s", translated[msgid])), msgid
    return translated
