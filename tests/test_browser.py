"""The built site as a reader sees it, in headless Chromium (Debian's package, driven by Playwright;
no browser is downloaded), at 1280 and 390 px wide and in both schemes: every page loads from
localhost alone with no console error; its formulas are typeset by KaTeX in the site's own fonts and
none is clipped; no code or output block scrolls sideways at 1280 px and no text sits under a copy
button; each plot is the drawing made for the scheme, through no CSS filter, readable, and at
390 px readable or opening larger; and search finds every page. Also, without a browser: every link and anchor of the
built site resolves, and unknown addresses get the site's own 404 page."""

import io
import json
import os
import re
import shutil
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from reader import doc_pages, page_path, site_url_path
from snippets.pipeline.examples import PROJECT_DIR
from snippets.pipeline.translations import language_of

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RAW_TEX = re.compile(r"\\[()\[\]]|\\frac|\\begin\{|\\mathrm")



class Reader:
    """One browser for the session; everything it requests and every console error is recorded.
    Requests to anything but the local server are blocked before they leave."""

    def __init__(self, context, base_url):
        self.context, self.base_url = context, base_url
        self.origin = "{0.scheme}://{0.netloc}/".format(urlsplit(base_url))
        self.requests, self.blocked, self.failed, self.errors = [], [], [], []
        context.route("**/*", self._route)
        context.on("request", lambda request: self.requests.append(request.url))
        # A request the browser cancels (net::ERR_ABORTED) because the page was left, such as the
        # search worker's language scripts, is no failure; a missing file answers 404 (below).
        context.on("requestfailed", lambda request: request.failure != "net::ERR_ABORTED" and self.failed.append(
            f"{request.url} ({request.failure})"))
        context.on("response", lambda response: response.status >= 400 and self.failed.append(
            f"{response.url} (HTTP {response.status})"))
        self.page = context.new_page()
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(
            f"console error: {message.text} at {message.location.get('url')}"))
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught error: {error}"))

    def _route(self, route):
        if route.request.url.startswith(self.origin):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def open(self, path: str):
        """Go to a page of the site; returns the main response. Clears the records first."""
        for record in (self.requests, self.blocked, self.failed, self.errors):
            record.clear()
        response = self.page.goto(self.base_url + path, wait_until="load")
        # The search worker loads its language scripts (Japanese segmenter) after "load"; leaving
        # before they arrive aborts them, which would count as failed requests.
        self.page.wait_for_load_state("networkidle")
        return response

    def problems(self, expected_404: str | None = None) -> list[str]:
        """Everything that went wrong since the last :meth:`open`, but the one 404 expected."""
        return ([f"request leaving localhost (blocked): {url}" for url in self.blocked]
                + [f"failed request: {what}" for what in self.failed if what != f"{expected_404} (HTTP 404)"]
                + [error for error in self.errors
                   if not (expected_404 and error.startswith("console error: Failed to load resource")
                           and error.endswith(f" at {expected_404}"))])


@pytest.fixture(scope="session")
def reader(site_server, tmp_path_factory):
    # Skipped without the browser when run by hand; in CI (`make test` installs it) it fails.
    if not os.access(CHROMIUM, os.X_OK) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            color_scheme="light", viewport={"width": 1280, "height": 900}, service_workers="block")
        try:
            context.set_default_timeout(10_000)
            yield Reader(context, site_server)
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


# A word as a reader types it: Latin letters on an English page; on a Japanese one, a run of
# katakana (テンソル) that the search's Japanese segmenter keeps whole.
WORDS = {None: r"(?<![\w.])[A-Za-z]{6,}(?![\w.])", "ja": r"(?<![\u30a0-\u30ff])[\u30a1-\u30fa\u30fc]{4,}(?![\u30a0-\u30ff])"}


def _search_word(site: Path, page: str) -> str:
    """A word of the page that as few other pages as possible contain (most frequent on it first)."""
    docs = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))["docs"]
    words_of = {}
    for doc in docs:
        text = re.sub(r"<[^>]+>", " ", doc["title"] + " " + doc["text"])
        words_of.setdefault(doc["location"].split("#")[0], Counter()).update(
            w.lower() for w in re.findall(WORDS[language_of(page)[1]], text))
    mine = words_of.get(page_path(page), Counter())
    assert mine, f"{page}: not in the search index"
    spread = Counter(w for words in words_of.values() for w in words)
    return min(mine, key=lambda w: (spread[w], -mine[w], w))


def _luminance(rgb):
    """Relative luminance (WCAG) of RGB values 0-255, along the last axis."""
    import numpy as np

    c = np.asarray(rgb, dtype=float) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])


def _pixels(png: bytes):
    """The RGB pixels of a screenshot, less a 2-pixel rim (element shots round outwards)."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[2:-2, 2:-2].reshape(-1, 3).astype(int)


def _plot_readability(shown: bytes) -> tuple[float, float, int]:
    """How a plot reads on the page: (luminance of what it sits on, contrast of its text and axes
    against that, number of such pixels). The contrast is that of the strokes' cores (the 90th
    percentile: most pixels of 10 pt text are anti-aliased edges).

    What it sits on is its most common colour (the page's background: the figures are
    transparent). Its text and axes are the grey pixels (coloured data such as lines and heat
    maps left out) that differ clearly from that background: black ink left on a dark page is
    found, and fails, as much as light ink on a light one.
    """
    import numpy as np

    shown = _pixels(shown)
    # Each colour as one integer (same order as the rows): np.unique(axis=0) takes 50 times as long.
    colours, counts = np.unique(shown @ [65536, 256, 1], return_counts=True)
    commonest = colours[counts.argmax()]
    back = np.array([commonest >> 16, commonest >> 8 & 255, commonest & 255])
    background = float(_luminance(back))
    ink = (np.ptp(shown, axis=1) < 12) & (np.abs(shown - back).sum(axis=1) > 60)
    if not ink.any():
        return background, 0.0, 0
    lum = _luminance(shown[ink])
    contrast = (np.maximum(background, lum) + 0.05) / (np.minimum(background, lum) + 0.05)
    return background, float(np.percentile(contrast, 90)), int(ink.sum())


def _check_plots(reader, scheme: str, page: str) -> list[str]:
    """Every plot shown is the drawing made for the scheme, through no CSS filter, and reads on the
    page's own background: text and axes at a contrast of at least 4.5:1 (WCAG AA for text)."""
    problems = []
    suffix = "-dark.svg#only-dark" if scheme == "slate" else ".svg#only-light"
    for number, plot in enumerate(reader.page.locator("article img.plot:visible").all(), start=1):
        where = f"{page}, plot {number} ({plot.get_attribute('src')}), {scheme} scheme"
        if not plot.get_attribute("src").endswith(suffix):
            problems.append(f"{where}: not the drawing made for the scheme (*{suffix})")
        filtered = plot.evaluate("""img => { const found = [];
            for (let el = img; el; el = el.parentElement)
                if (getComputedStyle(el).filter !== 'none') found.push(el.tagName + ': ' + getComputedStyle(el).filter);
            return found; }""")
        if filtered:
            problems.append(f"{where}: shown through a CSS filter: {filtered}")
        plot.scroll_into_view_if_needed()
        background, contrast, pixels = _plot_readability(plot.screenshot(animations="disabled"))
        if (background > 0.5) != (scheme == "default"):
            problems.append(f"{where}: sits on a background of luminance {background:.2f}, "
                            "which does not follow the scheme")
        if not pixels:
            problems.append(f"{where}: no text or axes found in the figure")
        elif contrast < 4.5:
            problems.append(f"{where}: its text and axes stand out {contrast:.1f}:1 from the background (< 4.5:1)")
    return problems


# A plot shown at less than this fraction of its drawn size is too small to read (10 pt labels
# under 7 px) and must open larger when clicked.
SMALLEST_READABLE_SCALE = 0.5


def _check_small_plots(reader, page: str) -> list[str]:
    """Every plot shown below a readable size opens larger in the lightbox (glightbox)."""
    problems = []
    for plot in reader.page.locator("article img.plot:visible").all():
        scale = plot.evaluate("img => img.getBoundingClientRect().width / img.naturalWidth")
        if scale >= SMALLEST_READABLE_SCALE:
            continue
        where = f"{page}: {plot.get_attribute('src')} shown at {scale:.2f} of its size"
        if not plot.evaluate("img => !!img.closest('a.glightbox')"):
            problems.append(f"{where}, and it does not open larger")
            continue
        plot.click()
        opened = reader.page.locator(".glightbox-container .gslide.current img")
        opened.wait_for(state="visible", timeout=5000)
        if opened.evaluate("img => img.getBoundingClientRect().width") <= plot.bounding_box()["width"]:
            problems.append(f"{where}, and the lightbox shows it no larger")
        reader.page.keyboard.press("Escape")
        reader.page.locator(".glightbox-container").wait_for(state="detached", timeout=5000)
    return problems


# Formulas: every one is KaTeX's output, none failed, its fonts are the site's own and loaded,
# and none is clipped: a display formula fits its box or scrolls in it with the scroll cue (the
# box's gradient shadows), never cut off at the top or bottom; no inline formula is wider than
# the column.
FORMULAS = """() => {
    const marked = [...document.querySelectorAll('article .arithmatex')];
    const texts = [];
    const walker = document.createTreeWalker(document.querySelector('article'), NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode;
        if (!node.parentElement.closest('pre, code, script, style, annotation')) texts.push(node.data);
    }
    const column = document.querySelector('article').getBoundingClientRect();
    const problems = [];
    marked.forEach((box, i) => {
        const name = `formula ${i + 1} (${(box.querySelector('annotation') || box).textContent.slice(0, 40)})`;
        if (!box.querySelector('.katex')) problems.push(`${name}: not typeset by KaTeX`);
        if (box.querySelector('.katex-error')) problems.push(`${name}: KaTeX reported an error`);
        const style = getComputedStyle(box);
        if (box.tagName === 'DIV') {
            if (box.scrollWidth > box.clientWidth + 1 && !(['auto', 'scroll'].includes(style.overflowX)
                    && style.backgroundImage.includes('gradient')))
                problems.push(`${name}: wider than its box with no scroll cue`);
            if (box.scrollHeight > box.clientHeight + 1)
                problems.push(`${name}: cut off at the top or bottom (${box.scrollHeight} > ${box.clientHeight} px)`);
        } else {
            const rect = box.getBoundingClientRect();
            if (rect.width > column.width + 1) problems.push(`${name}: an inline formula wider than the column`);
        }
    });
    const katexFonts = [...document.fonts].filter(f => f.family.replace(/"/g, '').startsWith('KaTeX_'));
    const failed = katexFonts.filter(f => f.status === 'error').map(f => f.family);
    if (failed.length) problems.push(`KaTeX fonts failed to load: ${failed}`);
    if (marked.length && !katexFonts.some(f => f.status === 'loaded')) problems.push('no KaTeX font loaded');
    return {marked: marked.length, text: texts.join(''), problems};
}"""

# Code and output blocks: none scrolls sideways (outputs wrap; code fits in 80 columns, except
# for the lines still longer, reported apart), and no text of a block lies under its copy buttons.
BLOCKS = """() => {
    const problems = [], longLines = [];
    document.querySelectorAll('article div.highlight').forEach((block, i) => {
        const code = block.querySelector('pre > code');
        if (!code) return;
        const kind = block.classList.contains('output') ? 'output' : 'code';
        const name = `${kind} block ${i + 1} (${code.textContent.trim().split('\\n')[0].slice(0, 40)})`;
        if (code.scrollWidth > code.clientWidth + 1) {
            const longest = Math.max(...code.textContent.split('\\n').map(l => l.length));
            if (block.classList.contains('output') || longest <= 80)
                problems.push(`${name}: scrolls sideways (${code.scrollWidth} > ${code.clientWidth} px)`);
            else longLines.push(`${name}: a line of ${longest} columns`);
        }
        const nav = block.querySelector('.md-code__nav');
        if (!nav) return;
        const button = nav.getBoundingClientRect();
        const range = document.createRange();
        const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
            const text = walker.currentNode;
            if (!text.data.trim()) continue;
            range.selectNodeContents(text);
            const hit = [...range.getClientRects()].some(r => r.width && r.left < button.right
                && r.right > button.left && r.top < button.bottom && r.bottom > button.top);
            if (hit) { problems.push(`${name}: text under the copy button`); break; }
        }
    });
    return {problems, longLines};
}"""


def _scheme(reader) -> str:
    return reader.page.get_attribute("body", "data-md-color-scheme")


def _toggle_scheme(reader) -> str:
    before = _scheme(reader)
    reader.page.locator("form[data-md-component=palette] label:visible").first.click()
    reader.page.wait_for_function(f"document.body.getAttribute('data-md-color-scheme') !== {before!r}",
                                  timeout=5000)
    return _scheme(reader)


WIDTHS = (390, 1280)


@pytest.mark.parametrize("page", doc_pages())
def test_page_as_a_reader_sees_it(page, reader, built_site):
    """One load per page, looked at in a 390 px window and then widened to 1280 px (the layout
    follows the width through CSS media queries and Material's listeners); the search, which
    leaves its overlay behind, is tried last."""
    reader.page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    response = reader.open(page_path(page))
    assert response.status == 200, f"{page}: HTTP {response.status}"
    reader.page.evaluate("document.fonts.ready")
    problems = _check_language_switch(reader, page)
    for width in WIDTHS:
        reader.page.set_viewport_size({"width": width, "height": 900})
        problems += [f"{width} px: {problem}" for problem in _check_at(reader, page, width, built_site)]
    problems += reader.problems()  # requests and console errors from loading, toggling and searching
    assert sorted(set(problems)) == [], f"{page}:\n" + "\n".join(sorted(set(problems)))


def _check_at(reader, page, width, built_site) -> list[str]:
    problems = []
    # Images: every one loaded.
    broken = reader.page.evaluate("""() => [...document.images]
        .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'))""")
    problems += [f"image did not load: {src}" for src in broken]

    # The page itself never scrolls sideways.
    wide = reader.page.evaluate("document.documentElement.scrollWidth")
    if wide > width:
        problems.append(f"the page is {wide} px wide in a {width} px window")

    # Light and dark: the switch changes the scheme; in each, the formulas, blocks and plots are
    # checked. The choice is remembered, so the widths (and pages) are seen alternately light and dark.
    markdown = (PROJECT_DIR / "docs" / page).read_text(encoding="utf-8")
    first = _scheme(reader)
    for turn in range(2):
        scheme = _scheme(reader) if turn == 0 else _toggle_scheme(reader)
        if turn == 1 and scheme == first:
            problems.append(f"the palette toggle left the scheme at {first!r}")
        where = f"{width} px, {scheme}"
        math = reader.page.evaluate(FORMULAS)
        if re.search(r"\\\(|\\\[", markdown) and not math["marked"]:
            problems.append("the Markdown has formulas but the page has none")
        problems += [f"{where}: {problem}" for problem in math["problems"]]
        leftover = RAW_TEX.findall(math["text"])
        if leftover:
            problems.append(f"raw TeX in the visible text: {sorted(set(leftover))}")
        blocks = reader.page.evaluate(BLOCKS)
        if width == 1280:
            problems += [f"{where}: {problem}" for problem in blocks["problems"]]
        else:  # at 390 px code may scroll (80 columns do not fit a phone); outputs still wrap
            problems += [f"{where}: {problem}" for problem in blocks["problems"]
                         if not problem.startswith("code block") or "scrolls sideways" not in problem]
        problems += _check_plots(reader, scheme, page)
        if width == 390:
            problems += _check_small_plots(reader, page)

    # Search (at 1280 px, where the search field is in the header): a word of this page finds it.
    if width == 1280:
        problems += _check_search(reader, built_site, page)
    return problems


def _check_language_switch(reader, page) -> list[str]:
    """The header's language menu links an English page to its translation and back."""
    english, language = language_of(page)
    if language is None and not (PROJECT_DIR / "docs" / page.replace(".md", ".ja.md")).exists():
        return []
    other, hreflang = (page.replace(".md", ".ja.md"), "ja") if language is None else (english, "en")
    lang = reader.page.get_attribute("html", "lang")
    if lang != (language or "en"):
        return [f"<html lang={lang!r}> on a page in {language or 'en'!r}"]
    switch = reader.page.locator(f'.md-select a[hreflang="{hreflang}"]')
    if switch.count() != 1:
        return [f"no language switch to {hreflang!r} in the header"]
    href = switch.evaluate("a => a.href")
    expected = reader.base_url + page_path(other)
    return [] if href == expected else [f"the language switch leads to {href}, not {expected}"]


def _check_search(reader, built_site, page: str) -> list[str]:
    problems = []
    word = _search_word(built_site, page)
    search = reader.page.locator("input.md-search__input")
    search.click(timeout=5000)
    search.fill("")
    search.press_sequentially(word)
    search.press("End")  # a key event: Japanese letters are typed as text input, which alone may not start the search
    target = reader.base_url + page_path(page)
    try:
        reader.page.wait_for_function("""target => [...document.querySelectorAll('.md-search-result__link')]
            .some(a => a.href.split(/[?#]/)[0] === target)""", arg=target, timeout=10000)
    except Exception:  # noqa: BLE001 - report what was found instead
        found = reader.page.eval_on_selector_all(".md-search-result__link", "as => as.map(a => a.href)")
        meta = reader.page.inner_text(".md-search-result__meta")
        problems.append(f"searching {word!r} ({search.input_value()!r} typed, {meta!r}) does not list {target}; "
                        f"it lists {found[:10]}")
    reader.page.keyboard.press("Escape")
    return problems


def test_a_plot_opens_larger_in_the_lightbox(reader, built_site):
    """Clicking a plot opens it in the lightbox (the site's own copy of GLightbox, no request
    elsewhere), larger than on a phone's page, and Escape closes it."""
    page = next(page for page in doc_pages()
                if 'class="plot"' in (built_site / page_path(page) / "index.html").read_text(encoding="utf-8"))
    reader.page.set_viewport_size({"width": 390, "height": 900})
    reader.open(page_path(page))
    plot = reader.page.locator("article img.plot:visible").first
    plot.scroll_into_view_if_needed()
    inline = plot.bounding_box()["width"]
    reader.page.set_viewport_size({"width": 1280, "height": 900})
    plot.click()
    opened = reader.page.locator(".glightbox-container .gslide.current img")
    opened.wait_for(state="visible", timeout=5000)
    assert opened.evaluate("img => img.src").split("#")[0] == plot.evaluate("img => img.src").split("#")[0]
    assert _settled_width(reader, opened) > inline
    reader.page.keyboard.press("Escape")
    reader.page.locator(".glightbox-container").wait_for(state="detached", timeout=5000)
    assert reader.problems() == []


def _settled_width(reader, element) -> float:
    """The element's width once its opening animation is over (two equal readings 0.1 s apart)."""
    last = None
    for _ in range(50):
        width = element.bounding_box()["width"]
        if width == last:
            return width
        last = width
        reader.page.wait_for_timeout(100)
    return last


def test_unknown_address_gets_the_sites_404_page(reader):
    response = reader.open("no/such/page/")
    assert response.status == 404
    assert reader.page.locator("article h1").inner_text() == "Page not found"
    listed = reader.page.eval_on_selector_all("article .not-found-pages a", "as => as.map(a => a.href)")
    assert len(listed) == len(doc_pages(None))
    assert reader.page.evaluate("getComputedStyle(document.querySelector('.md-header')).position") == "sticky", \
        "the 404 page's stylesheet did not load"
    assert reader.problems(expected_404=reader.base_url + "no/such/page/") == []
    reader.page.locator("article a", has_text="Go to the home page").click()
    reader.page.wait_for_load_state("load")
    assert reader.page.url == reader.base_url
    assert reader.problems(expected_404=reader.base_url + "no/such/page/") == []


def test_plot_check_notices_a_plot_that_ignores_the_scheme(reader, built_site):
    """The readability check above can fail: the light drawing shown on the dark page is caught."""
    with_plots = [page for page in doc_pages()
                  if 'class="plot"' in (built_site / page_path(page) / "index.html").read_text(encoding="utf-8")]
    if not with_plots:
        pytest.skip("no page has a plot yet")
    reader.open(page_path(with_plots[0]))
    if _scheme(reader) != "slate":
        _toggle_scheme(reader)
    reader.page.add_style_tag(content='[data-md-color-scheme="slate"] img.plot[src$="#only-light"] '
                                      '{ display: block !important; } img.plot[src$="#only-dark"] { display: none !important; }')
    problems = _check_plots(reader, "slate", with_plots[0])
    _toggle_scheme(reader)
    plots = reader.page.locator("article img.plot:visible").count()
    assert plots and len([p for p in problems if "stand out" in p or "no text" in p]) == plots, problems


# --- Without a browser: links, anchors and the page list of the built site ---

class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name"):
            if attrs.get(name) and (name == "id" or tag == "a"):
                self.ids.add(attrs[name])
        for name in ("href", "src"):
            if attrs.get(name) is not None and tag in ("a", "link", "script", "img", "source", "iframe"):
                self.links.append((tag, attrs[name]))


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_link_and_anchor_of_the_built_site_resolves(built_site):
    prefix = site_url_path()
    parsed, problems = {}, []
    pages = sorted(built_site.rglob("*.html"))
    for html in pages:
        for tag, link in _parse(html).links:
            split = urlsplit(link)
            if split.scheme or link.startswith(("mailto:", "javascript:", "//")):
                continue
            if split.path.startswith("/"):
                if not split.path.startswith(prefix):
                    problems.append(f"{html.relative_to(built_site)}: {link} is outside the site ({prefix})")
                    continue
                target = built_site / unquote(split.path[len(prefix):])
            else:
                target = (html.parent / unquote(split.path)) if split.path else html
            if target.is_dir() or split.path.endswith("/"):
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{html.relative_to(built_site)}: <{tag}> {link} points to nothing")
            elif split.fragment and target.suffix == ".html":
                if target not in parsed:
                    parsed[target] = _parse(target).ids
                ids = parsed[target]
                if unquote(split.fragment) not in ids:
                    problems.append(f"{html.relative_to(built_site)}: {link}: no #{split.fragment} there")
    assert len(pages) > len(doc_pages())
    assert problems == []


def test_every_page_is_built_and_in_the_sitemap(built_site):
    sitemap = (built_site / "sitemap.xml").read_text(encoding="utf-8")
    listed = {urlsplit(loc).path[len(site_url_path()):] for loc in re.findall(r"<loc>([^<]+)</loc>", sitemap)}
    config = (PROJECT_DIR / "mkdocs.yml").read_text(encoding="utf-8")  # each language shows every page
    languages = set(re.findall(r"^\s*- locale: (\w+)\s*$", config, re.MULTILINE)) - {"en"}
    assert listed == {f"{language}/" * bool(language) + page_path(page)
                      for page in doc_pages(None) for language in {None} | languages}
    assert all((built_site / page_path(page) / "index.html").exists() for page in doc_pages())


# --- The Japanese edition (docs/<page>.ja.md, under /ja/) ---

def test_japanese_404_page(reader):
    if not doc_pages("ja"):
        pytest.skip("no page is translated yet")
    response = reader.open("ja/404.html")
    assert response.status == 200
    assert reader.page.locator("article h1").inner_text() == "ページが見つかりません"
    assert reader.page.get_attribute("html", "lang") == "ja"
    listed = reader.page.eval_on_selector_all("article .not-found-pages a", "as => as.map(a => a.href)")
    assert len(listed) == len(doc_pages(None)) and all("/ja/" in href for href in listed)
    assert reader.problems() == []
