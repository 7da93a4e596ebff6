"""The search core stays replay-safe by construction: checked on its source, not by hoping.

Workflow code must be deterministic in Temporal's sandbox, so hpo.search may import only the
standard library's pure parts and pydantic, must not call ``hash()`` (salted per process) and
must not use the ``random`` module's global generator, clocks or the environment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hpo.search

PACKAGE = Path(hpo.search.__file__).parent
ALLOWED_IMPORTS = {
    "__future__",
    "abc",
    "collections",
    "collections.abc",
    "dataclasses",
    "functools",
    "hashlib",
    "heapq",
    "json",
    "math",
    "pydantic",
    "random",
    "typing",
    "zlib",
}
FORBIDDEN_CALLS = {"hash", "id", "open", "input", "print"}


def modules() -> list[Path]:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) > 10
    return files


def test_imports_only_deterministic_modules() -> None:
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name in ALLOWED_IMPORTS, f"{path.name} imports {name}"


def test_no_salted_hash_no_global_random() -> None:
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls {func.id}()"
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "random"
            ):
                # random.Random(seed) is a private generator; random.random() & co. are global state.
                assert func.attr == "Random", f"{path.name}:{node.lineno} calls random.{func.attr}()"
