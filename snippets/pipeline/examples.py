"""Find the examples of each page module by reading its source.

Nothing here imports a page module, so the build can decide what to run (and
reuse cached outputs) without importing torch.

An example is a module-level function decorated with [`example`][snippets.pipeline.examples.example]. Its body
is exactly one named section, ``# --8<-- [start:NAME]`` ... ``# --8<-- [end:NAME]``
with NAME the function's name, optionally preceded by a docstring and followed
by a ``return`` of the values the tests check. The section is what the page
shows, so nothing that changes the output can hide outside it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .grammar import SECTION_MARKER

SNIPPETS_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = SNIPPETS_DIR.parent
DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-6


class ExampleError(Exception):
    """An example or page module breaks a rule; the message starts with file:line."""


def example(func=None, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL, floor: float = 0.0):
    """Mark a function as an example whose output the build records and checks.

    ``rtol`` and ``atol`` set how far a number in its output may move before the
    build calls it drift. ``floor``: plotted values smaller than this in magnitude
    are rounding noise the example says it does not vouch for; they are recorded
    as the floor. The build reads these from the source, so give literals.

    Examples:
        >>> @example(rtol=1e-3)
        ... def answer():
        ...     return 42
        >>> answer(), answer.tolerance
        (42, (0.001, 1e-06, 0.0))
    """

    def mark(function):
        function.tolerance = (rtol, atol, floor)
        return function

    return mark(func) if func is not None else mark


@dataclass(frozen=True)
class Example:
    """Where an example lives and how strictly its numbers are compared."""

    module: str
    name: str
    line: int
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    floor: float = 0.0

    @property
    def id(self) -> str:
        """``module:name``, the same spelling a page uses to include it."""
        return f"{self.module}:{self.name}"

    @property
    def path(self) -> str:
        """The module's path relative to the project, as pages and errors write it."""
        return f"snippets/{self.module}.py"

    @property
    def where(self) -> str:
        """``path:line`` of the function, for error messages."""
        return f"{self.path}:{self.line}"


def page_modules() -> list[str]:
    """Names of the page modules: every ``snippets/*.py`` except the package's own.

    Examples:
        >>> "autograd_basics" in page_modules()
        True
    """
    return sorted(p.stem for p in SNIPPETS_DIR.glob("*.py") if not p.stem.startswith("_"))


def module_source(module: str) -> str:
    """The source text of a page module.

    Examples:
        >>> "def " in module_source("autograd_basics")
        True
    """
    path = SNIPPETS_DIR / f"{module}.py"
    stamp = file_stamp(path)
    if _sources.get(path, (None,))[0] != stamp:
        _sources[path] = (stamp, path.read_text(encoding="utf-8"))
    return _sources[path][1]


def file_stamp(path: Path) -> tuple[int, ...]:
    """What changes when a file is written (its modification and change times, size and inode):
    what is kept of a file's text, or of what was made from it, is made again once it changed.

    Examples:
        >>> import tempfile; path = Path(tempfile.mkdtemp()) / "page.py"
        >>> _ = path.write_text("x = 1"); before = file_stamp(path)
        >>> file_stamp(path) == before, (path.write_text("x = 22"), file_stamp(path) == before)[1]
        (True, False)
    """
    status = path.stat()
    return (status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino)


# Page module -> (its file's stamp, its text), as last read: a build asks for each source thousands
# of times (cache keys, sections, downloads, fingerprints); a file is read again only once changed.
_sources: dict[Path, tuple[tuple, str]] = {}


def sections(source: str, path: str = "<source>") -> dict[str, tuple[int, int]]:
    """Named sections of a source as ``name -> (start line, end line)`` of their markers.

    Examples:
        >>> sections("# --8<-- [start:a]\\nx = 1\\n# --8<-- [end:a]\\n")
        {'a': (1, 3)}
    """
    return dict(_sections(source, path))


@lru_cache(maxsize=256)
def _sections(source: str, path: str) -> dict[str, tuple[int, int]]:
    """[`sections`][snippets.pipeline.examples.sections], read once per version of a source: a build
    asks for the sections of each page module hundreds of times (includes, downloads, keys)."""
    found: dict[str, tuple[int, int]] = {}
    open_at: dict[str, int] = {}
    for number, text in enumerate(source.splitlines(), start=1):
        match = SECTION_MARKER.match(text)
        if not match:
            continue
        name = match["name"]
        if match["kind"] == "start":
            if name in open_at or name in found:
                raise ExampleError(f"{path}:{number}: section {name!r} starts twice")
            open_at[name] = number
        else:
            if name not in open_at:
                raise ExampleError(f"{path}:{number}: section {name!r} ends before it starts")
            found[name] = (open_at.pop(name), number)
    for name, number in open_at.items():
        raise ExampleError(f"{path}:{number}: section {name!r} never ends")
    return found


def section_bounds(module: str, section: str) -> tuple[int, int]:
    """Where a page module's section lies (the lines of its markers); an [`ExampleError`][snippets.pipeline.examples.ExampleError]
    names what is missing. Both the include check and the downloads ask this.

    Examples:
        >>> start, end = section_bounds("autograd_basics", "chain_rule"); start < end
        True
        >>> section_bounds("nope", "x")
        Traceback (most recent call last):
        ...
        snippets.pipeline.examples.ExampleError: snippets/nope.py does not exist
    """
    if module.startswith("_") or not (SNIPPETS_DIR / f"{module}.py").is_file():  # not a page module (page_modules)
        raise ExampleError(f"snippets/{module}.py does not exist")
    where = sections(module_source(module), f"snippets/{module}.py")
    if section not in where:
        raise ExampleError(f"snippets/{module}.py has no section {section!r}")
    return where[section]


def find_examples(module: str) -> list[Example]:
    """The examples of a page module, in source order, each checked for hidden code.

    Examples:
        >>> [e.name for e in find_examples("autograd_basics")][:2]
        ['training_step', 'gradients_by_hand']
    """
    return list(_examples_in(module, module_source(module)))


@lru_cache(maxsize=64)
def _examples_in(module: str, source: str) -> tuple[Example, ...]:
    """[`find_examples`][snippets.pipeline.examples.find_examples], parsed once per version of a source."""
    path = f"snippets/{module}.py"
    marks = sections(source, path)
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as problem:
        raise ExampleError(f"{path}:{problem.lineno}: syntax error: {problem.msg}") from None
    found = []
    for node in tree.body:
        if not is_example(node):
            continue
        tolerance = _example_tolerance(node, path)
        _check_layout(node, marks, path)
        found.append(Example(module, node.name, node.lineno, *tolerance))
    return tuple(found)


def all_examples() -> list[Example]:
    """Every example of every page module.

    Examples:
        >>> all(e.id.count(":") == 1 for e in all_examples())
        True
    """
    return [e for module in page_modules() for e in find_examples(module)]


def is_example(node: ast.stmt) -> bool:
    """Whether a module-level statement defines an example: a function under ``@example``.

    Examples:
        >>> is_example(ast.parse("@example(rtol=0.1)\\ndef f(): pass").body[0])
        True
    """
    return isinstance(node, ast.FunctionDef) and _example_decorator(node) is not None


def _example_decorator(node: ast.FunctionDef) -> ast.expr | None:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name) and target.id == "example":
            return decorator
    return None


def _example_tolerance(node: ast.FunctionDef, path: str) -> tuple[float, float, float]:
    decorator = _example_decorator(node)
    options = {"rtol": DEFAULT_RTOL, "atol": DEFAULT_ATOL, "floor": 0.0}
    for keyword in decorator.keywords if isinstance(decorator, ast.Call) else []:
        if keyword.arg not in options:
            raise ExampleError(f"{path}:{node.lineno}: unknown example option {keyword.arg!r}")
        try:
            options[keyword.arg] = float(ast.literal_eval(keyword.value))
        except ValueError:
            raise ExampleError(f"{path}:{node.lineno}: {keyword.arg} must be a literal number") from None
    return options["rtol"], options["atol"], options["floor"]


def _check_layout(node: ast.FunctionDef, marks: dict[str, tuple[int, int]], path: str) -> None:
    """Only a docstring may come before the section and only a ``return`` after it."""
    if node.name not in marks:
        raise ExampleError(f"{path}:{node.lineno}: example {node.name!r} has no section [start:{node.name}]")
    start, end = marks[node.name]
    if not node.lineno < start <= node.end_lineno:
        raise ExampleError(f"{path}:{start}: section {node.name!r} is not inside its function")
    for statement in node.body:
        is_docstring = (statement is node.body[0] and isinstance(statement, ast.Expr)
                        and isinstance(statement.value, ast.Constant))
        inside = start < statement.lineno and statement.end_lineno < end
        after = statement.lineno > end and isinstance(statement, ast.Return)
        if not (is_docstring or inside or after):
            raise ExampleError(
                f"{path}:{statement.lineno}: example {node.name!r} runs code outside its section; "
                "the page would not show it"
            )
