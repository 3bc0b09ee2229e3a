"""Produce every example's output for the site, and check it against its record.

This is the one entry point the MkDocs hook, the tests and ``make regen`` share.
"""

from __future__ import annotations

import os
import platform
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib.metadata import version

from . import cache
from .examples import Example, all_examples
from .execute import submit_examples
from .records import compare, dark_figure_file, load_records, record_of, recorded_figure, verify, write_records


# The second kernel set every example runs under at `make regen` and in `make test`: ATen's
# plain loops without vector instructions. x86 torch honours it; elsewhere it may be the only set.
OTHER_KERNELS = "default"


@dataclass
class Outcome:
    """One example's output as the page shows it, and how it compares with its record."""

    example: Example
    record: dict
    svgs: list[bytes]
    dark_svgs: list[bytes] = field(default_factory=list)  # the same figures drawn for the dark scheme
    seconds: float | None = None
    from_cache: bool = False
    drift: list[str] = field(default_factory=list)
    error: str | None = None
    kernels: str = ""  # the kernel set torch ran it under, such as AVX2 (empty: not run)


def environment() -> dict[str, str]:
    """The versions this build runs with, read without importing torch.

    Examples:
        >>> sorted(environment())
        ['Matplotlib', 'NumPy', 'Platform', 'PyTorch', 'Python']
    """
    found = {"Python": platform.python_version(), "Platform": f"{platform.system()} {platform.machine()}"}
    for label, package in [("PyTorch", "torch"), ("NumPy", "numpy"), ("Matplotlib", "matplotlib")]:
        found[label] = version(package)
    return found


def execution_enabled() -> bool:
    """Whether examples run (default) or the site is built from the records alone.

    Examples:
        >>> os.environ.pop("SNIPPETS_EXECUTE", None); execution_enabled()
        True
    """
    return os.environ.get("SNIPPETS_EXECUTE", "1") != "0"


def start_running(workers: int | None = None) -> list[Example]:
    """Start running, in the background, every example whose output is not cached; return
    those under way, which [`produce`][snippets.pipeline.build.produce] then waits for instead of running them again.

    Called as soon as a build starts, so that the workers import torch and run examples
    while MkDocs loads its theme and renders the pages that need nothing new. Calling it
    again starts only what changed since. With everything cached, nothing is started.

    Examples:
        >>> os.environ["SNIPPETS_EXECUTE"] = "0"
        >>> start_running()
        []
        >>> del os.environ["SNIPPETS_EXECUTE"]
    """
    if not execution_enabled():
        return []
    examples = all_examples()
    keys = {e.id: cache.cache_key(e) for e in examples}
    missing = [e for e in examples if keys[e.id] not in _started and not cache.has(e)]
    for example_id, future in submit_examples(missing, worker_count(workers)).items():
        _started[keys[example_id]] = future
    return [e for e in examples if keys[e.id] in _started]


# Runs started by start_running, by cache key (so an example edited since is run again);
# produce() takes each out when it collects its result.
_started: dict[str, Future] = {}


def worker_count(workers: int | None = None) -> int:
    """Processes to run examples on: as asked, else ``SNIPPETS_WORKERS``, else every core.

    Examples:
        >>> worker_count(3)
        3
    """
    return workers or int(os.environ.get("SNIPPETS_WORKERS", "0")) or os.cpu_count() or 1


def produce(examples: list[Example] | None = None, execute: bool | None = None,
            workers: int | None = None, use_cache: bool = True, kernels: str = "") -> dict[str, Outcome]:
    """Run (or recall) each example and compare its output with its record.

    With execution off, every outcome is its record and its committed figures.
    ``kernels`` runs the examples under another ATen kernel set (``"default"``); the
    drift it finds is then a cross-check against the record, saying what to do.

    Examples:
        >>> outcome = produce(execute=False)["autograd_basics:chain_rule"]
        >>> outcome.record["text"].splitlines()[0], outcome.drift
        ('tensor(15.)', [])
    """
    examples = all_examples() if examples is None else examples
    execute = execution_enabled() if execute is None else execute
    records = {module: load_records(module) for module in {e.module for e in examples}}
    if not execute:
        return {e.id: _from_record(e, records[e.module].get(e.name)) for e in examples}
    results = {e.id: cache.load(e, kernels) for e in examples} if use_cache else {}
    missing = [e for e in examples if results.get(e.id) is None]
    keys = {e.id: cache.cache_key(e, kernels) for e in missing} if use_cache else {}
    started = {example_id: _started.pop(key) for example_id, key in keys.items() if key in _started}
    to_run = [e for e in missing if e.id not in started]
    futures = {**started, **submit_examples(to_run, worker_count(workers), kernels)}
    fresh = {example_id: future.result() for example_id, future in futures.items()}
    outcomes = {}
    for e in examples:
        result = fresh.get(e.id) or results[e.id]
        if e.id in fresh:
            cache.store(e, result, kernels)
        new = record_of(e, result)
        label = result.get("kernels", kernels)
        sources = ("in the record", f"under {label} kernels") if kernels else None
        outcomes[e.id] = Outcome(
            example=e, record=new, svgs=[f["svg"].encode() for f in result["figures"]],
            dark_svgs=[f["svg_dark"].encode() for f in result["figures"]],
            seconds=result["seconds"], from_cache=e.id not in fresh, error=result["error"],
            drift=[] if result["error"] else _drift(e, records[e.module].get(e.name), new, sources),
            kernels=label,
        )
    return outcomes


def cross_check(first: dict[str, Outcome], second: dict[str, Outcome]) -> list[str]:
    """Every printed number and plotted value that differs between two runs of the same
    examples (under two kernel sets) beyond the example's tolerance, or any failure of the second.

    Examples:
        >>> e = Example("m", "e", 1)
        >>> one = Outcome(e, {"text": "x = 1.5\\n", "figures": []}, [], kernels="AVX2")
        >>> two = Outcome(e, {"text": "x = 1.6\\n", "figures": []}, [], kernels="DEFAULT")
        >>> cross_check({e.id: one}, {e.id: two})[0].splitlines()[0]
        'snippets/m.py:1: example m:e: printed number 1 of 1 is 1.5 under AVX2 kernels, 1.6 under DEFAULT kernels (line: x = 1.6)'
    """
    problems = []
    for example_id, outcome in first.items():
        other = second[example_id]
        if other.error:
            problems.append(f"{other.error} (under {other.kernels or 'the second'} kernels)")
            continue
        sources = (f"under {outcome.kernels} kernels", f"under {other.kernels} kernels")
        problems += compare(outcome.example, outcome.record, other.record, sources)
    return problems


def _drift(example: Example, recorded: dict | None, new: dict, sources: tuple[str, str] | None) -> list[str]:
    """How a new output differs from its record, and whether the record is what `make regen` wrote."""
    return compare(example, recorded, new, sources) + (verify(example, recorded) if recorded else [])


def _from_record(example: Example, record: dict | None) -> Outcome:
    """The record as the outcome, for a build from the records alone; one that is not what
    `make regen` wrote is refused, never served."""
    empty = {"text": "", "numbers": [], "figures": []}
    if record is None:
        return Outcome(example, empty, [], error=f"{example.where}: example {example.id} has no record; run `make regen`")
    if problems := verify(example, record):
        return Outcome(example, empty, [], [], error="\n".join(problems))
    svgs = [recorded_figure(example.module, figure["file"]) for figure in record["figures"]]
    dark = [recorded_figure(example.module, dark_figure_file(figure["file"])) for figure in record["figures"]]
    return Outcome(example, record, svgs, dark)


def cross_check_note(first: dict[str, Outcome], second: dict[str, Outcome]) -> str:
    """Which kernel sets the cross-check compared, saying so plainly when there was only one.

    Examples:
        >>> e = Example("m", "e", 1)
        >>> cross_check_note({e.id: Outcome(e, {}, [], kernels="AVX2")}, {e.id: Outcome(e, {}, [], kernels="DEFAULT")})
        'cross-checked 1 examples under AVX2 and DEFAULT kernels'
    """
    names = sorted({o.kernels for o in first.values()}), sorted({o.kernels for o in second.values()})
    if names[0] == names[1] and len(names[0]) == 1:
        return (f"only one kernel set on this machine ({names[0][0]}): {len(first)} examples run twice, "
                "which catches unseeded randomness but not kernel-dependent digits")
    return f"cross-checked {len(first)} examples under {' '.join(names[0])} and {' '.join(names[1])} kernels"


def regenerate(examples: list[Example] | None = None, workers: int | None = None) -> list[str]:
    """Run the examples (all by default) and rewrite their modules' records, unless any fails.

    Every example runs twice, never recalled from the cache, under the machine's kernels and ``ATEN_CPU_CAPABILITY=default``
    (`OTHER_KERNELS`); if any printed number or plotted value differs between the two
    beyond the example's tolerance, or an example draws unseeded random numbers, nothing is
    written. A module's record file is rewritten whole, so every example of a module given
    is run. Returns the problems; when there are any, no record is touched.
    """
    modules = {e.module for e in (all_examples() if examples is None else examples)}
    chosen = [e for e in all_examples() if e.module in modules]
    # never from the cache: what is recorded is what the code prints now (a cache entry is a file
    # anyone can change, and its key may miss a dependency)
    outcomes = produce(chosen, execute=True, workers=workers, use_cache=False)
    errors = [o.error for o in outcomes.values() if o.error]
    if errors:
        return errors
    others = produce(chosen, execute=True, workers=workers, kernels=OTHER_KERNELS, use_cache=False)
    problems = cross_check(outcomes, others)
    print(cross_check_note(outcomes, others))
    if problems:
        return problems
    records: dict[str, dict[str, dict]] = {}
    figures: dict[str, dict[str, str]] = {}
    for outcome in outcomes.values():
        module, name = outcome.example.module, outcome.example.name
        records.setdefault(module, {})[name] = outcome.record
        for figure, svg, dark in zip(outcome.record["figures"], outcome.svgs, outcome.dark_svgs):
            figures.setdefault(module, {})[figure["file"]] = svg.decode()
            figures[module][dark_figure_file(figure["file"])] = dark.decode()
    write_records(records, figures)
    return []
