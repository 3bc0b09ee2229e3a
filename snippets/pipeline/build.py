"""Produce every example's output for the site, and check it against its record.

This is the one entry point the MkDocs plugin, the tests and ``make regen`` share.
"""

from __future__ import annotations

import platform
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from . import cache
from .examples import Example, all_examples
from .execute import Workers
from .settings import Settings
from .records import compare, load_records, recorded_figure, verify, write_records
from .results import Figure, Record, Result


# The second kernel set every example runs under at `make regen` and in `make test`: ATen's
# plain loops without vector instructions. x86 torch honours it; elsewhere it may be the only set.
OTHER_KERNELS = "default"


@dataclass
class Outcome:
    """One example's output as the page shows it, and how it compares with its record: ``record``
    is what is (or would be) recorded of it, ``figures`` carry their drawings for the site."""

    example: Example
    record: Record
    figures: tuple[Figure, ...] = ()
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


class Pipeline:
    """One build's machinery: its settings, its workers, the runs under way and the cache keys.

    The MkDocs plugin keeps one for a build (for a whole ``mkdocs serve``, so the workers stay
    warm); ``make regen``, ``make check`` and the tests make their own. Leaving a ``with`` block,
    or [`stop`][snippets.pipeline.build.Pipeline.stop], ends its workers.

    Examples:
        >>> with Pipeline(Settings(execute=False)) as pipeline:
        ...     pipeline.start_running()
        []
    """

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_environment()
        self.workers = Workers(self.settings.time_limit)
        # Runs started by start_running, by cache key (so an example edited since is run again);
        # produce() takes each out when it collects its result.
        self.started: dict[str, Future] = {}
        self._keys: dict[tuple[str, str], str] = {}  # (example id, kernels) -> cache key, this build's
        self._inputs: dict[str, str] = {}  # example id -> what its keys share (cache.example_inputs), this build's

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exception) -> None:
        self.stop()

    def stop(self) -> None:
        """End the workers, and any example still running."""
        self.workers.stop()

    def new_build(self) -> None:
        """Forget the cache keys: a build under ``mkdocs serve`` computes them again, once each."""
        self._keys.clear()
        self._inputs.clear()

    def key(self, example: Example, kernels: str = "") -> str:
        """The example's cache key, computed once per build.

        Examples:
            >>> pipeline = Pipeline(Settings())
            >>> e = Example("autograd_basics", "chain_rule", 1)
            >>> pipeline.key(e) == cache.cache_key(e, settings=pipeline.settings)
            True
        """
        if (example.id, kernels) not in self._keys:
            if example.id not in self._inputs:
                self._inputs[example.id] = cache.example_inputs(example, self.settings)
            self._keys[example.id, kernels] = cache.cache_key(example, kernels, self.settings, self._inputs[example.id])
        return self._keys[example.id, kernels]

    def start_running(self, workers: int | None = None) -> list[Example]:
        """Start running, in the background, every example whose output is not cached; return
        those under way, which [`produce`][snippets.pipeline.build.Pipeline.produce] then waits for
        instead of running them again.

        Called as soon as a build starts, so that the workers import torch and run examples
        while MkDocs loads its theme and renders the pages that need nothing new. Calling it
        again starts only what changed since. With everything cached, nothing is started.
        """
        if not self.settings.execute:
            return []
        examples = all_examples()
        missing = [e for e in examples if self.key(e) not in self.started
                   and not cache.has(e, settings=self.settings, key=self.key(e))]
        for example_id, future in self.workers.submit(missing, self.settings.workers_for(workers)).items():
            self.started[self.key(next(e for e in missing if e.id == example_id))] = future
        return [e for e in examples if self.key(e) in self.started]

    def produce(self, examples: list[Example] | None = None, execute: bool | None = None,
                workers: int | None = None, use_cache: bool = True, kernels: str = "",
                check: bool = True) -> dict[str, Outcome]:
        """Run (or recall) each example and compare its output with its record (unless ``check``
        is off: `make regen` reads no record, so that it can replace records of an older format).

        With execution off, every outcome is its record and its committed figures.
        ``kernels`` runs the examples under another ATen kernel set (``"default"``); the
        drift it finds is then a cross-check against the record, saying what to do.

        Examples:
            >>> outcome = Pipeline().produce(execute=False)["autograd_basics:chain_rule"]
            >>> outcome.record.text.splitlines()[0], outcome.drift
            ('tensor(15.)', [])
        """
        settings = self.settings
        examples = all_examples() if examples is None else examples
        execute = settings.execute if execute is None else execute
        records = {module: load_records(module, settings.records_dir) if check or not execute else {}
                   for module in {e.module for e in examples}}
        if not execute:
            return {e.id: _from_record(e, records[e.module].get(e.name), settings.records_dir) for e in examples}
        keys = {e.id: self.key(e, kernels) for e in examples} if use_cache else {}
        results = {e.id: cache.load(e, kernels, settings, keys[e.id]) for e in examples} if use_cache else {}
        missing = [e for e in examples if results.get(e.id) is None]
        started = {e.id: self.started.pop(keys[e.id]) for e in missing if keys.get(e.id) in self.started}
        to_run = [e for e in missing if e.id not in started]
        futures = {**started, **self.workers.submit(to_run, settings.workers_for(workers), kernels)}
        by_id = {e.id: e for e in examples}
        fresh = {example_id: Result.from_worker(by_id[example_id], future.result())
                 for example_id, future in futures.items()}
        outcomes = {}
        for e in examples:
            result = fresh.get(e.id) or results[e.id]
            if e.id in fresh:
                cache.store(e, result, kernels, settings, keys.get(e.id))
            new = Record.of(e, result)
            label = result.kernels or kernels
            sources = ("in the record", f"under {label} kernels") if kernels else None
            outcomes[e.id] = Outcome(
                example=e, record=new, figures=result.figures,
                seconds=result.seconds, from_cache=e.id not in fresh, error=result.error,
                drift=[] if result.error or not check else _drift(e, records[e.module].get(e.name), new, sources,
                                                                  settings.records_dir),
                kernels=label,
            )
        return outcomes

    def evict_unused(self) -> list[Path]:
        """Remove the cache entries that no example has now, under the machine's kernels or the
        cross-check's (`OTHER_KERNELS`): results of code since edited, of examples since removed."""
        if not self.settings.execute:
            return []
        examples = all_examples()
        return cache.evict({self.key(e, kernels) for e in examples for kernels in ("", OTHER_KERNELS)},
                           self.settings)


def produce(examples: list[Example] | None = None, execute: bool | None = None, workers: int | None = None,
            use_cache: bool = True, kernels: str = "", settings: Settings | None = None,
            check: bool = True) -> dict[str, Outcome]:
    """[`Pipeline.produce`][snippets.pipeline.build.Pipeline.produce] on workers of its own, ended
    when done: for ``make check``, ``make regen`` and the tests.

    Examples:
        >>> outcome = produce(execute=False)["autograd_basics:chain_rule"]
        >>> outcome.record.text.splitlines()[0], outcome.drift
        ('tensor(15.)', [])
    """
    with Pipeline(settings or Settings.from_environment()) as pipeline:
        return pipeline.produce(examples, execute, workers, use_cache, kernels, check)


def cross_check(first: dict[str, Outcome], second: dict[str, Outcome]) -> list[str]:
    """Every printed number and plotted value that differs between two runs of the same
    examples (under two kernel sets) beyond the example's tolerance, or any failure of the second.

    Examples:
        >>> e = Example("m", "e", 1)
        >>> one = Outcome(e, Record("x = 1.5\\n"), kernels="AVX2")
        >>> two = Outcome(e, Record("x = 1.6\\n"), kernels="DEFAULT")
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


def _drift(example: Example, recorded: Record | None, new: Record, sources: tuple[str, str] | None,
           folder: Path) -> list[str]:
    """How a new output differs from its record, and whether the record is what `make regen` wrote."""
    return compare(example, recorded, new, sources) + (verify(example, recorded, folder) if recorded else [])


def _from_record(example: Example, record: Record | None, folder: Path) -> Outcome:
    """The record as the outcome, for a build from the records alone; one that is not what
    `make regen` wrote is refused, never served."""
    if record is None:
        return Outcome(example, Record(""), error=f"{example.where}: example {example.id} has no record; run `make regen`")
    if problems := verify(example, record, folder):
        return Outcome(example, Record(""), error="\n".join(problems))
    return Outcome(example, record, tuple(
        Figure(f.file, f.alt, f.data, recorded_figure(example.module, f.file, folder).decode(),
               recorded_figure(example.module, f.dark_file, folder).decode()) for f in record.figures))


def cross_check_note(first: dict[str, Outcome], second: dict[str, Outcome]) -> str:
    """Which kernel sets the cross-check compared, saying so plainly when there was only one.

    Examples:
        >>> e = Example("m", "e", 1)
        >>> cross_check_note({e.id: Outcome(e, Record(""), kernels="AVX2")}, {e.id: Outcome(e, Record(""), kernels="DEFAULT")})
        'cross-checked 1 examples under AVX2 and DEFAULT kernels'
    """
    names = sorted({o.kernels for o in first.values()}), sorted({o.kernels for o in second.values()})
    if names[0] == names[1] and len(names[0]) == 1:
        return (f"only one kernel set on this machine ({names[0][0]}): {len(first)} examples run twice, "
                "which catches unseeded randomness but not kernel-dependent digits")
    return f"cross-checked {len(first)} examples under {' '.join(names[0])} and {' '.join(names[1])} kernels"


def regenerate(examples: list[Example] | None = None, workers: int | None = None,
               settings: Settings | None = None) -> list[str]:
    """Run the examples (all by default) and rewrite their modules' records, unless any fails.

    Every example runs twice, never recalled from the cache, under the machine's kernels and ``ATEN_CPU_CAPABILITY=default``
    (`OTHER_KERNELS`); if any printed number or plotted value differs between the two
    beyond the example's tolerance, or an example draws unseeded random numbers, nothing is
    written. A module's record file is rewritten whole, so every example of a module given
    is run. Returns the problems; when there are any, no record is touched.
    """
    settings = settings or Settings.from_environment()
    modules = {e.module for e in (all_examples() if examples is None else examples)}
    chosen = [e for e in all_examples() if e.module in modules]
    # never from the cache: what is recorded is what the code prints now (a cache entry is a file
    # anyone can change, and its key may miss a dependency)
    outcomes = produce(chosen, execute=True, workers=workers, use_cache=False, settings=settings, check=False)
    errors = [o.error for o in outcomes.values() if o.error]
    if errors:
        return errors
    others = produce(chosen, execute=True, workers=workers, kernels=OTHER_KERNELS, use_cache=False,
                     settings=settings, check=False)
    problems = cross_check(outcomes, others)
    print(cross_check_note(outcomes, others))
    if problems:
        return problems
    records: dict[str, dict[str, Record]] = {}
    figures: dict[str, dict[str, str]] = {}
    for outcome in outcomes.values():
        module, name = outcome.example.module, outcome.example.name
        records.setdefault(module, {})[name] = outcome.record
        for figure in outcome.figures:
            figures.setdefault(module, {})[figure.file] = figure.svg
            figures[module][figure.dark_file] = figure.dark_svg
    write_records(records, figures, settings.records_dir)
    return []
