"""MkDocs hook: run the examples, put their outputs on the pages, fail on drift.

Thin on purpose; the logic lives in `snippets.pipeline` where it is tested.
"""

import logging
import posixpath
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

from snippets.pipeline import build, execute, render, translations
from snippets.pipeline.examples import ExampleError, all_examples
from snippets.pipeline.records import dark_figure_file

log = logging.getLogger("mkdocs.hooks.examples")
state = {"serving": False, "outcomes": {}, "shown_on": {}, "pages": [], "examples": {}}
DIRECTIVE = re.compile(r"^\{\{ *(?P<name>[^}]*?) *\}\}$", re.MULTILINE)


def on_startup(command, dirty):
    state["serving"] = command == "serve"
    if state["serving"]:  # workers up and warm from the start: the first edit re-runs its example at once
        execute.start_workers(build.worker_count(), warm_up=True)
    try:
        build.start_running()  # workers import torch and run examples while MkDocs loads its theme
    except ExampleError:
        pass  # on_files reports it with file and line


def on_shutdown():
    execute.stop_workers()  # and any example still running: a build or server that stops leaves nothing


def on_files(files, config):
    pages = files.documentation_pages()
    for page in pages:
        for problem in render.include_problems(page.content_string):
            line, _, what = problem.partition(": ")
            raise PluginError(f"docs/{page.src_uri}:{line}: {what}")
    _check_translations(config)
    try:
        running = {e.id for e in build.start_running()}  # under serve: what changed since the last build
    except ExampleError as problem:
        raise PluginError(str(problem)) from None
    for uri, path in render.katex_files().items():  # formulas are typeset in the build; KaTeX's fonts served here
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    state.update(outcomes={}, pages=pages, examples={e.id: e for e in all_examples()})
    state["shown_on"] = {f"{module}:{section}": page.src_uri for page in pages
                         if translations.language_of(page.src_uri)[1] is None  # links resolve per language
                         for _, module, section in render.included_sections(page.content_string)}
    # MkDocs renders pages in this order and each waits for its examples' outputs: the pages
    # whose outputs are ready go first, while the workers run the others (order restored in on_env).
    for page in pages:
        if running & set(_examples_of(page.content_string)):
            files.remove(page)
            files.append(page)
    return files


def _examples_of(markdown):
    """The ids of the examples a page shows (every example, for a page with the build report)."""
    if any(match["name"] == "build_report" for match in DIRECTIVE.finditer(markdown)):
        return list(state["examples"])
    return [f"{module}:{section}" for _, module, section in render.included_sections(markdown)
            if f"{module}:{section}" in state["examples"]]


def _collect(example_ids):
    """The outcomes of these examples; those not asked for before are produced now (waiting for
    any still running), and their errors and drift reported."""
    wanted = [state["examples"][i] for i in dict.fromkeys(example_ids) if i not in state["outcomes"]]
    try:
        outcomes = build.produce(wanted)
    except ExampleError as problem:
        raise PluginError(str(problem)) from None
    errors = [o.error for o in outcomes.values() if o.error]
    if errors and not state["serving"]:
        raise PluginError("examples failed:\n" + "\n".join(errors))
    for error in errors:
        log.error(error)
    for drift in (d for o in outcomes.values() for d in o.drift):
        log.warning(drift)
    state["outcomes"].update(outcomes)
    return [state["outcomes"][example_id] for example_id in example_ids]


def on_page_markdown(markdown, page, config, files):
    for outcome in _collect(_examples_of(markdown)):
        for figure, svg, dark in zip(outcome.record["figures"], outcome.svgs, outcome.dark_svgs):
            for file, content in ((figure["file"], svg), (dark_figure_file(figure["file"]), dark)):
                uri = render.figure_uri(outcome.example.module, file)
                if files.get_file_from_path(uri) is None:  # linked from here: in the site before the page renders
                    files.append(File.generated(config, uri, content=content))
    markdown = DIRECTIVE.sub(lambda match: _directive(match, markdown, page), markdown)
    if translations.language_of(page.file.src_uri)[1]:  # no stray spaces where Japanese lines break
        markdown = translations.join_cjk_lines(markdown)
    if page.file.src_uri in state.get("stale", {}):  # a translation behind its English page says so
        markdown = translations.notice(state["stale"][page.file.src_uri]) + "\n" + markdown
    markdown = render.add_outputs(markdown, state["outcomes"], page.file.src_uri)
    return render.add_runnable_links(markdown, state.get("runnable", {}).get(page.file.src_uri, {}), page.url)


def on_env(env, config, files):
    env.filters["without_alternate_links"] = translations.without_alternate_links  # docs/overrides/main.html
    for page in state["pages"]:  # pages are written, and indexed for search, in their usual order
        page = files.src_uris.get(page.src_uri)  # mkdocs-static-i18n made new File objects
        if page is not None:
            files.remove(page)
            files.append(page)
    return env


def _directive(match, markdown, page):
    if match["name"] == "readers_helpers":  # the readers' API reference (docs/reference.md)
        here = posixpath.dirname(page.file.src_uri)
        page_of = {module: posixpath.relpath(uri, here) for module, uri in (
            (p.src_uri[:-3].replace("-", "_"), p.src_uri) for p in state["pages"])}
        return render.readers_reference(page_of)
    if match["name"] == "standalone_report":  # after on_nav, which wrote the runnable copies
        return downloads.standalone_report([c for copies in state["runnable"].values() for c in copies.values()],
                                           page.file.src_uri)
    if match["name"] != "build_report":
        line = markdown.count("\n", 0, match.start()) + 1
        raise PluginError(f"docs/{page.file.src_uri}:{line}: unknown directive {match.group()!r}")
    shown_on = {k: posixpath.relpath(v, posixpath.dirname(page.file.src_uri)) for k, v in state["shown_on"].items()}
    in_page_order = {example_id: state["outcomes"][example_id] for example_id in state["examples"]}
    return render.build_report(in_page_order, shown_on, build.environment(), page.file.src_uri)


def on_page_content(html, page, config, files):
    try:
        return render.typeset_math(html)
    except ValueError as problem:
        raise PluginError(f"docs/{page.file.src_uri}: {problem}") from None


def on_post_build(config):
    _collect(list(state["examples"]))  # examples shown on no page are checked too
    for example in state["examples"].values():
        if example.id not in state["shown_on"]:
            log.warning(f"{example.where}: example {example.id} is shown on no page")


# --- Downloads: each page's code as a script and a notebook (snippets.pipeline.downloads) ---
# Added in separate functions so the ones above stay as they are. The files are generated
# before any page is rendered; docs/overrides/main.html links to them from the page.
from snippets.pipeline import downloads  # noqa: E402


@event_priority(-110)  # after mkdocs-static-i18n (-100) gave the pages their titles in the page's language
def on_nav(nav, config, files):
    state["downloads"], state["runnable"] = {}, {}
    data = {}  # site path -> data file the downloads read, each beside the downloads that read it
    for page in nav.pages:
        try:
            parts = downloads.page_parts(page.file.content_string)
        except ExampleError as problem:
            raise PluginError(f"docs/{page.file.src_uri}: {problem}") from None
        if not downloads.has_code(parts):
            continue
        title = page.title or next((t.lstrip("# ") for k, t in parts if t.startswith("# ")), page.file.name)
        url, site_url = (config.site_url or "/") + page.url, config.site_url or "/"
        script_uri, notebook_uri = downloads.download_uris(page.file.src_uri)
        needed = downloads.data_files("\n".join(text for kind, text in parts if kind == "code"))
        beside = {relative: posixpath.join(posixpath.dirname(script_uri), relative) for relative in needed}
        notes = downloads.data_note(needed, script_uri, site_url, page.file.src_uri)
        files.append(File.generated(config, script_uri, content=downloads.script(title, url, parts, notes,
                                                                                  page.file.src_uri)))
        files.append(File.generated(config, notebook_uri, content=downloads.notebook(
            title, url, parts, {relative: site_url + uri for relative, uri in beside.items()}, page.file.src_uri)))
        state["downloads"][page.file.src_uri] = {"script": script_uri, "notebook": notebook_uri, "data": beside}
        data.update({uri: relative for relative, uri in beside.items()})
        copies = downloads.runnable_copies(page.file.content_string, page.file.src_uri, title, url, site_url)
        for copy in copies:
            if copy.code is not None:
                files.append(File.generated(config, copy.uri, content=copy.code))
            data.update({posixpath.join(posixpath.dirname(copy.uri), relative): relative for relative in copy.data})
        state["runnable"][page.file.src_uri] = {copy.example: copy for copy in copies}
    for uri, relative in data.items():
        files.append(File.generated(config, uri, content=(downloads.DATA_DIR / posixpath.basename(relative)).read_bytes()))
    return nav


def on_page_context(context, page, config, nav):
    context["downloads"] = state.get("downloads", {}).get(page.file.src_uri)
    return context


# --- Translations (docs/<page>.<lang>.md; snippets.pipeline.translations) ---

def _check_translations(config):
    """Parity fails the build; a translation behind its English page is a warning (so the strict
    build fails, naming the changed paragraphs) and a notice on the page (under serve)."""
    problems, _ = translations.report(Path(config.docs_dir))
    if problems:
        raise PluginError("translations whose structure differs from their English page:\n" + "\n".join(problems))
    state["stale"] = {}
    for english, path in translations.translation_pairs(Path(config.docs_dir)):
        changes = translations.changed_paragraphs(english.read_text(encoding="utf-8"), path.read_text(encoding="utf-8"))
        if changes and translations.language_of(path.name)[1] == config.theme["language"]:
            uri = path.relative_to(config.docs_dir).as_posix()
            state["stale"][uri] = changes
            log.warning(f"docs/{uri} is out of date with docs/{translations.language_of(uri)[0]} "
                        "(update it, then `make translations STAMP=<page>`):\n  " + "\n  ".join(changes))


def on_post_template(output, template_name, config):
    """mkdocs-static-i18n builds each language into the same site folder, so the Japanese build
    would write its 404 page over the English one: it goes to ja/404.html instead."""
    if template_name != "404.html":
        return output
    language = config.theme["language"]
    if not state.get("404") or language == state["404"][0]:
        state["404"] = (language, output)
        return output
    folder = Path(config.site_dir) / language
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "404.html").write_text(output, encoding="utf-8")
    return state["404"][1]
