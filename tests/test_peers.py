"""The peer benchmark (`make bench-peers`) compares like with like: its generated markdown-exec and
mkdocs-jupyter projects are the same site as the project's. Every page in both languages (English
and its Japanese translation) runs exactly the blocks it includes, in page order, one session per
page and language; the API and pipeline references are rendered by the same mkdocstrings and
autorefs blocks; the i18n and search blocks are the project's. Nothing is built or run here (the
peers live in their own environment)."""

import doctest
import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from mkdocs.structure.files import File, Files
from mkdocs.utils.yaml import yaml_load
from mkdocs_static_i18n.plugin import I18n

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS / "peers"))
sys.path.insert(0, str(BENCHMARKS))

import bench  # noqa: E402
import generate  # noqa: E402
import measure  # noqa: E402

from snippets.pipeline.downloads import section_code  # noqa: E402
from snippets.pipeline.grammar import INCLUDE  # noqa: E402

PROJECT = BENCHMARKS.parent


@pytest.mark.parametrize("module", [generate, measure], ids=lambda m: m.__name__)
def test_doctests(module):
    failed, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried and not failed


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    where = tmp_path_factory.mktemp("peers")
    return {peer: (where / peer, generate.generate(where / peer, peer)) for peer in generate.PEERS}


def _included(page: Path) -> list[str]:
    return [section_code(m["module"], m["section"]) for m in INCLUDE.finditer(page.read_text(encoding="utf-8"))]


def _shown(path: Path) -> str:
    """The text of a generated page: a notebook's cells, or the Markdown."""
    text = path.read_text(encoding="utf-8")
    return "\n".join(c["source"] for c in json.loads(text)["cells"]) if path.suffix == ".ipynb" else text


def _config(folder: Path) -> dict:
    return yaml_load((folder / "mkdocs.yml").read_text(encoding="utf-8"))


def test_every_page_of_both_languages_is_generated(generated):
    names = {page.name for page in generate.pages()}
    translations = {name for name in names if name.endswith(".ja.md")}
    assert translations and {name.replace(".ja.md", ".md") for name in translations} <= names
    assert names == {page.name for page in (PROJECT / "docs").glob("*.md")}
    for peer, (folder, _) in generated.items():
        made = {path.name for path in (folder / "docs").iterdir() if path.suffix in (".md", ".ipynb")}
        expected = {generate.notebook_name(page) if peer == "mkdocs-jupyter" and _included(page) else page.name
                    for page in generate.pages()}
        assert made == expected, peer


def test_markdown_exec_runs_each_page_blocks_in_order_in_one_session_per_language(generated):
    folder, _ = generated["markdown-exec"]
    sessions, executed = set(), 0
    for page in generate.pages():
        text = (folder / "docs" / page.name).read_text(encoding="utf-8")
        blocks = _included(page)
        shown = [part.split("\n", 1)[1].split("\n```\n", 1)[0]
                 for part in text.split('```python exec="1" source="above"')[1:]]
        assert shown == blocks, page.name
        executed += len(shown)
        lines = {line for line in text.splitlines() if 'exec="1"' in line}
        assert all(f'session="{generate.session(page)}"' in line for line in lines), page.name
        if lines:
            sessions.add(generate.session(page))
    assert {"autograd-basics", "autograd-basics-ja"} <= sessions
    assert len(sessions) == sum(1 for page in generate.pages() if _included(page))  # one per page and language
    assert executed == sum(len(_included(page)) for page in generate.pages())


def test_mkdocs_jupyter_notebooks_hold_each_page_blocks_in_order(generated):
    folder, _ = generated["mkdocs-jupyter"]
    executed = 0
    for page in generate.pages():
        blocks = _included(page)
        notebook = folder / "docs" / generate.notebook_name(page)
        assert notebook.exists() == bool(blocks), page.name
        if blocks:
            cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
            assert [c["source"] for c in cells if c["cell_type"] == "code"] == blocks, page.name
            executed += len(blocks)
    assert (folder / "docs" / "autograd-basics.ja.ipynb").exists()
    assert executed == sum(len(_included(page)) for page in generate.pages())


def test_mkdocs_jupyter_notebooks_are_pages_under_i18n(generated):
    """mkdocs-static-i18n would turn the notebooks into raw copies: the hook marks them as pages
    again, after it, and keeps each language's cache apart."""
    folder, _ = generated["mkdocs-jupyter"]
    assert _config(folder)["hooks"] == ["notebook_pages.py"]
    assert "hooks" not in _config(generated["markdown-exec"][0])
    spec = importlib.util.spec_from_file_location("notebook_pages", folder / "notebook_pages.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    i18n_priority = I18n.on_files.mkdocs_priority
    assert hook.on_files.mkdocs_priority < i18n_priority and hook.on_pre_build.mkdocs_priority < i18n_priority
    config = SimpleNamespace(docs_dir=str(folder / "docs"), use_directory_urls=True, site_dir=str(folder / "site"))
    files = Files([File(name, config.docs_dir, config.site_dir, True)
                   for name in ("autograd-basics.ja.ipynb", "index.md", "assets/favicon.svg")])
    assert [f.is_documentation_page() for f in files] == [False, True, False]  # as mkdocs-static-i18n leaves them
    assert [f.is_documentation_page() for f in hook.on_files(files, config)] == [True, True, False]
    jupyter = SimpleNamespace(config={"cache_dir": ".cache/mkdocs-jupyter"})
    for language in ("en", "ja"):
        hook.on_pre_build(SimpleNamespace(plugins={"i18n": SimpleNamespace(current_language=language),
                                                   "mkdocs-jupyter": jupyter}))
        assert jupyter.config["cache_dir"] == f".cache/mkdocs-jupyter/{language}"


def test_the_project_plugin_blocks_are_the_peers(generated):
    project = yaml_load((PROJECT / "mkdocs.yml").read_text(encoding="utf-8"))
    own = {(b if isinstance(b, str) else next(iter(b))): b for b in project["plugins"]}
    for peer, (folder, _) in generated.items():
        plugins = _config(folder)["plugins"]
        names = [b if isinstance(b, str) else next(iter(b)) for b in plugins]
        assert names == ["search", "i18n", "autorefs", "mkdocstrings", peer], peer
        assert plugins[:4] == [own[name] for name in names[:4]], peer
        assert plugins[1]["i18n"]["docs_structure"] == "suffix"
        assert [lang["locale"] for lang in plugins[1]["i18n"]["languages"]] == ["en", "ja"]


def test_the_references_keep_their_mkdocstrings_blocks(generated):
    own = (PROJECT / "docs" / "pipeline-reference.md").read_text(encoding="utf-8")
    autodoc = [line for line in own.splitlines() if line.startswith("::: ")]
    assert autodoc
    for peer, (folder, _) in generated.items():
        docs = folder / "docs"
        assert [line for line in (docs / "pipeline-reference.md").read_text(encoding="utf-8").splitlines()
                if line.startswith("::: ")] == autodoc, peer
        for name in ("reference.md", "reference.ja.md"):  # {{ readers_helpers }}, written out
            text = (docs / name).read_text(encoding="utf-8")
            assert "::: snippets.autograd_basics\n" in text and "::: snippets.training_loop\n" in text, (peer, name)
        for page in docs.glob("*.md"):
            assert "{{" not in page.read_text(encoding="utf-8"), (peer, page.name)  # the build reports dropped
        assert (folder / "snippets" / "pipeline" / "__init__.py").exists()  # where mkdocstrings looks
        assert not (folder / "snippets" / "records").exists()


def test_links_follow_pages_to_their_notebooks_in_both_languages(generated):
    folder, _ = generated["mkdocs-jupyter"]
    for name in ("index.md", "index.ja.md", "reference.ja.md"):
        text = (folder / "docs" / name).read_text(encoding="utf-8")
        assert "](autograd-basics.ipynb" in text and "](autograd-basics.md" not in text, name


def test_an_edit_reaches_every_generated_page_that_shows_the_example(generated):
    for peer, (folder, code_of) in generated.items():
        files = code_of[bench.MODULE]
        assert sorted(path.name for path in files) == sorted(
            (generate.notebook_name(page) if peer == "mkdocs-jupyter" else page.name)
            for page in generate.pages() if any(m["module"] == bench.MODULE for m in
                                                INCLUDE.finditer(page.read_text(encoding="utf-8")))), peer
        assert len(files) == 2, peer  # autograd-basics.md and its translation
        tool = bench.Tool(peer, Path(sys.executable), folder, files, folder / ".cache")
        before = {path: path.read_text(encoding="utf-8") for path in files}
        tool.edit(7)
        try:
            for path in files:
                assert _shown(path).count('print("edited", 7)') == 1, path.name
        finally:
            tool.restore()
        assert {path: path.read_text(encoding="utf-8") for path in files} == before


def test_every_example_is_run_by_the_peers():
    shown, every = generate.shown_examples()
    assert shown == every
