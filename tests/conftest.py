"""Shared fixtures: the examples' outputs are produced once per test session."""

import matplotlib
import pytest

matplotlib.use("Agg")

from snippets.pipeline import build


@pytest.fixture(scope="session")
def outcomes():
    """Every example run (or recalled from the cache) and compared with its record."""
    return build.produce(execute=True)


@pytest.fixture(autouse=True)
def close_figures():
    """Examples draw with pyplot; close what each test left open."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# --- The built site, as a reader gets it (helpers in tests/reader.py) ---

import http.server
import os
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

from reader import ReaderPython, SiteHandler, doc_pages, page_code, site_url_path
from snippets.pipeline.examples import PROJECT_DIR


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The site built once per session (examples from the cache where they are there)."""
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-d", str(site)],
                         cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    return site


@pytest.fixture(scope="session")
def site_server(built_site):
    """The built site served on a free localhost port; yields its base URL (ending in /)."""
    handler = type("Handler", (SiteHandler,), {"prefix": site_url_path()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(built_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}{site_url_path()}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def reader_python(tmp_path_factory, built_site) -> ReaderPython:
    """A fresh Python per run; every page's copied blocks and downloaded script are run up front,
    all at once on every core, and the tests then read the remembered results."""
    reader = ReaderPython(tmp_path_factory.mktemp("reader"))
    pages = [page_code(built_site, page) for page in doc_pages()]
    reader.run_many([job for code in pages if code.blocks for job in (code.copy_job(), code.script_job())])
    return reader

