"""The reference run of issue 17's targets 3 and 4: the same work as a cold build, in one Python
process, as markdown-exec does it. Every example runs one after the other, captured as the build
captures it (text, and figures as SVG for both schemes), with no cache and no workers; then MkDocs
builds the site from the records in this process, every page converted (`make bench` gives it an
empty cache and SNIPPETS_EXECUTE=0). It prints the CPU seconds of each part."""

import importlib
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from mkdocs.commands.build import build  # noqa: E402
from mkdocs.config import load_config  # noqa: E402

from snippets.pipeline.examples import all_examples  # noqa: E402
from snippets.pipeline.execute import capture  # noqa: E402

started = time.process_time()
failed = []
for example in all_examples():
    outcome = capture(importlib.import_module(f"snippets.{example.module}"), example.name)
    if outcome["error"]:
        failed.append(outcome["error"])
if failed:
    sys.exit("\n".join(failed))
examples = time.process_time() - started

with tempfile.TemporaryDirectory(prefix="one-process-site-") as site:  # each run's site removed after it
    config = load_config(str(PROJECT / "mkdocs.yml"), strict=True, site_dir=site)
    config.plugins.on_startup(command="build", dirty=False)
    try:
        build(config)
    finally:
        config.plugins.on_shutdown()
print(f"{len(all_examples())} examples: {examples:.1f} s CPU; the site: {time.process_time() - started - examples:.1f} s CPU")
