"""Each page's complete code as a Python script and a Jupyter notebook.

Both are built from the same sources as the page: the sections it includes
from ``snippets/``, in page order, under the page's own headings. Nothing is
run here; the build writes the files and the page links to them.
"""

from __future__ import annotations

import ast
import json
import posixpath
import re
import textwrap
from dataclasses import dataclass, field

from .dependencies import module_statements, used_statements
from .examples import SNIPPETS_DIR, find_examples, module_source, section_bounds, sections
from .grammar import SECTION_MARKER, fenced_lines
from .render import included_sections
from .translations import language_of
from .words import words, wrap_comment

DATA_DIR = SNIPPETS_DIR / "data"

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
    parts = []
    for number, line, fence in fenced_lines(markdown):
        if number in includes:
            parts.append(("code", section_code(*includes[number])))
        if fence is None and (heading := _HEADING.match(line)):
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
    page_uri, language = language_of(page_uri)
    stem = posixpath.splitext(page_uri)[0]
    if posixpath.basename(stem) == "index" and posixpath.dirname(stem):
        stem = posixpath.dirname(stem)
    name = (f"{language}/" if language else "") + stem.replace("/", "-")
    return f"downloads/{name}.py", f"downloads/{name}.ipynb"


def script(title: str, url: str, parts: list[tuple[str, str]], notes: list[str] = (), page: str = "") -> str:
    """The page's code as one script; ``# %%`` marks each block (and the heading it is under).
    ``notes`` are comment lines added to its header ([`data_note`][snippets.pipeline.downloads.data_note]).

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
    said = words(page)
    lines = [f"# {title}", "# " + said["script_intro"].format(url=url), "# " + said["script_run"], *notes, ""]
    heading = None
    for kind, text in parts:
        if kind == "heading":
            heading = None if text.startswith("# ") else text.lstrip("#").strip()
            continue
        lines += [f"# %% {heading}" if heading else "# %%", text, ""]
        heading = None
    return "\n".join(lines)


def notebook(title: str, url: str, parts: list[tuple[str, str]], data: dict[str, str] | None = None,
             page: str = "") -> str:
    """The page's code as a Jupyter notebook (nbformat 4.5 JSON): a code cell per block,
    a Markdown cell per heading, no outputs (run it to see them). ``data`` maps each data file
    the code reads (``data/iris.csv``) to where the site has it, which the first cell says.

    Examples:
        >>> book = json.loads(notebook("Demo", "https://example.org/demo/", [("heading", "## Start"), ("code", "print(1)")]))
        >>> cells = book["cells"]
        >>> book["nbformat"], [cell["cell_type"] for cell in cells], cells.pop()["source"]
        (4, ['markdown', 'markdown', 'code'], ['print(1)'])
    """
    said = words(page)
    intro = f"# {title}\n\n" + said["notebook_intro"].format(title=title, url=url)
    for relative, address in (data or {}).items():
        intro += "\n\n" + said["notebook_data"].format(file=relative, url=address)
    cells = [_cell("markdown", intro)]
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


# --- One example on its own: a runnable copy of each example, and the data files downloads need ---

@dataclass
class RunnableCopy:
    """One example's runnable copy: its file in the site, its text (``None`` when it cannot
    run alone, with the reason in ``why_not``), the definitions it adds to the block, and the
    data files it reads (``data/iris.csv``)."""

    example: str
    uri: str
    code: str | None
    adds: list[str]
    why_not: str = ""
    data: list[str] = field(default_factory=list)
    page: str = ""  # the docs path of the page that shows it, whose language its words follow

    @property
    def added(self) -> str:
        """What the copy adds to the block, in words.

        Examples:
            >>> RunnableCopy("m:e", "e.py", "", ["fit", "Curve"]).added
            'the imports and settings it needs, and fit, Curve'
        """
        said = words(self.page)
        return said["needs_and"].format(names=", ".join(self.adds)) if self.adds else said["needs"]

    @property
    def tooltip(self) -> str:
        """The tooltip of the button that copies it.

        Examples:
            >>> RunnableCopy("m:e", "e.py", "", []).tooltip
            'Copy a version that runs on its own: the imports and settings it needs'
        """
        return words(self.page)["tooltip"].format(added=self.added)


def example_uri(page_uri: str, name: str) -> str:
    """Where an example's runnable copy lives in the built site.

    Examples:
        >>> example_uri("training-loop.md", "fit_both")
        'downloads/examples/training-loop/fit_both.py'
        >>> example_uri("training-loop.ja.md", "fit_both")  # its header names the translation
        'downloads/ja/examples/training-loop/fit_both.py'
    """
    folder, stem = posixpath.split(posixpath.splitext(download_uris(page_uri)[0])[0])
    return f"{folder}/examples/{stem}/{name}.py"


def data_files(code: str) -> list[str]:
    """The data files of ``snippets/data`` a piece of code reads, as it names them:
    ``data/<file>``, next to the script (or in the working directory).

    Examples:
        >>> data_files('IRIS_CSV = HERE / "data" / "iris.csv"'), data_files("print(1)")
        (['data/iris.csv'], [])
    """
    return [f"data/{p.name}" for p in sorted(DATA_DIR.glob("*")) if p.is_file() and p.name in code]


def data_note(data: list[str], download_uri: str, site_url: str, page: str = "") -> list[str]:
    """Comment lines that say which data files a script reads and where the site has each,
    beside the script.

    Examples:
        >>> print("\\n".join(data_note(["data/iris.csv"], "downloads/a.py", "https://x.org/")))
        # It reads data/iris.csv, which the site has beside this file: https://x.org/downloads/data/iris.csv
        # Save it as data/iris.csv next to this file (in the working directory when you
        # paste the code into an interactive session or a notebook). Nothing is
        # downloaded.
        >>> data_note(["data/iris.csv"], "downloads/ja/a.py", "https://x.org/", "a.ja.md")[0]
        '# data/iris.csv を読み込みます。サイトではこのファイルの隣にあります: https://x.org/downloads/ja/data/iris.csv'
    """
    said, lines = words(page), []
    for relative in data:
        url = f"{site_url}{posixpath.join(posixpath.dirname(download_uri), relative)}"
        lines.append("# " + said["data_where"].format(file=relative, url=url))
        lines += wrap_comment(said["data_save"].format(file=relative), page, width=80)
    return lines


@dataclass(frozen=True)
class PageDownloads:
    """What a page offers to download: its code as a script and a notebook, the data files they
    read (relative path -> site path) and each example's runnable copy."""

    script_uri: str
    script: str
    notebook_uri: str
    notebook: str
    data: dict[str, str]
    copies: list[RunnableCopy]


def page_downloads(markdown: str, page_uri: str, nav_title: str | None, url: str, site_url: str) -> PageDownloads | None:
    """A page's downloads, made from its Markdown and the page modules it includes (None for a
    page that shows no code). The title is the nav's, else the page's first heading.

    Examples:
        >>> made = page_downloads('# Chain\\n\\n```python\\n--8<-- "snippets/autograd_basics.py:chain_rule"\\n```\\n',
        ...                       "chain.md", None, "/chain/", "/")
        >>> made.script_uri, made.notebook_uri, [copy.example for copy in made.copies]
        ('downloads/chain.py', 'downloads/chain.ipynb', ['autograd_basics:chain_rule'])
        >>> page_downloads("# Prose only\\n", "prose.md", None, "/prose/", "/") is None
        True
    """
    parts = page_parts(markdown)
    if not has_code(parts):
        return None
    title = nav_title or next((t.lstrip("# ") for k, t in parts if t.startswith("# ")),
                              posixpath.splitext(posixpath.basename(page_uri))[0])
    script_uri, notebook_uri = download_uris(page_uri)
    needed = data_files("\n".join(text for kind, text in parts if kind == "code"))
    beside = {relative: posixpath.join(posixpath.dirname(script_uri), relative) for relative in needed}
    notes = data_note(needed, script_uri, site_url, page_uri)
    notebook_data = {relative: site_url + uri for relative, uri in beside.items()}
    return PageDownloads(script_uri, script(title, url, parts, notes, page_uri),
                         notebook_uri, notebook(title, url, parts, notebook_data, page_uri),
                         beside, runnable_copies(markdown, page_uri, title, url, site_url))


def runnable_copies(markdown: str, page_uri: str, title: str, url: str, site_url: str) -> list[RunnableCopy]:
    """A runnable copy of every example a page shows: the example's block, after the statements
    it uses ([`used_statements`][snippets.pipeline.dependencies.used_statements], the same analysis as its
    cache key), taken from the sections the page shows, in source order. An example that uses a
    statement the page does not show gets no copy, and the reason.

    Examples:
        >>> copies = runnable_copies('```python\\n--8<-- "snippets/autograd_basics.py:setup"\\n```\\n'
        ...                          '```python\\n--8<-- "snippets/autograd_basics.py:chain_rule"\\n```\\n',
        ...                          "autograd-basics.md", "How autograd works", "https://x.org/a/", "https://x.org/")
        >>> [(c.example, c.uri, c.adds, c.why_not) for c in copies]
        [('autograd_basics:chain_rule', 'downloads/examples/autograd-basics/chain_rule.py', [], '')]
        >>> copies[0].code.splitlines()[-1] == section_code("autograd_basics", "chain_rule").splitlines()[-1]
        True
    """
    included = included_sections(markdown)
    shown = {(module, section) for _, module, section in included}
    examples = {(e.module, e.name) for module in {m for _, m, _ in included} for e in find_examples(module)}
    copies = []
    for _, module, name in included:
        if (module, name) not in examples:
            continue
        uri = example_uri(page_uri, name)
        body, adds, unshown = _runnable_body(module, name, {s for m, s in shown if m == module})
        said = words(page_uri)
        if unshown:
            why = said["unshown"].format(lines=", ".join(f"snippets/{module}.py:{line}" for line in unshown))
            copies.append(RunnableCopy(f"{module}:{name}", uri, None, adds, why, page=page_uri))
            continue
        copy = RunnableCopy(f"{module}:{name}", uri, None, adds, data=data_files(body), page=page_uri)
        header = ["# " + said["header"].format(name=name, title=title), f"# {url}"]
        header += wrap_comment(said["header_text"].format(added=copy.added), page_uri)
        copy.code = "\n".join(header + data_note(copy.data, uri, site_url, page_uri)) + "\n\n" + body + "\n"
        copies.append(copy)
    return copies


def _runnable_body(module: str, name: str, shown: set[str]) -> tuple[str, list[str], list[int]]:
    """The runnable copy's code, the names of the definitions it adds (imports and settings
    aside), and the lines of the statements it needs that no shown section holds."""
    source = module_source(module)
    lines = source.splitlines()
    where = sorted(sections(source, f"snippets/{module}.py").items(), key=lambda item: item[1])

    def section_of(statement):
        return next((s for s, (start, end) in where if start < statement.first and statement.last < end), None)

    used = {id(s): s for s in used_statements(source, name)}
    unshown = [s.first for s in used.values() if section_of(s) not in shown]
    adds = [bound for s in used.values() if not isinstance(s.node, (ast.Import, ast.ImportFrom))
            for bound in sorted(s.binds)]
    in_section: dict[str | None, list] = {}
    for statement in module_statements(source):
        in_section.setdefault(section_of(statement), []).append(statement)
    parts = []
    for section, (start, end) in where:
        statements = in_section.get(section, [])
        if section == name or not any(id(s) in used for s in statements):
            continue
        keep = set(range(start, end - 1))  # indices of the lines between the markers
        for s in statements:
            if id(s) not in used:
                first = s.first - 1
                while first - 1 > start - 1 and lines[first - 1].lstrip().startswith("#"):
                    first -= 1  # the comment just above a statement goes with it
                keep -= set(range(first, s.last))
        kept = [lines[i] for i in sorted(keep)]
        parts.append(textwrap.dedent(_squeeze_blank_lines(kept, lines[start:end - 1])).strip("\n"))
    return "\n\n\n".join(parts + [section_code(module, name)]), adds, unshown


def _squeeze_blank_lines(kept: list[str], original: list[str]) -> str:
    """Join lines; a run of blank lines left by a removed statement is no longer than the
    longest run in the original section."""
    longest = max((len(run) for run in re.findall(r"\n*", "\n".join(original))), default=1)
    return re.sub(r"\n{%d,}" % (longest + 1), "\n" * longest, "\n".join(kept))


def standalone_report(copies: list[RunnableCopy], page: str = "") -> str:
    """The verification page's count of the examples that run on their own, and the reasons of
    those that do not.

    Examples:
        >>> print(standalone_report([RunnableCopy("m:a", "a.py", "print(1)", []),
        ...                          RunnableCopy("m:b", "b.py", None, [], "it uses code the page does not show")]))
        1 of the 2 examples shown on the pages have a copy that runs on its own.
        <BLANKLINE>
        | Example | Why it does not run on its own |
        |---|---|
        | `m:b` | it uses code the page does not show |
    """
    alone, said = [c for c in copies if c.code is not None], words(page)
    lines = [said["alone_count"].format(alone=len(alone), shown=len(copies))]
    if len(alone) < len(copies):
        lines += ["", said["alone_table"], "|---|---|"]
        lines += [f"| `{c.example}` | {c.why_not} |" for c in copies if c.code is None]
    return "\n".join(lines)
