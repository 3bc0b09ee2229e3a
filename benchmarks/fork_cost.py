"""What running each example in a fork costs, page by page: the CPU of `execute.run_page` (a
process for the page, a fork of it for each example) against the same examples called one after
the other in this process, as one_process.py and markdown-exec run them. Both start from a process
prepared as a worker is (torch imported and warmed up). Prints seconds of CPU and page faults.

    python benchmarks/fork_cost.py [page_module ...]
"""

import importlib
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snippets.pipeline import execute  # noqa: E402
from snippets.pipeline.examples import find_examples, page_modules  # noqa: E402


def forked(module: str, names: list[str]) -> tuple[float, int]:
    """CPU seconds and minor page faults of run_page's processes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    execute.run_page(module, names)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
            after.ru_minflt - before.ru_minflt)


def in_this_process(module: str, names: list[str]) -> tuple[float, int]:
    """CPU seconds and minor page faults of importing the page and running its examples here."""
    faults, started = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
    page = importlib.import_module(f"snippets.{module}")
    for name in names:
        if error := execute.capture(page, name)["error"]:
            sys.exit(error)
    return time.process_time() - started, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


execute.prepare()
pages = {module: [example.name for example in find_examples(module)] for module in sys.argv[1:] or page_modules()}
in_forks = {module: forked(module, names) for module, names in pages.items()}  # before any page is imported here
here = {module: in_this_process(module, names) for module, names in pages.items()}
print(f"{'page':<22}{'examples':>9}{'forked CPU':>12}{'faults':>9}{'here CPU':>10}{'faults':>9}")
for module, names in pages.items():
    (fork_cpu, fork_faults), (cpu, faults) = in_forks[module], here[module]
    print(f"{module:<22}{len(names):>9}{fork_cpu:>11.2f}s{fork_faults:>9}{cpu:>9.2f}s{faults:>9}")
fork_cpu, fork_faults = (sum(values) for values in zip(*in_forks.values()))
cpu, faults = (sum(values) for values in zip(*here.values()))
count = sum(len(names) for names in pages.values())
print(f"{'all':<22}{count:>9}{fork_cpu:>11.2f}s{fork_faults:>9}{cpu:>9.2f}s{faults:>9}")
print(f"forks cost {fork_cpu - cpu:.2f} s of CPU more ({fork_cpu / cpu:.2f}x), "
      f"{(fork_cpu - cpu) / count * 1000:.0f} ms an example")
