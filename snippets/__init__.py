"""Every example shown on the site, one module per page, plus the machinery that checks them.

``snippets/autograd_basics.py`` is the page ``docs/autograd-basics.md``; its
tests are ``tests/test_autograd_basics.py``. The machinery lives in
[`snippets.pipeline`][snippets.pipeline].
"""
