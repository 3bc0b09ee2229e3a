"""Copy one example and it runs: every example a page shows has a runnable copy of it alone (the
block, after the imports, settings and definitions it uses), as a file linked under its block and
as the text of a second copy button beside the block's own. Each copy runs in a fresh Python from
an empty folder, holding only the data files it says it reads, and prints what the page shows
under the example. An example that cannot run alone says why on its page."""

import ast
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from reader import doc_pages, output_difference, page_code, page_path, sentence_pattern
from snippets.pipeline.downloads import runnable_copies, section_code
from snippets.pipeline.dependencies import own_code
from snippets.pipeline.examples import PROJECT_DIR, Example, all_examples, module_source
from snippets.pipeline.render import add_runnable_links, included_sections
from snippets.pipeline.translations import language_of
from snippets.pipeline.words import words

EXAMPLE_IDS = {e.id for e in all_examples()}
SHOWN = [(page, f"{module}:{section}") for page in doc_pages()
         for _, module, section in included_sections((PROJECT_DIR / "docs" / page).read_text(encoding="utf-8"))
         if f"{module}:{section}" in EXAMPLE_IDS]
CHROMIUM = "/usr/bin/chromium"


def _block(built_site, page, example):
    code = page_code(built_site, page)
    blocks = [b for b in code.example_blocks() if b.runnable["example"] == example]
    assert len(blocks) == 1, f"{page}: {len(blocks)} blocks of {example} offer a runnable copy or say why not"
    return code, blocks[0]


def _copies(page):
    markdown = (PROJECT_DIR / "docs" / page).read_text(encoding="utf-8")
    return {c.example: c for c in runnable_copies(markdown, page, "Title", "https://x.org/", "https://x.org/")}


@pytest.mark.parametrize("page, example", SHOWN)
def test_runnable_copy_holds_the_block_and_only_what_it_uses(page, example):
    """The copy ends with the example's block; every statement before it binds a name the copy
    reads (or binds none: a setting; or registers itself on one it reads, as
    ``@op.register_fake`` does), and they come in their module's order."""
    copy = _copies(page)[example]
    if copy.code is None:
        pytest.skip(f"{example} does not run alone: {copy.why_not}")
    module, name = example.split(":")
    block, text = section_code(module, name), copy.code.rstrip("\n")
    assert text.endswith(block), f"{example}: its copy does not end with its block"
    read = {node.id for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    prefix = text[:-len(block)]
    before = ast.parse(prefix).body
    defined = {s.name for s in before if isinstance(s, (ast.FunctionDef, ast.ClassDef))}
    source = module_source(module)
    unused = []
    for statement in before:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            bound = {(a.asname or a.name).split(".")[0] for a in statement.names}
        elif isinstance(statement, (ast.FunctionDef, ast.ClassDef)):  # or registers itself on: @op.register_fake
            bound = {statement.name} | {_root(d) for d in statement.decorator_list} & defined
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            bound = {t.id for t in ast.walk(statement) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
        else:
            continue  # a setting, such as torch.set_printoptions
        if not bound & read:
            unused.append(ast.unparse(statement).splitlines()[0])
    assert unused == [], f"{example}: its copy holds what it does not use: {unused}"
    positions = [source.find(ast.get_source_segment(prefix, s)) for s in before]
    assert -1 not in positions and positions == sorted(positions), f"{example}: not in its module's order"


def _root(decorator: ast.expr) -> str | None:
    """``op`` for ``@op.register_fake`` or ``@op.register(...)``; None for ``@name``."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if not isinstance(target, ast.Attribute):
        return None
    while isinstance(target, ast.Attribute):
        target = target.value
    return getattr(target, "id", None)


@pytest.mark.parametrize("page, example", SHOWN)
def test_the_copy_and_the_cache_key_take_the_same_statements(page, example):
    """One analysis serves both: what the copy puts before the block is what the example's cache
    key hashes besides its own function."""
    copy = _copies(page)[example]
    if copy.code is None:
        pytest.skip(f"{example} does not run alone: {copy.why_not}")
    module, name = example.split(":")
    prefix = copy.code.rstrip("\n")[:-len(section_code(module, name))]
    hashed = [ast.dump(s) for s in ast.parse(own_code(Example(module, name, 1))).body
              if getattr(s, "name", None) != name]
    assert sorted(hashed) == sorted(ast.dump(s) for s in ast.parse(prefix).body)


@pytest.mark.parametrize("page, example", SHOWN)
def test_example_runs_on_its_own_and_prints_what_the_page_shows(page, example, built_site, reader_python):
    code, block = _block(built_site, page, example)
    runnable = block.runnable
    if "why" in runnable:  # the page says why; the build's analysis finds the same reason
        assert runnable["why"].strip() == words(page)["not_alone"].format(why=_copies(page)[example].why_not)
        return
    path = (built_site / page_path(page) / runnable["href"]).resolve()
    text = path.read_text(encoding="utf-8")
    english, language = language_of(page)
    assert path.name == f"{example.split(':')[1]}.py" and path.parent.name == english[:-len(".md")]
    assert (language in path.parts) == bool(language), f"{page}: {path} is not the copy of its own language"
    assert runnable["text"] == text, f"{page}: the second copy button of {example} copies something else than its file"
    assert text.rstrip("\n").endswith(block.code.rstrip("\n")), f"{page}: {path.name} does not end with the block"
    assert runnable["tooltip"].startswith(words(page)["tooltip"].format(added=words(page)["needs"]))
    problems = []
    for blocks, files, *script in code.standalone_jobs(block):
        outputs, error = reader_python.run(blocks, files, script=script[0] if script else None)
        how = f"{page}: {path.name} run {'as a file' if script else 'pasted into a session'}"
        if error:
            problems.append(f"{how} stopped with an error:\n{error}")
        elif difference := output_difference(outputs[0], block.shown):
            problems.append(f"{how} prints something else than the page shows: {difference}")
    assert problems == [], "\n\n".join(problems)


@pytest.mark.parametrize("verification", [p for p in doc_pages() if language_of(p)[0] == "verification.md"])
def test_verification_page_counts_the_examples_that_run_alone(verification, built_site, reader_python):
    """The count on each language's verification page is the number of that language's copies
    this test runs and that pass, of that language's examples shown."""
    language = language_of(verification)[1]
    report = (built_site / page_path(verification) / "index.html").read_text(encoding="utf-8")
    match = re.search(sentence_pattern(words(verification)["alone_count"], alone=r"\d+", shown=r"\d+"), report)
    assert match, f"{verification} does not say how many examples run alone"
    shown = [(page, example) for page, example in SHOWN if language_of(page)[1] == language]
    ran = passed = 0
    for page in sorted({page for page, _ in shown}):
        code = page_code(built_site, page)
        for block in code.example_blocks():
            if "href" not in block.runnable:
                continue
            ran += 1
            results = [reader_python.run(blocks, files, script=script[0] if script else None)
                       for blocks, files, *script in code.standalone_jobs(block)]
            passed += all(error is None and output_difference(outputs[0], block.shown) is None
                          for outputs, error in results)
    assert (int(match["alone"]), int(match["shown"])) == (passed, len(shown)), \
        f"{verification} says {match['alone']} of {match['shown']}; {passed} of the {ran} copies run alone, {len(shown)} examples shown"


def test_an_example_whose_code_the_page_does_not_show_has_no_copy_and_says_why():
    """Shown without its page's setup block, an example needs imports the page does not show."""
    markdown = '```python\n--8<-- "snippets/autograd_basics.py:chain_rule"\n```\n'
    copy, = runnable_copies(markdown, "autograd-basics.md", "Title", "https://x.org/", "https://x.org/")
    setup_line = module_source("autograd_basics").splitlines().index("import torch") + 1
    assert copy.code is None and f"snippets/autograd_basics.py:{setup_line}" in copy.why_not
    shown = add_runnable_links(markdown, {copy.example: copy}, "autograd-basics/")
    assert f'data-example="autograd_basics:chain_rule">Does not run on its own: {copy.why_not}.' in shown


def test_the_copy_says_which_data_file_it_reads_and_where_the_site_has_it():
    copy = _copies("training-loop.md")["training_loop:training_loop"]
    assert copy.data == ["data/iris.csv"]
    assert "# It reads data/iris.csv, which the site has beside this file: " \
           "https://x.org/downloads/examples/training-loop/data/iris.csv" in copy.code
    assert _copies("training-loop.md")["training_loop:rmse_at_zero"].data == []


def test_second_copy_button_copies_the_runnable_version_from_the_keyboard(site_server, built_site):
    """On every page with examples, each example's block has the second button beside its copy
    button, with the tooltip; pressed from the keyboard (the first and last of each page), it copies
    the copy's text; nothing leaves localhost. Chromium runs in a thread of its own, since the
    session's other browser (test_browser) holds Playwright's loop in this one."""
    if not os.access(CHROMIUM, os.X_OK) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with ThreadPoolExecutor(1) as thread:
        problems = thread.submit(_press_every_page, playwright_api, site_server, built_site).result()
    assert problems == [], "\n".join(problems)


def _press_every_page(playwright_api, base, built_site):
    problems = []
    origin = re.match(r"https?://[^/]+", base)[0]
    with playwright_api.sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=["--headless", "--no-sandbox"],
            viewport={"width": 1280, "height": 900}, service_workers="block")
        try:
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(origin)
                          else (problems.append(f"request leaving localhost: {route.request.url}"),
                                route.abort("blockedbyclient")))
            browser = context.new_page()
            browser.set_default_timeout(20_000)
            browser.on("pageerror", lambda error: problems.append(f"uncaught error: {error}"))
            for page in sorted({page for page, _ in SHOWN}):
                problems += _press_buttons(browser, base, page, page_code(built_site, page))
        finally:
            context.close()
    return problems


def _press_buttons(browser, base, page, code):
    browser.goto(base + page_path(page), wait_until="load")
    runnable = [b for b in code.example_blocks() if "href" in b.runnable]
    buttons = browser.locator('pre > nav.md-code__nav > [data-md-type="runnable"]')
    beside = browser.locator('pre > nav.md-code__nav:has([data-md-type="runnable"]) > [data-md-type="copy"]')
    if buttons.count() != len(runnable) or beside.count() != len(runnable):
        return [f"{page}: {buttons.count()} buttons, {beside.count()} beside a copy button, "
                f"for {len(runnable)} runnable copies"]
    problems = []
    for index in sorted({0, len(runnable) - 1}):
        button, block = buttons.nth(index), runnable[index]
        if button.get_attribute("title") != block.runnable["tooltip"]:
            problems.append(f"{page}: button {index + 1} has the tooltip {button.get_attribute('title')!r}")
        browser.evaluate("navigator.clipboard.writeText('')")
        button.focus()
        browser.keyboard.press("Enter")
        browser.locator(".md-dialog--active").wait_for()
        if browser.evaluate("navigator.clipboard.readText()") != block.runnable["text"]:
            problems.append(f"{page}: button {index + 1} did not copy {block.runnable['example']}'s runnable copy")
    return problems
