"""Remember each example's result under a hash of everything it depends on.

An example depends on its own function, the module-level definitions and imports it
uses (transitively) and the module's settings (print options), as
[`dependencies`][snippets.pipeline.dependencies] finds them for its runnable copy too, every
``snippets`` module its module imports, the data files its module names, the
code that runs and captures it, the versions of Python, torch, numpy and
matplotlib, and the machine: the CPU architecture, its vector extensions and
the kernel set the example runs under (a result from another CPU, or from
``ATEN_CPU_CAPABILITY=default``, is never taken for this one's). Editing one
example or one helper re-runs exactly the examples that use it. Computing the
key reads files only: a cache hit never imports torch.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import platform
import re
import tempfile
import time
from collections.abc import Iterable
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from .dependencies import own_code as _own_code
from .dependencies import parse as _parse
from .examples import PROJECT_DIR, SNIPPETS_DIR, Example, module_source
from .results import Result
from .settings import KERNEL_VARIABLES, Settings

DATA_DIR = SNIPPETS_DIR / "data"
# Bump when the shape of a cached result changes. A change to the code that runs and
# captures examples (execute.py) invalidates the cache by itself; its comments and
# docstrings do not (see `capture_code`). 3: a typed Result, each figure with its file name.
FORMAT = "3"
log = logging.getLogger(__name__)
# CPU flags (x86 /proc/cpuinfo "flags", Arm "Features") naming vector instructions that kernels choose by.
VECTOR_FLAGS = re.compile(r"^(sse|ssse|avx|fma|f16c|amx|asimd|sve|sme(?!p$)|bf16|i8mm|fphp)")


def cache_key(example: Example, kernels: str = "", settings: Settings | None = None,
              inputs: str | None = None) -> str:
    """A hash that changes whenever anything the example depends on changes: its
    [`example_inputs`][snippets.pipeline.cache.example_inputs] (given, when known) and the machine.

    ``kernels`` is the ATen kernel set the example runs under (``"default"``); empty
    means the machine's own, or whatever ``ATEN_CPU_CAPABILITY`` asks for (in ``settings``,
    by default those of the environment).

    Examples:
        >>> e = Example("autograd_basics", "chain_rule", 1)
        >>> cache_key(e) == cache_key(e), len(cache_key(e))
        (True, 64)
        >>> cache_key(e) == cache_key(e, kernels="default")
        False
    """
    settings = settings or Settings.from_environment()
    inputs = inputs or example_inputs(example, settings)
    return hashlib.sha256(f"{inputs}\0{machine(kernels, settings)}".encode()).hexdigest()


def example_inputs(example: Example, settings: Settings) -> str:
    """A hash of what the example's result depends on apart from the machine: the code that
    captures it, its own code, the ``snippets`` modules its page imports, the data files
    and matplotlibrc files it reads, and the versions of Python and the libraries. Computed
    once for both of an example's keys (the machine's kernels and the cross-check's).

    Examples:
        >>> e, settings = Example("autograd_basics", "chain_rule", 1), Settings.from_environment()
        >>> shared = example_inputs(e, settings)
        >>> cache_key(e, "default", settings, shared) == cache_key(e, "default", settings) != shared
        True
    """
    digest = hashlib.sha256()
    for part in [FORMAT, *_versions(), capture_code(), example.id, _own_code(example)]:
        digest.update(part.encode() + b"\0")
    for module in sorted(_snippets_imports(example.module)):
        digest.update(module.encode() + b"\0" + module_source(module).encode() + b"\0")
    for data_file in _data_files(example.module):
        digest.update(data_file.name.encode() + b"\0" + data_file.read_bytes() + b"\0")
    for rc_file in _matplotlib_settings(settings.machine):
        digest.update(str(rc_file).encode() + b"\0" + rc_file.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def capture_code() -> str:
    """What of execute.py, the code that runs and captures every example, can change a result
    (see [`code_shape`][snippets.pipeline.cache.code_shape])."""
    return code_shape((Path(__file__).parent / "execute.py").read_text(encoding="utf-8"))


def code_shape(source: str) -> str:
    """A source's syntax tree without its docstrings (comments are not in it): rewording either
    does not run every example again, while any change to the code does.

    Examples:
        >>> code_shape('def f():\\n    "Why."\\n    return 1  # one') == code_shape("def f():\\n    return 1")
        True
        >>> code_shape("def f():\\n    return 1") == code_shape("def f():\\n    return 2")
        False
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _matplotlib_settings(variables: dict[str, str]) -> list[Path]:
    """The matplotlibrc files that matplotlib, imported by the workers, would read: they change
    every figure (and are found the way matplotlib looks, without importing it)."""
    config = variables.get("MPLCONFIGDIR") or Path(variables.get("XDG_CONFIG_HOME", Path.home() / ".config"),
                                                   "matplotlib")
    candidates = [Path.cwd() / "matplotlibrc", PROJECT_DIR / "matplotlibrc", Path(config) / "matplotlibrc"]
    if rc := variables.get("MATPLOTLIBRC"):
        candidates.insert(0, Path(rc) / "matplotlibrc" if Path(rc).is_dir() else Path(rc))
    return [path for path in dict.fromkeys(candidates) if path.is_file()]


def has(example: Example, kernels: str = "", settings: Settings | None = None, key: str | None = None) -> bool:
    """Whether a result is cached for the example as it is now (reads no result). ``key``, when
    the caller has it, saves computing it again.

    Examples:
        >>> has(Example("no_such_page", "nothing", 1))
        False
    """
    try:
        return entry(example, kernels=kernels, settings=settings, key=key).exists()
    except FileNotFoundError:  # the module is gone
        return False


def load(example: Example, kernels: str = "", settings: Settings | None = None, key: str | None = None) -> Result | None:
    """The cached result of an example, or ``None`` when it must run. An entry that is not a
    result (truncated, edited, written by another version) is named, removed and run again.

    Examples:
        >>> load(Example("no_such_page", "nothing", 1)) is None
        True
    """
    try:
        path = entry(example, kernels=kernels, settings=settings, key=key)
        return Result.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except ValueError:  # not JSON, or not a result (Result.from_json)
        log.warning(f"{path}: discarded a cache entry of {example.id} that is not a result; running it again")
        path.unlink(missing_ok=True)
        return None


def store(example: Example, result: Result, kernels: str = "", settings: Settings | None = None,
          key: str | None = None) -> None:
    """Cache a result (not a failed run's); written to a temporary file and renamed, so
    concurrent builds are safe.

    Examples:
        >>> store(Example("no_such_page", "nothing", 1), Result("", error="not cached"))
    """
    if result.error:
        return
    settings = settings or Settings.from_environment()
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=settings.cache_dir, prefix=".tmp-")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(result.to_json(), file)
    os.replace(temporary, entry(example, kernels=kernels, settings=settings, key=key))


def evict(used: Iterable[str], settings: Settings, now: float | None = None) -> list[Path]:
    """Remove the cache entries whose key is not in ``used`` (those of examples since edited or
    removed, or of older versions), and any temporary file a killed build left (one older than
    an hour: a younger one may be another build's entry being written); return them.
    Only a build that computed the key of every example may call it.

    Examples:
        >>> evict([], Settings(cache_dir="no/such/folder"))
        []
    """
    if not settings.cache_dir.is_dir():
        return []
    keep, an_hour_ago = {f"{key}.json" for key in used}, (time.time() if now is None else now) - 3600
    gone = [path for path in settings.cache_dir.iterdir() if path.is_file() and (
        path.name.startswith(".tmp-") and path.stat().st_mtime < an_hour_ago
        or path.suffix == ".json" and path.name not in keep)]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def machine(kernels: str = "", settings: Settings | None = None) -> str:
    """What on this machine changes an example's numbers, read without importing torch: the
    architecture, the CPU's vector extensions, and the kernel settings (``kernels`` in place of
    ``ATEN_CPU_CAPABILITY`` when given).

    Examples:
        >>> machine().split()[0] == platform.machine()
        True
        >>> "ATEN_CPU_CAPABILITY=default" in machine("default")
        True
    """
    variables = (settings or Settings.from_environment()).machine
    chosen = {name: variables.get(name, "") for name in KERNEL_VARIABLES}
    if kernels:
        chosen["ATEN_CPU_CAPABILITY"] = kernels
    named = " ".join(f"{name}={value}" for name, value in chosen.items() if value)
    return f"{platform.machine()} [{' '.join(_vector_flags())}] {named}".strip()


@lru_cache(maxsize=1)
def _vector_flags() -> tuple[str, ...]:
    """The CPU's vector instruction sets from /proc/cpuinfo (Linux); elsewhere the processor's name."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return (platform.processor(),)
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith(("flags", "Features"))), [])
    return tuple(sorted({flag for flag in flags if VECTOR_FLAGS.match(flag)}))


def entry(example: Example, directory: Path | None = None, kernels: str = "", settings: Settings | None = None,
          key: str | None = None) -> Path:
    """The file that holds (or would hold) the example's result, in ``directory`` (default: the
    cache of ``settings``). The one place that knows how entries are named; the tests and the benchmark remove
    or copy entries through it.

    Examples:
        >>> entry(Example("autograd_basics", "chain_rule", 1), Path("elsewhere")).parent
        PosixPath('elsewhere')
    """
    settings = settings or Settings.from_environment()
    return (directory or settings.cache_dir) / f"{key or cache_key(example, kernels, settings)}.json"


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
