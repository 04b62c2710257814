"""Layering, read from the sources with ``ast``: the actor runtime knows nothing of the application, and
the lower layers of the application (storage, configuration, errors) never reach the web layer."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@cache
def imports_of(path: Path) -> frozenset[str]:
    """Every module ``path`` imports, anywhere in the file (functions and TYPE_CHECKING blocks too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            # ``from pkg import module`` imports the submodule when there is one
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return frozenset(found)


def path_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def reachable(start: Path) -> dict[str, str]:
    """Project modules reachable from ``start`` through imports: module -> the module that imported it."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop()
        for imported in imports_of(current):
            if imported.split(".")[0] not in {"bookstrack", "actors"} or imported in seen:
                continue
            seen[imported] = module_name(current)
            target = path_of(imported)
            if target is not None:
                todo.append(target)
    return seen


def test_the_walk_sees_real_imports():
    # guard against a walker that finds nothing and so passes everything
    assert "bookstrack.web.middleware" in imports_of(ROOT / "bookstrack" / "app.py")
    assert "bookstrack.errors" in reachable(ROOT / "bookstrack" / "store" / "migrations.py")
    relative = reachable(ROOT / "bookstrack" / "app.py")
    assert "bookstrack.web.routing" in relative
    assert "actors" in relative
    assert len(sources("actors")) >= 5
    assert len(sources("bookstrack/store")) >= 3


@pytest.mark.parametrize("path", sources("actors"), ids=lambda p: p.name)
def test_no_module_of_the_actor_runtime_imports_bookstrack(path):
    offending = sorted(m for m in imports_of(path) if m == "bookstrack" or m.startswith("bookstrack."))
    assert offending == [], f"{module_name(path)} imports {offending}"


LOWER = [
    *sources("bookstrack/store"),
    ROOT / "bookstrack" / "config.py",
    ROOT / "bookstrack" / "errors.py",
]


@pytest.mark.parametrize("path", LOWER, ids=lambda p: module_name(p))
def test_storage_config_and_errors_never_reach_the_web_layer(path):
    chain = reachable(path)
    offending = sorted(m for m in chain if m == "bookstrack.web" or m.startswith("bookstrack.web."))
    assert offending == [], {m: f"imported by {chain[m]}" for m in offending}
    assert "bookstrack.app" not in chain
