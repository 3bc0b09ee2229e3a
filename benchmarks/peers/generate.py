"""The project's English pages rebuilt with a peer: markdown-exec or mkdocs-jupyter.

Each generated project shows the same prose and runs the same code blocks as docs/*.md (English
only): every block a page includes from snippets/ (setup, definitions and examples alike), in page
order, in one Python session per page, as the project groups them (one module per page). The
theme, its settings, the stylesheet and the Markdown extensions are the project's own. What the
peers do not get: the API and pipeline reference (mkdocstrings) and the build and standalone
reports (lines `::: module` and `{{ directive }}` are dropped), KaTeX typesetting, the Japanese
edition, downloads and runnable copies.

markdown-exec: each block becomes ```` ```python exec="1" source="above" session="<page>" result="text" ````;
after each example a hidden block saves the figures it left open as SVG into the page (what the
project does with them), so the same work is done per figure.

mkdocs-jupyter: each page with code becomes a notebook, prose in Markdown cells and each block in a
code cell, executed by an IPython kernel (`execute: true`); its inline backend puts figures on the
page. Its cache (`cache: true`, the default) keeps unchanged notebooks from running again.

Run with the project's own Python: `python benchmarks/peers/generate.py DEST` writes
DEST/markdown-exec and DEST/mkdocs-jupyter.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import yaml
from mkdocs.utils.yaml import yaml_load

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

from snippets.pipeline.downloads import section_code  # noqa: E402
from snippets.pipeline.examples import all_examples  # noqa: E402
from snippets.pipeline.grammar import INCLUDE  # noqa: E402

DOCS = PROJECT / "docs"
DIRECTIVE = re.compile(r"^\{\{ *[^}]*? *\}\}[ \t]*\n?|^::: .*\n?", re.MULTILINE)
TRANSLATION = re.compile(r"\.[a-z]{2}(_[A-Z]{2})?\.md$")
PEERS = ("markdown-exec", "mkdocs-jupyter")

FIGURES = '''import io as _io
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as _plt


def _figures():
    """Each figure an example left open, as SVG in the page; then closed."""
    for number in _plt.get_fignums():
        svg = _io.StringIO()
        _plt.figure(number).savefig(svg, format="svg")
        print(svg.getvalue())
    _plt.close("all")'''


def english_pages() -> list[Path]:
    """The project's pages in English (a translation is named <page>.<lang>.md).

    Examples:
        >>> "autograd-basics.md" in [page.name for page in english_pages()]
        True
        >>> any(page.name.endswith(".ja.md") for page in english_pages())
        False
    """
    return sorted(page for page in DOCS.glob("*.md") if not TRANSLATION.search(page.name))


def blocks(markdown: str) -> list[tuple[str, str, str]]:
    """A page split into ("prose", text, "") and ("code", code, "module:section") in page order.

    Examples:
        >>> parts = blocks('Hi\\n```python\\n--8<-- "snippets/autograd_basics.py:chain_rule"\\n```\\nBye\\n')
        >>> [(kind, id) for kind, _, id in parts]
        [('prose', ''), ('code', 'autograd_basics:chain_rule'), ('prose', '')]
        >>> parts[1][1].splitlines()[0]
        'x = torch.tensor(2.0, requires_grad=True)'
    """
    markdown = DIRECTIVE.sub("", markdown)
    parts, at = [], 0
    for match in INCLUDE.finditer(markdown):
        parts.append(("prose", markdown[at:match.start()], ""))
        parts.append(("code", section_code(match["module"], match["section"]),
                      f"{match['module']}:{match['section']}"))
        at = match.end()
    parts.append(("prose", markdown[at:], ""))
    return parts


def markdown_exec_page(markdown: str, session: str, examples: set[str]) -> str:
    """The page with each included block executed by markdown-exec in the page's session.

    Examples:
        >>> page = markdown_exec_page('```python\\n--8<-- "snippets/autograd_basics.py:chain_rule"\\n```\\n',
        ...                           "basics", {"autograd_basics:chain_rule"})
        >>> page.count('session="basics"'), page.count("_figures()")
        (3, 2)
    """
    parts = blocks(markdown)
    if not any(kind == "code" for kind, _, _ in parts):
        return "".join(text for _, text, _ in parts)
    hidden = f'```python exec="1" session="{session}"\n{FIGURES}\n```\n\n'
    out = []
    for kind, text, example in parts:
        if kind == "prose":
            out.append(text)
            continue
        out.append(f'```python exec="1" source="above" session="{session}" result="text"\n{text}\n```')
        if example in examples:
            out.append(f'\n\n```python exec="1" html="1" session="{session}"\n_figures()\n```')
    first_heading = out[0].find("\n") + 1 if out[0].startswith("# ") else 0
    out[0] = out[0][:first_heading] + "\n" + hidden + out[0][first_heading:]
    return "".join(out)


def notebook(markdown: str) -> dict | None:
    """The page as a notebook (prose in Markdown cells, each block a code cell), or None for a
    page without code.

    Examples:
        >>> nb = notebook('# T\\n\\n```python\\n--8<-- "snippets/autograd_basics.py:chain_rule"\\n```\\n')
        >>> [cell["cell_type"] for cell in nb["cells"]], nb["metadata"]["kernelspec"]["name"]
        (['markdown', 'code'], 'python3')
        >>> notebook("# Just prose") is None
        True
    """
    parts = blocks(markdown)
    if not any(kind == "code" for kind, _, _ in parts):
        return None
    cells = []
    for kind, text, _ in parts:
        if kind == "prose" and text.strip():
            cells.append({"cell_type": "markdown", "metadata": {}, "source": text.strip("\n")})
        elif kind == "code":
            cells.append({"cell_type": "code", "metadata": {}, "execution_count": None,
                          "outputs": [], "source": text})
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": kernel, "language_info": {"name": "python"}}}


def _nav(items, renamed: dict[str, str], kept: set[str]):
    """The project's nav with pages renamed (x.md -> x.ipynb) and missing ones left out."""
    out = []
    for item in items:
        (title, value), = item.items() if isinstance(item, dict) else ((None, item),)
        if isinstance(value, list):
            value = _nav(value, renamed, kept)
        elif value not in kept:
            continue
        else:
            value = renamed.get(value, value)
        out.append({title: value} if title else value)
    return out


def config(peer: str, renamed: dict[str, str], kept: set[str]) -> dict:
    """The project's mkdocs.yml for a peer: same theme, settings and extensions, the peer as plugin."""
    project = yaml_load((PROJECT / "mkdocs.yml").read_text(encoding="utf-8"))  # MkDocs' loader: !ENV tags
    theme = {k: v for k, v in project["theme"].items() if k != "custom_dir"}  # its templates need the hook
    extensions = [e for e in project["markdown_extensions"]
                  if (e if isinstance(e, str) else next(iter(e))) != "pymdownx.snippets"]
    plugin = ("markdown-exec" if peer == "markdown-exec" else
              {"mkdocs-jupyter": {"execute": True, "allow_errors": False, "kernel_name": "python3",
                                  "include": ["*.ipynb"], "cache": True}})
    return {"site_name": f"{project['site_name']} ({peer})", "site_url": project["site_url"],
            "theme": theme, "extra_css": ["stylesheets/extra.css"],
            "nav": _nav(project["nav"], renamed, kept), "markdown_extensions": extensions,
            "validation": project.get("validation", {}), "plugins": ["search", plugin]}


def generate(destination: Path, peer: str) -> dict[str, Path]:
    """Write the peer's project into destination; returns where each page's code now lives
    (module name -> file holding its blocks)."""
    if destination.exists():
        shutil.rmtree(destination)
    docs = destination / "docs"
    for folder in ("assets", "stylesheets", "data"):
        shutil.copytree(DOCS / folder, docs / folder)
    shutil.copytree(DOCS / "data", destination / "data")  # markdown-exec runs in the project folder
    examples = {example.id for example in all_examples()}
    renamed, kept, code_of = {}, set(), {}
    if peer == "mkdocs-jupyter":  # links between pages follow them to their notebooks
        renamed = {page.name: page.stem + ".ipynb" for page in english_pages()
                   if notebook(page.read_text(encoding="utf-8")) is not None}
    for page in english_pages():
        markdown = page.read_text(encoding="utf-8")
        for name, new in renamed.items():
            markdown = markdown.replace(f"]({name}", f"]({new}")
        modules = {match["module"] for match in INCLUDE.finditer(markdown)}
        kept.add(page.name)
        if peer == "markdown-exec":
            target = docs / page.name
            target.write_text(markdown_exec_page(markdown, page.stem, examples), encoding="utf-8")
        elif (nb := notebook(markdown)) is not None:
            target = docs / (page.stem + ".ipynb")
            target.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
        else:
            target = docs / page.name
            target.write_text(DIRECTIVE.sub("", markdown), encoding="utf-8")
        code_of.update({module: target for module in modules})
    (destination / "mkdocs.yml").write_text(
        yaml.safe_dump(config(peer, renamed, kept), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return code_of


def shown_examples() -> tuple[int, int]:
    """(examples shown on an English page, all examples): the peers run only the shown ones."""
    shown = {f"{m['module']}:{m['section']}" for page in english_pages()
             for m in INCLUDE.finditer(page.read_text(encoding="utf-8"))}
    every = {example.id for example in all_examples()}
    return len(shown & every), len(every)


if __name__ == "__main__":
    where = Path(sys.argv[1])
    for peer in PEERS:
        generate(where / peer, peer)
    print(f"{where}: {', '.join(PEERS)}; %d of %d examples shown on pages" % shown_examples())
