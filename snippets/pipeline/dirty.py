"""Which pages a rebuild under ``mkdocs serve --dirty`` renders again.

MkDocs' dirty build renders only the pages whose ``File.is_modified()`` is true: by default those
whose Markdown file is newer than the page it wrote. A page here also shows what its Markdown
does not hold: the code it includes from ``snippets/``, its examples' outputs and records, the
build's reports, the docstrings mkdocstrings renders. The plugin gives each page a fingerprint
of its Markdown and all of that ([`fingerprint`][snippets.pipeline.dirty.fingerprint]) and
renders again the pages whose fingerprint changed since the last build of the session; the
others stay as written.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from .downloads import section_code
from .examples import ExampleError, SNIPPETS_DIR, file_stamp


def fingerprint(*parts) -> str:
    """A digest of what a page shows, from anything with a stable ``repr``.

    Examples:
        >>> fingerprint("a", [1, 2]) == fingerprint("a", [1, 2]) != fingerprint("a", [1, 3])
        True
    """
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def included_code(included: list[tuple[int, str, str]]) -> list[tuple[str, str, str]]:
    """``(module, section, code)`` of each section a page includes (as
    [`included_sections`][snippets.pipeline.render.included_sections] lists them): the code
    pymdownx.snippets puts on the page ([`section_code`][snippets.pipeline.downloads.section_code]),
    examples and the definitions beside them alike; empty for one that is missing.

    Examples:
        >>> [(m, s, "x.grad" in code) for m, s, code in included_code([(3, "autograd_basics", "chain_rule")])]
        [('autograd_basics', 'chain_rule', True)]
    """
    found = []
    for _, module, section in included:
        try:
            code = section_code(module, section)
        except (OSError, ExampleError):  # the build reports it, naming the page's line
            code = ""
        found.append((module, section, code))
    return found


def records_state(module: str, folder: Path) -> tuple:
    """When and how large a module's record file and figures are: `make regen` rewrites them whole.

    Examples:
        >>> records_state("autograd_basics", SNIPPETS_DIR / "records") == records_state(
        ...     "autograd_basics", SNIPPETS_DIR / "records")
        True
        >>> records_state("nope", SNIPPETS_DIR / "records")
        ()
    """
    paths = [folder / f"{module}.json"] + (sorted((folder / module).iterdir()) if (folder / module).is_dir() else [])
    return tuple((path.name, path.stat().st_mtime_ns, path.stat().st_size) for path in paths if path.is_file())


def documented_interface(source: str) -> str:
    """What mkdocstrings can show of a module (without its source): every name, signature,
    decorator, docstring and assignment, with the bodies of functions left out. An edit inside
    a function (an example's code) leaves it as it was; a docstring edit changes it.

    Examples:
        >>> documented_interface("def f(x):\\n    '''Doc.'''\\n    return x") == documented_interface(
        ...     "def f(x):\\n    '''Doc.'''\\n    return 2 * x")
        True
        >>> documented_interface("def f(x):\\n    '''Doc.'''") == documented_interface("def f(x):\\n    '''New.'''")
        False
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as problem:  # the build reports it; here any change counts
        return f"unparsable: {problem}"
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node, clean=False)
            node.body = [ast.Expr(ast.Constant(docstring))] if docstring is not None else [ast.Pass()]
    return ast.dump(tree)


def docstrings_state(folder: Path = SNIPPETS_DIR, known: dict | None = None) -> str:
    """The documented interface of every module under ``snippets/`` (the pipeline's included),
    which the API and pipeline references render. ``known`` keeps each file's interface by its
    [`file_stamp`][snippets.pipeline.examples.file_stamp] between the builds of a session: a file is
    parsed again only when it changed.

    Examples:
        >>> known = {}
        >>> docstrings_state(known=known) == docstrings_state(known=known) and len(known) > 20
        True
    """
    known = {} if known is None else known
    interfaces = []
    for path in sorted(folder.rglob("*.py")):
        stamp = file_stamp(path)
        if known.get(path, (None,))[0] != stamp:
            known[path] = (stamp, documented_interface(path.read_text(encoding="utf-8")))
        interfaces.append((path.relative_to(folder).as_posix(), known[path][1]))
    return fingerprint(interfaces)
