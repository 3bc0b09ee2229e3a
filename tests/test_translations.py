"""Translations (docs/<page>.<lang>.md) keep their English page's includes, directives and
formulas in order, and fail the build when the English prose changed since they were stamped.

The fixture pages under tests/fixtures/translations/ stand for a page and its translation; the
last tests check every real translation in docs/ (none present: nothing to check)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reader import doc_pages, page_code
from snippets.pipeline import downloads, translations
from snippets.pipeline.__main__ import main
from snippets.pipeline.examples import PROJECT_DIR

FIXTURES = Path(__file__).parent / "fixtures" / "translations"
DOCS = PROJECT_DIR / "docs"
SENTENCE = "The gradient lands in `x.grad`, not in the return value."


@pytest.fixture
def docs(tmp_path) -> Path:
    """A docs folder holding the fixture page and its (unstamped) translation."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("page.md", "page.ja.md"):
        shutil.copy(FIXTURES / name, folder / name)
    return folder


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_fixture_translation_keeps_the_structure(docs):
    """Reflowed TeX is the same formula; headings with ids, prose in Japanese: no difference."""
    assert translations.parity_problem(_read(docs / "page.md"), _read(docs / "page.ja.md"),
                                       "docs/page.md", "docs/page.ja.md") is None
    kinds = [item.split()[0] for _, item in translations.structure(_read(docs / "page.md"))]
    assert kinds == ["formula", "formula", "formula", "include"]


def test_deleting_an_include_fails_naming_both_files_and_lines(docs):
    english, translation = _read(docs / "page.md"), _read(docs / "page.ja.md")
    cut = translation.replace('--8<-- "snippets/autograd_basics.py:chain_rule"\n', "")
    problem = translations.parity_problem(english, cut, "docs/page.md", "docs/page.ja.md")
    line_en = english.split("\n").index('--8<-- "snippets/autograd_basics.py:chain_rule"') + 1
    assert problem is not None
    assert problem.startswith("docs/page.ja.md:")
    assert f"docs/page.md:{line_en}:" in problem
    assert 'the English page has include "snippets/autograd_basics.py:chain_rule"' in problem


def test_a_changed_formula_fails_at_its_line(docs):
    english, translation = _read(docs / "page.md"), _read(docs / "page.ja.md")
    changed = translation.replace(r"\(x = 2\)", r"\(x = 3\)")
    problem = translations.parity_problem(english, changed, "docs/page.md", "docs/page.ja.md")
    line_ja = next(n for n, line in enumerate(changed.split("\n"), 1) if r"\(x = 3\)" in line)
    line_en = next(n for n, line in enumerate(english.split("\n"), 1) if r"\(x = 2\)" in line)
    assert problem == (f"docs/page.ja.md:{line_ja} differs from docs/page.md:{line_en}: the translation has "
                       r"formula \(x = 3\) where the English page has formula \(x = 2\)")


def test_a_formula_inside_code_is_not_structure():
    assert translations.structure("`\\(x\\)` and\n\n```text\n\\(y\\)\n```\n") == []


def test_stamp_command_then_one_edited_sentence_names_its_paragraph(docs, capsys):
    assert main(["translations", "--docs", str(docs)]) == 1
    assert "page.ja.md is out of date with" in capsys.readouterr().out  # never stamped
    assert main(["translations", "--docs", str(docs), "--stamp", "page"]) == 0
    assert "stamped" in capsys.readouterr().out
    assert translations.recorded_stamp(_read(docs / "page.ja.md")) == translations.stamp(_read(docs / "page.md"))
    assert main(["translations", "--docs", str(docs)]) == 0
    assert "0 out of date" in capsys.readouterr().out

    english = _read(docs / "page.md")
    (docs / "page.md").write_text(english.replace(SENTENCE, SENTENCE.replace("lands", "ends up")),
                                  encoding="utf-8")
    assert main(["translations", "--docs", str(docs)]) == 1
    out = capsys.readouterr().out
    line = english.split("\n").index(SENTENCE) + 1
    assert "page.ja.md is out of date with" in out
    assert f'line {line}: "The gradient ends up in `x.grad`, not in ..." (changed or new)' in out
    assert out.count("(changed or new)") == 1  # only the edited paragraph

    # Re-flowing the English prose (line breaks only) is no change.
    assert main(["translations", "--docs", str(docs), "--stamp", "all"]) == 0
    (docs / "page.md").write_text(_read(docs / "page.md").replace("Calling `backward()` walks\n",
                                                                  "Calling\n`backward()` walks "), encoding="utf-8")
    capsys.readouterr()
    assert main(["translations", "--docs", str(docs)]) == 0


def test_stamp_refuses_a_translation_whose_structure_differs(docs, capsys):
    cut = _read(docs / "page.ja.md").replace(r"\(x = 2\)", "")
    (docs / "page.ja.md").write_text(cut, encoding="utf-8")
    assert main(["translations", "--docs", str(docs), "--stamp", "page.ja.md"]) == 1
    assert "not stamped" in capsys.readouterr().out
    assert translations.recorded_stamp(_read(docs / "page.ja.md")) is None


def test_removed_paragraph_is_named():
    english = "# T\n\nFirst.\n\nSecond.\n\nThird.\n"
    done = translations.stamped("# T\n", english)
    assert translations.changed_paragraphs(english.replace("Second.\n\n", ""), done) == \
        ["a paragraph was removed before line 5"]


def _build(tmp_path: Path, docs: Path) -> subprocess.CompletedProcess:
    """A records-only MkDocs build of the fixture pages with this project's plugin and i18n set-up."""
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"""
site_name: Fixture
docs_dir: {docs}
site_dir: {tmp_path / 'site'}
theme: {{name: material, font: false}}
markdown_extensions:
  - admonition
  - attr_list
  - pymdownx.superfences
  - pymdownx.arithmatex: {{generic: true}}
  - pymdownx.snippets: {{base_path: ["{PROJECT_DIR}"], check_paths: true, dedent_subsections: true}}
plugins:
  - search: {{lang: [en, ja]}}
  - i18n:
      docs_structure: suffix
      languages:
        - {{locale: en, default: true, name: English}}
        - {{locale: ja, name: 日本語}}
  - examples: {{execute: false}}
""", encoding="utf-8")
    env = {**os.environ, "SNIPPETS_EXECUTE": "0", "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "-f", str(config)], cwd=PROJECT_DIR,
                          env=env, capture_output=True, text=True)


def test_build_warns_and_shows_a_notice_when_the_english_prose_changed(tmp_path, docs):
    """A warning (which fails the strict build) names the translation and the paragraph, and the
    Japanese page opens with the notice in both languages; outputs are the English page's."""
    assert main(["translations", "--docs", str(docs), "--stamp", "page"]) == 0
    english = _read(docs / "page.md")
    (docs / "page.md").write_text(english.replace(SENTENCE, "The gradient is in `x.grad`."), encoding="utf-8")
    run = _build(tmp_path, docs)
    assert run.returncode == 0, run.stderr[-3000:]
    warnings = [line for line in run.stderr.splitlines() if line.startswith("WARNING")]
    assert any("docs/page.ja.md is out of date with docs/page.md" in w for w in warnings), run.stderr[-3000:]
    assert f'line {english.split(chr(10)).index(SENTENCE) + 1}: "The gradient is in `x.grad`."' in run.stderr
    japanese = _read(tmp_path / "site" / "ja" / "page" / "index.html")
    assert "英語版のページが更新されています" in japanese and "The English page has changed" in japanese
    assert "英語版のページが更新されています" not in _read(tmp_path / "site" / "page" / "index.html")
    shown = [_read(tmp_path / "site" / p / "index.html").count(f'<span class="filename">{title}</span>')
             for p, title in (("page", "Output"), ("ja/page", "出力"))]  # the recorded output under the
    assert shown[0] == shown[1] >= 1, shown                             # same include, titled in each language


def test_build_fails_when_a_translation_drops_an_include(tmp_path, docs):
    translation = _read(docs / "page.ja.md")
    (docs / "page.ja.md").write_text(translation.replace('--8<-- "snippets/autograd_basics.py:chain_rule"\n', ""),
                                     encoding="utf-8")
    run = _build(tmp_path, docs)
    assert run.returncode != 0
    assert re.search(r"docs/page\.ja\.md:\d+ differs from \S*docs/page\.md:17: the translation has nothing more "
                     r'where the English page has include "snippets/autograd_basics.py:chain_rule"', run.stderr), \
        run.stderr[-3000:]


# --- Every real translation in docs/ ---

PAIRS = translations.translation_pairs(DOCS)


@pytest.mark.parametrize("english, translation", PAIRS, ids=[p.name for _, p in PAIRS])
def test_translation_keeps_its_english_pages_structure(english, translation):
    assert translations.parity_problem(_read(english), _read(translation), f"docs/{english.name}",
                                       f"docs/{translation.name}") is None


@pytest.mark.parametrize("english, translation", PAIRS, ids=[p.name for _, p in PAIRS])
def test_translation_is_up_to_date_with_its_english_page(english, translation):
    changes = translations.changed_paragraphs(_read(english), _read(translation))
    assert changes == [], (f"docs/{translation.name} is out of date with docs/{english.name} "
                           "(update it, then `make translations STAMP=<page>`):\n" + "\n".join(changes))


@pytest.mark.parametrize("page", doc_pages("ja"))
def test_translations_downloads_are_its_own_with_its_headings(page, built_site):
    """A Japanese page's script lives under downloads/ja/ and marks its blocks with the
    Japanese page's headings (the code itself is checked by test_downloads)."""
    code = page_code(built_site, page)
    if not code.blocks:
        pytest.skip(f"{page} shows no Python code")
    english = translations.language_of(page)[0]
    assert code.files[".py"] == (built_site / downloads.download_uris(page)[0]).resolve()
    assert downloads.download_uris(page)[0] == f"downloads/ja/{english[:-len('.md')]}.py"
    script = code.files[".py"].read_text(encoding="utf-8")
    headings = {text.lstrip("#").strip() for kind, text in downloads.page_parts(_read(DOCS / page))
                if kind == "heading"}
    labels = [line[len("# %% "):] for line in script.splitlines() if line.startswith("# %% ")]
    assert labels and set(labels) <= headings, f"{page}: block labels {labels} are not its headings"
