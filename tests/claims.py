"""Sentences on the pages that a test backs, quoted by that test so the two cannot drift apart.

A test that shows a behavioural sentence of a page true quotes it::

    @claim("hooks-and-memory.md", "Checkpointing keeps only the block's input")
    def test_checkpointing_keeps_only_the_input(): ...

``tests/test_claims.py`` reads every ``@claim(...)`` in ``tests/test_*.py`` (by parsing, so a claim
is checked whatever else the test module does) and fails, naming the page and the test, when the
quoted words are no longer on the page: whoever edits a claimed sentence is sent to the test that
backs it. Quotes are compared with every space and line break removed (the Markdown's wrapping,
and Japanese text, which has no spaces, do not matter); Markdown itself (backticks, asterisks,
links) is part of the quote.
"""


def claim(page: str, *sentences: str):
    """Mark a test as the one backing these sentences of ``docs/<page>``; the test is unchanged."""
    if not sentences:
        raise TypeError(f"claim({page!r}) quotes no sentence")

    def mark(test):
        test.claims = getattr(test, "claims", ()) + tuple((page, sentence) for sentence in sentences)
        return test

    return mark
