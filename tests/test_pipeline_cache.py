"""The cache's promises, on the fixture site (tests/fixtures/tiny): a key that changes with exactly
what an example depends on (and not with what cannot change its output), hits that never import
torch, entries that are not results run again, runs started early and waited for, and the
entries no build used removed."""

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

from snippets.pipeline import build, cache, examples, execute
from snippets.pipeline.examples import PROJECT_DIR
from snippets.pipeline.results import Result


def _keys(tiny):
    return {e.name: cache.cache_key(e, settings=tiny.settings) for e in examples.find_examples("fixture_page")}


def _keys_after_edit(tiny, old, new):
    before = _keys(tiny)
    tiny.edit(old, new)
    after = _keys(tiny)
    return sorted(name for name in before if before[name] != after[name])


def _example(name):
    return next(e for e in examples.find_examples("fixture_page") if e.name == name)


def test_editing_one_example_reruns_only_it(tiny):
    assert _keys_after_edit(tiny, "    print(3 / 2)\n", "    print(3 / 4)\n") == ["halves"]


def test_editing_a_shared_definition_reruns_exactly_its_users(tiny):
    assert _keys_after_edit(tiny, "return SCALE * np.asarray(values)", "return SCALE * np.asarray(values) + 0") == \
        ["scaled_halves", "scaled_thirds"]


def test_editing_a_module_level_constant_reruns_exactly_its_readers(tiny):
    assert _keys_after_edit(tiny, "SCALE = 3.0", "SCALE = 4.0") == ["constant_only", "scaled_halves", "scaled_thirds"]


def test_editing_the_setup_reruns_every_example(tiny):
    changed = _keys_after_edit(tiny, "precision=4", "precision=5")
    assert changed == sorted(e.name for e in examples.find_examples("fixture_page"))


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


def test_an_example_that_calls_another_reruns_when_that_one_changes(tiny):
    (tiny.snippets / "probe_page.py").write_text(CALLER)
    before = {e.name: cache.cache_key(e, settings=tiny.settings) for e in examples.find_examples("probe_page")}
    tiny.edit("print(1)", "print(2)", module="probe_page")
    after = {e.name: cache.cache_key(e, settings=tiny.settings) for e in examples.find_examples("probe_page")}
    assert sorted(name for name in before if before[name] != after[name]) == ["callee", "caller"]


def test_a_matplotlibrc_where_the_build_runs_changes_every_key(tiny, monkeypatch):
    halves = _example("halves")
    monkeypatch.chdir(tiny.site)
    before = cache.cache_key(halves, settings=tiny.settings)
    (tiny.site / "matplotlibrc").write_text("lines.linewidth: 3\n")
    assert cache.cache_key(halves, settings=tiny.settings) != before


def test_the_cache_key_covers_kernel_set_and_cpu_without_importing_torch(tiny, monkeypatch):
    example = _example("halves")
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


def test_only_the_code_of_the_capture_module_is_in_the_key_not_its_docstrings_or_comments(tiny, monkeypatch):
    source = Path(execute.__file__).read_text(encoding="utf-8")
    halves = _example("halves")
    before = cache.cache_key(halves, settings=tiny.settings)
    reworded = source.replace('"""Run examples in worker processes', '"""Run each example in a worker process')
    reworded = reworded.replace("LARGEST_LISTED_ARRAY = 400\n", "LARGEST_LISTED_ARRAY = 400  # a new comment\n")
    assert reworded.count("a new comment") == 1 and "Run each example" in reworded
    monkeypatch.setattr(cache, "capture_code", lambda: cache.code_shape(reworded))
    assert cache.cache_key(halves, settings=tiny.settings) == before
    changed = source.replace("LARGEST_LISTED_ARRAY = 400\n", "LARGEST_LISTED_ARRAY = 500\n")
    monkeypatch.setattr(cache, "capture_code", lambda: cache.code_shape(changed))
    assert cache.cache_key(halves, settings=tiny.settings) != before


CACHE_HIT = """
import sys
from pathlib import Path
from snippets.pipeline import build, cache, examples
from snippets.pipeline.settings import Settings
folder = Path(sys.argv[1])
examples.SNIPPETS_DIR = cache.SNIPPETS_DIR = folder
cache.DATA_DIR = folder / "data"
outcomes = build.produce(execute=True, settings=Settings(cache_dir=sys.argv[2], records_dir=folder / "records"))
print(all(o.from_cache for o in outcomes.values()), 'torch' in sys.modules)
"""


def test_a_cache_hit_does_not_import_torch(tiny):
    tiny.pipeline().produce()  # every example cached
    run = subprocess.run([sys.executable, "-c", CACHE_HIT, str(tiny.snippets), str(tiny.settings.cache_dir)],
                         cwd=PROJECT_DIR, capture_output=True, text=True)
    assert run.stdout.split() == ["True", "False"], run.stderr


def test_a_cache_entry_that_is_not_a_result_is_named_removed_and_run_again(tiny, caplog):
    halves = _example("halves")
    entry = cache.entry(halves, settings=tiny.settings)
    entry.parent.mkdir(parents=True)
    entry.write_text("{}")
    assert cache.load(halves, settings=tiny.settings) is None
    assert not entry.exists()
    assert "fixture_page:halves" in caplog.text and str(entry) in caplog.text
    outcome = tiny.pipeline().produce([halves])[halves.id]
    assert outcome.record.text == "1.5\n" and not outcome.from_cache and entry.exists()


def _recording_submit(monkeypatch, tiny):
    """Replace the workers: record what is submitted, and finish each run at once with a made-up result."""
    submitted = []

    def submit(chosen, workers, kernels=""):
        submitted.append([e.id for e in chosen])
        futures = {e.id: Future() for e in chosen}
        for future in futures.values():
            future.set_result({"text": "made up\n", "figures": [], "error": None, "seconds": 0.0})
        return futures

    pipeline = tiny.pipeline()
    monkeypatch.setattr(pipeline.workers, "submit", submit)
    return pipeline, submitted


def test_examples_start_running_early_only_when_something_must_run(tiny, monkeypatch):
    pipeline, submitted = _recording_submit(monkeypatch, tiny)
    everything = [e.id for e in examples.all_examples()]
    assert [e.id for e in pipeline.start_running(workers=2)] == everything
    assert [e.id for e in pipeline.start_running(workers=2)] == everything  # under way: not started twice
    assert submitted == [everything, []]
    for example in examples.all_examples():
        cache.store(example, Result(""), settings=pipeline.settings)
    pipeline.started.clear()
    assert pipeline.start_running(workers=2) == []
    assert submitted[-1] == []


def test_produce_waits_for_a_started_run_instead_of_running_it_again(tiny, monkeypatch):
    pipeline, submitted = _recording_submit(monkeypatch, tiny)
    pipeline.start_running()
    halves = _example("halves")
    outcome = pipeline.produce([halves], execute=True)[halves.id]
    assert outcome.record.text == "made up\n" and not outcome.from_cache
    assert submitted[1:] == [[]]
    assert cache.load(halves, settings=pipeline.settings).text == "made up\n"


def test_a_build_removes_the_cache_entries_it_did_not_use(tiny):
    pipeline = tiny.pipeline()
    folder = tiny.settings.cache_dir
    halves = _example("halves")
    result = Result("x\n")
    cache.store(halves, result, settings=pipeline.settings)
    cache.store(halves, result, build.OTHER_KERNELS, settings=pipeline.settings)
    stale = folder / f"{'0' * 64}.json"
    stale.write_text(json.dumps(result.to_json()))
    (folder / ".tmp-left-by-a-killed-build").write_text("")
    os.utime(folder / ".tmp-left-by-a-killed-build", (time.time() - 7200, time.time() - 7200))
    (folder / ".tmp-being-written-now").write_text("")  # another build's entry, not yet renamed
    assert sorted(p.name for p in pipeline.evict_unused()) == [".tmp-left-by-a-killed-build", stale.name]
    assert (folder / ".tmp-being-written-now").exists()
    assert cache.load(halves, settings=pipeline.settings) == result
    assert cache.load(halves, build.OTHER_KERNELS, settings=pipeline.settings) == result
    assert tiny.pipeline(execute=False).evict_unused() == []


def test_a_build_removes_the_entries_of_an_example_since_edited(tiny, monkeypatch, caplog):
    """Eviction through the plugin: the build after an edit leaves one entry per example."""
    assert tiny.build(monkeypatch) is None
    entries = sorted(tiny.settings.cache_dir.glob("*.json"))
    assert len(entries) == len(examples.all_examples())
    old = cache.entry(_example("halves"), settings=tiny.settings)
    tiny.edit("    print(3 / 2)\n", "    print(3 / 4)\n")
    assert tiny.build(monkeypatch, strict=False) is None  # drift (of the edit), not strict
    assert "was 1.5, now 0.75" in caplog.text
    now = sorted(tiny.settings.cache_dir.glob("*.json"))
    assert len(now) == len(entries) and old not in now
    assert cache.entry(_example("halves"), settings=tiny.settings) in now


def test_two_builds_at_once_share_an_empty_cache(tmp_path):
    """End to end, with real workers: two `check` runs of a copy of the fixture site at once."""
    site = tmp_path / "site"
    shutil.copytree(PROJECT_DIR / "tests" / "fixtures" / "tiny", site)
    shutil.copytree(PROJECT_DIR / "snippets" / "pipeline", site / "snippets" / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("SNIPPETS_")}
    env["SNIPPETS_CACHE"] = str(tmp_path / "cache")
    command = [sys.executable, "-m", "snippets.pipeline", "check", "--module", "fixture_page", "--workers", "1"]
    runs = [subprocess.Popen(command, cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    results = [(run.wait(), run.stdout.read(), run.stderr.read()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert len(list((tmp_path / "cache").glob("*.json"))) == 5
