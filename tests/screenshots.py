"""Every page of a built site as a reader sees it: full-page screenshots at 1280 and 390 px, light
and dark, into an ignored folder for authors to look at before they commit (`make screenshots`),
and a count of what does not fit (code and output blocks wider than their column, display formulas
that run off their box with no cue), so a change can be compared before and after.

    python tests/screenshots.py [SITE_DIR] [OUT_DIR]

SITE_DIR defaults to site/ (`make build`), OUT_DIR to screenshots/.
"""

import http.server
import sys
import threading
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reader import SiteHandler, doc_pages, page_path, site_url_path  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WIDTHS = (1280, 390)
SCHEMES = ("light", "dark")

# What does not fit, measured in the page: a block whose content is wider than the block, and a
# display formula whose content is wider than its box while the box shows no scroll cue.
MEASURE = """() => {
    const wide = el => el.scrollWidth > el.clientWidth + 1;
    const blocks = [...document.querySelectorAll('article pre > code')].filter(wide).length;
    const cued = box => ['auto', 'scroll'].includes(getComputedStyle(box).overflowX)
        && getComputedStyle(box).backgroundImage.includes('gradient');
    const formulas = [...document.querySelectorAll('article div.arithmatex')]
        .filter(box => wide(box) && !cued(box)).length;
    const plots = [...document.querySelectorAll('article img.plot')]
        .filter(img => img.naturalWidth && img.getBoundingClientRect().width / img.naturalWidth < 0.5
                       && !img.closest('a.glightbox')).length;
    return {blocks, formulas, small_plots: plots};
}"""


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """The built site on a free localhost port, under its published path; returns the server and base URL."""
    handler = type("Handler", (SiteHandler,), {"prefix": site_url_path()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}{site_url_path()}"


def main(site: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    server, base = serve(site)
    totals = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for width in WIDTHS:
                for scheme in SCHEMES:
                    context = browser.new_context(viewport={"width": width, "height": 900},
                                                  color_scheme=scheme, service_workers="block")
                    page = context.new_page()
                    for doc in doc_pages():
                        page.goto(base + page_path(doc), wait_until="load")
                        page.evaluate("document.fonts.ready")
                        name = doc[:-len(".md")].replace("/", "_")
                        page.screenshot(path=str(out / f"{name}-{width}-{scheme}.png"), full_page=True)
                        counts = page.evaluate(MEASURE)
                        for key, value in counts.items():
                            totals[(width, scheme, key)] = totals.get((width, scheme, key), 0) + value
                            if value and scheme == "light":
                                print(f"{doc} at {width} px: {value} {key.replace('_', ' ')}")
                    context.close()
            browser.close()
    finally:
        server.shutdown()
    for (width, scheme, key), value in sorted(totals.items()):
        if scheme == "light":
            print(f"total at {width} px: {value} {key.replace('_', ' ')} "
                  "(blocks wider than the column; formulas running off with no cue; plots under half size)")
    print(f"screenshots: {out}/")


if __name__ == "__main__":
    arguments = sys.argv[1:] + [None, None]
    main(Path(arguments[0] or "site"), Path(arguments[1] or "screenshots"))
