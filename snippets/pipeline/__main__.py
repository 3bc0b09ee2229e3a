"""``python -m snippets.pipeline regen``: rewrite the records after an intended change, once every
example gave the same output under the machine's CPU kernels and ``ATEN_CPU_CAPABILITY=default``.

``python -m snippets.pipeline check`` runs every example and lists drift without writing.
"""

import argparse
import sys

from .build import produce, regenerate
from .examples import all_examples, page_modules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snippets.pipeline")
    parser.add_argument("command", choices=["regen", "check"])
    parser.add_argument("--workers", type=int, default=None, help="processes to run examples on")
    parser.add_argument("--module", action="append", help="only this page module (repeatable)")
    arguments = parser.parse_args(argv)
    for module in set(arguments.module or []) - set(page_modules()):
        hint = f" (did you mean {module.replace('-', '_')}?)" if module.replace("-", "_") in page_modules() else ""
        parser.error(f"no page module {module!r}{hint}; the page modules are: {', '.join(page_modules())}")
    chosen = [e for e in all_examples() if not arguments.module or e.module in arguments.module]
    if arguments.command == "regen":
        problems = regenerate(chosen, arguments.workers)
        verdict = "records left untouched" if problems else "records rewritten"
    else:
        outcomes = produce(chosen, execute=True, workers=arguments.workers).values()
        problems = [o.error for o in outcomes if o.error] + [d for o in outcomes for d in o.drift]
        verdict = "drift found" if problems else "every output matches its record"
    for problem in problems:
        print(problem, file=sys.stderr)
    print(verdict)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
