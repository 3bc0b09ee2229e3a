"""Shared fixtures: the examples' outputs are produced once per test session."""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
# One thread, as the build's workers run the examples (execute.py): the tests call the examples
# in this process, and on a busy 2-core machine two threads made one small training loop take
# 24 s instead of 1.5 s.
torch.set_num_threads(1)

# The fixture site's page modules are a `snippets` package of their own, imported only by the
# builds tests/test_fixture_site.py runs on a copy of it.
collect_ignore_glob = ["fixtures/*"]

import shutil
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import snippets
from snippets.pipeline import build, cache, downloads, examples, execute
from snippets.pipeline.settings import Settings


@pytest.fixture(scope="session")
def outcomes():
    """Every example run (or recalled from the cache) and compared with its record."""
    return build.produce(execute=True)


FIXTURE_SITE = Path(__file__).parent / "fixtures" / "tiny"


@dataclass
class Tiny:
    """A copy of the fixture site that the pipeline reads in this process: ``snippets`` is its
    folder of page modules, ``settings`` point at its records and at an empty cache."""

    site: Path
    snippets: Path
    settings: Settings

    def pipeline(self, **changes) -> build.Pipeline:
        return build.Pipeline(self.settings.but(**changes))

    def build(self, monkeypatch, strict: bool = True, **variables: str) -> Exception | None:
        """Build the site in this process as ``mkdocs build`` does (the plugin's start-up and
        shutdown included), with the ``SNIPPETS_*`` variables given; returns what stopped it, if
        anything (the log is in caplog). The variables default to this copy's records and cache."""
        from mkdocs.commands.build import build as mkdocs_build
        from mkdocs.config import load_config
        from mkdocs.exceptions import Abort

        monkeypatch.chdir(self.site)  # pymdownx.snippets reads includes from the working folder
        defaults = {"SNIPPETS_CACHE": str(self.settings.cache_dir), "SNIPPETS_RECORDS": str(self.settings.records_dir),
                    "SNIPPETS_EXECUTE": "1"}
        for name, value in {**defaults, **variables}.items():
            monkeypatch.setenv(name, value)
        config = load_config(str(self.site / "mkdocs.yml"), strict=strict, site_dir=str(self.site / "site"))
        config.plugins.on_startup(command="build", dirty=False)
        try:
            mkdocs_build(config)
        except Abort as stopped:
            return stopped
        finally:
            config.plugins.on_shutdown()
        return None

    def page(self) -> str:
        """The built page's HTML."""
        return (self.site / "site" / "index.html").read_text(encoding="utf-8")

    def edit(self, old: str, new: str, module: str = "fixture_page") -> None:
        path = self.snippets / f"{module}.py"
        source = path.read_text(encoding="utf-8")
        assert old in source, f"{old!r} is not in {path}"
        path.write_text(source.replace(old, new), encoding="utf-8")


def _submit_in_forks(self, chosen, workers=None, kernels=""):
    """`Workers.submit` without the worker processes: each page's examples run in forks of a fork of
    this process, as a worker runs them (`run_page`); a result is ready when this returns."""
    futures = {}
    for task in execute.page_tasks(chosen, 1):
        results = execute.run_page(task[0].module, [e.name for e in task], self.time_limit)
        for e in task:
            futures[e.id] = Future()
            futures[e.id].set_result(results[e.name])
    return futures


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Tiny:
    """The fixture site (tests/fixtures/tiny), copied, and the pipeline pointed at it: its page
    modules are found there, imported from there (``snippets.fixture_page``) and run in forks of
    this process, its records read and written there, its cache empty. Fast: no worker starts."""
    site = tmp_path / "tiny"
    shutil.copytree(FIXTURE_SITE, site)
    folder = site / "snippets"
    for module in (examples, cache, downloads):
        monkeypatch.setattr(module, "SNIPPETS_DIR", folder)
    for module in (cache, downloads):
        monkeypatch.setattr(module, "DATA_DIR", folder / "data")
    monkeypatch.setattr(snippets, "__path__", [*snippets.__path__, str(folder)])
    monkeypatch.setattr(execute.Workers, "submit", _submit_in_forks)
    settings = Settings.from_environment({}, cache_dir=tmp_path / "cache", records_dir=folder / "records")
    return Tiny(site, folder, settings)


@pytest.fixture(autouse=True)
def close_figures():
    """Examples draw with pyplot; close what each test left open."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(autouse=True)
def torch_state_left_as_found(request):
    """The build runs each example in a process of its own; the tests run them in this one. An
    example that changes torch's global settings (``torch.set_default_dtype``) fails here, named,
    and the setting is put back, instead of failing the tests that happen to run after it."""
    before = execute.torch_settings()
    yield
    changed = execute.changed_settings(before, restore=True)
    assert not changed, f"{request.node.nodeid} changed torch's global state and left it so: {changed}"


# --- The built site, as a reader gets it (helpers in tests/reader.py) ---

import http.server
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

from reader import ReaderPython, SiteHandler, doc_pages, page_code, site_url_path
from snippets.pipeline import cache
from snippets.pipeline.examples import PROJECT_DIR, all_examples


# A child started from a shell's background job inherits SIGINT ignored (bash does that without job
# control), and Python then keeps ignoring it: Ctrl-C would never reach the build under test. Given
# as ``preexec_fn`` to the tests that stop a build or a server with Ctrl-C.
CTRL_C_REACHES_IT = partial(signal.signal, signal.SIGINT, signal.SIG_DFL)

# The session's site build always runs this example afresh (the others come from the cache where
# they are there), so the pages render while it runs, as after an author's edit (see test_site).
RUN_IN_SITE_BUILD = "autograd_basics:chain_rule"


@pytest.fixture(scope="session")
def site_build(tmp_path_factory) -> Future:
    """The site built once per session, in the background (tests take :func:`built_site`)."""
    site = tmp_path_factory.mktemp("site")
    with ThreadPoolExecutor(1) as background:
        yield background.submit(_build_site, site)


def _build_site(site: Path) -> Path:
    fresh = next(e for e in all_examples() if e.id == RUN_IN_SITE_BUILD)
    cache.entry(fresh).unlink(missing_ok=True)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-d", str(site)],
                         cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    (site.parent / "build.log").write_text(run.stderr, encoding="utf-8")
    assert run.returncode == 0, run.stderr[-4000:]
    return site


@pytest.fixture(scope="session")
def built_site(site_build) -> Path:
    """The site built once per session; its log is saved beside it as build.log."""
    return site_build.result()


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
def reader_python(tmp_path_factory, site_build):
    """A fresh Python per run (forked from a warm one, see ReaderPython). Every page's blocks (what test_copy copies and the notebook holds),
    every page's script, and every example's runnable copy start in the background as soon as the
    site is built, two at a time and at a lower priority, so they use what the other tests leave of
    the CPU; the tests wait for the remembered results."""
    reader = ReaderPython(tmp_path_factory.mktemp("reader"), workers=2, nice=10)

    def start_when_built():
        pages = [page_code(site_build.result(), page) for page in doc_pages()]
        reader.start([code.copy_job() for code in pages if code.blocks])  # test_copy, and the notebooks
        reader.start([code.script_job() for code in pages if code.blocks])  # test_downloads
        reader.start([job for code in pages for block in code.example_blocks() if "href" in block.runnable
                      for job in code.standalone_jobs(block)])  # test_standalone: each example alone

    reader.pool.submit(start_when_built)
    yield reader
    reader.close()


@pytest.fixture(scope="session", autouse=True)
def start_early(request):
    """The site build and the reader runs (~25 s of CPU) start before the first test, in the
    background, so they overlap with the rest of the session instead of holding it up. Only
    when a selected test needs them, so that running one test file stays fast."""
    needed = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    for name in ("site_build", "reader_python"):
        if name in needed:
            request.getfixturevalue(name)


def pytest_collection_modifyitems(items):
    """The tests that read the reader runs go last, so the runs have the whole session to finish in."""
    items.sort(key=lambda item: "reader_python" in getattr(item, "fixturenames", ()))
