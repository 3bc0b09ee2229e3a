"""Remember each example's result under a hash of everything it depends on.

An example depends on its own function, the rest of its module except the
other examples, every ``snippets`` module it imports (transitively), the data
files its module names, and the versions of Python, torch, numpy and
matplotlib. Computing the key reads files only: a cache hit never imports torch.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import tempfile
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from .examples import PROJECT_DIR, SNIPPETS_DIR, Example, module_source

CACHE_DIR = Path(os.environ.get("SNIPPETS_CACHE", PROJECT_DIR / ".cache" / "examples"))
DATA_DIR = SNIPPETS_DIR / "data"
# Bump when the shape of a result or the way it is captured changes.
FORMAT = "1"


def cache_key(example: Example) -> str:
    """A hash that changes whenever anything the example depends on changes.

    >>> e = Example("autograd_basics", "chain_rule", 1)
    >>> cache_key(e) == cache_key(e), len(cache_key(e))
    (True, 64)
    """
    digest = hashlib.sha256()
    for part in [FORMAT, *_versions(), example.id, _own_code(example)]:
        digest.update(part.encode() + b"\0")
    for module in sorted(_snippets_imports(example.module)):
        digest.update(module.encode() + b"\0" + module_source(module).encode() + b"\0")
    for data_file in _data_files(example.module):
        digest.update(data_file.name.encode() + b"\0" + data_file.read_bytes() + b"\0")
    return digest.hexdigest()


def load(example: Example) -> dict | None:
    """The cached result of an example, or ``None`` when it must run.

    >>> load(Example("no_such_page", "nothing", 1)) is None
    True
    """
    try:
        return json.loads((CACHE_DIR / f"{cache_key(example)}.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def store(example: Example, result: dict) -> None:
    """Cache a result; written to a temporary file and renamed, so concurrent builds are safe.

    >>> store(Example("no_such_page", "nothing", 1), {"error": "not cached"})
    """
    if result.get("error"):
        return
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=CACHE_DIR, prefix=".tmp-")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(result, file)
    os.replace(temporary, CACHE_DIR / f"{cache_key(example)}.json")


@lru_cache(maxsize=1)
def _versions() -> tuple[str, ...]:
    return (platform.python_version(), *(version(name) for name in ("torch", "numpy", "matplotlib")))


def _own_code(example: Example) -> str:
    """The module's source with the other examples' functions cut out."""
    source = module_source(example.module)
    lines = source.splitlines()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name != example.name and node.decorator_list:
            first = min(d.lineno for d in node.decorator_list)
            lines[first - 1:node.end_lineno] = [""] * (node.end_lineno - first + 1)
    return "\n".join(lines)


def _snippets_imports(module: str, seen: frozenset = frozenset()) -> set[str]:
    """Page modules (and other ``snippets`` modules) that ``module`` imports, transitively."""
    found = set()
    for node in ast.walk(ast.parse(module_source(module))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "snippets" and len(parts) == 2 and (SNIPPETS_DIR / f"{parts[1]}.py").exists():
                found.add(parts[1])
    for other in found - seen - {module}:
        found |= _snippets_imports(other, seen | found | {module})
    return found


def _data_files(module: str) -> list[Path]:
    source = module_source(module)
    return sorted(p for p in DATA_DIR.glob("*") if p.is_file() and p.name in source) if DATA_DIR.exists() else []
