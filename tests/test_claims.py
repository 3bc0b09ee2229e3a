"""Every sentence a test quotes with ``@claim`` is still on its page (tests/claims.py)."""

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
DOCS = TESTS.parent / "docs"


def quoted_claims(folder: Path = TESTS) -> list[tuple[str, str, str, str]]:
    """(page, sentence, test file, test name) for every ``@claim`` decorator in ``test_*.py``."""
    found = []
    for path in sorted(folder.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "claim":
                    page, *sentences = (ast.literal_eval(argument) for argument in decorator.args)
                    where = f"tests/{path.name}:{decorator.lineno}"
                    found += [(page, sentence, where, node.name) for sentence in sentences]
    return found


def squeezed(text: str) -> str:
    return "".join(text.split())


CLAIMS = quoted_claims()


def test_the_pages_have_claims_backed_by_tests():
    assert len(CLAIMS) >= 10, f"only {len(CLAIMS)} quoted claims found in tests/test_*.py"


@pytest.mark.parametrize("page, sentence, where, test", CLAIMS, ids=[f"{c[0]}:{c[3]}" for c in CLAIMS])
def test_a_quoted_claim_is_still_on_its_page(page, sentence, where, test):
    path = DOCS / page
    assert path.exists(), f"{where}: {test} quotes a sentence of docs/{page}, which does not exist"
    assert squeezed(sentence) in squeezed(path.read_text(encoding="utf-8")), (
        f"docs/{page} no longer says what {test} ({where}) backs:\n  {sentence!r}\n"
        f"If the sentence was reworded on purpose, check that the test still shows it true and "
        f"quote the new words there; if the claim was dropped, drop the quote.")


def test_a_claim_whose_sentence_left_its_page_fails_naming_the_test(tmp_path):
    (tmp_path / "test_planted.py").write_text(
        'from claims import claim\n\n@claim("index.md", "autograd never computes anything")\n'
        'def test_planted():\n    pass\n', encoding="utf-8")
    [(page, sentence, where, test)] = quoted_claims(tmp_path)
    assert (page, test, where) == ("index.md", "test_planted", "tests/test_planted.py:3")
    with pytest.raises(AssertionError, match="test_planted"):
        test_a_quoted_claim_is_still_on_its_page(page, sentence, where, test)
