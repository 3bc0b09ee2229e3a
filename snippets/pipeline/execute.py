"""Run examples in worker processes and capture what they print and plot.

The workers are forked from one server process that imported torch, and the libraries
the page modules import, once (see `Workers.start`). A worker runs a page's examples by forking
a process that imports the page module afresh, once, and runs each example in a fork of that
process (`run_page`): no example sees another's state (random generators, figures, globals,
what another page sets when imported, such as print options), and no worker holds stale code.
Only this module touches torch and matplotlib, and only inside the workers and their server.

Workers for another CPU kernel set (``ATEN_CPU_CAPABILITY=default``) are a pool
of their own, with the variable set before they import torch: torch reads it once.
Each fork seeds the random generators afresh from the operating system, so an
example that draws random numbers without seeding them prints new ones every run.
"""

from __future__ import annotations

import ast
import atexit
import ctypes
import faulthandler
import gc
import importlib
import io
import json
import multiprocessing
import os
import random
import re
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from functools import partial
from multiprocessing import get_context
from pathlib import Path

from .examples import PROJECT_DIR, Example, module_source, page_modules, sections
from .settings import Settings

LARGEST_LISTED_ARRAY = 400
SVG_SALT = "autograd-pages"


class Workers:
    """The worker processes of one build (or of one ``mkdocs serve`` session, kept between its
    rebuilds), a pool per kernel set; an example still running after ``time_limit`` seconds is
    stopped and reported with the line it was on.

    Examples:
        >>> workers = Workers()
        >>> workers.start(1, warm_up=False) is workers.start(1)
        True
        >>> workers.start(1, warm_up=False, kernels="default") is workers.start(1)
        False
        >>> workers.stop(); workers.pools
        {}
    """

    def __init__(self, time_limit: float = Settings.time_limit):
        self.time_limit = time_limit
        self.pools: dict[str, dict] = {}  # by kernel set ("" for the machine's own)

    def submit(self, examples: list[Example], workers: int | None = None, kernels: str = "") -> dict[str, Future]:
        """Start running examples on ``workers`` processes (default: as the settings choose) and return at
        once: ``id -> future`` of the example's result, in the order given. ``kernels`` names
        the ATen kernel set to run under (``"default"``); empty means the machine's own.

        A result has ``text`` (stdout and stderr, interleaved as written),
        ``figures`` (each with ``svg``, ``alt`` and plotted ``data``), ``error``
        (``None``, or ``path:line: what was raised``), ``seconds`` (running it and saving its
        figures) and ``kernels`` (the kernel set torch used, such as ``AVX2``).

        Examples:
            >>> workers = Workers()
            >>> futures = workers.submit([Example("autograd_basics", "chain_rule", 0)])
            >>> futures["autograd_basics:chain_rule"].result()["text"].splitlines()[0]
            'tensor(15.)'
            >>> workers.stop()
        """
        if not examples:
            return {}
        count = min(workers or Settings().workers_for(), len(examples))
        pool = self.start(count, warm_up=len(examples) > count, kernels=kernels)
        futures = {e.id: Future() for e in examples}
        threading.Thread(target=_hand_over, args=(pool, page_tasks(examples, count), futures, self.time_limit),
                         daemon=True).start()
        return futures

    def start(self, count: int, warm_up: bool = True, kernels: str = "") -> ProcessPoolExecutor:
        """Start ``count`` worker processes now (or reuse those already running) and return them.

        Workers are forked from a server process that imports torch and warms it up first
        (a few seconds, once per build or ``mkdocs serve`` session; see `_context`), so each
        worker after the first costs little; ``mkdocs serve`` keeps the workers between
        rebuilds, so editing one example re-runs it at once. Workers never import a
        page module themselves (a fork of theirs does, for each page they run: `run_page`),
        so they never hold stale code. ``warm_up`` (always done in the server) pays torch's lazy imports,
        the imports of the page modules (``torch.func``, ``torch.utils.checkpoint``...) and
        matplotlib's first figure up front. ``kernels`` sets ``ATEN_CPU_CAPABILITY`` in the
        workers; each kernel set has its own pool, of workers started afresh.
        """
        count = max(1, count)
        pool = self.pools.setdefault(kernels, {"executor": None, "size": 0})
        executor = pool["executor"]
        if executor is None or pool["size"] < count or getattr(executor, "_broken", False):
            if executor is not None:
                executor.shutdown(wait=False)  # what it was given still runs
            executor = ProcessPoolExecutor(count, mp_context=_context(kernels), initializer=_start_worker,
                                           initargs=(warm_up, kernels))
            threading.Thread(target=_start_processes, args=(executor, count), daemon=True).start()
            if not _stop_at_exit:
                # Before concurrent.futures' own exit handler (they run last registered first), which
                # would wait for a running example to finish: on Ctrl-C that may be its whole time limit.
                threading._register_atexit(_stop_all)
                _stop_at_exit.append(True)
            pool.update(executor=executor, size=count)
            _live.add(self)
        return executor

    def stop(self) -> None:
        """End the worker processes of every kernel set and any example they are running, and wait
        until they are gone.

        Called when a build ends or ``mkdocs serve`` stops, and at exit (Ctrl-C included). A worker
        keeps nothing, so it is ended rather than waited for: an example may run until its limit.
        """
        for pool in self.pools.values():
            if pool["executor"] is not None:
                for process in list((pool["executor"]._processes or {}).values()):  # no public way to them
                    process.terminate()  # the worker kills its running example first (see _leave)
                pool["executor"].shutdown(wait=True, cancel_futures=True)
        self.pools.clear()
        _live.discard(self)


def page_tasks(examples: list[Example], workers: int) -> list[list[Example]]:
    """The examples as tasks of one page each, a page's examples cut into one run of neighbours
    per worker: a task imports its page once (`run_page`), neighbours on a page tend to use the
    same parts of torch (`_shared_first_use`), and a page run alone (an edit under ``mkdocs
    serve``) still keeps every worker busy.

    Examples:
        >>> tasks = page_tasks([Example("a", name, 0) for name in "pqrst"] + [Example("b", "u", 0)], 2)
        >>> [[e.name for e in task] for task in tasks]
        [['p', 'q'], ['r', 's', 't'], ['u']]
    """
    pages: dict[str, list[Example]] = {}
    for example in examples:
        pages.setdefault(example.module, []).append(example)
    return [page[first * len(page) // count:(first + 1) * len(page) // count]
            for page in pages.values() for count in [min(workers, len(page))] for first in range(count)]


def _hand_over(pool: ProcessPoolExecutor, tasks: list[list[Example]], futures: dict[str, Future],
               time_limit: float) -> None:
    """Give the tasks to the pool, away from the build's thread, and pass each result on to
    its example's future. The pool holds its lock while it starts a process, and its first process
    waits seconds for the server to import torch: given from the build's thread, the build stood
    still (4.3 s of a cold build) instead of reading, checking and rendering what needs no example."""
    for task in tasks:
        waiting = {e.name: futures[e.id] for e in task}
        try:
            running = pool.submit(run_page, task[0].module, list(waiting), time_limit)
        except RuntimeError as problem:  # the pool was stopped meanwhile (the build ended, Ctrl-C)
            for future in waiting.values():
                future.set_exception(problem)
            continue
        running.add_done_callback(partial(_pass_on, waiting))


def _pass_on(futures: dict[str, Future], done: Future) -> None:
    for name, future in futures.items():
        if done.cancelled():
            future.cancel()
        elif done.exception() is not None:
            future.set_exception(done.exception())
        else:
            future.set_result(done.result()[name])


def _start_processes(executor: ProcessPoolExecutor, count: int) -> None:
    """Start every process of a new pool (it starts one per waiting task), away from the build's
    thread: the first waits until the server has imported torch, seconds in which MkDocs, under
    ``mkdocs serve`` with nothing to run yet, goes on with its first build."""
    try:
        for _ in range(count):
            executor.submit(os.getpid)
    except RuntimeError:  # stopped meanwhile (Ctrl-C, or the build ended): nothing to start
        pass


def _context(kernels: str):
    """How workers start. For the machine's own kernels, they are forked from one server process
    that imported torch and warmed it up once (`snippets.pipeline.warm`): a worker then costs
    neither that CPU again nor, for what it only reads, that memory. Workers for another kernel set
    start afresh: torch reads ATEN_CPU_CAPABILITY when it is imported."""
    if kernels:
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload(["snippets.pipeline.warm"])
    return context


# Every Workers with processes running, stopped at exit (Ctrl-C included) by `_stop_all`, and
# whether that is registered: the one process-wide record, kept for exit alone.
_live: set[Workers] = set()
_stop_at_exit: list[bool] = []


def _stop_all() -> None:
    for workers in list(_live):
        workers.stop()


def _start_worker(warm_up: bool, kernels: str = "") -> None:
    if kernels:
        os.environ["ATEN_CPU_CAPABILITY"] = kernels  # before torch is imported: it reads it once
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the build's: it ends the workers, once
    signal.signal(signal.SIGTERM, _leave)
    atexit.register(_exit_at_once)
    threading.Thread(target=_exit_with_build, daemon=True).start()
    prepare(warm_up)


def prepare(warm_up: bool = True) -> None:
    """Make this process ready to fork examples from: torch and matplotlib imported, and with
    ``warm_up`` their first-use costs paid and the page modules' libraries imported. Done once
    per process; run at import by [`warm`][snippets.pipeline.warm] in the server the workers
    are forked from, so they inherit it all.

    Examples:
        >>> def threads():
        ...     prepare(warm_up=False)
        ...     return {"threads": sys.modules["torch"].get_num_threads()}
        >>> in_fork(threads, "probe")
        {'threads': 1}
    """
    global _imported, _warmed_up
    filled = not _imported or (warm_up and not _warmed_up)
    if not _imported:
        os.environ["OMP_NUM_THREADS"] = "1"
        sys.dont_write_bytecode = True  # bytecode written under snippets/, which `mkdocs serve` watches, is a second rebuild
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401 - every example's fork would import it otherwise
        import torch

        torch.set_num_threads(1)
        _imported = True
    if warm_up and not _warmed_up:
        _warm_up()
        _import_libraries()
        _warmed_up = True
    gc.freeze()  # what is here now is never collected in the forks: the collector copies none of its pages
    if filled:  # where the memory was filled; in a fork of this process, it would copy what it shares
        _huge_pages()


_imported = _warmed_up = False
MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25  # linux/mman.h


def _huge_pages() -> None:
    """Move this process's larger writable anonymous memory (the heap, torch's and Python's big
    allocations: about 210 of its 250 MiB) into 2 MiB pages, where Linux can (``MADV_COLLAPSE``,
    Linux 6.1). A fork copies one page-table entry per page, and its exit frees each again: with
    2 MiB pages an example's fork and exit cost 6 ms of CPU instead of 20 (measured here). A fork
    that writes to such a page still copies only 4 KiB of it. Elsewhere nothing changes."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8").splitlines()
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for line in maps:
        fields = line.split()
        start, end = (int(address, 16) for address in fields[0].split("-"))
        if "w" in fields[1] and (len(fields) < 6 or fields[5] == "[heap]") and end - start >= 2 << 20:
            if madvise(start, end - start, MADV_HUGEPAGE) == 0:
                madvise(start, end - start, MADV_COLLAPSE)  # fails where the kernel cannot: nothing lost


def _exit_at_once() -> None:
    """A worker keeps nothing: skip the half second that tearing down torch takes at exit,
    which the build would otherwise wait for. Registered first, so it runs last."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _exit_with_build() -> None:
    """Leave when the build that started this worker is gone. A build that is killed (``kill``,
    not Ctrl-C) cannot stop its workers, and they would wait for work forever, each holding torch
    in memory. The build is not this worker's parent when the worker was forked from the server;
    multiprocessing hands every worker a pipe from the build, which closes when the build ends."""
    multiprocessing.parent_process().join()
    _leave()


def _leave(*signal_arguments) -> None:
    """End the examples this worker is running (with anything they started), then the worker."""
    for pid in list(_running_children):
        _kill_group(pid)
    os._exit(0)


def _warm_up() -> None:
    """Pay lazy imports and first-use costs once per worker rather than once per forked example:
    the first tensor printed imports ``torch._subclasses.schema_check_mode`` (6 ms, in two of
    every three examples' forks), backward with an explicit gradient imports sympy through
    torch.fx (0.3 s), the first optimizer step imports torch._dynamo (2 s), the first dual tensor
    of forward mode (``jvp``, ``jacfwd``) scripts its decompositions (0.2 s), and the first
    figure saved loads the fonts and builds the parser for the log axes' $10^{k}$ labels (0.25 s)."""
    import matplotlib.pyplot as plt
    import torch
    import torch.autograd.forward_ad as forward_ad

    weight = torch.ones(2, requires_grad=True)
    repr(weight)
    for optimizer in (torch.optim.SGD([weight], lr=0.1, momentum=0.9), torch.optim.Adam([weight], lr=0.1)):
        weight.mul(2).backward(torch.ones(2))
        optimizer.step()
    with forward_ad.dual_level():
        forward_ad.make_dual(torch.ones(1), torch.ones(1))
    figure, axes = plt.subplots()
    axes.semilogy([1, 2], [1, 100], label="$w$")
    axes.legend()
    _figure(figure)
    plt.close(figure)


def _import_libraries() -> None:
    """Import what the page modules import from outside ``snippets`` (their own imports are
    left to each fork, which imports its page afresh): once per worker instead of once per
    example. A library that fails to import here is left to the forks, which report it."""
    for module in page_modules():
        try:
            tree = ast.parse(module_source(module))
        except SyntaxError:
            continue
        for node in tree.body:
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                if name.split(".")[0] != "snippets":
                    try:
                        importlib.import_module(name)
                    except Exception:  # noqa: BLE001 - the fork reports it, naming the page's line
                        pass


def run_page(module_name: str, names: list[str], time_limit: float | None = None) -> dict[str, dict]:
    """Run examples of one page, ``name -> `` what [`capture`][snippets.pipeline.execute.capture]
    saw: in a child process that imports the page module, once, each example in a fork of that
    child. Each example starts from the page as just imported, in a process no other page was
    imported in; the import is paid once per page, not once per example (from 5 ms for most
    pages to 33 ms for one that registers a custom operator).

    The child shares the time limit: it must finish importing, and each example, within it (an
    example is stopped, and reported, by the child; the child, if it stops answering, by this
    process). An example that leaves processes running is ended alone; what it left is ended
    with the child, when the page is done.

    Examples:
        >>> run_page("autograd_basics", ["chain_rule"])["chain_rule"]["error"] is None
        True
    """
    limit = Settings.time_limit if time_limit is None else time_limit
    where = {name: f"snippets/{module_name}.py: example {name!r}" for name in names}

    def page():
        try:
            module = importlib.import_module(f"snippets.{module_name}")
        except BaseException as problem:  # noqa: BLE001 - every example of the page reports it
            return {"examples": {name: _failure(f"{where[name]}: {problem!r}") for name in names}}
        _shared_first_use(module, names)
        gc.freeze()  # the page's objects are never collected in the examples' forks: none of their pages copied
        results = {}
        for name in names:
            _still_working()
            results[name] = in_fork(partial(_run_example, module, name), where[name], limit, own_group=False)
        return {"examples": results}

    ran = in_fork(page, f"snippets/{module_name}.py", limit, grace=PAGE_GRACE)
    return ran["examples"] if "examples" in ran else {name: dict(ran) for name in names}


# Seconds the child of `run_page` may stay silent beyond the time limit: stopping an example
# takes that long (its stack is read for a second, then it is killed) before the child goes on.
PAGE_GRACE = 5.0


# Calls that import torch's compiler the first time (0.9 s of modules, torch._inductor's among
# them): the same modules for torch.compile and for opcheck.
COMPILER_CALLS = re.compile(r"\btorch\.compile\(|\bopcheck\(")
COMPILER = "torch._inductor.compile_fx"


def _shared_first_use(module, names: list[str]) -> None:
    """Pay, in the page's process and once, a first-use cost that two or more of the task's
    examples would each pay in their forks: importing torch's compiler, when their sections call
    it. Examples that use it sit together on a page, and a task keeps neighbours together
    (`page_tasks`)."""
    source = Path(module.__file__).read_text(encoding="utf-8")  # as imported
    lines, where = source.splitlines(), sections(source, module.__file__)
    shown = ["\n".join(lines[slice(*where[name])]) for name in names if name in where]
    if sum(bool(COMPILER_CALLS.search(code)) for code in shown) > 1:
        importlib.import_module(COMPILER)


def _run_example(module, name: str) -> dict:
    _unpredictable_seeds()
    return capture(module, name)


def _unpredictable_seeds() -> None:
    """Seed Python's, NumPy's and torch's global generators from the operating system. A fresh
    torch always starts from the same seed, so without this an example that forgot to seed
    would print the same numbers in every run and pass any comparison of two runs."""
    import numpy as np
    import torch

    random.seed()
    np.random.seed()
    torch.default_generator.seed()  # torch.seed() would also queue seeding CUDA, formatting the stack (3 ms)


def in_fork(run, where: str, time_limit: float | None = None, grace: float = 0.0,
            own_group: bool = True) -> dict:
    """Call ``run()`` in a forked child under the time limit (by default
    [`Settings`][snippets.pipeline.settings.Settings]'s); return its result (a JSON-able dict).

    The child leaves without cleanup handlers. ``where`` names the example in errors.

    The limit is enforced from here, not inside the child, so an example that
    catches every exception (a retry loop) cannot swallow it: when the child has
    been silent for the limit (plus ``grace``) its stack is dumped by `faulthandler`
    (C level, nothing to catch), then the child is killed, with its whole process
    group if it has its own (``own_group``). A child that calls `_still_working`
    starts its silence anew. The child also dies with this process
    (``PR_SET_PDEATHSIG`` on Linux), so a killed worker leaves no example running
    on its own.

    Examples:
        >>> in_fork(lambda: {"text": "hi"}, "nowhere")
        {'text': 'hi'}
    """
    limit = Settings.time_limit if time_limit is None else time_limit
    read_end, write_end = os.pipe()
    stack_read, stack_write = os.pipe()
    workdir = tempfile.mkdtemp(prefix="example-")  # files an example writes land here, not in the project
    pid = os.fork()
    if pid == 0:
        global _parent_pipe
        if own_group:
            os.setpgid(0, 0)  # its own group: killed whole, with anything it starts
        _die_with_parent()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.close(read_end)
        os.close(stack_read)
        if _parent_pipe is not None:
            os.close(_parent_pipe)  # its parent's pipe to the grandparent: that one closes when the parent ends
        _parent_pipe = write_end
        faulthandler.register(signal.SIGUSR1, file=stack_write, all_threads=False)
        try:
            os.chdir(workdir)
            payload = json.dumps(run())
        except BaseException as problem:  # noqa: BLE001 - report anything, never hang the parent
            payload = json.dumps(_failure(f"{where}: {problem!r}"))
        with os.fdopen(write_end, "w", encoding="utf-8") as pipe:
            pipe.write(payload)
        os._exit(0)
    _running_children.add(pid)
    os.close(write_end)
    os.close(stack_write)
    try:
        payload = _read_all(read_end, limit + grace)
        stack = b""
        if payload is None:  # out of time: where was it?
            os.kill(pid, signal.SIGUSR1)
            stack = _read_burst(stack_read, timeout=1.0)
        # The example, or anything it started and left behind; before it is reaped.
        (_kill_group if own_group else _kill)(pid)
        _, status = os.waitpid(pid, 0)
    finally:
        _running_children.discard(pid)
        os.close(read_end)
        os.close(stack_read)
        shutil.rmtree(workdir, ignore_errors=True)
    if payload is None:
        line = _deepest_project_frame(stack.decode(errors="replace")) or where
        return _failure(f"{line}: the example ran longer than {limit:g} s (the time limit, "
                        "SNIPPETS_TIME_LIMIT) and was stopped")
    if not payload.strip():
        return _failure(f"{where} killed its process (status {status})")
    return json.loads(payload)


# Forks running an example now, killed with their groups when the worker is told to stop; and,
# in a fork, the pipe to its parent (`_still_working`).
_running_children: set[int] = set()
_parent_pipe: int | None = None


def _still_working() -> None:
    """Tell the parent, from a fork made by `in_fork`, that this fork is not stuck: its silence
    (what the time limit measures) starts anew. A blank line, which the result's JSON allows."""
    os.write(_parent_pipe, b"\n")


def _failure(error: str) -> dict:
    return {"text": "", "figures": [], "seconds": 0.0, "error": error}


def _read_all(fd: int, silence: float) -> bytes | None:
    """Everything written to the pipe until it closes; ``None`` if nothing comes for ``silence`` seconds."""
    chunks = []
    while select.select([fd], [], [], silence)[0]:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    return None


def _read_burst(fd: int, timeout: float) -> bytes:
    """What arrives on the pipe within ``timeout``, up to the first pause (a stack dump)."""
    chunks = []
    while select.select([fd], [], [], 0.1 if chunks else timeout)[0]:
        if not (chunk := os.read(fd, 1 << 16)):
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _deepest_project_frame(stack: str) -> str | None:
    """``path:line`` of the innermost frame in the project's code, not the pipeline's, from a
    `faulthandler` dump (most recent call first)."""
    library = (sys.prefix, sys.base_prefix, os.path.dirname(__file__))
    for match in re.finditer(r'File "(?P<file>[^"]+)", line (?P<line>\d+)', stack):
        if not match["file"].startswith(library):
            return f"{os.path.relpath(match['file'], PROJECT_DIR)}:{match['line']}"
    return None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (elsewhere the worker's watch does)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


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
    settings = torch_settings()
    start = time.perf_counter()
    with redirect_stdout(buffer), redirect_stderr(buffer), warnings.catch_warnings():
        warnings.showwarning = lambda message, category, *rest, **kw: buffer.write(
            f"{category.__name__}: {message}\n")
        try:
            getattr(module, name)()
        except (Exception, SystemExit) as problem:  # noqa: BLE001 - an example that raises is reported, not fatal
            error = _describe(problem, module.__file__)
    if error is None and (changed := changed_settings(settings)):
        where = f"{os.path.relpath(module.__file__, PROJECT_DIR)}:{getattr(module, name).__code__.co_firstlineno}"
        error = (f"{where}: example {name!r} changed torch's global state and left it so ({changed}); "
                 "change it inside a context manager, or put it back before the example ends")
    figures = [_figure(plt.figure(number)) for number in plt.get_fignums()]
    plt.close("all")
    seconds = time.perf_counter() - start  # what the example costs a build, saving its figures included
    torch = sys.modules.get("torch")
    kernels = torch.backends.cpu.get_cpu_capability() if torch else "no torch"
    return {"text": buffer.getvalue(), "figures": figures, "error": error, "seconds": seconds,
            "kernels": kernels}


def torch_settings() -> dict[str, tuple]:
    """torch's process-wide settings that an example could change and leave changed, as
    ``name -> (value, setter)``. Left changed, they would alter every example run after it in
    the same process (the tests run them in one), with errors that do not name the cause.

    Examples:
        >>> torch_settings()["default dtype"][0]
        torch.float32
    """
    import torch

    return {
        "default dtype": (torch.get_default_dtype(), torch.set_default_dtype),
        "grad mode": (torch.is_grad_enabled(), torch.set_grad_enabled),
        "anomaly detection": (torch.is_anomaly_enabled(), torch.set_anomaly_enabled),
        "deterministic algorithms": (torch.are_deterministic_algorithms_enabled(),
                                     torch.use_deterministic_algorithms),
        "default device": (torch.get_default_device(), torch.set_default_device),
    }


def changed_settings(before: dict[str, tuple], restore: bool = False) -> str:
    """Which of [`torch_settings`][snippets.pipeline.execute.torch_settings] differ from ``before`` (``""`` if none), optionally put back.

    Examples:
        >>> import torch
        >>> before = torch_settings(); torch.set_default_dtype(torch.float64)
        >>> changed_settings(before, restore=True), torch.get_default_dtype()
        ('default dtype torch.float32 -> torch.float64', torch.float32)
    """
    now = torch_settings()
    changed = [name for name in before if now[name][0] != before[name][0]]
    if restore:
        for name in changed:
            before[name][1](before[name][0])
    return ", ".join(f"{name} {before[name][0]} -> {now[name][0]}" for name in changed)


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
    box = _tight_box(figure)  # once for both: the dark scheme changes colours, not sizes
    light = _svg(figure, box)
    _for_dark_scheme(figure)
    return {"svg": light, "svg_dark": _svg(figure, box), "alt": "; ".join(t for t in titles if t), "data": data}


def _tight_box(figure):
    """The figure's extent with what it draws around its axes, padded, in inches: what
    ``bbox_inches="tight"`` measures, which costs a draw of the figure each time it is asked."""
    import matplotlib

    figure.draw_without_rendering()  # a layout engine places the axes first
    return figure.get_tightbbox().padded(matplotlib.rcParams["savefig.pad_inches"])


def _svg(figure, box) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches=box, transparent=True)
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
