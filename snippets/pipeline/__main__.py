"""``python -m snippets.pipeline regen``: rewrite the records after an intended change, once every
example gave the same output under the machine's CPU kernels and ``ATEN_CPU_CAPABILITY=default``.

``python -m snippets.pipeline check`` runs every example and lists drift without writing.

``python -m snippets.pipeline versions`` runs every example under each older supported torch, each
in its own environment (see [`versions`][snippets.pipeline.versions]), and lists where it differs
from what the records say that release prints; ``--write`` rewrites those records instead.
``--report FILE`` (check, versions) appends the findings to FILE as Markdown.

``python -m snippets.pipeline translations`` lists the translations (docs/<page>.<lang>.md) out of
date with their English page; ``--stamp PAGE`` (or ``all``) records one as up to date.
"""

import argparse
import sys
from pathlib import Path

from . import report, versions
from .build import produce, regenerate
from .examples import PROJECT_DIR, all_examples, page_modules
from .settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snippets.pipeline")
    parser.add_argument("command", choices=["regen", "check", "versions", "translations"])
    parser.add_argument("--workers", type=int, default=None, help="processes to run examples on")
    parser.add_argument("--module", action="append", help="only this page module (repeatable)")
    parser.add_argument("--stamp", help="translations: stamp this page (or all) as up to date")
    parser.add_argument("--docs", default=str(PROJECT_DIR / "docs"), help="translations: the docs folder")
    parser.add_argument("--report", help="check, versions: append the findings to this file as Markdown")
    parser.add_argument("--version", action="append", choices=versions.OLDER,
                        help="versions: only this older torch (repeatable)")
    parser.add_argument("--write", action="store_true", help="versions: rewrite the older releases' records")
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)  # versions, inside an environment
    arguments = parser.parse_args(argv)
    if arguments.command == "translations":
        return _translations(arguments.stamp, Path(arguments.docs))
    for module in set(arguments.module or []) - set(page_modules()):
        hint = f" (did you mean {module.replace('-', '_')}?)" if module.replace("-", "_") in page_modules() else ""
        parser.error(f"no page module {module!r}{hint}; the page modules are: {', '.join(page_modules())}")
    chosen = [e for e in all_examples() if not arguments.module or e.module in arguments.module]
    settings = Settings.from_environment(workers=arguments.workers)  # the plugin's options, from SNIPPETS_*
    if arguments.command == "versions" and not arguments.here:
        passed_on = [*(f"--module={m}" for m in arguments.module or []), *(["--write"] if arguments.write else []),
                     *([f"--report={Path(arguments.report).absolute()}"] if arguments.report else [])]
        return versions.run_each(arguments.version or versions.OLDER, passed_on)
    if arguments.command == "regen":
        problems, outcomes = regenerate(chosen, settings=settings), {}
        verdict = "records left untouched" if problems else "records rewritten"
    elif arguments.command == "versions":
        problems, outcomes = versions.run_here(chosen, settings, arguments.write)
        verdict = ("records left untouched" if problems else "records rewritten") if arguments.write else (
            f"drift found under torch {versions.running()}" if problems else
            f"every output under torch {versions.running()} matches its record")
    else:
        outcomes = produce(chosen, execute=True, settings=settings)
        problems = [o.error for o in outcomes.values() if o.error] + [d for o in outcomes.values() for d in o.drift]
        verdict = "drift found" if problems else "every output matches its record"
    if arguments.report and arguments.command != "regen":
        kernels = ", ".join(sorted({o.kernels for o in outcomes.values() if o.kernels})) or "no"
        report.append(arguments.report, report.markdown(problems, versions.running(), kernels, len(outcomes)))
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
