"""Put outputs under the code that made them, and typeset TeX with KaTeX at build time.

A page shows an example by including its section in a fence of its own::

    ```python
    --8<-- "snippets/autograd_basics.py:chain_rule"
    ```

[`add_outputs`][snippets.pipeline.render.add_outputs] finds such fences and writes the example's output (and
figures, and any drift or error) right under them.
"""

from __future__ import annotations

import ast
import html
import json
import posixpath
import re
import shutil
import subprocess
from pathlib import Path

import jinja2

from .examples import PROJECT_DIR, ExampleError, is_example, module_source, page_modules, section_bounds
from . import versions
from .grammar import ANY_INCLUDE, INCLUDE, fence_for
from .settings import Settings, environment_with
from .words import words

INLINE_MATH = re.compile(r'<span class="arithmatex">\\\((?P<tex>.+?)\\\)</span>', re.DOTALL)
BLOCK_MATH = re.compile(r'<div class="arithmatex">\\\[(?P<tex>.+?)\\\]</div>', re.DOTALL)


def figure_uri(module: str, file: str) -> str:
    """Where a figure lives in the built site, relative to the site root.

    Examples:
        >>> figure_uri("autograd_basics", "accumulation-1.svg")
        'figures/autograd_basics/accumulation-1.svg'
    """
    return f"figures/{module}/{file}"


def included_sections(markdown: str) -> list[tuple[int, str, str]]:
    """Every ``(line, module, section)`` a page includes from ``snippets/``, fenced or not.

    Examples:
        >>> included_sections('```python\\n--8<-- "snippets/a.py:b"\\n```\\n')
        [(2, 'a', 'b')]
    """
    found = []
    for match in ANY_INCLUDE.finditer(markdown):
        path, _, section = match["path"].partition(":")
        if path.startswith("snippets/") and path.endswith(".py"):
            line = markdown.count("\n", 0, match.start()) + 1
            found.append((line, path[len("snippets/"):-len(".py")], section))
    return found


def include_problems(markdown: str) -> list[str]:
    """Every include from ``snippets/`` that does not resolve, as ``LINE: what is wrong``.

    Examples:
        >>> include_problems('--8<-- "snippets/autograd_basics.py:chain_rule"\\n'
        ...                  '--8<-- "snippets/autograd_basics.py:nope"\\n--8<-- "snippets/nope.py:x"')
        ["2: snippets/autograd_basics.py has no section 'nope'", '3: snippets/nope.py does not exist']
    """
    problems = []
    for line, module, section in included_sections(markdown):
        try:
            section_bounds(module, section)
        except ExampleError as problem:
            problems.append(f"{line}: {problem}")
    return problems


def add_outputs(markdown: str, outcomes: dict, page_uri: str) -> str:
    """Write each included example's output, figures, drift and error under its fence.

    ``outcomes`` maps ``module:name`` to a [`Outcome`][snippets.pipeline.build.Outcome];
    sections that are not examples (imports, shared definitions) get nothing.

    Examples:
        >>> add_outputs('```python\\n--8<-- "snippets/a.py:setup"\\n```', {}, "a.md")
        '```python\\n--8<-- "snippets/a.py:setup"\\n```'
    """
    def under(match: re.Match) -> str:
        outcome = outcomes.get(f"{match['module']}:{match['section']}")
        if outcome is None:
            return match.group()
        return match.group() + "\n" + _indent(_output_markdown(outcome, page_uri), match["indent"])

    return INCLUDE.sub(under, markdown)


def _output_markdown(outcome, page_uri: str) -> str:
    parts, said = [], words(page_uri)
    if outcome.error:
        parts.append(_admonition("failure", said["error"], outcome.error))
    if outcome.record.text:
        parts.append(_fence("text", outcome.record.text, f'title="{said["output"]}"'))
    for releases, text in versions.shown_under(outcome.example.id, Settings.from_environment().records_dir):
        # open, but told apart (class older-torch) from the output a copy must print
        title = said["older"].format(releases=releases)
        parts.append(f'???+ note older-torch "{title}"\n\n' + _indent(_fence("text", text), "    "))
    page_dir = posixpath.dirname(page_uri)
    for figure in outcome.record.figures:
        alt = figure.alt.replace("]", ")").replace("[", "(") or said["figure"].format(example=outcome.example.id)
        # Drawn for each scheme; Material shows the one whose address ends in the current scheme.
        shown = []
        for file, scheme in ((figure.file, "light"), (figure.dark_file, "dark")):
            target = posixpath.relpath(figure_uri(outcome.example.module, file), page_dir)
            shown.append(f"![{alt}]({target}#only-{scheme}){{ .plot }}")
        parts.append("\n".join(shown))
    if outcome.drift:
        parts.append(_admonition("warning", said["drifted"], "\n".join(outcome.drift)))
    return "\n" + "\n\n".join(parts) + "\n" if parts else ""


def _fence(language: str, text: str, options: str = "") -> str:
    """A fence of ``text``; class ``output`` lets the stylesheet wrap it at the column."""
    ticks = fence_for(text, at_least=4)
    return f"{ticks}{{.{language} .output {options}}}".replace(" }", "}") + f"\n{text.rstrip()}\n{ticks}"


def _admonition(kind: str, title: str, text: str) -> str:
    return f'!!! {kind} "{title}"\n\n' + _indent(_fence("text", text), "    ")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def build_report(outcomes: dict, shown_on: dict[str, str], environment: dict[str, str], page: str = "") -> str:
    """The verification page's account of this build: versions, and every example's status and time.

    ``shown_on`` maps ``module:name`` to the page that shows it (a docs-relative path); ``page``
    is the docs path of the page the report is on, whose language it is written in.

    Examples:
        >>> from snippets.pipeline.build import Outcome
        >>> from snippets.pipeline.examples import Example
        >>> from snippets.pipeline.results import Record
        >>> done = Outcome(Example("autograd_basics", "chain_rule", 9), Record(""), seconds=0.0123)
        >>> print(build_report({"autograd_basics:chain_rule": done},
        ...                    {"autograd_basics:chain_rule": "autograd-basics.md"}, {"PyTorch": "2.13.0"}))
        | Built with | Version |
        |---|---|
        | PyTorch | 2.13.0 |
        <BLANKLINE>
        1 examples, 0.01 s of running in all; 0 recalled from the cache, 0 drifted, 0 failed.
        <BLANKLINE>
        | Example | Page | Time (s) | Ran in this build | Result |
        |---|---|--:|---|---|
        | `autograd_basics:chain_rule` | [autograd-basics](autograd-basics.md) | 0.012 | yes | matches its record |
    """
    said = words(page)
    lines = [said["built_with"], "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in environment.items()]
    timed = [o.seconds for o in outcomes.values() if o.seconds is not None]
    lines += ["", said["summary"].format(
        examples=len(outcomes), seconds=sum(timed), cached=sum(o.from_cache for o in outcomes.values()),
        drifted=sum(bool(o.drift) for o in outcomes.values()), failed=sum(bool(o.error) for o in outcomes.values())), ""]
    lines += [said["table"], "|---|---|--:|---|---|"]
    for example_id, outcome in outcomes.items():
        shown = shown_on.get(example_id)
        link = f"[{posixpath.splitext(shown)[0]}]({shown})" if shown else said["not_shown"]
        seconds = "" if outcome.seconds is None else f"{outcome.seconds:.3f}"
        ran = said["records_only"] if outcome.seconds is None else (
            said["no_cached"] if outcome.from_cache else said["yes"])
        result = said["failed"] if outcome.error else said["drifted_short"] if outcome.drift else said["matches"]
        lines.append(f"| `{example_id}` | {link} | {seconds} | {ran} | {result} |")
    return "\n".join(lines)


# KaTeX comes from npm (package.json, installed by the Makefile); the site serves its CSS and fonts.
KATEX_DIST = PROJECT_DIR / "node_modules" / "katex" / "dist"
KATEX_SCRIPT = Path(__file__).with_name("katex.js")
KATEX_URI = "assets/katex"


def typeset_math(page_html: str, katex: Katex | None = None) -> str:
    """Replace the TeX that arithmatex leaves in a page by KaTeX's HTML, typeset now.

    The page then needs only KaTeX's stylesheet and fonts, served by the site
    ([`katex_files`][snippets.pipeline.render.katex_files]): no script runs and nothing depends on the reader's fonts.
    ``katex`` is the build's [`Katex`][snippets.pipeline.render.Katex]; without it, one is started for this page.

    Examples:
        >>> out = typeset_math('<span class="arithmatex">\\\\(x^2\\\\)</span>')
        >>> out.startswith('<span class="arithmatex"><span class="katex">'), "\\\\(" in out
        (True, False)
    """
    found = [(m.start(), m.end(), m["tex"], False) for m in INLINE_MATH.finditer(page_html)]
    found += [(m.start(), m.end(), m["tex"], True) for m in BLOCK_MATH.finditer(page_html)]
    if not found:
        return page_html
    found.sort()
    formulas = [(html.unescape(tex).strip(), display) for _, _, tex, display in found]
    if katex is None:
        with Katex() as once:
            typeset = once(formulas)
    else:
        typeset = katex(formulas)
    parts, at = [], 0
    for (start, end, _, display), formula in zip(found, typeset):
        tag = "div" if display else "span"
        parts += [page_html[at:start], f'<{tag} class="arithmatex">{formula}</{tag}>']
        at = end
    return "".join(parts) + page_html[at:]


class Katex:
    """KaTeX in one Node process for a whole build or ``mkdocs serve`` session, each formula
    typeset once: starting Node costs more than typesetting a page, and the English and
    Japanese pages share their formulas. Called with ``(tex, display)`` pairs, it returns
    their HTML in order; a formula KaTeX cannot typeset raises `ValueError` naming it.

    Examples:
        >>> with Katex() as katex:
        ...     first = katex([("x^2", False), ("x^2", True)])
        ...     again = katex([("x^2", False)])
        >>> again == first[:1], len(katex.typeset)
        (True, 2)
    """

    def __init__(self):
        self.typeset: dict[tuple[str, bool], str] = {}  # (tex, display) -> HTML, this session's
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Katex:
        return self

    def __exit__(self, *exception) -> None:
        self.close()

    def __call__(self, formulas: list[tuple[str, bool]]) -> list[str]:
        new = [f for f in dict.fromkeys(formulas) if f not in self.typeset]
        if new:
            self.typeset.update(zip(new, self._ask(new)))
        return [self.typeset[formula] for formula in formulas]

    def _ask(self, formulas: list[tuple[str, bool]]) -> list[str]:
        """KaTeX's HTML for each formula, from the session's Node process (started on first use)."""
        if self.process is None or self.process.poll() is not None:
            node = shutil.which("node") or shutil.which("nodejs")
            if node is None or not KATEX_DIST.is_dir():
                raise RuntimeError("typesetting formulas needs Node.js and KaTeX: run `make` (it installs "
                                   "Debian's nodejs and npm, then `npm ci`)")
            self.process = subprocess.Popen([node, str(KATEX_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            env=environment_with(NODE_PATH=str(KATEX_DIST.parents[1])),
                                            text=True, encoding="utf-8")
        self.process.stdin.write(json.dumps(formulas) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"KaTeX's Node process ended (status {self.process.wait()})")
        typeset = json.loads(answer)
        if isinstance(typeset, dict):
            raise ValueError(f"KaTeX cannot typeset a formula: {typeset['error']}")
        return typeset

    def close(self) -> None:
        """End the Node process (it ends by itself when its input closes)."""
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait()
            self.process = None


def katex_files() -> dict[str, Path]:
    """KaTeX's stylesheet and fonts, ``site path -> file``, for the site to serve itself.

    Examples:
        >>> files = katex_files()
        >>> files["assets/katex/katex.min.css"].name, "assets/katex/fonts/KaTeX_Main-Regular.woff2" in files
        ('katex.min.css', True)
    """
    files = {f"{KATEX_URI}/katex.min.css": KATEX_DIST / "katex.min.css"}
    for font in sorted((KATEX_DIST / "fonts").iterdir()):
        files[f"{KATEX_URI}/fonts/{font.name}"] = font
    return files


def readers_helpers(module: str) -> list[str]:
    """The classes and functions a page module defines for its readers to copy: everything at
    its top level but the examples (which the page shows run) and private names.

    Examples:
        >>> readers_helpers("autograd_basics")
        ['SmallConvNet', 'graph_of', 'draw_graph']
    """
    tree = ast.parse(module_source(module))
    return [node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not is_example(node)
            and not node.name.startswith("_")]


def readers_reference(pages: list[str], here: str = "") -> str:
    """The Markdown of the readers' API reference: for each page module, its helpers rendered by
    mkdocstrings and a link to the page that uses them (its module's name with ``-`` for ``_``).
    ``pages`` are the site's pages (paths under docs/); ``here``, the reference page's folder.

    Examples:
        >>> print(readers_reference(["index.md", "autograd-basics.md"]))
        ## `snippets.autograd_basics`
        <BLANKLINE>
        Defined for [autograd-basics](autograd-basics.md).
        <BLANKLINE>
        ::: snippets.autograd_basics
            options:
              members: [SmallConvNet, graph_of, draw_graph]
              show_root_heading: false
              show_root_toc_entry: false
              heading_level: 3
    """
    page_of = {posixpath.splitext(uri)[0].replace("-", "_"): posixpath.relpath(uri, here) for uri in pages}
    parts = []
    for module in page_modules():
        names = readers_helpers(module)
        if not names or module not in page_of:
            continue
        page = page_of[module]
        parts.append(f"## `snippets.{module}`\n\nDefined for [{posixpath.splitext(page)[0]}]({page}).\n\n"
                     f"::: snippets.{module}\n    options:\n      members: [{', '.join(names)}]\n"
                     "      show_root_heading: false\n      show_root_toc_entry: false\n      heading_level: 3")
    return "\n\n".join(parts)


def add_runnable_links(markdown: str, copies: dict, page_url: str) -> str:
    """Under each example's block, a link to its runnable copy, which carries the copy's text
    for the block's second copy button (docs/javascripts/runnable-copy.js); or, for an example
    that cannot run on its own, why. ``copies`` maps ``module:name`` to a
    [`RunnableCopy`][snippets.pipeline.downloads.RunnableCopy]; ``page_url`` is where the page lands.

    Examples:
        >>> from snippets.pipeline.downloads import RunnableCopy
        >>> copy = RunnableCopy("a:b", "downloads/examples/a/b.py", "x = 1\\nprint(x)\\n", ["x"])
        >>> print(add_runnable_links('```python\\n--8<-- "snippets/a.py:b"\\n```', {"a:b": copy}, "a/"))
        ```python
        --8<-- "snippets/a.py:b"
        ```
        <BLANKLINE>
        <p class="runnable-copy">Runs on its own: <a href="../downloads/examples/a/b.py" download data-example="a:b" data-runnable="x = 1&#10;print(x)&#10;" data-tooltip="Copy a version that runs on its own: the imports and settings it needs, and x">b.py</a>, this block after the imports and settings it needs, and x.</p>
        <BLANKLINE>
    """
    base = page_url if page_url.endswith("/") else posixpath.dirname(page_url)

    def under(match: re.Match) -> str:
        copy = copies.get(f"{match['module']}:{match['section']}")
        if copy is None:
            return match.group()
        said = words(copy.page)
        if copy.code is None:
            note = (f'<p class="runnable-copy runnable-copy--none" data-example="{copy.example}">'
                    f"{said['not_alone'].format(why=html.escape(copy.why_not))}</p>")
        else:
            href = posixpath.relpath(copy.uri, base or ".")
            text = html.escape(copy.code).replace("\n", "&#10;")
            link = (f'<a href="{href}" download data-example="{copy.example}" data-runnable="{text}" '
                    f'data-tooltip="{html.escape(copy.tooltip)}">{posixpath.basename(copy.uri)}</a>')
            note = f'<p class="runnable-copy">{said["runs_alone"].format(link=link, added=html.escape(copy.added))}</p>'

        return match.group() + "\n\n" + match["indent"] + note + "\n"

    return INCLUDE.sub(under, markdown)


class TemplateCache(jinja2.BytecodeCache):
    """Compiled Jinja templates kept in memory for a build's languages and a ``mkdocs serve``
    session's rebuilds: MkDocs makes a new template environment for each, and compiling the
    theme's templates again cost more than rendering a page. A template whose source changed is
    compiled again (Jinja checks its checksum).

    Examples:
        >>> cache = TemplateCache()
        >>> first = jinja2.Environment(loader=jinja2.DictLoader({"t": "{{ 1 + 1 }}"}), bytecode_cache=cache)
        >>> again = jinja2.Environment(loader=jinja2.DictLoader({"t": "{{ 1 + 1 }}"}), bytecode_cache=cache)
        >>> first.get_template("t").render(), again.get_template("t").render(), len(cache.compiled)
        ('2', '2', 1)
    """

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()
