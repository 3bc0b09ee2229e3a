"""The MkDocs plugin: run the examples, put their outputs on the pages, fail on drift.

Registered as ``examples`` under the ``mkdocs.plugins`` entry point (pyproject.toml) and
configured in ``mkdocs.yml``; its options are [`Settings`][snippets.pipeline.settings.Settings]'s.
Everything a build keeps lives on the plugin object (one for a whole ``mkdocs serve``); the
work is done by the rest of `snippets.pipeline`, where it is tested.

The flow from ``mkdocs build`` to a page:

1. ``on_startup``: workers start running every example not cached, while MkDocs loads its theme.
2. ``on_files``: includes, translations and directives are checked; KaTeX's files added.
3. ``on_nav``: each page's script, notebook and runnable copies are generated; under
   ``mkdocs serve --dirty``, the pages whose examples, reports or docstrings changed are marked.
4. ``on_page_markdown``: the page's examples are collected (waiting for those still running),
   their figures added to the site, outputs and drift written under the code; MkDocs then
   converts the page, or takes the HTML of an earlier build ([`rendered`][snippets.pipeline.rendered]).
5. ``on_post_build``: examples shown on no page are checked; unused cache entries removed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
from pathlib import Path

from mkdocs.config import base
from mkdocs.config import config_options as c
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File

from . import build, dirty, downloads, render, rendered, translations
from .examples import ExampleError, all_examples, module_source, page_modules
from .grammar import AUTODOC, DIRECTIVE
from .settings import Settings

log = logging.getLogger("mkdocs.plugins.examples")


class ExamplesConfig(base.Config):
    """The plugin's options; ``!ENV`` in mkdocs.yml lets the ``SNIPPETS_*`` variables override
    each (their table: [`settings`][snippets.pipeline.settings]). Text values are accepted
    because a variable arrives as text (``SNIPPETS_EXECUTE=0``)."""

    execute = c.Type((bool, int, str), default=Settings.execute)
    workers = c.Type((int, str), default=Settings.workers)
    time_limit = c.Type((int, float, str), default=Settings.time_limit)
    cache_dir = c.Optional(c.Type(str))
    records_dir = c.Optional(c.Type(str))


class ExamplesPlugin(BasePlugin[ExamplesConfig]):
    """Runs the examples while MkDocs builds, and writes their outputs into the pages."""

    def __init__(self):
        self.pipeline: build.Pipeline | None = None
        self.serving = False
        self.examples: dict = {}  # id -> Example, in page-module order
        self.outcomes: dict = {}  # id -> Outcome, those collected in this build
        self.shown_on: dict[str, str] = {}  # id -> the English page that shows it
        self.pages: list[File] = []
        self.stale: dict[str, list[str]] = {}  # translation -> its paragraphs behind the English page
        self.downloads: dict[str, dict] = {}  # page -> its script, notebook and data files
        self.runnable: dict[str, dict] = {}  # page -> example -> its runnable copy
        self.page_404: tuple[str, str] | None = None  # (language, html) of the first 404 page written
        self.katex = render.Katex()  # one Node process and each formula once, for every page of every language
        self.dirty = False  # `mkdocs serve --dirty`: only the pages that changed are rendered again
        self.rendered: dict[str, str] = {}  # site path of a page -> fingerprint of what it shows, as last written
        self.rendering: dict[str, str] = {}  # the same for this build, kept once the build is done
        self.docstrings_known: dict = {}  # the documented interface of each source file, by its file_stamp
        self.written: dict[str, str] = {}  # site path of a generated file -> digest of what was last written there
        self.writing: dict[str, str] = {}  # the same for this build, kept once the build is done
        self.downloads_made: dict[tuple, tuple] = {}  # (page, url) -> (what its downloads were made from, them)
        self.urls_rendered: set[str] = set()  # the pages rendered in this build (of this language)
        self.search_entries: dict[str, list] = {}  # under serve: page url -> its search index entries, the latest
        self.built_config = None  # the configuration of the build under way (one for all its languages)
        self.templates = render.TemplateCache()  # the theme's templates, compiled once for every build of a session

    def settings(self) -> Settings:
        """The settings this configuration asks for."""
        return Settings.make(**{name: self.config[name] for name in ExamplesConfig().keys()})

    def on_startup(self, command, dirty):
        self.serving, self.dirty = command == "serve", dirty
        self.pipeline = build.Pipeline(self.settings())
        if self.serving:  # workers up and warm from the start: the first edit re-runs its example at once
            self.pipeline.workers.start(self.pipeline.settings.workers_for(), warm_up=True)
        try:
            self.pipeline.start_running()  # workers import torch and run examples while MkDocs loads its theme
        except ExampleError:
            pass  # on_files reports it with file and line

    def on_shutdown(self):
        if self.pipeline:
            self.pipeline.stop()  # and any example still running: a build or server that stops leaves nothing
        self.katex.close()

    def on_config(self, config):
        settings = self.settings()
        if self.pipeline is None or settings != self.pipeline.settings:  # (mkdocs.yml edited under serve)
            self.on_shutdown()
            self.pipeline = build.Pipeline(settings)
        return config

    @event_priority(-100)  # after mkdocs-static-i18n (0) has set the language of this build
    def on_pre_build(self, config):
        if config is not self.built_config:  # not mkdocs-static-i18n building this build's next language
            if self.built_config is not None:  # the first build keeps the keys on_startup computed a moment ago
                self.pipeline.new_build()  # under serve, files may have changed: every cache key afresh
            self.built_config = config

    def on_files(self, files, config):
        pages = files.documentation_pages()
        for page in pages:
            for problem in render.include_problems(page.content_string):
                line, _, what = problem.partition(": ")
                raise PluginError(f"docs/{page.src_uri}:{line}: {what}")
        self._check_translations(config)
        try:
            self.pipeline.start_running()  # under serve: what changed since the last build
        except ExampleError as problem:
            raise PluginError(str(problem)) from None
        for uri, path in render.katex_files().items():  # formulas are typeset in the build; KaTeX's fonts served here
            files.append(File.generated(config, uri, abs_src_path=str(path)))
        self.outcomes, self.pages, self.examples = {}, pages, {e.id: e for e in all_examples()}
        self.shown_on = {f"{module}:{section}": page.src_uri for page in pages
                         if translations.language_of(page.src_uri)[1] is None  # links resolve per language
                         for _, module, section in render.included_sections(page.content_string)}
        return files

    def _examples_of(self, markdown):
        """The ids of the examples a page shows (every example, for a page with the build report)."""
        if any(match["name"] == "build_report" for match in DIRECTIVE.finditer(markdown)):
            return list(self.examples)
        return [f"{module}:{section}" for _, module, section in render.included_sections(markdown)
                if f"{module}:{section}" in self.examples]

    def _collect(self, example_ids):
        """The outcomes of these examples; those not asked for before are produced now (waiting for
        any still running), and their errors and drift reported."""
        wanted = [self.examples[i] for i in dict.fromkeys(example_ids) if i not in self.outcomes]
        try:
            outcomes = self.pipeline.produce(wanted)
        except ExampleError as problem:
            raise PluginError(str(problem)) from None
        errors = [o.error for o in outcomes.values() if o.error]
        if errors and not self.serving:
            raise PluginError("examples failed:\n" + "\n".join(errors))
        for error in errors:
            log.error(error)
        for drift in (d for o in outcomes.values() for d in o.drift):
            log.warning(drift)
        self.outcomes.update(outcomes)
        return [self.outcomes[example_id] for example_id in example_ids]

    @event_priority(-110)  # after mkdocs-static-i18n (-100) gave the pages their titles in the page's language
    def on_nav(self, nav, config, files):
        """Each page's code as a script and a notebook, and each example's runnable copy, generated
        before any page is rendered; docs/overrides/main.html links to them from the page."""
        self.downloads, self.runnable, self.writing, self.urls_rendered = {}, {}, {}, set()
        data = {}  # site path -> data file the downloads read, each beside the downloads that read it
        sources = {module: module_source(module) for module in page_modules()}  # what the downloads are made of
        for page in nav.pages:
            url, site_url = (config.site_url or "/") + page.url, config.site_url or "/"
            made_of = (page.file.content_string, page.file.src_uri, page.title, url, site_url,
                       [sources.get(module) for module in sorted({m for _, m, _ in render.included_sections(
                           page.file.content_string)})])  # shown code imports nothing from snippets
            if self.downloads_made.get((page.file.src_uri, url), (None,))[0] != made_of:  # (each rebuild under serve)
                try:
                    self.downloads_made[page.file.src_uri, url] = made_of, downloads.page_downloads(*made_of[:-1])
                except ExampleError as problem:
                    raise PluginError(f"docs/{page.file.src_uri}: {problem}") from None
            made = self.downloads_made[page.file.src_uri, url][1]
            if made is None:
                continue
            self._generate(files, config, made.script_uri, made.script)
            self._generate(files, config, made.notebook_uri, made.notebook)
            self.downloads[page.file.src_uri] = {"script": made.script_uri, "notebook": made.notebook_uri,
                                                 "data": made.data}
            data.update({uri: relative for relative, uri in made.data.items()})
            for copy in made.copies:
                if copy.code is not None:
                    self._generate(files, config, copy.uri, copy.code)
                data.update({posixpath.join(posixpath.dirname(copy.uri), relative): relative for relative in copy.data})
            self.runnable[page.file.src_uri] = {copy.example: copy for copy in made.copies}
        for uri, relative in data.items():
            self._generate(files, config, uri, (downloads.DATA_DIR / posixpath.basename(relative)).read_bytes())
        if self.dirty:
            self._mark_changed_pages(nav, files, config)
        return nav

    def _generate(self, files, config, uri, content):
        """Add a file the build makes to the site. In a dirty build, one whose content is what this
        session last wrote there is not written again (MkDocs would write every generated file)."""
        file = File.generated(config, uri, content=content)
        digest = hashlib.sha256(content if isinstance(content, bytes) else content.encode()).hexdigest()
        if self.dirty and self.written.get(file.dest_uri) == digest and os.path.exists(file.abs_dest_path):
            file.is_modified = lambda: False
        self.writing[file.dest_uri] = digest
        files.append(file)

    def _mark_changed_pages(self, nav, files, config):
        """In a dirty build MkDocs renders only the pages whose ``File.is_modified()`` is true. Here it
        is true, for the whole build, of a page whose fingerprint changed since it was last written:
        its Markdown, the code it includes, its examples' cache keys and records, its words and
        downloads, the site's nav, theme and settings; for the build report, which examples run in this
        build; for the references, the docstrings (a build of the references costs more than the rest).
        MkDocs' own test (the Markdown file newer than the page written) is not used: it is asked
        twice a build, once before the page is read and once before it is written, and a page saved
        between the two was written unread, newer than its source, and never rendered again."""
        pipeline, examples, self.rendering = self.pipeline, self.examples.values(), {}
        records = {m: dirty.records_state(m, pipeline.settings.records_dir) for m in {e.module for e in examples}}
        states = {e.id: (pipeline.key(e) if pipeline.settings.execute else "", records[e.module]) for e in examples}
        ran = [e.id for e in examples if pipeline.settings.execute and pipeline.key(e) in pipeline.started]
        theme = [Path(config.theme.custom_dir)] if config.theme.custom_dir else []  # the templates of every page
        site = (config.theme["language"], pipeline.settings, [(page.title, page.url) for page in nav.pages],
                Path(config.config_file_path).read_text(encoding="utf-8") if config.config_file_path else "",
                sorted((p.as_posix(), p.stat().st_mtime_ns) for folder in theme for p in folder.rglob("*") if p.is_file()))
        docstrings = None
        for file in files.documentation_pages():
            markdown, uri = file.content_string, file.src_uri
            parts = [site, markdown, self.stale.get(uri), self.downloads.get(uri), repr(self.runnable.get(uri)),
                     dirty.included_code(render.included_sections(markdown)),
                     [(example_id, states[example_id]) for example_id in self._examples_of(markdown)]]
            directives = {match["name"] for match in DIRECTIVE.finditer(markdown)}
            if directives & {"build_report", "standalone_report"}:
                parts += [ran, repr(self.runnable)]
            if "readers_helpers" in directives or AUTODOC.search(markdown):
                docstrings = docstrings or dirty.docstrings_state(known=self.docstrings_known)
                parts.append(docstrings)
            self.rendering[file.dest_uri] = dirty.fingerprint(*parts)
            changed = (self.rendering[file.dest_uri] != self.rendered.get(file.dest_uri)
                       or not os.path.exists(file.abs_dest_path))
            file.is_modified = (lambda: True) if changed else (lambda: False)
            if changed:
                log.debug(f"{file.src_uri} is rendered again: what it shows changed")

    def on_page_markdown(self, markdown, page, config, files):
        for outcome in self._collect(self._examples_of(markdown)):
            for figure in outcome.figures:
                for file, content in ((figure.file, figure.svg), (figure.dark_file, figure.dark_svg)):
                    uri = render.figure_uri(outcome.example.module, file)
                    if files.get_file_from_path(uri) is None:  # linked from here: in the site before the page renders
                        self._generate(files, config, uri, content)
        markdown = DIRECTIVE.sub(lambda match: self._directive(match, markdown, page), markdown)
        if translations.language_of(page.file.src_uri)[1]:  # no stray spaces where Japanese lines break
            markdown = translations.join_cjk_lines(markdown)
        if page.file.src_uri in self.stale:  # a translation behind its English page says so
            markdown = translations.notice(self.stale[page.file.src_uri]) + "\n" + markdown
        markdown = render.add_outputs(markdown, self.outcomes, page.file.src_uri)
        page.render = rendered.cached_render(  # MkDocs converts the page next: the HTML of an earlier build if unchanged
            page, page.render, self.pipeline.settings.cache_dir / "pages",
            lambda: dirty.docstrings_state(known=self.docstrings_known))
        return render.add_runnable_links(markdown, self.runnable.get(page.file.src_uri, {}), page.url)

    def _directive(self, match, markdown, page):
        if match["name"] == "readers_helpers":  # the readers' API reference (docs/reference.md)
            return render.readers_reference([p.src_uri for p in self.pages], posixpath.dirname(page.file.src_uri))
        if match["name"] == "standalone_report":  # after on_nav, which wrote the runnable copies
            return downloads.standalone_report([c for copies in self.runnable.values() for c in copies.values()],
                                               page.file.src_uri)
        if match["name"] != "build_report":
            line = markdown.count("\n", 0, match.start()) + 1
            raise PluginError(f"docs/{page.file.src_uri}:{line}: unknown directive {match.group()!r}")
        here = posixpath.dirname(page.file.src_uri)
        shown_on = {k: posixpath.relpath(v, here) for k, v in self.shown_on.items()}
        in_page_order = {example_id: self.outcomes[example_id] for example_id in self.examples}
        return render.build_report(in_page_order, shown_on, build.environment(), page.file.src_uri)

    def on_page_content(self, html, page, config, files):
        self.urls_rendered.add(page.url)
        return html

    @event_priority(-50)  # after the search plugin (0) indexed the page: the formulas' TeX, not KaTeX's spans
    def on_page_context(self, context, page, config, nav):
        try:
            page.content = render.typeset_math(page.content, self.katex)
        except ValueError as problem:
            raise PluginError(f"docs/{page.file.src_uri}: {problem}") from None
        context["downloads"] = self.downloads.get(page.file.src_uri)
        return context

    def on_env(self, env, config, files):
        env.filters["without_alternate_links"] = translations.without_alternate_links  # docs/overrides/main.html
        env.bytecode_cache = self.templates  # each language's build and each rebuild under serve make a new env
        return env

    def on_post_template(self, output_content, template_name, config):
        """mkdocs-static-i18n builds each language into the same site folder, so the Japanese build
        would write its 404 page over the English one: it goes to ja/404.html instead."""
        if template_name != "404.html":
            return output_content
        language = config.theme["language"]
        if not self.page_404 or language == self.page_404[0]:
            self.page_404 = (language, output_content)
            return output_content
        folder = Path(config.site_dir) / language
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "404.html").write_text(output_content, encoding="utf-8")
        return self.page_404[1]

    @event_priority(10)  # before the search plugin (0) writes its index and mkdocs-static-i18n (-100) collects it
    def on_post_build(self, config):
        self.rendered.update(self.rendering)  # the pages and files as written: a later dirty build compares with them
        self.written.update(self.writing)
        self._search_each_page_once(config)
        self._collect(list(self.examples))  # examples shown on no page are checked too
        for example in self.examples.values():
            if example.id not in self.shown_on:
                log.warning(f"{example.where}: example {example.id} is shown on no page")
        for path in self.pipeline.evict_unused():  # this build computed every key: the others are stale
            log.debug(f"removed the unused cache entry {path}")

    def _search_each_page_once(self, config):
        """Under ``mkdocs serve``, the search index holds every page of the session once, at its latest.
        A dirty build indexes only the pages it renders; Material's own merge for it assumes a single
        page, and mkdocs-static-i18n collects the entries of every build of the session (each rebuild
        added the site again; together they doubled the index on every dirty rebuild). So the entries
        are kept here by page, those of the pages rendered now replacing theirs, and the search plugin
        is given them all (mkdocs-static-i18n takes them from it)."""
        search = config.plugins.get("material/search") or config.plugins.get("search")
        if not self.serving or not hasattr(search, "search_index"):
            return
        now: dict[str, list] = {url: [] for url in self.urls_rendered}
        for entry in search.search_index.entries:
            now.setdefault(entry["location"].split("#")[0], []).append(entry)
        self.search_entries.update(now)
        search.search_index.entries[:] = [entry for entries in self.search_entries.values() for entry in entries]
        search.is_dirty = False  # no merge of its own with the last index
        i18n = config.plugins.get("i18n")
        if isinstance(getattr(i18n, "search_entries", None), list):
            i18n.search_entries.clear()  # it collects them from the search plugin next

    def _check_translations(self, config):
        """Parity fails the build; a translation behind its English page is a warning (so the strict
        build fails, naming the changed paragraphs) and a notice on the page (under serve)."""
        problems, _ = translations.report(Path(config.docs_dir))
        if problems:
            raise PluginError("translations whose structure differs from their English page:\n" + "\n".join(problems))
        self.stale = {}
        for english, path in translations.translation_pairs(Path(config.docs_dir)):
            changes = translations.changed_paragraphs(english.read_text(encoding="utf-8"),
                                                      path.read_text(encoding="utf-8"))
            if changes and translations.language_of(path.name)[1] == config.theme["language"]:
                uri = path.relative_to(config.docs_dir).as_posix()
                self.stale[uri] = changes
                log.warning(f"docs/{uri} is out of date with docs/{translations.language_of(uri)[0]} "
                            "(update it, then `make translations STAMP=<page>`):\n  " + "\n  ".join(changes))
