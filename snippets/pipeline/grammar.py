"""The grammar the pages and page modules are written in, in one place: include lines, section
markers, fences, inline code, directives, the cells of a downloaded script and printed numbers.
Rendering, the plugin, the downloads, the records, the translations and the reader-side tests all
read them with these, so they cannot disagree (tests/test_pipeline_plugin.py checks no other
module writes such a pattern).
"""

from __future__ import annotations

import re

# A named section of a page module: ``# --8<-- [start:NAME]`` ... ``# --8<-- [end:NAME]``.
SECTION_MARKER = re.compile(r"^\s*# --8<-- \[(?P<kind>start|end):(?P<name>\w+)\]\s*$")
# Any include line of pymdownx.snippets: ``--8<-- "path"`` or ``--8<-- "path:section"``.
ANY_INCLUDE = re.compile(r'--8<-- "(?P<path>[^"]+)"')
# An example shown on a page: a Python fence holding nothing but the include of its section.
INCLUDE = re.compile(
    r'^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})python[^\n]*\n'
    r'(?P=indent)--8<-- "snippets/(?P<module>\w+)\.py:(?P<section>\w+)"\n'
    r'(?P=indent)(?P=fence)[ \t]*$',
    re.MULTILINE,
)
# The line that opens (or closes) a fence, with its language when it names one
# (```python, ``` python, ```{.python}).
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*\{?[ \t]*\.?(?P<lang>[\w+-]*)")
# A directive of the build on a line of its own: ``{{ build_report }}``.
DIRECTIVE = re.compile(r"^\{\{ *(?P<name>[^}]*?) *\}\}$", re.MULTILINE)
# mkdocstrings' block, which renders a module's docstrings: ``::: snippets.pipeline``.
AUTODOC = re.compile(r"^::: ", re.MULTILINE)
# Inline code: a run of backticks, what it holds, then the same run again.
CODE_SPAN = re.compile(r"(?P<ticks>`+)(?!`).*?(?<!`)(?P=ticks)(?!`)", re.DOTALL)
# A run of backticks (a fence around a text must be longer than any run in it).
BACKTICKS = re.compile(r"`+")
# The line that opens a cell of a downloaded script: ``# %%``, then the heading it is under.
CELL = re.compile(r"^# %%.*\n", re.MULTILINE)
# A number standing on its own: not part of a name such as conv1 or float32, of a version such
# as 2.13.0 or the imaginary part of 2.+4.j; a full stop that ends a sentence after it is
# not its own (``x is 0.25.``); ``nan`` and ``inf`` are numbers torch prints.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?:(?![\w.])|(?=\.(?:\s|$)))"
                    r"|(?<![\w.])-?(?:nan|inf)\b")


def closes(fence: str, line: str) -> bool:
    """Whether ``line`` closes a fence opened with ``fence`` (the same character, at least as many).

    Examples:
        >>> closes("```", "  ````"), closes("```", "``"), closes("```", "~~~"), closes("```", "```python")
        (True, False, False, False)
    """
    stripped = line.strip()
    return bool(stripped) and stripped == fence[0] * len(stripped) and len(stripped) >= len(fence)


def fence_for(text: str, at_least: int = 3) -> str:
    """The backticks of a fence that can hold ``text``: longer than any run of backticks in it.

    Examples:
        >>> fence_for("print('`x`')"), fence_for("```python", at_least=4), fence_for("`````")
        ('```', '````', '``````')
    """
    return "`" * max(at_least, max((len(run) for run in BACKTICKS.findall(text)), default=0) + 1)


def script_cells(script: str) -> list[str]:
    """The cells of a script in the percent format the downloads write (a ``# %%`` line, with
    the heading it is under, opens each), without what stands before the first.

    Examples:
        >>> script_cells("# header\\n# %% Start\\nx = 1\\n# %%\\nprint(x)\\n")
        ['x = 1\\n', 'print(x)\\n']
    """
    return CELL.split(script)[1:]


def fenced_lines(markdown: str) -> list[tuple[int, str, str | None]]:
    """Every line as ``(number, text, fence)``: ``fence`` is the opening line's fence for a line
    that opens, is inside or closes a fenced block, ``None`` for the rest.

    Examples:
        >>> [fence for _, _, fence in fenced_lines("a\\n```python\\nx = 1\\n```\\nb")]
        [None, '```', '```', '```', None]
    """
    result, fence = [], None
    for number, line in enumerate(markdown.split("\n"), start=1):
        if fence is None:
            opening = FENCE.match(line)
            fence = opening["fence"] if opening else None
            result.append((number, line, fence))
        else:
            result.append((number, line, fence))
            if closes(fence, line):
                fence = None
    return result


def fence_languages(markdown: str) -> list[str]:
    """The language of every fenced block, in order (``''`` when none is given).

    Examples:
        >>> fence_languages("```python\\nx\\n```\\n\\n~~~ text\\ny\\n~~~\\n```\\nz\\n```")
        ['python', 'text', '']
    """
    languages, closing = [], None
    for line in markdown.split("\n"):
        if closing is None and (opening := FENCE.match(line)):
            closing = opening["fence"]
            languages.append(opening["lang"].lower())
        elif closing is not None and closes(closing, line):
            closing = None
    return languages


def numbers(text: str) -> list[str]:
    """The printed numbers of a text, as written.

    Examples:
        >>> numbers("tensor([36., 81.]) after 2 steps, conv1, torch 2.13.0; x is 0.25. nan -inf")
        ['36.', '81.', '2', '0.25', 'nan', '-inf']
        >>> numbers("tensor([2.+4.j])")  # the imaginary part is glued to its j
        ['2.']
    """
    return NUMBER.findall(text)
