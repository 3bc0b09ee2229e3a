"""What a reader who copies the code gets: every Python block of a built page, taken as its copy
button gives it (the text of the block in the HTML), run top to bottom in one fresh Python,
prints exactly the output the page shows under each block (numbers to the precision shown)."""

import pytest

from conftest import doc_pages, linked_files, output_difference, page_path, python_blocks
from snippets.pipeline.examples import PROJECT_DIR


@pytest.mark.parametrize("page", doc_pages())
def test_copied_code_prints_what_the_page_shows(page, built_site, reader_python):
    html_file = built_site / page_path(page) / "index.html"
    assert html_file.exists(), f"{page}: not in the built site"
    markdown = (PROJECT_DIR / "docs" / page).read_text(encoding="utf-8")
    html = html_file.read_text(encoding="utf-8")
    blocks = python_blocks(html, markdown, page)
    if not blocks:
        pytest.skip(f"{page} shows no Python code")
    outputs, error = reader_python.run([(f"<{page} block {b.number}>", b.code) for b in blocks],
                                       linked_files(html, page, built_site))
    problems = []
    for block, output in zip(blocks, outputs):
        difference = output_difference(output, block.shown)
        if difference:
            problems.append(f"{block.name(page)} prints something else than the page shows: {difference}")
    if error:
        block = blocks[len(outputs)]
        problems.append(f"{block.name(page)} raised when run after the blocks above it:\n{error}")
    assert problems == [], "\n\n".join(problems)
