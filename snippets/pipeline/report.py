"""Drift as Markdown a maintainer can act on: ``make check REPORT=file`` and ``make versions
REPORT=file`` append one section per run (CI gives ``$GITHUB_STEP_SUMMARY``, the run's page)."""

from __future__ import annotations

import re
from pathlib import Path

# "snippets/m.py:12: example m:e: what differs" — how every drift and error message starts
_PROBLEM = re.compile(r"^(?P<where>\S+\.py:\d+): example (?P<example>[\w.]+:\w+):? (?P<what>.*)$", re.DOTALL)


def markdown(problems: list[str], release: str, kernels: str, examples: int) -> str:
    """One run's findings: a heading with the torch release and kernel set, and a table row per problem.

    Examples:
        >>> print(markdown(["snippets/m.py:3: example m:e: printed number 1 of 1 was 1.0, now 0.0 (line: x | 0)"],
        ...                "2.14.1", "AVX2", 5))
        ### torch 2.14.1, AVX2 kernels: 1 problem in 5 examples
        <BLANKLINE>
        | Example | Where | What differs (recorded, then new) |
        |---|---|---|
        | `m:e` | `snippets/m.py:3` | printed number 1 of 1 was 1.0, now 0.0 (line: x \\| 0) |
        <BLANKLINE>
        <BLANKLINE>
        >>> markdown([], "2.12.1", "AVX2", 5).strip()
        '### torch 2.12.1, AVX2 kernels: every one of 5 examples prints what is recorded'
    """
    if not problems:
        return f"### torch {release}, {kernels} kernels: every one of {examples} examples prints what is recorded\n\n"
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    rows = [f"### torch {release}, {kernels} kernels: {count} in {examples} examples", "",
            "| Example | Where | What differs (recorded, then new) |", "|---|---|---|"]
    for problem in problems:
        found = _PROBLEM.match(problem.strip())
        example, where, what = (f"`{found['example']}`", f"`{found['where']}`", found["what"]) if found else ("", "", problem)
        rows.append(f"| {example} | {where} | {_cell(what)} |")
    return "\n".join(rows) + "\n\n"


def _cell(text: str) -> str:
    return text.strip().replace("|", "\\|").replace("\n", "<br>")


def append(path: str | Path, text: str) -> None:
    """Add a run's section to the end of the report file (several runs share one summary page).

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "summary.md"
        >>> append(path, "### one, "); append(path, "### two")
        >>> path.read_text()
        '### one, ### two'
    """
    with open(path, "a", encoding="utf-8") as file:
        file.write(text)
