"""MkDocs hook: run the examples, put their outputs on the pages, fail on drift.

Thin on purpose; the logic lives in :mod:`snippets.pipeline` where it is tested.
"""

import logging
import posixpath
import re

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

from snippets.pipeline import build, execute, render
from snippets.pipeline.examples import ExampleError, all_examples

log = logging.getLogger("mkdocs.hooks.examples")
state = {"serving": False, "outcomes": {}, "shown_on": {}}
DIRECTIVE = re.compile(r"^\{\{ *(?P<name>[^}]*?) *\}\}$", re.MULTILINE)


def on_startup(command, dirty):
    state["serving"] = command == "serve"
    if state["serving"]:
        execute.keep_workers_warm()
    try:
        build.start_early()  # workers import torch while MkDocs loads its theme and plugins
    except ExampleError:
        pass  # on_files reports it with file and line


def on_files(files, config):
    pages = files.documentation_pages()
    for page in pages:
        for problem in render.include_problems(page.content_string):
            line, _, what = problem.partition(": ")
            raise PluginError(f"docs/{page.src_uri}:{line}: {what}")
    try:
        outcomes = build.produce()
    except ExampleError as problem:
        raise PluginError(str(problem)) from None
    errors = [o.error for o in outcomes.values() if o.error]
    if errors and not state["serving"]:
        raise PluginError("examples failed:\n" + "\n".join(errors))
    for error in errors:
        log.error(error)
    for outcome in outcomes.values():
        for drift in outcome.drift:
            log.warning(drift)
        for figure, svg in zip(outcome.record["figures"], outcome.svgs):
            uri = render.figure_uri(outcome.example.module, figure["file"])
            files.append(File.generated(config, uri, content=svg))
    state["outcomes"] = outcomes
    state["shown_on"] = {f"{module}:{section}": page.src_uri for page in pages
                         for _, module, section in render.included_sections(page.content_string)}
    return files


def on_page_markdown(markdown, page, config, files):
    markdown = DIRECTIVE.sub(lambda match: _directive(match, markdown, page), markdown)
    return render.add_outputs(markdown, state["outcomes"], page.file.src_uri)


def _directive(match, markdown, page):
    if match["name"] != "build_report":
        line = markdown.count("\n", 0, match.start()) + 1
        raise PluginError(f"docs/{page.file.src_uri}:{line}: unknown directive {match.group()!r}")
    shown_on = {k: posixpath.relpath(v, posixpath.dirname(page.file.src_uri)) for k, v in state["shown_on"].items()}
    return render.build_report(state["outcomes"], shown_on, build.environment())


def on_page_content(html, page, config, files):
    return render.math_to_mathml(html)


def on_post_build(config):
    for example in all_examples():
        if example.id not in state["shown_on"]:
            log.warning(f"{example.where}: example {example.id} is shown on no page")


# --- Downloads: each page's code as a script and a notebook (snippets.pipeline.downloads) ---
# Added in separate functions so the ones above stay as they are. The files are generated
# before any page is rendered; docs/overrides/main.html links to them from the page.
from snippets.pipeline import downloads  # noqa: E402


def on_nav(nav, config, files):
    state["downloads"] = {}
    for page in nav.pages:
        try:
            parts = downloads.page_parts(page.file.content_string)
        except ExampleError as problem:
            raise PluginError(f"docs/{page.file.src_uri}: {problem}") from None
        if not downloads.has_code(parts):
            continue
        title = page.title or next((t.lstrip("# ") for k, t in parts if t.startswith("# ")), page.file.name)
        url = (config.site_url or "/") + page.url
        script_uri, notebook_uri = downloads.download_uris(page.file.src_uri)
        files.append(File.generated(config, script_uri, content=downloads.script(title, url, parts)))
        files.append(File.generated(config, notebook_uri, content=downloads.notebook(title, url, parts)))
        state["downloads"][page.file.src_uri] = {"script": script_uri, "notebook": notebook_uri}
    return nav


def on_page_context(context, page, config, nav):
    context["downloads"] = state.get("downloads", {}).get(page.file.src_uri)
    return context
