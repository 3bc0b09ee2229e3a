"""Each page's complete code as a Python script and a Jupyter notebook.

Both are built from the same sources as the page: the sections it includes
from ``snippets/``, in page order, under the page's own headings. Nothing is
run here; the build writes the files and the page links to them.
"""

from __future__ import annotations

import json
import posixpath
import re
import textwrap

from .examples import SECTION_MARKER, module_source, section_bounds
from .render import included_sections

_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})")
_HEADING = re.compile(r"^(?P<level>#{1,6})[ \t]+(?P<text>.+?)[ \t]*(?:\{[^}]*\})?[ \t]*#*[ \t]*$")


def section_code(module: str, section: str) -> str:
    """The code of one section as the page shows it: the lines between its markers, dedented.

    Examples:
        >>> section_code("autograd_basics", "chain_rule").splitlines()[0]
        'x = torch.tensor(2.0, requires_grad=True)'
    """
    start, end = section_bounds(module, section)
    lines = [line for line in module_source(module).splitlines()[start:end - 1] if not SECTION_MARKER.match(line)]
    return textwrap.dedent("\n".join(lines)).strip("\n")


def page_parts(markdown: str) -> list[tuple[str, str]]:
    """The page's headings and included code in page order, as ``("heading", text)``
    and ``("code", text)`` pairs (headings inside code fences are not headings).

    Examples:
        >>> parts = page_parts('# Title\\n\\n```python\\n--8<-- "snippets/autograd_basics.py:chain_rule"\\n```\\n')
        >>> len(parts), parts[0], parts.pop()[0]
        (2, ('heading', '# Title'), 'code')
    """
    includes = {line: (module, section) for line, module, section in included_sections(markdown)}
    parts, fence = [], None
    for number, line in enumerate(markdown.split("\n"), start=1):
        if number in includes:
            parts.append(("code", section_code(*includes[number])))
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening["fence"]
        elif fence is not None and opening and line.strip() == fence[0] * len(line.strip()) \
                and len(line.strip()) >= len(fence):
            fence = None
        elif fence is None and (heading := _HEADING.match(line)):
            parts.append(("heading", f"{heading['level']} {heading['text']}"))
    return parts


def has_code(parts: list[tuple[str, str]]) -> bool:
    """Whether a page shows any code at all (only those get downloads).

    Examples:
        >>> has_code([("heading", "# Title")]), has_code([("code", "x = 1")])
        (False, True)
    """
    return any(kind == "code" for kind, _ in parts)


def download_uris(page_uri: str) -> tuple[str, str]:
    """Where a page's script and notebook live in the built site, relative to its root.

    Examples:
        >>> download_uris("autograd-basics.md")
        ('downloads/autograd-basics.py', 'downloads/autograd-basics.ipynb')
        >>> download_uris("guide/index.md")
        ('downloads/guide.py', 'downloads/guide.ipynb')
        >>> download_uris("autograd-basics.ja.md")  # a translation's, under its language
        ('downloads/ja/autograd-basics.py', 'downloads/ja/autograd-basics.ipynb')
    """
    from .translations import language_of

    page_uri, language = language_of(page_uri)
    stem = posixpath.splitext(page_uri)[0]
    if posixpath.basename(stem) == "index" and posixpath.dirname(stem):
        stem = posixpath.dirname(stem)
    name = (f"{language}/" if language else "") + stem.replace("/", "-")
    return f"downloads/{name}.py", f"downloads/{name}.ipynb"


def script(title: str, url: str, parts: list[tuple[str, str]]) -> str:
    """The page's code as one script; ``# %%`` marks each block (and the heading it is under).

    Examples:
        >>> print(script("Demo", "https://example.org/demo/", [("heading", "## Start"), ("code", "print(1)")]))
        # Demo
        # Every code block of https://example.org/demo/ in page order.
        # Run it with python (it needs torch, numpy and matplotlib): each block prints what the page shows under it.
        <BLANKLINE>
        # %% Start
        print(1)
        <BLANKLINE>
    """
    lines = [f"# {title}", f"# Every code block of {url} in page order.",
             "# Run it with python (it needs torch, numpy and matplotlib): "
             "each block prints what the page shows under it.", ""]
    heading = None
    for kind, text in parts:
        if kind == "heading":
            heading = None if text.startswith("# ") else text.lstrip("#").strip()
            continue
        lines += [f"# %% {heading}" if heading else "# %%", text, ""]
        heading = None
    return "\n".join(lines)


def notebook(title: str, url: str, parts: list[tuple[str, str]]) -> str:
    """The page's code as a Jupyter notebook (nbformat 4.5 JSON): a code cell per block,
    a Markdown cell per heading, no outputs (run it to see them).

    Examples:
        >>> book = json.loads(notebook("Demo", "https://example.org/demo/", [("heading", "## Start"), ("code", "print(1)")]))
        >>> cells = book["cells"]
        >>> book["nbformat"], [cell["cell_type"] for cell in cells], cells.pop()["source"]
        (4, ['markdown', 'markdown', 'code'], ['print(1)'])
    """
    cells = [_cell("markdown", f"# {title}\n\nEvery code block of [{title}]({url}), in page order. "
                               "Run the cells top to bottom; each prints what the page shows under it.")]
    for kind, text in parts:
        if kind == "heading" and not text.startswith("# "):
            cells.append(_cell("markdown", text))
        elif kind == "code":
            cells.append(_cell("code", text))
    for number, cell in enumerate(cells, start=1):
        cell["id"] = f"cell-{number}"
    book = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(book, indent=1, ensure_ascii=False) + "\n"


def _cell(kind: str, text: str) -> dict:
    cell = {"cell_type": kind, "id": "", "metadata": {}, "source": text.splitlines(keepends=True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell
