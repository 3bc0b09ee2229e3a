"""Run examples in worker processes and capture what they print and plot.

Each worker imports torch once; each example then runs in a fork of its worker,
so no example sees another's state (random generators, figures, globals).
Only this module touches torch and matplotlib, and only inside the workers.
"""

from __future__ import annotations

import atexit
import importlib
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from multiprocessing import get_context

from .examples import PROJECT_DIR, Example

LARGEST_LISTED_ARRAY = 400
# An example still running after this many seconds is stopped and reported with the line it was on.
TIME_LIMIT = int(os.environ.get("SNIPPETS_TIME_LIMIT", "120"))
SVG_SALT = "autograd-pages"


def submit_examples(examples: list[Example], workers: int | None = None) -> dict[str, Future]:
    """Start running examples on ``workers`` processes (default: every core) and return at
    once: ``id -> future`` of the example's result, in the order given.

    A result has ``text`` (stdout and stderr, interleaved as written),
    ``figures`` (each with ``svg``, ``alt`` and plotted ``data``), ``error``
    (``None``, or ``path:line: what was raised``) and ``seconds`` (running it and saving its
    figures).

    Examples:
        >>> futures = submit_examples([Example("autograd_basics", "chain_rule", 0)])
        >>> futures["autograd_basics:chain_rule"].result()["text"].splitlines()[0]
        'tensor(15.)'
    """
    if not examples:
        return {}
    count = min(workers or os.cpu_count() or 1, len(examples))
    pool = start_workers(count, warm_up=len(examples) > count)
    return {e.id: pool.submit(run_in_fork, e.module, e.name) for e in examples}


_pool: dict = {"executor": None, "size": 0}


def start_workers(count: int, warm_up: bool = True) -> ProcessPoolExecutor:
    """Start ``count`` worker processes now (or reuse those already running) and return them.

    Starting a worker means importing torch, a second or two that the build
    overlaps with its own start-up; ``mkdocs serve`` keeps the workers between
    rebuilds, so editing one example re-runs it at once. Workers never import a
    page module themselves (each example imports it in its fork), so they never
    hold stale code. ``warm_up`` also pays torch's lazy imports and matplotlib's
    first figure up front, worth it when each worker will run several examples.

    Examples:
        >>> start_workers(1, warm_up=False) is start_workers(1)
        True
    """
    count = max(1, count)
    executor = _pool["executor"]
    if executor is None or _pool["size"] < count or getattr(executor, "_broken", False):
        if executor is not None:
            executor.shutdown(wait=False)  # what it was given still runs
        executor = ProcessPoolExecutor(count, mp_context=get_context("spawn"), initializer=_start_worker,
                                       initargs=(warm_up,))
        for _ in range(count):  # a spawn pool starts a process per waiting task: start them all
            executor.submit(os.getpid)
        _pool.update(executor=executor, size=count)
    return executor


def stop_workers() -> None:
    """Stop the worker processes, waiting for them to exit (they stop by themselves at exit too).

    Examples:
        >>> stop_workers(); _pool["executor"] is None
        True
    """
    if _pool["executor"] is not None:
        _pool["executor"].shutdown(wait=True)
    _pool.update(executor=None, size=0)


def _start_worker(warm_up: bool) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    atexit.register(_exit_at_once)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401 - every example's fork would import it otherwise
    import torch

    torch.set_num_threads(1)
    if warm_up:
        _warm_up()


def _exit_at_once() -> None:
    """A worker keeps nothing: skip the half second that tearing down torch takes at exit,
    which the build would otherwise wait for. Registered first, so it runs last."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _exit_with_parent(parent: int) -> None:
    """Leave when the build is gone. A build that is killed (``kill``, not Ctrl-C) cannot stop
    its workers, and they would wait for work forever, each holding torch in memory."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _warm_up() -> None:
    """Pay lazy imports and first-use costs once per worker rather than once per forked example:
    backward with an explicit gradient imports sympy through torch.fx (0.3 s), the first
    optimizer step imports torch._dynamo (2 s), and the first figure saved loads the fonts
    and builds the parser for the log axes' $10^{k}$ labels (0.25 s)."""
    import matplotlib.pyplot as plt
    import torch

    weight = torch.ones(2, requires_grad=True)
    for optimizer in (torch.optim.SGD([weight], lr=0.1, momentum=0.9), torch.optim.Adam([weight], lr=0.1)):
        weight.mul(2).backward(torch.ones(2))
        optimizer.step()
    figure, axes = plt.subplots()
    axes.semilogy([1, 2], [1, 100], label="$w$")
    axes.legend()
    _figure(figure)
    plt.close(figure)


def run_in_fork(module_name: str, name: str) -> dict:
    """Run one example in a child process and return what [`capture`][snippets.pipeline.execute.capture] saw.

    Examples:
        >>> run_in_fork("autograd_basics", "chain_rule")["error"] is None
        True
    """
    where = f"snippets/{module_name}.py: example {name!r}"
    return in_fork(lambda: capture(importlib.import_module(f"snippets.{module_name}"), name), where)


def in_fork(run, where: str) -> dict:
    """Call ``run()`` in a forked child under the time limit; return its result (a JSON-able dict).

    The child imports the page as it is now, so workers never hold stale code,
    and leaves without cleanup handlers. ``where`` names the example in errors.

    Examples:
        >>> in_fork(lambda: {"text": "hi"}, "nowhere")
        {'text': 'hi'}
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        signal.signal(signal.SIGALRM, _out_of_time)
        signal.alarm(TIME_LIMIT)
        try:
            payload = json.dumps(run())
        except BaseException as problem:  # noqa: BLE001 - report anything, never hang the parent
            payload = json.dumps({"text": "", "figures": [], "seconds": 0.0, "error": f"{where}: {problem!r}"})
        with os.fdopen(write_end, "w", encoding="utf-8") as pipe:
            pipe.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not payload:
        return {"text": "", "figures": [], "seconds": 0.0, "error": f"{where} killed its process (status {status})"}
    return json.loads(payload)


def _out_of_time(signum, frame):
    raise TimeoutError(f"the example ran longer than {TIME_LIMIT} s (SNIPPETS_TIME_LIMIT)")


def capture(module, name: str) -> dict:
    """Call ``module.name()`` and capture its text, figures, time and any exception.

    Examples:
        >>> import snippets.autograd_basics as page
        >>> capture(page, "chain_rule")["figures"]
        []
    """
    import matplotlib.pyplot as plt

    plt.close("all")
    plt.show = lambda *args, **kwargs: None  # figures are collected below instead
    buffer = io.StringIO()
    error = None
    start = time.perf_counter()
    with redirect_stdout(buffer), redirect_stderr(buffer), warnings.catch_warnings():
        warnings.showwarning = lambda message, category, *rest, **kw: buffer.write(
            f"{category.__name__}: {message}\n")
        try:
            getattr(module, name)()
        except Exception as problem:  # noqa: BLE001 - an example that raises is reported, not fatal
            error = _describe(problem, module.__file__)
    figures = [_figure(plt.figure(number)) for number in plt.get_fignums()]
    plt.close("all")
    seconds = time.perf_counter() - start  # what the example costs a build, saving its figures included
    return {"text": buffer.getvalue(), "figures": figures, "error": error, "seconds": seconds}


def _describe(problem: Exception, module_file: str) -> str:
    """``snippets/page.py:LINE: Type: message``, naming the deepest line of the page module."""
    frames = [f for f in traceback.extract_tb(problem.__traceback__) if f.filename == module_file]
    where = f"{os.path.relpath(module_file, PROJECT_DIR)}:{frames[-1].lineno}" if frames else module_file
    return f"{where}: {''.join(traceback.format_exception_only(problem)).strip()}"


def _figure(figure) -> dict:
    """A figure's record (its plotted data and alt text) and its SVG twice: as drawn (for the light
    scheme) and with its greys turned for the dark one (`_for_dark_scheme`)."""
    titles = [figure.get_suptitle()] + [axes.get_title() for axes in figure.axes]
    data = _plotted(figure)
    light = _svg(figure)
    _for_dark_scheme(figure)
    return {"svg": light, "svg_dark": _svg(figure), "alt": "; ".join(t for t in titles if t), "data": data}


def _svg(figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight", transparent=True)
    return buffer.getvalue()


def _for_dark_scheme(figure) -> None:
    """Restyle a drawn figure for a dark page: every grey (text, axes, ticks, grids, legend
    frames, black lines) turned round ([`dark_grey`][snippets.pipeline.execute.dark_grey]); coloured lines and colormapped data
    keep their colours, so a colormap means the same in both schemes."""
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Text

    for artist in figure.findobj():
        if isinstance(artist, Text):
            artist.set_color(dark_grey(artist.get_color()))
        elif isinstance(artist, Line2D):
            artist.set_color(dark_grey(artist.get_color()))
            artist.set_markeredgecolor(dark_grey(artist.get_markeredgecolor()))
            artist.set_markerfacecolor(dark_grey(artist.get_markerfacecolor()))
        elif isinstance(artist, Patch):
            artist.set_edgecolor(dark_grey(artist.get_edgecolor()))
            artist.set_facecolor(dark_grey(artist.get_facecolor()))
        elif isinstance(artist, Collection) and artist.get_array() is None:
            artist.set_edgecolor([dark_grey(c) for c in artist.get_edgecolor()])
            artist.set_facecolor([dark_grey(c) for c in artist.get_facecolor()])


def dark_grey(colour):
    """The colour to draw ``colour`` in on a dark page: a grey is turned round (black ink
    becomes light grey, a white legend frame dark grey); any other colour, and ``"none"``,
    stays as it is. Returns an RGBA tuple (or ``"none"``).

    Examples:
        >>> dark_grey("black"), dark_grey("white")
        ((0.9, 0.9, 0.9, 1.0), (0.15, 0.15, 0.15, 1.0))
        >>> dark_grey("tab:blue") == __import__("matplotlib").colors.to_rgba("tab:blue")
        True
    """
    from matplotlib.colors import to_rgba

    if isinstance(colour, str) and colour.lower() == "none":
        return colour
    red, green, blue, alpha = to_rgba(colour)
    if max(red, green, blue) - min(red, green, blue) > 0.08:
        return (red, green, blue, alpha)
    turned = round(0.9 - 0.75 * (0.2126 * red + 0.7152 * green + 0.0722 * blue), 4)
    return (turned, turned, turned, alpha)


def _plotted(figure) -> dict:
    """The numbers a figure draws, keyed by where they are drawn."""
    data = {}
    for a, axes in enumerate(figure.axes):
        for i, line in enumerate(axes.get_lines()):
            data[f"axes{a}.line{i}"] = _numbers(line.get_xydata())
        for i, image in enumerate(axes.get_images()):
            data[f"axes{a}.image{i}"] = _numbers(image.get_array())
        for i, collection in enumerate(axes.collections):
            array = collection.get_array()
            source = collection.get_offsets() if array is None else array
            data[f"axes{a}.collection{i}"] = _numbers(source)
    return data


def _numbers(values) -> dict:
    import numpy as np

    array = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    if array.size <= LARGEST_LISTED_ARRAY:
        return {"shape": list(array.shape), "values": [float(f"{v:.8g}") for v in array.ravel()]}
    finite = array[np.isfinite(array)]
    summary = [finite.min(), finite.max(), finite.mean(), np.sqrt((finite ** 2).mean())] if finite.size else []
    return {"shape": list(array.shape), "min_max_mean_rms": [float(f"{v:.8g}") for v in summary]}
