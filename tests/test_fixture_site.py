"""The plugin's promises end to end, in processes of their own, on a site of its own
(tests/fixtures/tiny; tests/test_pipeline_*.py test the same machinery in-process, faster):
`make regen` records, a strict build shows the output, an edited output is drift naming file,
line, example, recorded and new value, the build removes the cache entries it no longer uses,
and a records-only build runs nothing."""

import json
import os
import shutil
import subprocess
import sys

from snippets.pipeline.examples import PROJECT_DIR

FIXTURE = PROJECT_DIR / "tests" / "fixtures" / "tiny"


def _site(tmp_path):
    """A copy of the fixture beside a copy of the pipeline, so that `snippets` is the fixture's."""
    site = tmp_path / "fixture"
    shutil.copytree(FIXTURE, site)
    shutil.copytree(PROJECT_DIR / "snippets" / "pipeline", site / "snippets" / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (site / "node_modules").symlink_to(PROJECT_DIR / "node_modules")  # KaTeX, served by every build
    return site


def _run(site, *command, **env):
    clean = {key: value for key, value in os.environ.items() if not key.startswith("SNIPPETS_")}
    return subprocess.run([sys.executable, "-m", *command], cwd=site, capture_output=True, text=True,
                          env={**clean, "NO_MKDOCS_2_WARNING": "1", **env})


def test_the_plugin_records_shows_checks_evicts_and_builds_from_records(tmp_path):
    site = _site(tmp_path)
    regen = _run(site, "snippets.pipeline", "regen", "--workers", "1")
    assert regen.returncode == 0 and "records rewritten" in regen.stdout, regen.stdout + regen.stderr
    record = json.loads((site / "snippets" / "records" / "fixture_page.json").read_text())
    assert record["examples"]["halves"]["text"] == "1.5\n"

    built = _run(site, "mkdocs", "build", "--strict")
    assert built.returncode == 0, built.stderr[-3000:]
    assert "1.5" in (site / "site" / "index.html").read_text(encoding="utf-8")
    cache = site / ".cache" / "examples"
    assert len(list(cache.glob("*.json"))) == 2 * 5  # this machine's kernels and the cross-check's, from regen

    page = site / "snippets" / "fixture_page.py"
    page.write_text(page.read_text().replace("print(3 / 2)", "print(3 / 2 + 0.5)"))
    drifted = _run(site, "mkdocs", "build", "--strict")
    assert drifted.returncode != 0
    assert ("snippets/fixture_page.py:7: example fixture_page:halves: printed number 1 of 1 "
            "was 1.5, now 2.0") in drifted.stderr
    texts = [json.loads(p.read_text())["text"] for p in cache.glob("*.json")]
    # the edited example's old entries went (both kernel sets); the others' stay; its new one is there
    assert len(texts) == 2 * 4 + 1 and "2.0\n" in texts and "1.5\n" not in texts

    page.write_text(page.read_text().replace("print(3 / 2 + 0.5)", "print(3 / 2)"))
    records_only = _run(site, "mkdocs", "build", "--strict", SNIPPETS_EXECUTE="0",
                        SNIPPETS_CACHE=str(tmp_path / "unused"))
    assert records_only.returncode == 0, records_only.stderr[-3000:]
    assert "1.5" in (site / "site" / "index.html").read_text(encoding="utf-8")
    assert not list((tmp_path / "unused").glob("*.json"))  # nothing ran: no result cached (the page's HTML is kept)
