"""The records' promises, on the fixture site (tests/fixtures/tiny): drift caught and named, records
written whole or not at all and only by a regen whose runs agree, each record verified against
the digest `make regen` gave it, outputs reproducible."""

import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from snippets.pipeline import build, cache, examples, records
from snippets.pipeline.examples import PROJECT_DIR, Example, ExampleError
from snippets.pipeline.results import Figure, Record, Result


def _example(name):
    return next(e for e in examples.find_examples("fixture_page") if e.name == name)


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_fixture_records_are_what_regen_wrote_and_match_a_run(tiny):
    outcomes = tiny.pipeline().produce()
    assert [o.error for o in outcomes.values()] == [None] * 5
    assert [d for o in outcomes.values() for d in o.drift] == []
    assert [e.name for e in examples.all_examples()] == [
        "halves", "scaled_halves", "scaled_thirds", "constant_only", "squares_plot"]


def test_a_hand_edited_record_is_caught(tiny):
    outcome = tiny.pipeline().produce([_example("scaled_halves")])["fixture_page:scaled_halves"]
    edited = replace(outcome.record, text=outcome.record.text.replace("1.5", "1.6"))
    assert "printed number 1 of 2 was 1.6, now 1.5" in records.compare(outcome.example, edited, outcome.record)[0]
    # records no longer hold numbers beside their text; the digest is what catches a hand edit
    recorded = records.load_records("fixture_page", tiny.settings.records_dir)["scaled_halves"]
    hand_edited = replace(recorded, text=recorded.text.replace("1.5", "1.6"))
    assert any("edited by hand" in p for p in records.verify(outcome.example, hand_edited, tiny.settings.records_dir))


def test_changed_wording_is_drift_whatever_the_tolerance():
    example = Example("m", "e", 3, rtol=1.0)
    old = Record.of(example, Result("a.grad = 1\n"))
    new = Record.of(example, Result("b.grad = 1\n"))
    assert records.compare(example, old, new) == [
        "snippets/m.py:3: example m:e: printed text changed\n  line 1 was: a.grad = 1\n  line 1 now: b.grad = 1"]


def test_drift_in_a_long_output_is_reported_by_its_first_differences_and_a_count():
    example = Example("m", "e", 1)

    def output(scale):
        return Result("".join(f"step {i}: {(i + 0.5) * scale}\n" for i in range(20000)))

    problems = records.compare(example, Record.of(example, output(1)), Record.of(example, output(2)))
    assert len(problems) == records.LISTED_DIFFERENCES + 1
    assert problems[0].endswith("printed number 2 of 40000 was 0.5, now 1.0 (line: step 0: 1.0)")
    assert problems[-1].endswith(f"and {20000 - records.LISTED_DIFFERENCES} more printed numbers moved "
                                 "(20000 of 40000 in all)")


def test_plotted_values_are_compared_above_the_floor_the_example_states():
    example = Example("m", "e", 1, rtol=1e-4, atol=0, floor=1e-6)

    def run(tail, recorded_by=example):
        data = {"axes0.line0": {"shape": [3], "values": [0.5, 2e-4, tail]}}
        return Record.of(recorded_by, Result("", (Figure("e-1.svg", "", data),)))

    assert records.compare(example, run(3e-11), run(4e-11)) == []          # both noise, below the floor
    moved = records.compare(example, run(3e-11), run(5e-6))                # a real change shows
    assert moved == ["snippets/m.py:1: example m:e: figure 1 axes0.line0: 1 values moved, first at 2: "
                     "was 1e-06, now 5e-06"]
    no_floor = Example("m", "e", 1, atol=0)
    assert records.compare(no_floor, run(3e-11, no_floor), run(4e-11, no_floor)) != []


def test_an_example_states_its_floor(tiny):
    assert _example("squares_plot").floor == 1e-6 and _example("halves").floor == 0.0


def test_two_runs_give_byte_identical_records_and_figures(tiny):
    chosen = [_example("squares_plot"), _example("scaled_halves")]
    first = tiny.pipeline().produce(chosen, use_cache=False)
    second = tiny.pipeline().produce(chosen, use_cache=False)
    assert first["fixture_page:squares_plot"].figures, "the fixture's plot drew nothing"
    for example in chosen:
        assert json.dumps(first[example.id].record.to_json()) == json.dumps(second[example.id].record.to_json())
        assert [f.svg for f in first[example.id].figures] == [f.svg for f in second[example.id].figures]
        assert [f.dark_svg for f in first[example.id].figures] == \
            [f.dark_svg for f in second[example.id].figures]  # the dark scheme's drawings too


# --- Written whole or not at all ---

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
from snippets.pipeline.results import Record
svg = "<svg>" + sys.argv[2] * 5000 + "</svg>"
modules = {f"page{m}": {"a": Record(sys.argv[2])} for m in range(30)}
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


def test_regen_writes_nothing_when_an_example_fails(tiny, monkeypatch):
    before = _files(tiny.settings.records_dir)
    failing = build.Outcome(_example("halves"), Record(""), error="x.py:1: boom")
    monkeypatch.setattr(build, "produce", lambda *args, **kwargs: {"fixture_page:halves": failing})
    assert build.regenerate(settings=tiny.settings) == ["x.py:1: boom"]
    assert _files(tiny.settings.records_dir) == before


def test_regen_writes_nothing_when_an_example_raises(tiny):
    before = _files(tiny.settings.records_dir)
    tiny.edit("    print(3 / 2)\n", "    print([3, 2][5])\n")
    [problem] = build.regenerate(settings=tiny.settings)
    assert problem.endswith("fixture_page.py:10: IndexError: list index out of range"), problem
    assert _files(tiny.settings.records_dir) == before


def test_regen_writes_nothing_when_the_kernel_sets_disagree(tiny, monkeypatch):
    before = _files(tiny.settings.records_dir)
    example = _example("halves")

    def produce(chosen, execute, workers, kernels="", use_cache=True, settings=None, check=True):
        text = "x = 2.5\n" if kernels else "x = 2.6\n"
        return {example.id: build.Outcome(example, Record.of(example, Result(text)),
                                          kernels=kernels.upper() or "AVX2")}

    monkeypatch.setattr(build, "produce", produce)
    problems = build.regenerate([example], settings=tiny.settings)
    assert problems[0].startswith("snippets/fixture_page.py:7: example fixture_page:halves: printed "
                                  "number 1 of 1 is 2.6 under AVX2 kernels, 2.5 under DEFAULT kernels (line: x = 2.5)")
    assert _files(tiny.settings.records_dir) == before


def test_regen_runs_the_code_even_when_a_cache_entry_was_altered(tiny):
    halves = _example("halves")
    pipeline = tiny.pipeline()
    pipeline.produce([halves])  # cached
    entry = cache.entry(halves, settings=tiny.settings)
    entry.write_text(entry.read_text().replace("1.5", "48.5"))
    assert cache.load(halves, settings=tiny.settings).text == "48.5\n"
    assert build.regenerate([halves], workers=2, settings=tiny.settings) == []
    assert records.load_records("fixture_page", tiny.settings.records_dir)["halves"].text.startswith("1.5")


# --- Each record verified against what `make regen` wrote ---

def test_a_record_edit_inside_the_tolerance_is_caught_naming_the_file(tiny):
    path = tiny.settings.records_dir / "fixture_page.json"
    document = json.loads(path.read_text())
    record = document["examples"]["halves"]  # an edit inside the tolerance, as a careful hand would
    record["text"] = record["text"].replace("1.5", "1.50001")
    path.write_text(json.dumps(document))
    halves = _example("halves")
    edited = records.load_records("fixture_page", tiny.settings.records_dir)["halves"]
    as_printed = replace(edited, text=edited.text.replace("1.50001", "1.5"))
    assert records.compare(halves, edited, as_printed) == []  # inside the tolerance: no drift
    [problem] = records.verify(halves, edited, tiny.settings.records_dir)
    assert problem.startswith(f"{path}: the record of fixture_page:halves differs from what `make regen` wrote")


@pytest.mark.parametrize("fault", ["replaced", "missing"])
def test_a_replaced_or_missing_figure_is_caught_naming_the_file(tiny, fault):
    folder = tiny.settings.records_dir / "fixture_page"
    figure = folder / "squares_plot-1.svg"
    if fault == "replaced":
        shutil.copy(folder / "squares_plot-1-dark.svg", figure)
    else:
        figure.unlink()
    plot = _example("squares_plot")
    [problem] = records.verify(plot, records.load_records("fixture_page", tiny.settings.records_dir)["squares_plot"],
                               tiny.settings.records_dir)
    assert problem.startswith(f"{figure}: ") and ("missing" if fault == "missing" else "replaced by hand") in problem


def test_an_unreadable_record_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SNIPPETS_RECORDS", str(tmp_path))
    (tmp_path / "page.json").write_text('{"banner": "x", "examples": {"a": {"text": "4')
    with pytest.raises(ExampleError, match=r"page\.json: the record file cannot be read"):
        records.load_records("page")


def test_a_record_file_of_an_older_format_names_the_file_both_formats_and_make_regen(tiny):
    path = tiny.settings.records_dir / "fixture_page.json"
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "format": 2}))
    with pytest.raises(ExampleError) as raised:
        records.load_records("fixture_page", tiny.settings.records_dir)
    assert str(raised.value) == (f"{path}: the record file is of format 2, this pipeline reads format "
                                 f"{records.FORMAT}; run `make regen`")
    assert build.regenerate(settings=tiny.settings) == []  # which reads no record, and writes this format
    assert json.loads(path.read_text())["format"] == records.FORMAT
