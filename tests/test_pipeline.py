"""The machinery's promises: clear failures, drift caught, records written all or nothing,
outputs reproducible."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import Future

import pytest

from snippets.pipeline import build, cache, examples, execute, records, render
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


def test_a_hand_edited_record_is_caught(outcomes):
    outcome = outcomes["autograd_basics:chain_rule"]
    edited = {**outcome.record, "text": outcome.record["text"].replace("15.", "16.")}
    assert "printed number 1 of 2 was 16.0, now 15.0" in records.compare(outcome.example, edited, outcome.record)[0]
    numbers_only = {**outcome.record, "numbers": [16.0, 3.0]}
    assert any("edited by hand" in p for p in records.compare(outcome.example, numbers_only, outcome.record))


def test_changed_wording_is_drift_whatever_the_tolerance():
    example = Example("m", "e", 3, rtol=1.0)
    old = records.record_of(example, {"text": "a.grad = 1\n", "figures": []})
    new = records.record_of(example, {"text": "b.grad = 1\n", "figures": []})
    assert records.compare(example, old, new) == [
        "snippets/m.py:3: example m:e: printed text changed\n  line 1 was: a.grad = 1\n  line 1 now: b.grad = 1"]


def test_drift_is_shown_on_the_page_when_serving():
    example = Example("autograd_basics", "chain_rule", 1)
    outcome = build.Outcome(example, {"text": "tensor(15.)\n", "figures": []}, [], drift=["it moved"])
    page = render.add_outputs('```python\n--8<-- "snippets/autograd_basics.py:chain_rule"\n```\n',
                              {example.id: outcome}, "autograd-basics.md")
    assert '````{.text .output title="Output"}\ntensor(15.)\n````' in page
    assert '!!! warning "Output drifted from its record"' in page and "it moved" in page


def test_regen_writes_nothing_when_an_example_fails(monkeypatch):
    before = {p: p.read_bytes() for p in records.RECORDS_DIR.rglob("*") if p.is_file()}
    failing = build.Outcome(Example("autograd_basics", "chain_rule", 1), {}, [], error="x.py:1: boom")
    monkeypatch.setattr(build, "produce", lambda *args, **kwargs: {"autograd_basics:chain_rule": failing})
    assert build.regenerate() == ["x.py:1: boom"]
    assert {p: p.read_bytes() for p in records.RECORDS_DIR.rglob("*") if p.is_file()} == before


def test_records_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr(records, "RECORDS_DIR", tmp_path)
    records.write_records({"page": {"a": {"text": "old"}}}, {"page": {"a-1.svg": "<svg/>"}})
    before = {p: p.read_bytes() for p in tmp_path.rglob("*")  if p.is_file()}
    real_mkstemp, calls = records.tempfile.mkstemp, []

    def failing_mkstemp(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(records.tempfile, "mkstemp", failing_mkstemp)
    with pytest.raises(OSError, match="disk full"):
        records.write_records({"page": {"a": {"text": "new"}}}, {"page": {"a-1.svg": "<svg>new</svg>"}})
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_two_runs_give_byte_identical_records_and_figures():
    chosen = [e for e in examples.find_examples("autograd_basics") if e.name in ("training_step", "accumulation")]
    first = build.produce(chosen, execute=True, workers=1, use_cache=False)
    second = build.produce(chosen, execute=True, workers=1, use_cache=False)
    for example in chosen:
        assert json.dumps(first[example.id].record) == json.dumps(second[example.id].record)
        assert first[example.id].svgs == second[example.id].svgs
        assert first[example.id].dark_svgs == second[example.id].dark_svgs  # the dark scheme's drawings too


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
    assert changed == ["freezing", "training_step"]


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


def _recording_submit(monkeypatch):
    """Replace the workers: record what is submitted, and finish each run at once with a made-up result."""
    submitted = []

    def submit(chosen, workers):
        submitted.append([e.id for e in chosen])
        futures = {e.id: Future() for e in chosen}
        for future in futures.values():
            future.set_result({"text": "made up\n", "figures": [], "error": None, "seconds": 0.0})
        return futures

    monkeypatch.setattr(build, "submit_examples", submit)
    monkeypatch.setattr(build, "_started", {})
    return submitted


def test_examples_start_running_early_only_when_something_must_run(tmp_path, monkeypatch):
    submitted = _recording_submit(monkeypatch)
    monkeypatch.setattr(cache, "CACHE_DIR", tmp_path)
    everything = [e.id for e in examples.all_examples()]
    assert [e.id for e in build.start_running(workers=2)] == everything
    assert [e.id for e in build.start_running(workers=2)] == everything  # under way: not started twice
    assert submitted == [everything, []]
    for example in examples.all_examples():
        cache.store(example, {"error": None, "text": ""})
    monkeypatch.setattr(build, "_started", {})
    assert build.start_running(workers=2) == []
    assert submitted[-1] == []


def test_produce_waits_for_a_started_run_instead_of_running_it_again(tmp_path, monkeypatch):
    submitted = _recording_submit(monkeypatch)
    monkeypatch.setattr(cache, "CACHE_DIR", tmp_path)
    build.start_running()
    chain_rule = next(e for e in examples.all_examples() if e.id == "autograd_basics:chain_rule")
    outcome = build.produce([chain_rule], execute=True)[chain_rule.id]
    assert outcome.record["text"] == "made up\n" and not outcome.from_cache
    assert submitted[1:] == [[]]
    assert cache.load(chain_rule)["text"] == "made up\n"


def test_an_example_that_hangs_is_stopped_with_its_line(tmp_path, monkeypatch):
    source = PROBE.replace("    values = [1, 2]\n    print(values[5])\n", "    while True:\n        pass\n")
    module = _probe_module(tmp_path, source)
    monkeypatch.setattr(execute, "TIME_LIMIT", 1)
    result = execute.in_fork(lambda: execute.capture(module, "fails"), "probe")
    assert re.search(r"probe_page\.py:(9|10): TimeoutError: the example ran longer than 1 s", result["error"])


def test_an_example_that_kills_its_process_is_reported():
    result = execute.in_fork(lambda: os._exit(3), "snippets/m.py: example 'e'")
    assert result["error"] == "snippets/m.py: example 'e' killed its process (status 768)"
