"""The project's site rebuilt with a peer: markdown-exec or mkdocs-jupyter.

Each generated project is the same site as the project's: every page of docs/ in both languages
(docs/<page>.md and its Japanese translation docs/<page>.ja.md, served under /ja/ by
mkdocs-static-i18n, suffix layout, with the project's `i18n` block: languages, nav translations,
fallback to English, reconfigure options) and the API and pipeline references rendered by
mkdocstrings (the project's `autorefs` and `mkdocstrings` blocks; its `::: module` lines kept, and
`{{ readers_helpers }}` written out as the `::: snippets.<module>` blocks the project's plugin puts
in its place; the `snippets` package's Python files are copied beside mkdocs.yml, where
mkdocstrings' python handler looks by default, as in the project). Each page shows the same prose
and runs the same code blocks as the project's: every block it includes from snippets/ (setup,
definitions and examples alike), in page order, in one Python session per page and language, as
the project groups them (one module per page). The theme, its settings, the stylesheet, the
Markdown extensions and the `search` options are the project's own. What the peers do not get:
the project's build and standalone reports (`{{ build_report }}`, `{{ standalone_report }}` are
dropped), its translation bookkeeping (the `translation_of` front matter and the notice on a
translation behind its English page), KaTeX typesetting, downloads and runnable copies.

markdown-exec: each block becomes ```` ```python exec="1" source="above" session="<page>" result="text" ````,
the session of a Japanese page being "<page>-ja"; after each example a hidden block saves the
figures it left open as SVG into the page (what the project does with them), so the same work is
done per figure.

mkdocs-jupyter: each page with code becomes a notebook, <page>.ipynb and <page>.ja.ipynb, prose
in Markdown cells and each block in a code cell, executed by an IPython kernel (`execute: true`);
its inline backend puts figures on the page. Its cache (`cache: true`, the default) keeps
unchanged notebooks from running again. mkdocs-static-i18n 1.3.1 and mkdocs-jupyter 0.26.3 do
not work together as they are: i18n rebuilds every File after mkdocs-jupyter has marked the
notebooks as pages, so every notebook, English or Japanese, is copied into the site as raw JSON,
neither executed nor rendered; and each language's build evicts the other language's notebooks
from mkdocs-jupyter's cache, so every build would run every notebook. The generated project
carries a hook (notebook_pages.py, NOTEBOOK_PAGES below) that marks the notebooks as pages again
after i18n and gives each language its own cache folder; the notebooks are executed and rendered
by mkdocs-jupyter itself.

Run with the project's own Python: `python benchmarks/peers/generate.py DEST` writes
DEST/markdown-exec and DEST/mkdocs-jupyter.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import yaml
from mkdocs.utils.yaml import yaml_load

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

from snippets.pipeline.downloads import section_code  # noqa: E402
from snippets.pipeline.examples import all_examples  # noqa: E402
from snippets.pipeline.grammar import DIRECTIVE, INCLUDE  # noqa: E402
from snippets.pipeline.render import readers_reference  # noqa: E402
from snippets.pipeline.translations import FRONT_MATTER, language_of  # noqa: E402

DOCS = PROJECT / "docs"
PEERS = ("markdown-exec", "mkdocs-jupyter")
PLUGINS = ("search", "i18n", "autorefs", "mkdocstrings")  # the project's blocks the peers get as they are

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

# The hook of the mkdocs-jupyter project (see the module's docstring). mkdocs-static-i18n's
# on_files (priority -100) makes a new File of every file, which drops mkdocs-jupyter's
# NotebookFile; after it, this marks the notebooks as pages again. mkdocs-jupyter evicts, after
# each build, every cached notebook that build did not use: each language gets its own folder.
NOTEBOOK_PAGES = '''"""mkdocs-jupyter under mkdocs-static-i18n (written by benchmarks/peers/generate.py)."""

from mkdocs.plugins import event_priority


@event_priority(-110)  # after mkdocs-static-i18n's on_files (-100)
def on_files(files, config):
    for file in files:
        if file.src_uri.endswith(".ipynb"):
            file.is_documentation_page = lambda: True
    return files


@event_priority(-110)  # the language of this build is set (on_config, or i18n's next build)
def on_pre_build(config):
    language = config.plugins["i18n"].current_language
    config.plugins["mkdocs-jupyter"].config["cache_dir"] = f".cache/mkdocs-jupyter/{language}"
'''


def english_pages() -> list[Path]:
    """The project's pages in English (a translation is named <page>.<lang>.md).

    Examples:
        >>> "autograd-basics.md" in [page.name for page in english_pages()]
        True
        >>> any(page.name.endswith(".ja.md") for page in english_pages())
        False
    """
    return sorted(page for page in DOCS.glob("*.md") if language_of(page.name)[1] is None)


def pages() -> list[Path]:
    """Every page of the site: each English page and each translation (<page>.<lang>.md).

    Examples:
        >>> names = [page.name for page in pages()]
        >>> "autograd-basics.md" in names, "autograd-basics.ja.md" in names
        (True, True)
        >>> len(names) > len(english_pages())
        True
    """
    return sorted(DOCS.glob("*.md"))


def session(page: Path) -> str:
    """The markdown-exec session of a page: its name, with its language for a translation.

    Examples:
        >>> session(Path("docs/autograd-basics.md")), session(Path("docs/autograd-basics.ja.md"))
        ('autograd-basics', 'autograd-basics-ja')
    """
    english, language = language_of(page.name)
    return english[:-3] + (f"-{language}" if language else "")


def notebook_name(page: Path) -> str:
    """The notebook a page with code becomes, its language suffix kept (mkdocs-static-i18n's).

    Examples:
        >>> notebook_name(Path("docs/autograd-basics.md")), notebook_name(Path("docs/autograd-basics.ja.md"))
        ('autograd-basics.ipynb', 'autograd-basics.ja.ipynb')
    """
    return page.name[:-3] + ".ipynb"


def prepared(markdown: str, renamed: dict[str, str] | None = None) -> str:
    """A page as the peers get it: without its front matter (the project's translation
    bookkeeping); `{{ readers_helpers }}` written out as the mkdocstrings blocks the project's
    plugin puts in its place; the project's build reports (the other `{{ directive }}` lines)
    dropped; `::: module` lines kept; links to a page that became a notebook renamed
    (``renamed``: x.md -> x.ipynb).

    Examples:
        >>> page = prepared('---\\nk: v\\n---\\n# R\\n\\n{{ readers_helpers }}\\n{{ build_report }}\\n'
        ...                 '::: snippets.pipeline\\n', {"autograd-basics.md": "autograd-basics.ipynb"})
        >>> page.startswith("# R"), "{{" in page, "::: snippets.pipeline\\n" in page
        (True, False, True)
        >>> "::: snippets.autograd_basics\\n" in page, "[autograd-basics](autograd-basics.ipynb)" in page
        (True, True)
    """
    markdown = FRONT_MATTER.sub("", markdown, count=1).lstrip("\n")
    pages = [page.name for page in english_pages()]
    markdown = DIRECTIVE.sub(lambda match: readers_reference(pages) if match["name"] == "readers_helpers" else "",
                             markdown)
    for name, new in (renamed or {}).items():
        markdown = markdown.replace(f"]({name}", f"]({new}")
    return markdown


def blocks(markdown: str) -> list[tuple[str, str, str]]:
    """A page split into ("prose", text, "") and ("code", code, "module:section") in page order.

    Examples:
        >>> parts = blocks('Hi\\n```python\\n--8<-- "snippets/autograd_basics.py:chain_rule"\\n```\\nBye\\n')
        >>> [(kind, id) for kind, _, id in parts]
        [('prose', ''), ('code', 'autograd_basics:chain_rule'), ('prose', '')]
        >>> parts[1][1].splitlines()[0]
        'x = torch.tensor(2.0, requires_grad=True)'
    """
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


def plugin_blocks(project: dict) -> list:
    """The project's own blocks of the plugins the peers get (search, i18n, autorefs,
    mkdocstrings), as mkdocs.yml writes them and in its order.

    Examples:
        >>> blocks = plugin_blocks({"plugins": ["search", {"glightbox": {}}, {"i18n": {"a": 1}}, "examples"]})
        >>> blocks
        ['search', {'i18n': {'a': 1}}]
    """
    return [block for block in project["plugins"]
            if (block if isinstance(block, str) else next(iter(block))) in PLUGINS]


def config(peer: str, renamed: dict[str, str], kept: set[str]) -> dict:
    """The project's mkdocs.yml for a peer: same theme, settings, extensions, search, i18n,
    autorefs and mkdocstrings, the peer as plugin."""
    project = yaml_load((PROJECT / "mkdocs.yml").read_text(encoding="utf-8"))  # MkDocs' loader: !ENV tags
    theme = {k: v for k, v in project["theme"].items() if k != "custom_dir"}  # its templates need the hook
    extensions = [e for e in project["markdown_extensions"]
                  if (e if isinstance(e, str) else next(iter(e))) != "pymdownx.snippets"]
    plugin = ("markdown-exec" if peer == "markdown-exec" else
              {"mkdocs-jupyter": {"execute": True, "allow_errors": False, "kernel_name": "python3",
                                  "include": ["*.ipynb"], "cache": True}})
    site = {"site_name": f"{project['site_name']} ({peer})", "site_url": project["site_url"],
            "theme": theme, "extra_css": ["stylesheets/extra.css"],
            "nav": _nav(project["nav"], renamed, kept), "markdown_extensions": extensions,
            "validation": project.get("validation", {}), "plugins": plugin_blocks(project) + [plugin]}
    if peer == "mkdocs-jupyter":
        site["hooks"] = ["notebook_pages.py"]
    return site


def _python_files(folder: str, names: list[str]) -> set[str]:
    """What shutil.copytree leaves out of the snippets package: all but its Python files."""
    return {name for name in names if name in ("__pycache__", "records")
            or (not name.endswith(".py") and not (Path(folder) / name).is_dir())}


def generate(destination: Path, peer: str) -> dict[str, list[Path]]:
    """Write the peer's project into destination; returns where each page module's code now
    lives (module name -> the files holding its blocks: its page in each language)."""
    if destination.exists():
        shutil.rmtree(destination)
    docs = destination / "docs"
    for folder in ("assets", "stylesheets", "data"):
        shutil.copytree(DOCS / folder, docs / folder)
    shutil.copytree(DOCS / "data", destination / "data")  # markdown-exec runs in the project folder
    # mkdocstrings' python handler finds the package beside mkdocs.yml, as in the project
    shutil.copytree(PROJECT / "snippets", destination / "snippets", ignore=_python_files)
    examples = {example.id for example in all_examples()}
    renamed, kept, code_of = {}, set(), {}
    if peer == "mkdocs-jupyter":  # links between pages follow them to their notebooks
        renamed = {page.name: notebook_name(page) for page in english_pages()
                   if notebook(page.read_text(encoding="utf-8")) is not None}
        (destination / "notebook_pages.py").write_text(NOTEBOOK_PAGES, encoding="utf-8")
    for page in pages():
        markdown = prepared(page.read_text(encoding="utf-8"), renamed)
        modules = {match["module"] for match in INCLUDE.finditer(markdown)}
        kept.add(page.name)
        if peer == "markdown-exec":
            target = docs / page.name
            target.write_text(markdown_exec_page(markdown, session(page), examples), encoding="utf-8")
        elif (nb := notebook(markdown)) is not None:
            target = docs / notebook_name(page)
            target.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
        else:
            target = docs / page.name
            target.write_text(markdown, encoding="utf-8")
        for module in sorted(modules):
            code_of.setdefault(module, []).append(target)
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
    english = len(english_pages())
    print(f"{where}: {', '.join(PEERS)}; {english} English and {len(pages()) - english} translated pages;"
          " %d of %d examples shown on pages" % shown_examples())
