"""Put outputs under the code that made them, and turn TeX into MathML.

A page shows an example by including its section in a fence of its own::

    ```python
    --8<-- "snippets/autograd_basics.py:chain_rule"
    ```

:func:`add_outputs` finds such fences and writes the example's output (and
figures, and any drift or error) right under them.
"""

from __future__ import annotations

import html
import posixpath
import re

from latex2mathml.converter import convert

from .examples import ExampleError, section_bounds

INCLUDE = re.compile(
    r'^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})python[^\n]*\n'
    r'(?P=indent)--8<-- "snippets/(?P<module>\w+)\.py:(?P<section>\w+)"\n'
    r'(?P=indent)(?P=fence)[ \t]*$',
    re.MULTILINE,
)
ANY_INCLUDE = re.compile(r'--8<-- "(?P<path>[^"]+)"')
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

    ``outcomes`` maps ``module:name`` to a :class:`~snippets.pipeline.build.Outcome`;
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
    parts = []
    if outcome.error:
        parts.append(_admonition("failure", "This example raised an error", outcome.error))
    if outcome.record["text"]:
        parts.append(_fence("text", outcome.record["text"], 'title="Output"'))
    page_dir = posixpath.dirname(page_uri)
    for figure in outcome.record["figures"]:
        target = posixpath.relpath(figure_uri(outcome.example.module, figure["file"]), page_dir)
        alt = figure["alt"].replace("]", ")").replace("[", "(") or f"Figure drawn by {outcome.example.id}"
        parts.append(f"![{alt}]({target}){{ .plot }}")
    if outcome.drift:
        parts.append(_admonition("warning", "Output drifted from its record", "\n".join(outcome.drift)))
    return "\n" + "\n\n".join(parts) + "\n" if parts else ""


def _fence(language: str, text: str, options: str = "") -> str:
    ticks = "`" * max(4, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks}{language} {options}".rstrip() + f"\n{text.rstrip()}\n{ticks}"


def _admonition(kind: str, title: str, text: str) -> str:
    return f'!!! {kind} "{title}"\n\n' + _indent(_fence("text", text), "    ")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def build_report(outcomes: dict, shown_on: dict[str, str], environment: dict[str, str]) -> str:
    """The verification page's account of this build: versions, and every example's status and time.

    ``shown_on`` maps ``module:name`` to the page that shows it (a docs-relative path).

    Examples:
        >>> from snippets.pipeline.build import Outcome
        >>> from snippets.pipeline.examples import Example
        >>> done = Outcome(Example("autograd_basics", "chain_rule", 9), {}, [], seconds=0.0123)
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
    lines = ["| Built with | Version |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in environment.items()]
    timed = [o.seconds for o in outcomes.values() if o.seconds is not None]
    lines += ["", f"{len(outcomes)} examples, {sum(timed):.2f} s of running in all; "
              f"{sum(o.from_cache for o in outcomes.values())} recalled from the cache, "
              f"{sum(bool(o.drift) for o in outcomes.values())} drifted, "
              f"{sum(bool(o.error) for o in outcomes.values())} failed.", ""]
    lines += ["| Example | Page | Time (s) | Ran in this build | Result |", "|---|---|--:|---|---|"]
    for example_id, outcome in outcomes.items():
        page = shown_on.get(example_id)
        link = f"[{posixpath.splitext(page)[0]}]({page})" if page else "not shown"
        seconds = "" if outcome.seconds is None else f"{outcome.seconds:.3f}"
        ran = "no (records only)" if outcome.seconds is None else ("no (cached)" if outcome.from_cache else "yes")
        result = "failed" if outcome.error else "drifted" if outcome.drift else "matches its record"
        lines.append(f"| `{example_id}` | {link} | {seconds} | {ran} | {result} |")
    return "\n".join(lines)


def math_to_mathml(page_html: str) -> str:
    """Replace the TeX that arithmatex leaves in a page by MathML the browser draws itself.

    No script, font or request is needed to read the formulas.

    Examples:
        >>> math_to_mathml('<span class="arithmatex">\\\\(x^2\\\\)</span>')
        '<span class="arithmatex"><math xmlns="http://www.w3.org/1998/Math/MathML" display="inline"><mrow><msup><mi>x</mi><mn>2</mn></msup></mrow></math></span>'
    """
    def inline(match: re.Match) -> str:
        return f'<span class="arithmatex">{convert(html.unescape(match["tex"]).strip())}</span>'

    def block(match: re.Match) -> str:
        mathml = convert(html.unescape(match["tex"]).strip(), display="block")
        return f'<div class="arithmatex">{mathml}</div>'

    return BLOCK_MATH.sub(block, INLINE_MATH.sub(inline, page_html))


def add_runnable_links(markdown: str, copies: dict, page_url: str) -> str:
    """Under each example's block, a link to its runnable copy, which carries the copy's text
    for the block's second copy button (docs/javascripts/runnable-copy.js); or, for an example
    that cannot run on its own, why. ``copies`` maps ``module:name`` to a
    :class:`~snippets.pipeline.downloads.RunnableCopy`; ``page_url`` is where the page lands.

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
        if copy.code is None:
            note = (f'<p class="runnable-copy runnable-copy--none" data-example="{copy.example}">'
                    f"Does not run on its own: {html.escape(copy.why_not)}.</p>")
        else:
            href = posixpath.relpath(copy.uri, base or ".")
            text = html.escape(copy.code).replace("\n", "&#10;")
            note = (f'<p class="runnable-copy">Runs on its own: <a href="{href}" download '
                    f'data-example="{copy.example}" data-runnable="{text}" data-tooltip="{html.escape(copy.tooltip)}">'
                    f"{posixpath.basename(copy.uri)}</a>, this block after {html.escape(copy.added)}.</p>")
        return match.group() + "\n\n" + match["indent"] + note + "\n"

    return INCLUDE.sub(under, markdown)
