"""The package boundary of ``actors``: exports declared in one place, and no dependency on the app."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import actors

ACTORS_DIR = Path(actors.__file__).parent


def test_all_is_the_sorted_set_of_public_names():
    public = {name for name, value in vars(actors).items() if not name.startswith("_") and not inspect.ismodule(value)}
    assert actors.__all__ == sorted(public)


def test_every_module_exports_only_what_it_defines():
    for info in pkgutil.iter_modules([str(ACTORS_DIR)]):
        module = importlib.import_module(f"actors.{info.name}")
        assert module.__doc__, f"actors.{info.name} has no docstring"
        missing = [name for name in getattr(module, "__all__", []) if not hasattr(module, name)]
        assert missing == [], f"actors.{info.name}.__all__ names what it lacks: {missing}"


def test_no_module_under_actors_imports_bookstrack():
    sources = sorted(ACTORS_DIR.rglob("*.py"))
    assert {p.name for p in sources} >= {"runtime.py", "storage.py", "sqlite.py", "alarms.py", "testing.py"}
    offenders = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] == "bookstrack"]
    assert offenders == []
