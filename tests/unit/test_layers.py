"""The dependency rules of DESIGN.md's layers, read from the source: the domain imports no outer ring,
services own their ports and import no adapter, and the sandbox shares no code with the seller (an emulator
that shared the product's model would hide the product's mistakes about AWS)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "mplink"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offending(package: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in sorted(imported_modules(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(SRC)} imports {name}")
    return out


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("sandbox", ("mplink.domain", "mplink.services", "mplink.adapters", "mplink.web", "mplink.move")),
        ("services", ("mplink.adapters", "mplink.web", "mplink.cli", "mplink.sandbox")),
        ("domain", ("mplink.services", "mplink.adapters", "mplink.web", "mplink.cli", "mplink.sandbox")),
    ],
)
def test_layer_imports_only_inward(package: str, forbidden: tuple[str, ...]) -> None:
    assert offending(package, forbidden) == []


def test_the_check_sees_imports() -> None:
    """The rule above would catch a sandbox module importing the seller's catalog (it did until issue 9)."""
    source = SRC / "sandbox" / "catalog.py"
    assert "json" in imported_modules(source) and "mplink.domain.catalog" not in imported_modules(source)
    assert offending("cli", ("mplink.sandbox",)) != []  # the CLI does start the sandbox
