"""What the benchmarks measure of a build: wall time, CPU of its whole process tree, the tree's
peak PSS, and the time from an edit to the page served under `mkdocs serve`.

Used by benchmarks/build_speed.py (`make bench`) and benchmarks/peers/bench.py
(`make bench-peers`), so both count the same way. Linux only (/proc).
"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
# Edits timed under `mkdocs serve` per run of a benchmark. MkDocs looks for changed files every
# 0.5 s, so an edit waits 0 to 0.5 s before its build starts: the median of a few edits is mostly
# the luck of that wait, of a dozen the build's own time plus about 0.25 s.
SERVE_EDITS_PER_RUN = 4


@dataclass
class Run:
    wall: float        # seconds
    cpu: float         # user + system seconds of the process and of every process under it
    peak_mib: float    # peak PSS of the process tree (0 when not sampled)


def load() -> str:
    """The machine's load averages, to print next to each figure (the machine is shared).

    Examples:
        >>> len(load().split(", "))
        3
    """
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def tree(root: int) -> list[int]:
    """The process and all its descendants (through /proc/<pid>/task/<tid>/children).

    Examples:
        >>> os.getpid() in tree(os.getpid())
        True
    """
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
        except OSError:
            continue  # ended meanwhile
    return found


def pss_kib(pids: list[int]) -> int:
    """Summed proportional set size (shared pages split among their users) of these processes.

    Examples:
        >>> pss_kib([os.getpid()]) > 0
        True
    """
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                total += int(re.search(r"^Pss:\s+(\d+) kB", rollup.read(), re.MULTILINE)[1])
        except (OSError, TypeError):
            continue  # ended meanwhile, or a kernel thread
    return total


class PeakPss(threading.Thread):
    """Samples the PSS of a process tree every ``interval`` seconds until stopped."""

    def __init__(self, root: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.root, self.interval, self.peak = root, interval, 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.peak = max(self.peak, pss_kib(tree(self.root)))
            self._stop_event.wait(self.interval)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak / 1024


def adopt_orphans() -> None:
    """Make this process the one a build's orphans are handed to (Linux's child subreaper), so
    their CPU is counted: a process that outlives its parent, such as the server the project's
    workers are forked from, which ends just after the build, would otherwise be nobody's."""
    PR_SET_CHILD_SUBREAPER = 36
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def reap_orphans(limit: float = 30) -> float:
    """Wait for the processes a run left behind (handed to this one), up to ``limit`` seconds;
    returns the largest resident set (MiB) among them and the processes they waited for, such as
    the project's workers and their examples, forked from a server that ends after the build."""
    deadline, largest = time.monotonic() + limit, 0
    while time.monotonic() < deadline:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
        else:
            largest = max(largest, usage.ru_maxrss)
    return largest / 1024


def run(command: list[str], cwd: Path, env: dict[str, str], memory: bool = False) -> Run:
    """Run a command to its end; a failing command stops the benchmark with its last output.
    Its CPU is that of the whole tree, orphans included, waited for once the command ends."""
    adopt_orphans()
    with tempfile.TemporaryFile() as log:
        cpu_before = _children_cpu()
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=log,
                                   stderr=subprocess.STDOUT)
        sampler = PeakPss(process.pid) if memory else None
        if sampler:
            sampler.start()
        _, status, _ = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        reap_orphans()
        process.returncode = os.waitstatus_to_exitcode(status)
        peak = sampler.stop() if sampler else 0.0
        if process.returncode:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(command)} failed in {cwd} ({process.returncode}):\n{tail}")
    return Run(wall, _children_cpu() - cpu_before, peak)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str) -> str:
    """The page at a local address, or "" while the server cannot answer it."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.read().decode(errors="replace")
    except OSError:
        return ""


class Server:
    """`mkdocs serve` of a project on a free local port, in a process group of its own."""

    def __init__(self, python: str, cwd: Path, env: dict[str, str], page: str, dirty: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/{page}"
        self.log = tempfile.TemporaryFile()
        command = [python, "-m", "mkdocs", "serve", "-a", f"127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(command + (["--dirty"] if dirty else []), cwd=cwd,
                                        env={**os.environ, **env}, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for(self, text: str, limit: float = 600) -> float:
        """Seconds until the served page contains ``text``."""
        start = time.perf_counter()
        while text not in fetch(self.url):
            if self.process.poll() is not None or time.perf_counter() - start > limit:
                self.log.seek(0)
                raise RuntimeError(f"mkdocs serve never showed {text!r} at {self.url}:\n"
                                   + self.log.read().decode(errors="replace")[-3000:])
            time.sleep(0.02)
        return time.perf_counter() - start

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def edit_to_page(server: Server, edit, marker: str) -> float:
    """Seconds from an edit (a function that writes it) to the served page showing ``marker``."""
    edit()
    return server.wait_for(marker)


def project_copy(destination: Path) -> Path:
    """The project's tracked files (as they are in the working tree), and its node_modules."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT, check=True, capture_output=True,
                           text=True).stdout.split("\0")
    for name in filter(None, files):
        source = PROJECT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    (destination / "node_modules").symlink_to(PROJECT / "node_modules")
    return destination


def site_path() -> str:
    """The path MkDocs serves the site under (that of site_url), e.g. ``autograd-verified/``."""
    from mkdocs.utils.yaml import yaml_load  # resolves the !ENV tags of the plugin's settings

    url = yaml_load((PROJECT / "mkdocs.yml").read_text(encoding="utf-8")).get("site_url") or "/"
    return url.split("://", 1)[-1].partition("/")[2]


def with_line_added(source: str, section: str, line: str) -> str:
    """A page module's source with ``line`` added as the last line of a section (an edit).

    Examples:
        >>> print(with_line_added("def f():\\n    # --8<-- [start:f]\\n    x = 1\\n    # --8<-- [end:f]\\n",
        ...                       "f", "print(x)"), end="")
        def f():
            # --8<-- [start:f]
            x = 1
            print(x)
            # --8<-- [end:f]
    """
    before, end, after = source.partition(f"# --8<-- [end:{section}]")
    indent = before[before.rindex("\n") + 1:]
    return before + line + "\n" + indent + end + after
