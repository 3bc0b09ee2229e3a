"""Pages taken from the cache of rendered pages (snippets/pipeline/rendered.py): a build with
nothing changed converts no page and writes the same site, byte for byte, cross-references to
the API, mkdocstrings' inventory and the search index included; a page whose included code
changed is converted again; a broken link fails the strict build every time, from the cache too."""

import filecmp
import os
import subprocess
import sys

import pytest
from mkdocs.structure.pages import Page

from snippets.pipeline.examples import PROJECT_DIR


@pytest.fixture
def conversions(monkeypatch) -> list[str]:
    """The pages MkDocs converted from Markdown in this test."""
    converted, render = [], Page.render

    def counted(page, config, files):
        converted.append(page.file.src_uri)
        render(page, config, files)

    monkeypatch.setattr(Page, "render", counted)
    return converted


def test_an_unchanged_page_is_taken_from_the_cache(tiny, monkeypatch, conversions):
    assert tiny.build(monkeypatch) is None
    first = tiny.page()
    assert conversions == ["index.md"]
    assert tiny.build(monkeypatch) is None
    assert conversions == ["index.md"] and tiny.page() == first


def test_a_page_whose_included_code_changed_is_converted_again(tiny, monkeypatch, conversions):
    """pymdownx.snippets reads an included section while converting: the Markdown MkDocs is given
    stays the same (this section is no example's, so no output or runnable copy changes with it)."""
    module, index = tiny.snippets / "fixture_page.py", tiny.site / "docs" / "index.md"
    module.write_text(module.read_text(encoding="utf-8")
                      + "\n# --8<-- [start:limits]\nLIMITS = (0, 1)  # the first limits\n# --8<-- [end:limits]\n")
    index.write_text(index.read_text(encoding="utf-8")
                     + '\n```python\n--8<-- "snippets/fixture_page.py:limits"\n```\n', encoding="utf-8")
    assert tiny.build(monkeypatch) is None
    tiny.edit("# the first limits", "# the second limits")
    assert tiny.build(monkeypatch) is None
    assert conversions == ["index.md", "index.md"] and "# the second limits" in tiny.page()


def test_a_broken_link_fails_the_strict_build_from_the_cache_too(tiny, monkeypatch, conversions, caplog):
    index = tiny.site / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + "\n[Gone](gone.md)\n", encoding="utf-8")
    for _ in range(2):
        caplog.clear()
        assert tiny.build(monkeypatch) is not None
        assert "'gone.md'" in caplog.text
    assert conversions == ["index.md"]


def test_the_site_from_the_cache_is_the_site_converted_afresh(tmp_path):
    """The project's site, records only, built twice on one cache: the second converts nothing (its
    pages take half the time) and every file it writes is the first build's, byte for byte."""
    env = {**os.environ, "SNIPPETS_EXECUTE": "0", "SNIPPETS_CACHE": str(tmp_path / "cache"), "NO_MKDOCS_2_WARNING": "1"}
    for site in ("fresh", "cached"):
        run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / site)],
                             cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-4000:]
    entries = list((tmp_path / "cache" / "pages").glob("*.json"))
    assert len(entries) == len({p.relative_to(tmp_path / "fresh") for p in (tmp_path / "fresh").rglob("index.html")})
    assert _differences(filecmp.dircmp(tmp_path / "fresh", tmp_path / "cached")) == []
    assert (tmp_path / "cached" / "objects.inv").is_file()


def _differences(compared: filecmp.dircmp) -> list[str]:
    found = compared.left_only + compared.right_only + compared.diff_files + compared.funny_files
    for sub in compared.subdirs.values():
        found += [f"{sub.left}/{name}" for name in _differences(sub)]
    return found
