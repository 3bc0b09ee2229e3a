"""The plugin's promises, on the fixture site (tests/fixtures/tiny) built by MkDocs in this
process: its options are the settings, a strict build fails on a hand-edited record or a replaced
figure naming the file, drift is shown on the page when serving, the commands refuse an unknown
module. (tests/test_fixture_site.py builds the same site end to end, in processes of its own.)"""

import ast
import re
import shutil
from pathlib import Path

import pytest

from snippets.pipeline import build, cache, examples, records, render, settings
from snippets.pipeline.__main__ import main as pipeline_command
from snippets.pipeline.examples import PROJECT_DIR, Example
from snippets.pipeline.plugin import ExamplesPlugin
from snippets.pipeline.results import Record
from snippets.pipeline.settings import Settings


def test_the_fixture_site_builds_strict_and_shows_every_output(tiny, monkeypatch):
    assert tiny.build(monkeypatch) is None
    page = tiny.page()
    for text in ("1.5", "[1.5 4.5]", "[1. 2.]", "SCALE is 3.0."):
        assert text in page
    assert (tiny.site / "site" / "figures" / "fixture_page" / "squares_plot-1.svg").is_file()
    assert (tiny.site / "site" / "figures" / "fixture_page" / "squares_plot-1-dark.svg").is_file()


def test_strict_build_fails_on_a_hand_edited_record(tiny, monkeypatch, caplog):
    path = tiny.settings.records_dir / "fixture_page.json"
    path.write_text(path.read_text().replace('"text": "1.5\\n"', '"text": "1.55\\n"'))
    assert tiny.build(monkeypatch) is not None
    assert "example fixture_page:halves" in caplog.text
    assert "was 1.55, now 1.5" in caplog.text


def test_the_records_only_build_refuses_a_replaced_figure(tiny, monkeypatch, caplog):
    folder = tiny.settings.records_dir / "fixture_page"
    shutil.copy(folder / "squares_plot-1-dark.svg", folder / "squares_plot-1.svg")
    assert tiny.build(monkeypatch, SNIPPETS_EXECUTE="0") is not None
    assert f"{folder / 'squares_plot-1.svg'}: differs from the figure" in caplog.text
    assert "Traceback" not in caplog.text
    assert not tiny.settings.cache_dir.exists()  # nothing ran


def test_drift_is_shown_on_the_page_when_serving():
    example = Example("fixture_page", "halves", 7)
    outcome = build.Outcome(example, Record("1.5\n"), drift=["it moved"])
    page = render.add_outputs('```python\n--8<-- "snippets/fixture_page.py:halves"\n```\n',
                              {example.id: outcome}, "index.md")
    assert '````{.text .output title="Output"}\n1.5\n````' in page
    assert '!!! warning "Output drifted from its record"' in page and "it moved" in page


def test_an_unknown_module_is_an_error_that_lists_the_modules(tiny, capsys):
    with pytest.raises(SystemExit) as raised:
        pipeline_command(["regen", "--module", "fixture-page"])
    message = capsys.readouterr().err
    assert raised.value.code == 2 and "did you mean fixture_page?" in message
    assert all(module in message for module in examples.page_modules())


# --- One settings object; the plugin's options ---

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
    halves = Example("fixture_page", "halves", 7)
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "fixture_page.json").write_text(
        (PROJECT_DIR / "tests" / "fixtures" / "tiny" / "snippets" / "records" / "fixture_page.json").read_text())
    assert cache.entry(halves, key="k").parent == tmp_path / "cache"
    assert records.load_records("fixture_page")["halves"].text == "1.5\n"  # the copy's
    assert records.load_records("autograd_basics") == {}  # the copy has no other page's
    assert build.Pipeline().settings.records_dir == tmp_path / "records"


def test_no_module_of_the_pipeline_reads_the_environment_but_the_settings():
    """A setting read anywhere else would escape the plugin's options and a test's monkeypatch."""
    readers = {}
    for path in sorted((PROJECT_DIR / "snippets" / "pipeline").glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"os\.environ(?!\[[^]]+\] = )|os\.getenv|environ\.get", line):
                readers.setdefault(path.name, []).append(number)
    assert set(readers) == {"settings.py"}, readers


def test_only_the_grammar_module_parses_includes_sections_fences_cells_and_numbers():
    """One grammar (snippets/pipeline/grammar.py): a pattern of the pages' syntax written anywhere
    else, in the pipeline or the reader's side of the tests, could disagree with it."""
    syntax = ("--8<--", "`", "%%", "nan", r"\d+\.", "{{")
    found = []
    for path in [*sorted((PROJECT_DIR / "snippets" / "pipeline").glob("*.py")), PROJECT_DIR / "tests" / "reader.py"]:
        if path.name == "grammar.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "re" and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                    and any(part in node.args[0].value for part in syntax)):
                found.append(f"{path.name}:{node.lineno}: {node.args[0].value}")
    assert found == []
