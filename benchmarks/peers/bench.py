"""This project's build against markdown-exec and mkdocs-jupyter building the same pages.

Run with `make bench-peers` (RUNS=N, default 2), which installs the peers, pinned in
benchmarks/peers/requirements.txt, into benchmarks/.venv-peers. Everything happens in a temporary
folder: a copy of the project (its tracked files) and the two peer projects generated from it by
benchmarks/peers/generate.py: the same site, every page in English and Japanese and the API and
pipeline references. The working tree is not touched.

Each kind of build is run for the three in turn (interleaved), --runs times, medians printed:
cold (empty caches; wall time, CPU of the whole process tree, peak PSS of the tree), nothing
changed, one example edited (a line printing a new output added to it: in the project, to its
page module, which both languages' pages show; in a peer, to every generated page that shows it,
English and Japanese), and, under `mkdocs serve`,
the time from that edit to the page served with the new output (this project with `--dirty`, as
`make serve` runs it; markdown-exec with and without). The peers run torch on one thread (OMP_NUM_THREADS=1), as each of the project's
workers does. All builds are non-strict: an edited example's output differs from its record, which
`--strict` would refuse. Ratio = this project / peer. Then each target of issue 17 it can judge.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import measure  # noqa: E402

PEERS_PYTHON = PROJECT / "benchmarks" / ".venv-peers" / "bin" / "python"
MODULE, SECTION = "autograd_basics", "chain_rule"
PAGE = "autograd-basics/"
ENV = {"NO_MKDOCS_2_WARNING": "1"}
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # torch on one thread, as in each of the project's workers


class Tool:
    """One of the three builds: where it lives, how it is built cold, and how it is edited
    (code_files: every file that shows the edited example, each page of each language for a peer)."""

    def __init__(self, name: str, python: Path, folder: Path, code_files: list[Path], cache: Path,
                 env: dict[str, str] | None = None):
        self.name, self.python, self.folder, self.code_files = name, str(python), folder, list(code_files)
        self.cache, self.env = cache, {**ENV, **(env or {})}
        self.originals = {path: path.read_text(encoding="utf-8") for path in self.code_files}
        self.site = folder.parent / f"site-{name}"

    def build(self, memory: bool = False, **env: str) -> measure.Run:
        command = [self.python, "-m", "mkdocs", "build", "--quiet", "-d", str(self.site)]
        return measure.run(command, self.folder, {**self.env, **env}, memory)

    def empty_cache(self):
        shutil.rmtree(self.cache, ignore_errors=True)

    def edit(self, number: int):
        """Add `print("edited", number)` as the last line of the example (from its original), in
        every file that shows it."""
        for path in self.code_files:
            path.write_text(self.edited(path, number), encoding="utf-8")

    def edited(self, path: Path, number: int) -> str:
        code, original = generate.section_code(MODULE, SECTION), self.originals[path]
        line = f'print("edited", {number})'
        if path.suffix == ".ipynb":
            notebook = json.loads(original)
            cell, = (c for c in notebook["cells"] if c["cell_type"] == "code" and c["source"] == code)
            cell["source"] += "\n" + line
            return json.dumps(notebook, indent=1, ensure_ascii=False)
        if path.suffix == ".md":
            assert original.count(code) == 1, f"{path} shows {SECTION} once"
            return original.replace(code, code + "\n" + line)
        return measure.with_line_added(original, SECTION, line)

    def restore(self):
        for path, original in self.originals.items():
            path.write_text(original, encoding="utf-8")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    runs = parser.parse_args().runs
    keep = parser.parse_args().keep
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    loads = [measure.load()]
    started = time.perf_counter()
    try:
        own = measure.project_copy(work / "project")
        code_of = {peer: generate.generate(work / peer, peer) for peer in generate.PEERS}
        shown, every = generate.shown_examples()
        tools = [
            Tool("project", Path(sys.executable), own, [own / "snippets" / f"{MODULE}.py"], work / "cache",
                 {"SNIPPETS_CACHE": str(work / "cache")}),
            Tool("markdown-exec", PEERS_PYTHON, work / "markdown-exec", code_of["markdown-exec"][MODULE],
                 work / "markdown-exec" / ".cache", ONE_THREAD),
            Tool("mkdocs-jupyter", PEERS_PYTHON, work / "mkdocs-jupyter", code_of["mkdocs-jupyter"][MODULE],
                 work / "mkdocs-jupyter" / ".cache" / "mkdocs-jupyter", ONE_THREAD),
        ]
        project = tools[0]
        figures = {tool.name: {"cold": [], "cpu": [], "pss": [], "unchanged": [], "edited": []}
                   for tool in tools}
        records_only, number = [], 100
        for _ in range(runs):
            for tool in tools:
                tool.empty_cache()
                cold = tool.build(memory=True)
                figures[tool.name]["cold"].append(cold.wall)
                figures[tool.name]["cpu"].append(cold.cpu)
                figures[tool.name]["pss"].append(cold.peak_mib)
            loads.append(measure.load())
            records_only.append(project.build(SNIPPETS_EXECUTE="0").wall)
            for tool in tools:
                figures[tool.name]["unchanged"].append(tool.build().wall)
            for tool in tools:
                number += 1
                tool.edit(number)
                try:
                    figures[tool.name]["edited"].append(tool.build().wall)
                finally:
                    tool.restore()
            loads.append(measure.load())
        served = {}
        # this project as `make serve` runs it (--dirty); markdown-exec both ways
        for tool, dirty in ((tools[0], True), (tools[1], False), (tools[1], True), (tools[2], False)):
            number = (number // 100 + 1) * 100
            served[tool.name + (" --dirty" if dirty and tool is not tools[0] else "")] = _serve(tool, dirty, runs, number)
        loads.append(measure.load())
    finally:
        for tool in locals().get("tools", []):
            tool.restore()
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    _report(figures, median(records_only), served, runs, shown, every, loads, time.perf_counter() - started)


def _serve(tool: Tool, dirty: bool, runs: int, number: int) -> float:
    """Median seconds from an edit to the page served with the new output, under `mkdocs serve`
    (caches warm from the builds before, as an author's are)."""
    server = measure.Server(tool.python, tool.folder, tool.env, measure.site_path() + PAGE, dirty)
    times = []
    try:
        server.wait_for("</html>")  # the first build is done
        for run in range(runs * measure.SERVE_EDITS_PER_RUN):
            time.sleep(2)  # an author types
            times.append(measure.edit_to_page(server, lambda: tool.edit(number + run), f"edited {number + run}"))
    finally:
        server.stop()
        tool.restore()
    return median(times)


def _ratio(own: float, peer: float) -> str:
    return f"({own / peer:.2f})" if peer else ""


def _report(figures, records_only, served, runs, shown, every, loads, seconds) -> None:
    med = {tool: {kind: median(values) for kind, values in kinds.items()} for tool, kinds in figures.items()}
    own, me, nb = med["project"], med["markdown-exec"], med["mkdocs-jupyter"]
    english = len(generate.english_pages())
    print(f"medians of {runs} runs ({runs * measure.SERVE_EDITS_PER_RUN} edits under serve), interleaved; {shown} of {every} examples on {english} English and"
          f" {len(generate.pages()) - english} Japanese pages; {os.cpu_count()} cores; ratio = this project / peer")
    print(f"load averages (1, 5, 15 min) through the run: {' | '.join(loads)}; took {seconds / 60:.1f} min")
    print()
    print("| build | this project | markdown-exec (1 thread) | mkdocs-jupyter |")
    print("|---|---|---|---|")
    print(f"| cold | {own['cold']:.2f} s, {own['cpu']:.1f} s CPU | {me['cold']:.2f} s {_ratio(own['cold'], me['cold'])},"
          f" {me['cpu']:.1f} s CPU {_ratio(own['cpu'], me['cpu'])} | {nb['cold']:.2f} s {_ratio(own['cold'], nb['cold'])},"
          f" {nb['cpu']:.1f} s CPU {_ratio(own['cpu'], nb['cpu'])} |")
    for kind, title in (("unchanged", "nothing changed"), ("edited", "one example edited")):
        print(f"| {title} | {own[kind]:.2f} s | {me[kind]:.2f} s {_ratio(own[kind], me[kind])} |"
              f" {nb[kind]:.2f} s {_ratio(own[kind], nb[kind])} |")
    serve, me_serve, me_dirty, nb_serve = (served[k] for k in
                                           ("project", "markdown-exec", "markdown-exec --dirty", "mkdocs-jupyter"))
    print(f"| edit → page served under `mkdocs serve` | {serve:.2f} s with `--dirty` | {me_serve:.2f} s {_ratio(serve, me_serve)};"
          f" {me_dirty:.2f} s with `--dirty` {_ratio(serve, me_dirty)} | {nb_serve:.2f} s {_ratio(serve, nb_serve)} |")
    print(f"| process tree at peak, cold (PSS) | {own['pss']:.0f} MiB | {me['pss']:.0f} MiB {_ratio(own['pss'], me['pss'])}"
          f" | {nb['pss']:.0f} MiB {_ratio(own['pss'], nb['pss'])} |")
    print(f"\nrecords-only build of this project (SNIPPETS_EXECUTE=0): {records_only:.2f} s")
    print("\ntargets of issue 17 (reference for 3 and 4: markdown-exec, every block in one process):")
    targets = [
        ("1 edit → page under serve <= 1/2 records-only build", serve / records_only, 0.5,
         f"{serve:.2f} s / {records_only:.2f} s"),
        ("1 ... and faster than markdown-exec --dirty", serve / me_dirty, 1.0, f"{serve:.2f} s / {me_dirty:.2f} s"),
        ("2 nothing changed <= 1.2 x records-only build", own["unchanged"] / records_only, 1.2,
         f"{own['unchanged']:.2f} s / {records_only:.2f} s"),
        ("2 ... and no slower than mkdocs-jupyter unchanged", own["unchanged"] / nb["unchanged"], 1.0,
         f"{own['unchanged']:.2f} s / {nb['unchanged']:.2f} s"),
        ("3 cold CPU <= one process's CPU", own["cpu"] / me["cpu"], 1.0, f"{own['cpu']:.1f} s / {me['cpu']:.1f} s"),
        ("3 cold wall >= 20 % under one process's", own["cold"] / me["cold"], 0.8,
         f"{own['cold']:.2f} s / {me['cold']:.2f} s"),
        ("4 cold process tree PSS <= 1.5 x one process's", own["pss"] / me["pss"], 1.5,
         f"{own['pss']:.0f} MiB / {me['pss']:.0f} MiB"),
    ]
    for name, ratio, limit, figure in targets:
        print(f"  {name:<52} {ratio:6.2f} (<= {limit})  {figure:<24} {'PASS' if ratio <= limit else 'MISS'}")
    print("  5 peer benchmark in the project: this table (make bench-peers)")


if __name__ == "__main__":
    main()
