"""Remember each example's result under a hash of everything it depends on.

An example depends on its own function, the module-level definitions and imports it
uses (transitively) and the module's settings (print options), as
:mod:`~snippets.pipeline.dependencies` finds them for its runnable copy too, every
``snippets`` module its module imports, the data files its module names, the
code that runs and captures it, and the versions of Python, torch, numpy and
matplotlib. Editing one example or one helper re-runs exactly the examples
that use it. Computing the key reads files only: a cache hit never imports torch.
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

from .dependencies import own_code as _own_code
from .dependencies import parse as _parse
from .examples import PROJECT_DIR, SNIPPETS_DIR, Example, module_source

CACHE_DIR = Path(os.environ.get("SNIPPETS_CACHE", PROJECT_DIR / ".cache" / "examples"))
DATA_DIR = SNIPPETS_DIR / "data"
# Bump when the shape of a cached result changes. A change to how examples are
# run and captured (execute.py) invalidates the cache by itself.
FORMAT = "1"
_CAPTURE_CODE = (Path(__file__).parent / "execute.py").read_text(encoding="utf-8")


def cache_key(example: Example) -> str:
    """A hash that changes whenever anything the example depends on changes.

    Examples:
        >>> e = Example("autograd_basics", "chain_rule", 1)
        >>> cache_key(e) == cache_key(e), len(cache_key(e))
        (True, 64)
    """
    digest = hashlib.sha256()
    for part in [FORMAT, *_versions(), _CAPTURE_CODE, example.id, _own_code(example)]:
        digest.update(part.encode() + b"\0")
    for module in sorted(_snippets_imports(example.module)):
        digest.update(module.encode() + b"\0" + module_source(module).encode() + b"\0")
    for data_file in _data_files(example.module):
        digest.update(data_file.name.encode() + b"\0" + data_file.read_bytes() + b"\0")
    return digest.hexdigest()


def has(example: Example) -> bool:
    """Whether a result is cached for the example as it is now (reads no result).

    Examples:
        >>> has(Example("no_such_page", "nothing", 1))
        False
    """
    try:
        return entry(example).exists()
    except FileNotFoundError:  # the module is gone
        return False


def load(example: Example) -> dict | None:
    """The cached result of an example, or ``None`` when it must run.

    Examples:
        >>> load(Example("no_such_page", "nothing", 1)) is None
        True
    """
    try:
        return json.loads(entry(example).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def store(example: Example, result: dict) -> None:
    """Cache a result; written to a temporary file and renamed, so concurrent builds are safe.

    Examples:
        >>> store(Example("no_such_page", "nothing", 1), {"error": "not cached"})
    """
    if result.get("error"):
        return
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=CACHE_DIR, prefix=".tmp-")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(result, file)
    os.replace(temporary, entry(example))


def entry(example: Example, directory: Path | None = None) -> Path:
    """The file that holds (or would hold) the example's result, in ``directory`` (default: the
    cache). The one place that knows how entries are named; the tests and the benchmark remove
    or copy entries through it.

    Examples:
        >>> entry(Example("autograd_basics", "chain_rule", 1), Path("elsewhere")).parent
        PosixPath('elsewhere')
    """
    return (directory or CACHE_DIR) / f"{cache_key(example)}.json"


@lru_cache(maxsize=1)
def _versions() -> tuple[str, ...]:
    return (platform.python_version(), *(version(name) for name in ("torch", "numpy", "matplotlib")))


def _snippets_imports(module: str, seen: frozenset = frozenset()) -> set[str]:
    """Page modules (and other ``snippets`` modules) that ``module`` imports, transitively."""
    found = {name for name in _direct_imports(module_source(module)) if (SNIPPETS_DIR / f"{name}.py").exists()}
    for other in found - seen - {module}:
        found |= _snippets_imports(other, seen | found | {module})
    return found


@lru_cache(maxsize=64)
def _direct_imports(source: str) -> frozenset[str]:
    """Names ``x`` of the ``snippets.x`` modules a source imports."""
    found = set()
    for node in ast.walk(_parse(source)):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name.split(".")[1] for name in names if name.startswith("snippets.") and name.count(".") == 1}
    return frozenset(found)


def _data_files(module: str) -> list[Path]:
    source = module_source(module)
    return sorted(p for p in DATA_DIR.glob("*") if p.is_file() and p.name in source) if DATA_DIR.exists() else []
