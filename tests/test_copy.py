"""What a reader who copies the code gets: every Python block of a built page, taken as its copy
button gives it (the text of the block in the HTML), run top to bottom in one fresh Python,
prints exactly the output the page shows under each block (numbers to the precision shown)."""

import pytest

from reader import doc_pages, output_difference, page_code


@pytest.mark.parametrize("page", doc_pages())
def test_copied_code_prints_what_the_page_shows(page, built_site, reader_python):
    code = page_code(built_site, page)
    if not code.blocks:
        pytest.skip(f"{page} shows no Python code")
    outputs, error = reader_python.run(*code.copy_job())
    problems = []
    for block, output in zip(code.blocks, outputs):
        difference = output_difference(output, block.shown)
        if difference:
            problems.append(f"{block.name(page)} prints something else than the page shows: {difference}")
    if error:
        block = code.blocks[len(outputs)]
        problems.append(f"{block.name(page)} raised when run after the blocks above it:\n{error}")
    assert problems == [], "\n\n".join(problems)
