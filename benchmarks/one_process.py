"""The reference run of issue 17's targets 3 and 4: every example in one Python process, one
after the other, captured as the build captures it (text, and figures as SVG for both schemes),
with no cache, no workers and no MkDocs. `make bench` times it and samples its memory."""

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snippets.pipeline.examples import all_examples  # noqa: E402
from snippets.pipeline.execute import capture  # noqa: E402

failed = []
for example in all_examples():
    outcome = capture(importlib.import_module(f"snippets.{example.module}"), example.name)
    if outcome["error"]:
        failed.append(outcome["error"])
if failed:
    sys.exit("\n".join(failed))
print(len(all_examples()), "examples")
