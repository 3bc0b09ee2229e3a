"""The machinery's promises: clear failures, drift caught, records written all or nothing,
outputs reproducible."""

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest

from snippets.pipeline import build, cache, examples, execute, records, render, settings
from snippets.pipeline.__main__ import main as pipeline_command
from snippets.pipeline.examples import PROJECT_DIR, Example, ExampleError
from snippets.pipeline.plugin import ExamplesPlugin
from snippets.pipeline.results import Figure, Record, Result
from snippets.pipeline.settings import Settings

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


def test_a_hand_edited_record_is_caught(outcomes):
    outcome = outcomes["autograd_basics:chain_rule"]
    edited = replace(outcome.record, text=outcome.record.text.replace("15.", "16."))
    assert "printed number 1 of 2 was 16.0, now 15.0" in records.compare(outcome.example, edited, outcome.record)[0]
    # records no longer hold numbers beside their text; the digest is what catches a hand edit
    recorded = records.load_records("autograd_basics")["chain_rule"]
    hand_edited = replace(recorded, text=recorded.text.replace("15.", "16."))
    assert any("edited by hand" in p for p in records.verify(outcome.example, hand_edited))


def test_changed_wording_is_drift_whatever_the_tolerance():
    example = Example("m", "e", 3, rtol=1.0)
    old = records.record_of(example, Result("a.grad = 1\n"))
    new = records.record_of(example, Result("b.grad = 1\n"))
    assert records.compare(example, old, new) == [
        "snippets/m.py:3: example m:e: printed text changed\n  line 1 was: a.grad = 1\n  line 1 now: b.grad = 1"]


def test_drift_is_shown_on_the_page_when_serving():
    example = Example("autograd_basics", "chain_rule", 1)
    outcome = build.Outcome(example, Record("tensor(15.)\n"), drift=["it moved"])
    page = render.add_outputs('```python\n--8<-- "snippets/autograd_basics.py:chain_rule"\n```\n',
                              {example.id: outcome}, "autograd-basics.md")
    assert '````{.text .output title="Output"}\ntensor(15.)\n````' in page
    assert '!!! warning "Output drifted from its record"' in page and "it moved" in page


def test_regen_writes_nothing_when_an_example_fails(monkeypatch):
    before = {p: p.read_bytes() for p in records.RECORDS_DIR.rglob("*") if p.is_file()}
    failing = build.Outcome(Example("autograd_basics", "chain_rule", 1), Record(""), error="x.py:1: boom")
    monkeypatch.setattr(build, "produce", lambda *args, **kwargs: {"autograd_basics:chain_rule": failing})
    assert build.regenerate() == ["x.py:1: boom"]
    assert {p: p.read_bytes() for p in records.RECORDS_DIR.rglob("*") if p.is_file()} == before


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_records_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("SNIPPETS_RECORDS", str(tmp_path / "records"))
    records.write_records({"page": {"a": Record("old")}}, {"page": {"a-1.svg": "<svg/>"}})
    before = _files(tmp_path)
    real_write, calls = Path.write_text, []

    def failing_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write)
    with pytest.raises(OSError, match="disk full"):
        records.write_records({"page": {"a": Record("new")}}, {"page": {"a-1.svg": "<svg>new</svg>"}})
    monkeypatch.undo()
    monkeypatch.setenv("SNIPPETS_RECORDS", str(tmp_path / "records"))
    records.recover()  # what the next run does first
    assert _files(tmp_path) == before


KILLED_REGEN = """
import sys
from pathlib import Path
from snippets.pipeline import records
svg = "<svg>" + sys.argv[2] * 5000 + "</svg>"
modules = {f"page{m}": {"a": records.Record(sys.argv[2])} for m in range(30)}
records.write_records(modules, {m: {f"a-{i}.svg": svg for i in range(8)} for m in modules}, Path(sys.argv[1]))
"""


def test_a_killed_regen_leaves_every_old_record_or_every_new_one(tmp_path, monkeypatch):
    folder, saved = tmp_path / "work" / "records", tmp_path / "old"
    write = [sys.executable, "-c", KILLED_REGEN, str(folder)]
    subprocess.run(write + ["old"], cwd=PROJECT_DIR, check=True)
    shutil.copytree(folder, saved)
    started = time.monotonic()
    subprocess.run(write + ["new"], cwd=PROJECT_DIR, check=True)
    new, old, duration = _files(folder), _files(saved), time.monotonic() - started
    monkeypatch.setenv("SNIPPETS_RECORDS", str(folder))
    outcomes = []
    for step in range(40):  # kill timings spread over a whole run, start-up included, until it has ended twice
        if outcomes.count("new") >= 2:
            break
        shutil.rmtree(folder)
        shutil.copytree(saved, folder)
        run = subprocess.Popen(write + ["new"], cwd=PROJECT_DIR)
        time.sleep(duration * step / 12)
        run.kill()
        run.wait()
        records.recover()  # what the next run does first
        assert [p.name for p in folder.parent.iterdir()] == ["records"], f"leftovers after a kill at step {step}"
        outcomes.append("old" if _files(folder) == old else "new" if _files(folder) == new else "mixed")
    assert "mixed" not in outcomes and {"old", "new"} <= set(outcomes), outcomes


def test_two_runs_give_byte_identical_records_and_figures():
    chosen = [e for e in examples.find_examples("autograd_basics") if e.name in ("training_step", "accumulation")]
    first = build.produce(chosen, execute=True, workers=1, use_cache=False)
    second = build.produce(chosen, execute=True, workers=1, use_cache=False)
    for example in chosen:
        assert json.dumps(first[example.id].record.to_json()) == json.dumps(second[example.id].record.to_json())
        assert [f.svg for f in first[example.id].figures] == [f.svg for f in second[example.id].figures]
        assert [f.dark_svg for f in first[example.id].figures] == \
            [f.dark_svg for f in second[example.id].figures]  # the dark scheme's drawings too


def test_strict_build_fails_on_a_hand_edited_record(tmp_path, outcomes):
    copy = tmp_path / "records"
    shutil.copytree(records.RECORDS_DIR, copy)
    path = copy / "autograd_basics.json"
    path.write_text(path.read_text().replace("tensor(15.)", "tensor(15.15)"))
    env = {**os.environ, "SNIPPETS_RECORDS": str(copy), "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "example autograd_basics:chain_rule" in run.stderr
    assert "was 15.15, now 15.0" in run.stderr


def _keys_after_edit(tmp_path, monkeypatch, old, new):
    source = (PROJECT_DIR / "snippets" / "autograd_basics.py").read_text()
    assert old in source
    monkeypatch.setattr(examples, "SNIPPETS_DIR", tmp_path)
    (tmp_path / "autograd_basics.py").write_text(source)
    before = {e.name: cache.cache_key(e) for e in examples.find_examples("autograd_basics")}
    (tmp_path / "autograd_basics.py").write_text(source.replace(old, new))
    after = {e.name: cache.cache_key(e) for e in examples.find_examples("autograd_basics")}
    return sorted(name for name in before if before[name] != after[name])


def test_editing_one_example_reruns_only_it(tmp_path, monkeypatch):
    assert _keys_after_edit(tmp_path, monkeypatch, "    z = 5 * y\n", "    z = 6 * y\n") == ["chain_rule"]


def test_editing_a_shared_definition_reruns_exactly_its_users(tmp_path, monkeypatch):
    changed = _keys_after_edit(tmp_path, monkeypatch, "nn.Conv2d(3, 8,", "nn.Conv2d(3, 9,")
    assert changed == ["freezing", "graph_picture_network", "training_step"]


def test_editing_the_setup_reruns_every_example(tmp_path, monkeypatch):
    changed = _keys_after_edit(tmp_path, monkeypatch, "precision=4", "precision=5")
    assert changed == sorted(e.name for e in examples.find_examples("autograd_basics"))


def test_a_cache_hit_does_not_import_torch(outcomes):
    script = ("import sys; from snippets.pipeline import build; "
              "outcomes = build.produce(execute=True); "
              "print(all(o.from_cache for o in outcomes.values()), 'torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert run.stdout.split() == ["True", "False"], run.stderr


def test_two_builds_at_once_share_an_empty_cache(tmp_path):
    env = {**os.environ, "SNIPPETS_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "snippets.pipeline", "check", "--module", "autograd_basics", "--workers", "1"]
    runs = [subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    results = [(run.wait(), run.stdout.read(), run.stderr.read()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert len(list((tmp_path / "cache").glob("*.json"))) == len(examples.find_examples("autograd_basics"))


def _recording_submit(monkeypatch, cache_dir):
    """Replace the workers: record what is submitted, and finish each run at once with a made-up result."""
    submitted = []

    def submit(chosen, workers, kernels=""):
        submitted.append([e.id for e in chosen])
        futures = {e.id: Future() for e in chosen}
        for future in futures.values():
            future.set_result({"text": "made up\n", "figures": [], "error": None, "seconds": 0.0})
        return futures

    pipeline = build.Pipeline(Settings.from_environment(cache_dir=cache_dir))
    monkeypatch.setattr(pipeline.workers, "submit", submit)
    return pipeline, submitted


def test_examples_start_running_early_only_when_something_must_run(tmp_path, monkeypatch):
    pipeline, submitted = _recording_submit(monkeypatch, tmp_path)
    everything = [e.id for e in examples.all_examples()]
    assert [e.id for e in pipeline.start_running(workers=2)] == everything
    assert [e.id for e in pipeline.start_running(workers=2)] == everything  # under way: not started twice
    assert submitted == [everything, []]
    for example in examples.all_examples():
        cache.store(example, Result(""), settings=pipeline.settings)
    pipeline.started.clear()
    assert pipeline.start_running(workers=2) == []
    assert submitted[-1] == []


def test_produce_waits_for_a_started_run_instead_of_running_it_again(tmp_path, monkeypatch):
    pipeline, submitted = _recording_submit(monkeypatch, tmp_path)
    pipeline.start_running()
    chain_rule = next(e for e in examples.all_examples() if e.id == "autograd_basics:chain_rule")
    outcome = pipeline.produce([chain_rule], execute=True)[chain_rule.id]
    assert outcome.record.text == "made up\n" and not outcome.from_cache
    assert submitted[1:] == [[]]
    assert cache.load(chain_rule, settings=pipeline.settings).text == "made up\n"


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


STOPPED_BUILD = """
import functools, sys, time
from snippets.pipeline import execute
pool = execute.Workers().start(1, warm_up=False)
future = pool.submit(execute.in_fork, functools.partial(time.sleep, 600), "probe")
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
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    workers = [int(pid) for pid in build_process.stdout.readline().split()]
    deadline = time.monotonic() + 30
    while moment == "example" and not any(_descendants(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)  # until the example's fork is running
    everything = _descendants(build_process.pid)
    assert moment == "start-up" or len(everything) > len(workers) + 1, "the example never started"
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


def test_regen_writes_nothing_when_the_kernel_sets_disagree(monkeypatch):
    before = {p: p.read_bytes() for p in records.RECORDS_DIR.rglob("*") if p.is_file()}
    example = Example("autograd_basics", "chain_rule", 1)

    def produce(chosen, execute, workers, kernels="", use_cache=True, settings=None, check=True):
        text = "x = 2.5\n" if kernels else "x = 2.6\n"
        return {example.id: build.Outcome(example, records.record_of(example, Result(text)),
                                          kernels=kernels.upper() or "AVX2")}

    monkeypatch.setattr(build, "produce", produce)
    problems = build.regenerate([example])
    assert problems[0].startswith("snippets/autograd_basics.py:1: example autograd_basics:chain_rule: printed "
                                  "number 1 of 1 is 2.6 under AVX2 kernels, 2.5 under DEFAULT kernels (line: x = 2.5)")
    assert {p: p.read_bytes() for p in records.RECORDS_DIR.rglob("*") if p.is_file()} == before


def test_plotted_values_are_compared_above_the_floor_the_example_states():
    example = Example("m", "e", 1, rtol=1e-4, atol=0, floor=1e-6)

    def run(tail, recorded_by=example):
        data = {"axes0.line0": {"shape": [3], "values": [0.5, 2e-4, tail]}}
        return records.record_of(recorded_by, Result("", (Figure("e-1.svg", "", data),)))

    assert records.compare(example, run(3e-11), run(4e-11)) == []          # both noise, below the floor
    moved = records.compare(example, run(3e-11), run(5e-6))                # a real change shows
    assert moved == ["snippets/m.py:1: example m:e: figure 1 axes0.line0: 1 values moved, first at 2: "
                     "was 1e-06, now 5e-06"]
    no_floor = Example("m", "e", 1, atol=0)
    assert records.compare(no_floor, run(3e-11, no_floor), run(4e-11, no_floor)) != []


def test_an_example_states_its_floor():
    found = [e for e in examples.find_examples("finite_differences") if e.name == "fit_both"]
    assert found[0].floor == 1e-6


def test_the_cache_key_covers_kernel_set_and_cpu_without_importing_torch(monkeypatch):
    example = Example("autograd_basics", "chain_rule", 1)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    native = cache.cache_key(example)
    assert cache.cache_key(example, kernels="default") != native
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert cache.cache_key(example) == cache.cache_key(example, kernels="default")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    monkeypatch.setattr(cache, "_vector_flags", lambda: ("avx2", "avx512f", "fma"))
    assert cache.cache_key(example) != native
    monkeypatch.setattr(cache.platform, "machine", lambda: "arm64")
    assert cache.machine().startswith("arm64 [avx2 avx512f fma]")
    script = "import sys; from snippets.pipeline import cache; cache.machine(); print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert run.stdout.split() == ["False"], run.stderr


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


# --- Faults an author will hit ---

def test_a_syntax_error_in_a_page_module_names_file_and_line_only(tmp_path, monkeypatch):
    monkeypatch.setattr(examples, "SNIPPETS_DIR", tmp_path)
    _probe_module(tmp_path)  # a valid module first, then break its line 10
    path = tmp_path / "probe_page.py"
    path.write_text(path.read_text().replace("print(values[5])", "print(values[5]"))
    with pytest.raises(ExampleError) as raised:
        examples.find_examples("probe_page")
    assert re.fullmatch(r".*probe_page\.py:10: syntax error: .+", str(raised.value))


def test_an_unreadable_record_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SNIPPETS_RECORDS", str(tmp_path))
    (tmp_path / "page.json").write_text('{"banner": "x", "examples": {"a": {"text": "4')
    with pytest.raises(ExampleError, match=r"page\.json: the record file cannot be read"):
        records.load_records("page")


def test_a_record_file_of_an_older_format_names_the_file_both_formats_and_make_regen(tmp_path):
    (tmp_path / "page.json").write_text(json.dumps({"banner": "x", "format": 2, "examples": {}}))
    with pytest.raises(ExampleError) as raised:
        records.load_records("page", tmp_path)
    assert str(raised.value) == (f"{tmp_path / 'page.json'}: the record file is of format 2, this pipeline "
                                 f"reads format {records.FORMAT}; run `make regen`")


def test_a_cache_entry_that_is_not_a_result_is_named_removed_and_run_again(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SNIPPETS_CACHE", str(tmp_path))
    example = Example("autograd_basics", "chain_rule", 1)
    cache.entry(example).write_text("{}")
    assert cache.load(example) is None
    assert not cache.entry(example).exists()
    assert "autograd_basics:chain_rule" in caplog.text and str(cache.entry(example)) in caplog.text


def test_an_example_that_exits_names_its_line(tmp_path):
    module = _probe_module(tmp_path, PROBE.replace("print(values[5])", "raise SystemExit(3)"))
    assert execute.capture(module, "fails")["error"].endswith("probe_page.py:10: SystemExit: 3")


def test_an_example_that_changes_torch_global_state_is_reported(tmp_path):
    module = _probe_module(tmp_path, PROBE.replace(
        "print(values[5])", "__import__('torch').set_default_dtype(__import__('torch').float64)"))
    error = execute.in_fork(lambda: execute.capture(module, "fails"), "probe")["error"]
    assert "probe_page.py:5: example 'fails' changed torch's global state" in error
    assert "default dtype torch.float32 -> torch.float64" in error


def test_an_unknown_module_is_an_error_that_lists_the_modules(capsys):
    with pytest.raises(SystemExit) as raised:
        pipeline_command(["regen", "--module", "autograd-basics"])
    message = capsys.readouterr().err
    assert raised.value.code == 2 and "did you mean autograd_basics?" in message
    assert all(module in message for module in examples.page_modules())


def test_drift_in_a_long_output_is_reported_by_its_first_differences_and_a_count():
    example = Example("m", "e", 1)
    def output(scale):
        return Result("".join(f"step {i}: {(i + 0.5) * scale}\n" for i in range(20000)))

    problems = records.compare(example, records.record_of(example, output(1)), records.record_of(example, output(2)))
    assert len(problems) == records.LISTED_DIFFERENCES + 1
    assert problems[0].endswith("printed number 2 of 40000 was 0.5, now 1.0 (line: step 0: 1.0)")
    assert problems[-1].endswith(f"and {20000 - records.LISTED_DIFFERENCES} more printed numbers moved "
                                 "(20000 of 40000 in all)")


# --- Records verified against themselves; regen never trusts the cache; a complete cache key ---

def _records_copy(tmp_path, monkeypatch):
    copy = tmp_path / "records"
    shutil.copytree(records.RECORDS_DIR, copy)
    monkeypatch.setenv("SNIPPETS_RECORDS", str(copy))
    return copy


def test_every_record_is_what_regen_wrote():
    problems = [p for e in examples.all_examples() for p in records.verify(e, records.load_records(e.module)[e.name])]
    assert problems == []


def test_a_record_edit_inside_the_tolerance_is_caught_naming_the_file(tmp_path, monkeypatch):
    path = _records_copy(tmp_path, monkeypatch) / "autograd_basics.json"
    document = json.loads(path.read_text())
    record = document["examples"]["chain_rule"]  # an edit inside the tolerance, as a careful hand would
    record["text"] = record["text"].replace("tensor(15.)", "tensor(15.0001)")
    path.write_text(json.dumps(document))
    chain_rule = Example("autograd_basics", "chain_rule", 1)
    edited = records.load_records("autograd_basics")["chain_rule"]
    as_printed = replace(edited, text=edited.text.replace("tensor(15.0001)", "tensor(15.)"))
    assert records.compare(chain_rule, edited, as_printed) == []  # inside the tolerance: no drift
    [problem] = records.verify(chain_rule, edited)
    assert problem.startswith(f"{path}: the record of autograd_basics:chain_rule differs from what `make regen` wrote")


@pytest.mark.parametrize("fault", ["replaced", "missing"])
def test_a_replaced_or_missing_figure_is_caught_naming_the_file(tmp_path, monkeypatch, fault):
    folder = _records_copy(tmp_path, monkeypatch) / "autograd_basics"
    figure = folder / "accumulation-1.svg"
    if fault == "replaced":
        shutil.copy(folder / "graph_picture_q-1.svg", figure)
    else:
        figure.unlink()
    accumulation = next(e for e in examples.find_examples("autograd_basics") if e.name == "accumulation")
    [problem] = records.verify(accumulation, records.load_records("autograd_basics")["accumulation"])
    assert problem.startswith(f"{figure}: ") and ("missing" if fault == "missing" else "replaced by hand") in problem


def test_the_records_only_build_refuses_a_replaced_figure(tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(records.RECORDS_DIR, copy)
    shutil.copy(copy / "autograd_basics" / "graph_picture_q-1.svg", copy / "autograd_basics" / "accumulation-1.svg")
    env = {**os.environ, "SNIPPETS_RECORDS": str(copy), "SNIPPETS_EXECUTE": "0", "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert f"{copy / 'autograd_basics' / 'accumulation-1.svg'}: differs from the figure" in run.stderr
    assert "Traceback" not in run.stderr


def test_regen_runs_the_code_even_when_a_cache_entry_was_altered(tmp_path, monkeypatch):
    chain_rule = next(e for e in examples.find_examples("autograd_basics") if e.name == "chain_rule")
    build.produce([chain_rule], execute=True)  # cached
    entry = cache.entry(chain_rule)
    entry.write_text(entry.read_text().replace("tensor(15.)", "tensor(48.5)"))
    _records_copy(tmp_path, monkeypatch)
    assert build.regenerate([chain_rule], workers=2) == []
    assert records.load_records("autograd_basics")["chain_rule"].text.startswith("tensor(15.)")


CALLER = '''
from snippets.pipeline.examples import example


@example
def callee():
    """Prints a number."""
    # --8<-- [start:callee]
    print(1)
    # --8<-- [end:callee]


@example
def caller():
    """Calls the other example."""
    # --8<-- [start:caller]
    callee()
    # --8<-- [end:caller]
'''


def test_an_example_that_calls_another_reruns_when_that_one_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(examples, "SNIPPETS_DIR", tmp_path)
    (tmp_path / "probe_page.py").write_text(CALLER)
    before = {e.name: cache.cache_key(e) for e in examples.find_examples("probe_page")}
    (tmp_path / "probe_page.py").write_text(CALLER.replace("print(1)", "print(2)"))
    after = {e.name: cache.cache_key(e) for e in examples.find_examples("probe_page")}
    assert sorted(name for name in before if before[name] != after[name]) == ["callee", "caller"]


def test_a_matplotlibrc_where_the_build_runs_changes_every_key(tmp_path, monkeypatch):
    chain_rule = Example("autograd_basics", "chain_rule", 1)
    monkeypatch.chdir(tmp_path)
    before = cache.cache_key(chain_rule)
    (tmp_path / "matplotlibrc").write_text("lines.linewidth: 3\n")
    assert cache.cache_key(chain_rule) != before


# --- One settings object; the plugin's options; what the cache key ignores; eviction ---

def test_the_plugin_options_are_the_settings_and_each_variable_overrides_its_option():
    text = (PROJECT_DIR / "mkdocs.yml").read_text(encoding="utf-8")
    block = text[text.index("  - examples:"):]
    assert dict(re.findall(r"^      (\w+): !ENV \[(\w+),", block, re.MULTILINE)) == settings.VARIABLES
    plugin = ExamplesPlugin()
    errors, _ = plugin.load_config({"execute": 0, "workers": "3", "time_limit": 1.5, "cache_dir": "/tmp/c"})
    assert errors == []
    assert plugin.settings() == Settings(execute=False, workers=3, time_limit=1.5, cache_dir=Path("/tmp/c"))


def test_a_variable_set_by_a_test_reaches_every_module(tmp_path, monkeypatch):
    monkeypatch.setenv("SNIPPETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SNIPPETS_RECORDS", str(tmp_path / "records"))
    chain_rule = Example("autograd_basics", "chain_rule", 1)
    assert cache.entry(chain_rule).parent == tmp_path / "cache"
    assert records.load_records("autograd_basics") == {}  # the copy is empty
    assert build.Pipeline().settings.records_dir == tmp_path / "records"


def test_only_the_code_of_the_capture_module_is_in_the_key_not_its_docstrings_or_comments(monkeypatch):
    source = Path(execute.__file__).read_text(encoding="utf-8")
    chain_rule = Example("autograd_basics", "chain_rule", 1)
    before = cache.cache_key(chain_rule)
    reworded = source.replace('"""Run examples in worker processes', '"""Run each example in a worker process')
    reworded = reworded.replace("LARGEST_LISTED_ARRAY = 400\n", "LARGEST_LISTED_ARRAY = 400  # a new comment\n")
    assert reworded.count("a new comment") == 1 and "Run each example" in reworded
    monkeypatch.setattr(cache, "capture_code", lambda: cache.code_shape(reworded))
    assert cache.cache_key(chain_rule) == before
    changed = source.replace("LARGEST_LISTED_ARRAY = 400\n", "LARGEST_LISTED_ARRAY = 500\n")
    monkeypatch.setattr(cache, "capture_code", lambda: cache.code_shape(changed))
    assert cache.cache_key(chain_rule) != before


def test_a_build_removes_the_cache_entries_it_did_not_use(tmp_path):
    pipeline = build.Pipeline(Settings.from_environment(cache_dir=tmp_path))
    chain_rule = next(e for e in examples.all_examples() if e.id == "autograd_basics:chain_rule")
    result = Result("x\n")
    cache.store(chain_rule, result, settings=pipeline.settings)
    cache.store(chain_rule, result, build.OTHER_KERNELS, settings=pipeline.settings)
    stale = tmp_path / f"{'0' * 64}.json"
    stale.write_text(json.dumps(result.to_json()))
    (tmp_path / ".tmp-left-by-a-killed-build").write_text("")
    os.utime(tmp_path / ".tmp-left-by-a-killed-build", (time.time() - 7200, time.time() - 7200))
    (tmp_path / ".tmp-being-written-now").write_text("")  # another build's entry, not yet renamed
    assert sorted(p.name for p in pipeline.evict_unused()) == [".tmp-left-by-a-killed-build", stale.name]
    assert (tmp_path / ".tmp-being-written-now").exists()
    assert cache.load(chain_rule, settings=pipeline.settings) == result
    assert cache.load(chain_rule, build.OTHER_KERNELS, settings=pipeline.settings) == result
    assert build.Pipeline(Settings.from_environment(cache_dir=tmp_path, execute=False)).evict_unused() == []


def test_no_module_of_the_pipeline_reads_the_environment_but_the_settings():
    """A setting read anywhere else would escape the plugin's options and a test's monkeypatch."""
    readers = {}
    for path in sorted((PROJECT_DIR / "snippets" / "pipeline").glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"os\.environ(?!\[[^]]+\] = )|os\.getenv|environ\.get", line):
                readers.setdefault(path.name, []).append(number)
    assert set(readers) == {"settings.py"}, readers
