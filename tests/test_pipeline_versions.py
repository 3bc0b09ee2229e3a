"""The supported torch releases: the older ones' records, their drift check, the page's note, and
the workflow that runs a job per release (snippets/pipeline/versions.py)."""

from pathlib import Path

import yaml

from snippets.pipeline import report, versions
from snippets.pipeline.build import Outcome
from snippets.pipeline.examples import PROJECT_DIR, Example
from snippets.pipeline.records import write_records
from snippets.pipeline.results import Record

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
EXAMPLE = Example("autograd_basics", "chain_rule", 3)


def records_folder(tmp_path: Path, newest: str) -> Path:
    folder = tmp_path / "records"
    write_records({"autograd_basics": {"chain_rule": Record(newest)}}, {}, folder)
    return folder


def test_an_older_release_that_prints_the_record_has_no_entry_and_no_drift(tmp_path):
    folder = records_folder(tmp_path, "d/dx = 1.\n")
    same = {EXAMPLE.id: Outcome(EXAMPLE, Record("d/dx = 1.\n"))}
    assert versions.differences(same, folder) == {}
    assert versions.drift(same, "2.12.1", folder) == []


def test_drift_injected_under_an_older_release_names_the_example_and_the_release(tmp_path):
    folder = records_folder(tmp_path, "d/dx = 0.\n")
    older = {EXAMPLE.id: Outcome(EXAMPLE, Record("d/dx = 1.\n"))}
    versions.write_entries(versions.differences(older, folder), "2.13.0", folder)
    assert versions.drift(older, "2.13.0", folder) == []
    assert versions.shown_under(EXAMPLE.id, folder) == [("2.13", "d/dx = 1.\n")]
    drifted = {EXAMPLE.id: Outcome(EXAMPLE, Record("d/dx = 0.5\n"))}
    problems = versions.drift(drifted, "2.13.0", folder)
    assert "example autograd_basics:chain_rule" in problems[0] and "torch 2.13.0" in problems[0]
    assert "make versions WRITE=1" in problems[-1]
    assert "| `autograd_basics:chain_rule` |" in report.markdown(problems, "2.13.0", "AVX2", 1)


def test_releases_that_print_the_same_are_shown_once_and_an_edited_entry_is_refused(tmp_path):
    folder = records_folder(tmp_path, "d/dx = 0.\n")
    older = {EXAMPLE.id: Outcome(EXAMPLE, Record("d/dx = 1.\n"))}
    for release in ("2.12.1", "2.13.0"):
        versions.write_entries(versions.differences(older, folder), release, folder)
    assert versions.shown_under(EXAMPLE.id, folder) == [("2.12–2.13", "d/dx = 1.\n")]
    path = folder / versions.FILE
    path.write_text(path.read_text().replace("d/dx = 1.", "d/dx = 2."))
    try:
        versions.load(folder)
    except ValueError as refused:
        assert "autograd_basics:chain_rule" in str(refused) and "edited by hand" in str(refused)
    else:
        raise AssertionError("an edited torch entry was read")


def test_the_workflow_runs_a_job_per_supported_release_and_reports_to_the_summary():
    site = yaml.safe_load((WORKFLOWS / "site.yml").read_text())
    job = site["jobs"]["build"]
    assert sorted(job["strategy"]["matrix"]["torch"]) == sorted(versions.SUPPORTED)
    assert job["env"]["NEWEST"] == versions.NEWEST
    steps = {step.get("name", ""): step for step in job["steps"]}
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "make test" in runs and "make build" in runs
    assert 'make versions VERSION=${{ matrix.torch }} REPORT="$GITHUB_STEP_SUMMARY"' in runs
    assert 'make check REPORT="$GITHUB_STEP_SUMMARY"' in runs
    older = [s for s in steps.values() if "make versions" in s.get("run", "")]
    assert older and all(s["if"] == "matrix.torch != env.NEWEST" for s in older)


def test_the_watch_runs_weekly_on_the_newest_torch_unpinned_and_uploads_a_patch():
    watch = yaml.safe_load((WORKFLOWS / "torch-watch.yml").read_text())
    triggers = watch[True]  # YAML reads the key `on` as true
    assert "workflow_dispatch" in triggers and len(triggers["schedule"][0]["cron"].split()) == 5
    steps = watch["jobs"]["watch"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "pip install --upgrade torch" in runs and 'make check REPORT="$GITHUB_STEP_SUMMARY"' in runs
    assert "git diff --binary -- snippets/records > records.patch" in runs
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in steps)


def test_an_example_that_stops_under_an_older_release_says_which_release_it_needs(tmp_path):
    folder = records_folder(tmp_path, "d/dx = 0.\n")
    stops = {EXAMPLE.id: Outcome(EXAMPLE, Record(""), error="x.py:3: RuntimeError: no dict inputs")}
    versions.write_entries(versions.differences(stops, folder), "2.12.1", folder)
    assert versions.shown_under(EXAMPLE.id, folder) == [
        ("2.12", "needs torch >= 2.13: x.py:3: RuntimeError: no dict inputs")]
    assert versions.drift(stops, "2.12.1", folder) == []
