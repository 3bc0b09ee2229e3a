"""``python -m snippets.pipeline regen``: rewrite the records after an intended change, once every
example gave the same output under the machine's CPU kernels and ``ATEN_CPU_CAPABILITY=default``.

``python -m snippets.pipeline check`` runs every example and lists drift without writing.

``python -m snippets.pipeline translations`` lists the translations (docs/<page>.<lang>.md) out of
date with their English page; ``--stamp PAGE`` (or ``all``) records one as up to date.
"""

import argparse
import sys
from pathlib import Path

from .build import produce, regenerate
from .examples import PROJECT_DIR, all_examples, page_modules
from .settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snippets.pipeline")
    parser.add_argument("command", choices=["regen", "check", "translations"])
    parser.add_argument("--workers", type=int, default=None, help="processes to run examples on")
    parser.add_argument("--module", action="append", help="only this page module (repeatable)")
    parser.add_argument("--stamp", help="translations: stamp this page (or all) as up to date")
    parser.add_argument("--docs", default=str(PROJECT_DIR / "docs"), help="translations: the docs folder")
    arguments = parser.parse_args(argv)
    if arguments.command == "translations":
        return _translations(arguments.stamp, Path(arguments.docs))
    for module in set(arguments.module or []) - set(page_modules()):
        hint = f" (did you mean {module.replace('-', '_')}?)" if module.replace("-", "_") in page_modules() else ""
        parser.error(f"no page module {module!r}{hint}; the page modules are: {', '.join(page_modules())}")
    chosen = [e for e in all_examples() if not arguments.module or e.module in arguments.module]
    settings = Settings.from_environment(workers=arguments.workers)  # the plugin's options, from SNIPPETS_*
    if arguments.command == "regen":
        problems = regenerate(chosen, settings=settings)
        verdict = "records left untouched" if problems else "records rewritten"
    else:
        outcomes = produce(chosen, execute=True, settings=settings).values()
        problems = [o.error for o in outcomes if o.error] + [d for o in outcomes for d in o.drift]
        verdict = "drift found" if problems else "every output matches its record"
    for problem in problems:
        print(problem, file=sys.stderr)
    print(verdict)
    return 1 if problems else 0


def _translations(which: str | None, docs: Path) -> int:
    """List the translations out of date (and parity failures), or stamp one."""
    from . import translations

    if which:
        done = translations.stamp_pages(docs, which)
        print("\n".join(done))
        return 1 if any(not line.startswith("stamped") for line in done) else 0
    problems, stale = translations.report(docs)
    for line in problems + stale:
        print(line)
    pairs = len(translations.translation_pairs(docs))
    print(f"{pairs} translations: {len(stale)} out of date, {len(problems)} with another structure")
    return 1 if problems or stale else 0


if __name__ == "__main__":
    sys.exit(main())
