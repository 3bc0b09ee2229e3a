"""The peer benchmark (`make bench-peers`) compares like with like: its generated markdown-exec and
mkdocs-jupyter projects run exactly the blocks each English page includes, in page order, one
session per page. Nothing is built or run here (the peers live in their own environment)."""

import doctest
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS / "peers"))
sys.path.insert(0, str(BENCHMARKS))

import generate  # noqa: E402
import measure  # noqa: E402

from snippets.pipeline.downloads import section_code  # noqa: E402
from snippets.pipeline.grammar import INCLUDE  # noqa: E402


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


def test_markdown_exec_runs_each_page_blocks_in_order_in_one_session(generated):
    folder, _ = generated["markdown-exec"]
    for page in generate.english_pages():
        text = (folder / "docs" / page.name).read_text(encoding="utf-8")
        blocks = _included(page)
        shown = [part.split("\n", 1)[1].split("\n```\n", 1)[0]
                 for part in text.split('```python exec="1" source="above"')[1:]]
        assert shown == blocks, page.name
        sessions = {line for line in text.splitlines() if 'exec="1"' in line}
        assert all(f'session="{page.stem}"' in line for line in sessions), page.name


def test_mkdocs_jupyter_notebooks_hold_each_page_blocks_in_order(generated):
    folder, _ = generated["mkdocs-jupyter"]
    executed = 0
    for page in generate.english_pages():
        blocks = _included(page)
        notebook = folder / "docs" / f"{page.stem}.ipynb"
        assert notebook.exists() == bool(blocks), page.name
        if blocks:
            cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
            assert [c["source"] for c in cells if c["cell_type"] == "code"] == blocks, page.name
            executed += len(blocks)
    assert executed == sum(len(_included(page)) for page in generate.english_pages())


def test_every_example_is_run_by_the_peers():
    shown, every = generate.shown_examples()
    assert shown == every
