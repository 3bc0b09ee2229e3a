"""Running examples: what an author's example may do wrong (raise, hang, swallow every exception,
exit, kill its process, change torch's global state, break the layout, forget to seed), each
reported naming file and line; examples isolated in forks and temporary folders; a stopped build
leaves no process. The probes are small page modules written by each test."""

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from conftest import CTRL_C_REACHES_IT
from snippets.pipeline import examples, execute
from snippets.pipeline.examples import PROJECT_DIR, Example, ExampleError

PROBE = '''
from snippets.pipeline.examples import example


@example(rtol=0.5)
def fails():
    """Raises on purpose."""
    # --8<-- [start:fails]
    values = [1, 2]
    print(values[5])
    # --8<-- [end:fails]
'''


def _probe_module(tmp_path, source=PROBE, name="probe_page"):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_example_that_raises_is_reported_with_file_and_line(tmp_path):
    result = execute.capture(_probe_module(tmp_path), "fails")
    assert result["error"].endswith("probe_page.py:10: IndexError: list index out of range")


def test_examples_are_found_with_their_tolerance(tmp_path, monkeypatch):
    monkeypatch.setattr(examples, "SNIPPETS_DIR", tmp_path)
    _probe_module(tmp_path)
    assert examples.find_examples("probe_page") == [Example("probe_page", "fails", 6, 0.5, 1e-6)]


@pytest.mark.parametrize("body, message", [
    ('    print("hidden")\n    # --8<-- [start:fails]\n    print(1)\n    # --8<-- [end:fails]\n',
     "probe_page.py:7: example 'fails' runs code outside its section"),
    ('    print(1)\n', "probe_page.py:5: example 'fails' has no section [start:fails]"),
    ('    # --8<-- [start:fails]\n    print(1)\n', "probe_page.py:7: section 'fails' never ends"),
])
def test_broken_examples_are_refused_with_file_and_line(tmp_path, monkeypatch, body, message):
    monkeypatch.setattr(examples, "SNIPPETS_DIR", tmp_path)
    header = "from snippets.pipeline.examples import example\n\n\n@example\ndef fails():\n    \"\"\"Doc.\"\"\"\n"
    (tmp_path / "probe_page.py").write_text(header + body)
    with pytest.raises(ExampleError, match=re.escape(message)):
        examples.find_examples("probe_page")


def test_an_example_that_hangs_is_stopped_with_its_line(tmp_path):
    source = PROBE.replace("    values = [1, 2]\n    print(values[5])\n", "    while True:\n        pass\n")
    module = _probe_module(tmp_path, source)
    result = execute.in_fork(lambda: execute.capture(module, "fails"), "probe", time_limit=1)
    assert re.search(r"probe_page\.py:(9|10): the example ran longer than 1 s", result["error"])


def test_an_example_that_swallows_every_exception_is_still_stopped_at_the_limit(tmp_path):
    retry_loop = ("    while True:\n        try:\n            __import__('time').sleep(0.01)\n"
                  "        except BaseException:\n            pass\n")
    module = _probe_module(tmp_path, PROBE.replace("    values = [1, 2]\n    print(values[5])\n", retry_loop))
    started = time.monotonic()
    result = execute.in_fork(lambda: execute.capture(module, "fails"), "probe", time_limit=1)
    assert time.monotonic() - started < 5
    assert re.search(r"probe_page\.py:1[01]: the example ran longer than 1 s", result["error"]), result


def test_an_example_writes_its_files_into_a_temporary_folder(tmp_path):
    result = execute.in_fork(lambda: {"cwd": os.getcwd(), "wrote": open("out.pt", "w").close()}, "probe")
    assert not result["cwd"].startswith(str(PROJECT_DIR)) and not os.path.exists(result["cwd"])
    assert not (PROJECT_DIR / "out.pt").exists()


# A worker running an example as `run_page` does: in a fork (its own group) of a fork (the page's).
STOPPED_BUILD = """
import functools, sys, time
from snippets.pipeline import execute
pool = execute.Workers().start(1, warm_up=False)
example = functools.partial(execute.in_fork, functools.partial(time.sleep, 600), "example", own_group=False)
future = pool.submit(execute.in_fork, example, "page")
print(*pool._processes, flush=True)
future.result()
"""


def _descendants(pid: int) -> set[int]:
    children = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as file:
            children |= {int(child) for child in file.read().split()}
    return children.union(*(_descendants(child) for child in children)) if children else children


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("stop, moment", [("ctrl-c", "example"), ("sigterm", "example"), ("sigterm", "start-up")])
def test_stopping_a_build_ends_every_worker_and_example_once(stop, moment):
    build_process = subprocess.Popen([sys.executable, "-c", STOPPED_BUILD], cwd=PROJECT_DIR, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=CTRL_C_REACHES_IT)
    workers = [int(pid) for pid in build_process.stdout.readline().split()]
    deadline = time.monotonic() + 120  # the server imports torch first, on cores the session's site build keeps busy
    while moment == "example" and not any(len(_descendants(w)) > 1 for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)  # until the example's fork (in the page's) is running
    everything = _descendants(build_process.pid)
    assert moment == "start-up" or len(everything) > len(workers) + 2, "the example never started"
    if stop == "ctrl-c":  # the terminal sends SIGINT to the whole foreground group
        os.killpg(build_process.pid, signal.SIGINT)
    else:
        build_process.terminate()
    build_process.wait(timeout=10)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in everything) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [open(f"/proc/{pid}/cmdline").read() for pid in everything if _alive(pid)] == []
    assert build_process.stderr.read().count("Traceback") <= 1


# What a worker reports of itself; eval is a builtin, so the task needs nothing imported there.
WORKER_PROBE = ("__import__('time').sleep(1), __import__('os').getpid(), __import__('os').getppid(),"
                " 'torch._decomp.decompositions_for_jvp' in __import__('sys').modules")


def test_examples_are_handed_to_a_pool_still_starting_without_holding_up_the_build(monkeypatch):
    """The pool holds its lock while its first process waits for the server to import torch (seconds):
    the build hands its examples over from a thread and goes on; each result still reaches its future."""
    gate, submit = threading.Event(), ProcessPoolExecutor.submit

    def held(pool, *args, **kwargs):
        gate.wait()
        return submit(pool, *args, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", held)
    workers, handed = execute.Workers(), {}
    try:
        build = threading.Thread(target=lambda: handed.update(workers.submit([Example("autograd_basics", "chain_rule", 0)], 1)))
        build.start()
        build.join(timeout=30)
        returned = not build.is_alive()
        gate.set()
        assert returned, "submit waited for the pool"
        assert handed["autograd_basics:chain_rule"].result(timeout=120)["text"].startswith("tensor(15.)")
    finally:
        gate.set()
        workers.stop()


def test_the_process_examples_are_forked_from_keeps_its_memory_in_huge_pages():
    """Forking a process, and ending the fork, costs a page-table entry per page: 2 MiB pages make
    each example's fork cheaper (Linux 6.1 and later can move memory into them: MADV_COLLAPSE)."""
    switch = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    release = tuple(int(part) for part in re.findall(r"\d+", os.uname().release)[:2])
    if not switch.exists() or "[never]" in switch.read_text() or release < (6, 1):
        pytest.skip("this kernel cannot move memory into huge pages (MADV_COLLAPSE)")
    probe = ("import re; from snippets.pipeline import execute; execute.prepare(warm_up=False); "
             "print(re.search(r'AnonHugePages:\\s+(\\d+)', open('/proc/self/smaps_rollup').read())[1])")
    run = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert int(run.stdout) > 64 * 1024  # kB, of about 170 MiB that importing torch and matplotlib fills


def test_workers_are_forked_from_one_server_that_warmed_up():
    workers = execute.Workers()
    try:
        pool = workers.start(2)
        probes = [pool.submit(eval, WORKER_PROBE) for _ in range(2)]  # a second each: one per worker
        (_, first, first_parent, first_warm), (_, second, second_parent, second_warm) = (
            probe.result(timeout=120) for probe in probes)
    finally:
        workers.stop()
    assert first != second and first_parent == second_parent != os.getpid()
    assert first_warm and second_warm  # forward mode's decompositions, scripted by the server's warm-up


SHARED_PAGE = '''
import os

from snippets.pipeline.examples import example

IMPORTED_BY = os.getpid()
seen = []


@example
def first():
    """Leaves a mark in the module."""
    # --8<-- [start:first]
    seen.append("first")
    print(seen, IMPORTED_BY, os.getpid())
    # --8<-- [end:first]


@example
def second():
    """Leaves a mark in the module too."""
    # --8<-- [start:second]
    seen.append("second")
    print(seen, IMPORTED_BY, os.getpid())
    # --8<-- [end:second]
'''


def _page_module(tmp_path, monkeypatch, name: str, source: str) -> str:
    """A page module ``snippets.<name>`` that `run_page` can import (in its fork only)."""
    import snippets

    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.setattr(snippets, "__path__", [*snippets.__path__, str(tmp_path)])
    return name


def test_the_examples_of_a_page_share_its_import_and_not_each_others_state(tmp_path, monkeypatch):
    page = _page_module(tmp_path, monkeypatch, "shared_page", SHARED_PAGE)
    results = execute.run_page(page, ["first", "second"])
    (first, first_importer, first_pid), (second, second_importer, second_pid) = (
        results[name]["text"].rsplit(" ", 2) for name in ("first", "second"))
    assert (first, second) == ("['first']", "['second']")  # neither sees the other's mark
    assert first_importer == second_importer and first_importer not in (first_pid, second_pid, str(os.getpid()))


def test_a_page_is_given_the_time_limit_for_each_example_not_for_all(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "PAGE_GRACE", 0.0)
    page = _page_module(tmp_path, monkeypatch, "patient_page", PROBE.replace(
        "    values = [1, 2]\n    print(values[5])\n", "    __import__('time').sleep(0.6)\n"))
    results = execute.run_page(page, ["fails"] * 3, time_limit=1)  # 1.8 s in all
    assert [result["error"] for result in results.values()] == [None]


def test_a_page_that_hangs_while_imported_is_stopped_naming_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "PAGE_GRACE", 0.0)
    endless = "while True: pass  # on one line: the stack names it wherever the loop is stopped\n"
    page = _page_module(tmp_path, monkeypatch, "hanging_page", endless + PROBE)
    result = execute.run_page(page, ["fails"], time_limit=1)["fails"]
    assert re.fullmatch(r".*hanging_page\.py:1: the example ran longer than 1 s .*", result["error"]), result


@pytest.mark.parametrize("callers, imported", [(["first", "second"], True), (["first"], False)])
def test_the_compiler_is_imported_once_for_a_task_whose_examples_call_it_twice(tmp_path, monkeypatch, callers, imported):
    (tmp_path / "stand_in_compiler.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(execute, "COMPILER", "stand_in_compiler")
    module = _probe_module(tmp_path, SHARED_PAGE.replace("seen.append", "torch.compile(seen.append)"))
    run = lambda: (execute._shared_first_use(module, callers), {"imported": "stand_in_compiler" in sys.modules})[1]
    assert execute.in_fork(run, "probe") == {"imported": imported}


def test_an_example_that_kills_its_process_is_reported():
    result = execute.in_fork(lambda: os._exit(3), "snippets/m.py: example 'e'")
    assert result["error"] == "snippets/m.py: example 'e' killed its process (status 768)"


# --- Records that hold on every machine: the cross-check across CPU kernel sets ---

NOISY_PAGE = '''
"""A page whose outputs hold on no two machines."""

import torch

from snippets.pipeline.examples import example


@example
def scaled_noise():
    """Rounding noise blown up by 1e12: its digits depend on the CPU's kernels."""
    # --8<-- [start:scaled_noise]
    x = torch.rand(100000, generator=torch.Generator().manual_seed(0))
    print(1e12 * (torch.softmax(x, 0).max() - x.exp().max() / x.exp().sum()))
    print(1e12 * (torch.softmax(x, 0).double().sum() - 1))
    # --8<-- [end:scaled_noise]


@example
def unseeded():
    """Random numbers nobody seeded."""
    # --8<-- [start:unseeded]
    print(torch.rand(2))
    # --8<-- [end:unseeded]
'''


def test_regen_refuses_rounding_noise_and_unseeded_randomness_and_writes_nothing(tmp_path):
    """The issue's case, end to end: `make regen` on a page (in a copy of the package) printing
    scaled rounding noise, and one drawing unseeded random numbers, fails naming both."""
    package = tmp_path / "snippets"
    shutil.copytree(PROJECT_DIR / "snippets" / "pipeline", package / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_DIR / "snippets" / "__init__.py", package)
    (package / "noisy_page.py").write_text(NOISY_PAGE.lstrip())
    (package / "records").mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SNIPPETS_")}
    run = subprocess.run([sys.executable, "-m", "snippets.pipeline", "regen", "--workers", "2"],
                         cwd=tmp_path, env={**env, "SNIPPETS_CACHE": str(tmp_path / "cache")},
                         capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "records left untouched" in run.stdout
    assert list((package / "records").iterdir()) == []
    # unseeded randomness differs between any two runs, whatever the kernels
    assert re.search(r"snippets/noisy_page\.py:19: example noisy_page:unseeded: printed number 1 of 2 "
                     r"is [\d.]+ under \w+ kernels, [\d.]+ under DEFAULT kernels", run.stderr), run.stderr
    assert "seed the randomness" in run.stderr
    if "only one kernel set" in run.stdout:
        pytest.skip("this machine has one kernel set: rounding noise cannot differ between two")
    # on this AVX2 machine the first line (found on AVX-512) happens to agree; the sum differs
    assert re.search(r"snippets/noisy_page\.py:9: example noisy_page:scaled_noise: printed number \d of 2 "
                     r"is -?[\d.]+ under \w+ kernels, -?[\d.]+ under DEFAULT kernels \(line: ", run.stderr)
    assert "print what holds on every CPU (a bound, an order of magnitude, fewer digits)" in run.stderr


def test_each_run_seeds_the_generators_afresh():
    draw = "import random, numpy, torch; print(random.random(), numpy.random.rand(), torch.rand(1).item())"
    first, second = (execute.in_fork(lambda: (execute._unpredictable_seeds(), {"text": _capture(draw)})[1], "here")
                     for _ in range(2))
    assert all(a != b for a, b in zip(first["text"].split(), second["text"].split()))


def _capture(code: str) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(code, {})
    return buffer.getvalue()


def test_a_syntax_error_in_a_page_module_names_file_and_line_only(tmp_path, monkeypatch):
    monkeypatch.setattr(examples, "SNIPPETS_DIR", tmp_path)
    _probe_module(tmp_path)  # a valid module first, then break its line 10
    path = tmp_path / "probe_page.py"
    path.write_text(path.read_text().replace("print(values[5])", "print(values[5]"))
    with pytest.raises(ExampleError) as raised:
        examples.find_examples("probe_page")
    assert re.fullmatch(r".*probe_page\.py:10: syntax error: .+", str(raised.value))


def test_an_example_that_exits_names_its_line(tmp_path):
    module = _probe_module(tmp_path, PROBE.replace("print(values[5])", "raise SystemExit(3)"))
    assert execute.capture(module, "fails")["error"].endswith("probe_page.py:10: SystemExit: 3")


def test_an_example_that_changes_torch_global_state_is_reported(tmp_path):
    module = _probe_module(tmp_path, PROBE.replace(
        "print(values[5])", "__import__('torch').set_default_dtype(__import__('torch').float64)"))
    error = execute.in_fork(lambda: execute.capture(module, "fails"), "probe")["error"]
    assert "probe_page.py:5: example 'fails' changed torch's global state" in error
    assert "default dtype torch.float32 -> torch.float64" in error
