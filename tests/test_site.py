"""Site-wide checks: every example is shown, every include resolves, nothing is hidden,
every public function has a doctest, and the strict build passes."""

import ast
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import snippets
from conftest import RUN_IN_SITE_BUILD
from reader import page_path
from snippets.pipeline.examples import PROJECT_DIR, all_examples, module_source, page_modules, sections
from snippets.pipeline.render import include_problems, included_sections

DOCS = PROJECT_DIR / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md"))
ALLOWED_HIDDEN = re.compile(r"^(from snippets\.pipeline\.examples import example|@example(\(.*\))?)$")


def _includes():
    return [(page, line, module, section) for page in PAGES
            for line, module, section in included_sections(page.read_text(encoding="utf-8"))]


def test_every_example_is_shown_on_some_page():
    shown = {f"{module}:{section}" for _, _, module, section in _includes()}
    assert [e.id for e in all_examples() if e.id not in shown] == []


@pytest.mark.parametrize("module", page_modules())
def test_every_page_module_has_its_page_and_tests(module):
    assert (DOCS / f"{module.replace('_', '-')}.md").exists()
    assert (PROJECT_DIR / "tests" / f"test_{module}.py").exists()


LONGEST_LINE = 80  # columns: a code block of the site fits its column at 1280 px without scrolling


def test_every_included_line_fits_in_80_columns():
    """Every line of every section a page includes, as the page shows it (dedented)."""
    too_long = []
    for page, _, module, section in _includes():
        if module not in page_modules():
            continue
        lines = module_source(module).splitlines()
        start, end = sections(module_source(module))[section]
        shown = lines[start:end - 1]
        indent = min((len(l) - len(l.lstrip()) for l in shown if l.strip()), default=0)
        too_long += [f"snippets/{module}.py:{start + 1 + i}: {len(l) - indent} columns ({page.name})"
                     for i, l in enumerate(shown) if len(l) - indent > LONGEST_LINE and "--8<--" not in l]
    assert sorted(set(too_long)) == []


def test_every_include_resolves():
    problems = [f"{page.relative_to(PROJECT_DIR)}:{problem}" for page in PAGES
                for problem in include_problems(page.read_text(encoding="utf-8"))]
    assert problems == []


@pytest.mark.parametrize("module", page_modules())
def test_page_module_hides_no_code(module):
    """Outside the sections a page includes, only the docstring, the `example`
    import and decorators, and example functions (checked on their own) may stand."""
    source = module_source(module)
    shown = {section for _, _, m, section in _includes() if m == module}
    visible = set()
    for name, (start, end) in sections(source).items():
        if name in shown:
            visible.update(range(start, end + 1))
    hidden = []
    body = ast.parse(source).body
    for node in body:
        if isinstance(node, ast.FunctionDef) and any(
                "example" in ast.unparse(d) for d in node.decorator_list):
            continue
        if isinstance(node, ast.Expr) and node is body[0]:
            continue
        lines = range(node.lineno, node.end_lineno + 1)
        if not set(lines) <= visible and not ALLOWED_HIDDEN.match(ast.unparse(node)):
            hidden.append(f"snippets/{module}.py:{node.lineno}: {ast.unparse(node).splitlines()[0]}")
    assert hidden == []


def _public_functions():
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(snippets.__path__, "snippets."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, member in vars(module).items():
            if (inspect.isfunction(member) and not name.startswith("_")
                    and member.__module__ == module.__name__):
                yield f"{info.name}.{name}", member


# Example functions are checked by the drift test and their own tests instead of a doctest;
# the command-line entry points are exercised by tests/test_pipeline_*.py and test_fixture_site.
# These make environments or run every example under another torch; tests/test_pipeline_versions.py
# and `make versions` exercise them.
NO_DOCTEST = {"snippets.pipeline.build.regenerate", "snippets.pipeline.__main__.main",
              "snippets.pipeline.versions.environment", "snippets.pipeline.versions.run_here",
              "snippets.pipeline.versions.run_each"}


def test_every_public_function_has_a_doctest():
    examples = {f"snippets.{e.module}.{e.name}" for e in all_examples()}
    lacking = [name for name, function in _public_functions()
               if name not in examples | NO_DOCTEST and ">>>" not in (function.__doc__ or "")]
    assert lacking == []


def test_strict_build_from_the_records_alone(tmp_path, outcomes, built_site):
    """The site builds with --strict (drift, errors, broken links and anchors all fail it) from the
    committed records alone, and lists its pages for search in the same order as the session's site."""
    env = {**os.environ, "SNIPPETS_EXECUTE": "0", "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path)],
                         cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    assert _search_order(tmp_path) == _search_order(built_site)


def test_search_indexes_each_formula_as_its_tex_and_the_page_shows_it_typeset(built_site):
    """KaTeX typesets a page after the search plugin has read it: typeset first, the index held each
    formula three times over (glyphs, MathML and TeX run together, "a=(2,3)a = (2, 3)a=(2,3)")."""
    docs = json.loads((built_site / "search" / "search_index.json").read_text(encoding="utf-8"))["docs"]
    text_of = {}
    for doc in docs:
        text_of[doc["location"].split("#")[0]] = text_of.get(doc["location"].split("#")[0], "") + doc["text"]
    checked = 0
    for page in PAGES:
        formulas = [f for f in re.findall(r"\\\((.+?)\\\)", page.read_text(encoding="utf-8")) if not set("<>&") & set(f)]
        if not formulas:
            continue
        location = page_path(page.relative_to(DOCS).as_posix())
        html = (built_site / location / "index.html").read_text(encoding="utf-8")
        assert html.count('<span class="katex">') >= len(formulas), page
        assert [f for f in formulas if f"\\({f}\\)" not in text_of[location]] == [], page
        checked += 1
    assert checked >= 4


def test_site_build_renders_pages_while_an_example_runs(built_site):
    """The session's site build ran RUN_IN_SITE_BUILD afresh (its page rendered after the others,
    while it ran) and logged no warning or error, so --strict would pass too; its pages are listed
    for search in their usual order (compared with the records-only build above)."""
    log = (built_site.parent / "build.log").read_text(encoding="utf-8")
    assert not re.search(r"^(WARNING|ERROR)\b", log, re.MULTILINE), log
    report = (built_site / "verification" / "index.html").read_text(encoding="utf-8")
    row = re.search(rf"<code>{RUN_IN_SITE_BUILD}</code>.*?</tr>", report, re.DOTALL)
    assert row and "<td>yes</td>" in row.group(), f"{RUN_IN_SITE_BUILD} did not run in the site build"


def _search_order(site: Path) -> list[str]:
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    return [doc["location"] for doc in index["docs"]]
