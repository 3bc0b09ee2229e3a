"""`make serve` (`mkdocs serve --dirty`) on a copy of the fixture site (tests/fixtures/tiny) with a
second page: an edited example's page shows its new output and the page that does not show it is
not rendered again; an edited page is rendered again alone; the search index keeps each page once."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from conftest import CTRL_C_REACHES_IT
from snippets.pipeline.examples import PROJECT_DIR

FIXTURE = PROJECT_DIR / "tests" / "fixtures" / "tiny"
RENDERED = "Running `page_context` event from plugin 'examples'"  # logged (-v) for each page MkDocs renders


def _site(tmp_path):
    """The fixture beside a copy of the pipeline (so that `snippets` is the fixture's), with a
    second page that shows no example."""
    site = tmp_path / "fixture"
    shutil.copytree(FIXTURE, site)
    shutil.copytree(PROJECT_DIR / "snippets" / "pipeline", site / "snippets" / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (site / "node_modules").symlink_to(PROJECT_DIR / "node_modules")
    (site / "docs" / "other.md").write_text("# Other\n\nNo example on this page.\n", encoding="utf-8")
    config = (site / "mkdocs.yml").read_text(encoding="utf-8")  # served as the project is: snippets watched, search
    (site / "mkdocs.yml").write_text(config.replace("plugins:\n", "plugins:\n  - search\n") + "watch: [snippets]\n",
                                     encoding="utf-8")
    return site


def _fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.read().decode()
    except OSError:
        return ""


def _wait(condition, what, log, limit=120):
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            log.seek(0)
            raise AssertionError(f"never {what}:\n" + "".join(line for line in log.read().splitlines(True) if "GET " not in line)[-4000:])
        time.sleep(0.1)


def test_serve_renders_again_only_the_pages_an_edit_changes(tmp_path):
    site = _site(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clean = {key: value for key, value in os.environ.items()  # bytecode written as on a fresh machine
             if not key.startswith("SNIPPETS_") and key != "PYTHONDONTWRITEBYTECODE"}
    log = tempfile.TemporaryFile("w+", encoding="utf-8")
    server = subprocess.Popen([sys.executable, "-m", "mkdocs", "serve", "--dirty", "-v", "-a", f"127.0.0.1:{port}"],
                              cwd=site, env={**clean, "NO_MKDOCS_2_WARNING": "1", "PYTHONUNBUFFERED": "1"}, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True,
                              preexec_fn=CTRL_C_REACHES_IT)
    url = f"http://127.0.0.1:{port}/"

    def built_since(mark):
        """What MkDocs logged since ``mark``, once a build finished after it."""
        log.seek(mark)
        text = log.read()
        return text if "Documentation built in" in text else None

    try:
        _wait(lambda: "1.5" in _fetch(url) and "No example" in _fetch(url + "other/"), "served the first build", log)
        _wait(lambda: built_since(0), "finished the first build", log)

        mark = log.seek(0, os.SEEK_END)
        page = site / "snippets" / "fixture_page.py"
        page.write_text(page.read_text().replace("print(3 / 2)", 'print("edited", 3 / 2)'))
        _wait(lambda: "edited 1.5" in _fetch(url) and built_since(mark), "showed the edited example's output", log)
        rebuilt = built_since(mark)  # one page rendered (the plugin sees each page MkDocs renders), the edited one
        assert rebuilt.count(RENDERED) == 1 and "index.md is rendered again" in rebuilt, rebuilt

        mark = log.seek(0, os.SEEK_END)
        other = site / "docs" / "other.md"
        other.write_text("# Other\n\nEdited prose.\n", encoding="utf-8")
        os.utime(other, (1, 1))  # as when saved while a build wrote the page: the source older than it
        _wait(lambda: "Edited prose" in _fetch(url + "other/") and built_since(mark), "showed the edited page", log)
        rebuilt = built_since(mark)
        assert rebuilt.count(RENDERED) == 1 and "other.md is rendered again" in rebuilt, rebuilt
        assert "edited 1.5" in _fetch(url)  # the page not rendered again still shows the latest output

        locations = [entry["location"] for entry in json.loads(_fetch(url + "search/search_index.json"))["docs"]]
        assert sorted(set(locations)) == sorted(locations) and {"", "other/"} <= set(locations), locations
        log.seek(0)
        assert "__pycache__" not in log.read()  # the examples' bytecode is no change to rebuild for
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
        log.close()
