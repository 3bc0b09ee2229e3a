"""Pages converted to HTML in an earlier build, kept between builds.

Converting the pages' Markdown is most of what a build with nothing new to run costs: Pygments
on every code block, mkdocstrings on the references. The plugin gives each page a ``render``
([`cached_render`][snippets.pipeline.rendered.cached_render]) that takes the HTML this page
made before when nothing the conversion reads has changed, keyed by
[`render_key`][snippets.pipeline.rendered.render_key].

A conversion also leaves things outside the page, and a page taken from the cache leaves them
again: the anchors it registered with autorefs (cross-references to the API resolve to them),
the objects mkdocstrings put in its inventory (``objects.inv``), and the messages it logged (a
broken link warns, and fails the strict build, every time). mkdocstrings' handlers need no
replay: it starts every configured handler before any page is converted.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from mkdocs.structure.toc import get_toc

from .dirty import fingerprint
from .grammar import ANY_INCLUDE, AUTODOC

# Bump when what an entry holds changes.
FORMAT = "1"
# What converts Markdown to HTML here: a new version of any may convert differently.
CONVERTERS = ("mkdocs", "markdown", "pymdown-extensions", "pygments", "mkdocs-material", "mkdocstrings",
              "mkdocstrings-python", "griffelib", "mkdocs-autorefs")


def cached_render(page, render, folder: Path, docstrings):
    """``page.render`` (given as ``render``) that first looks in ``folder`` for what this page's
    conversion made before under the same [`render_key`][snippets.pipeline.rendered.render_key];
    ``docstrings()`` is the state of the documented code, asked only of a page mkdocstrings renders.
    Otherwise it converts the page, recording what the conversion left elsewhere, and keeps it.

    Examples:
        >>> import tempfile
        >>> from types import SimpleNamespace as Namespace
        >>> converted = []
        >>> def convert(config, files):
        ...     converted.append(page.url)
        ...     page.content, page.toc = '<h1 id="hi">Hi</h1>', get_toc([])
        ...     page._title_from_render, page.present_anchor_ids = "Hi", {"hi"}
        ...     page.links_to_anchors = {}
        >>> config = Namespace(config_file_path=None, theme={"language": "en"},
        ...                    markdown_extensions=[], plugins={})
        >>> folder = Path(tempfile.mkdtemp())
        >>> for build in range(2):
        ...     page = Namespace(markdown="# Hi", url="hi/",
        ...                      file=Namespace(src_uri="hi.md"))
        ...     cached_render(page, convert, folder, lambda: "")(config, [])
        >>> converted, page.content, page.present_anchor_ids
        (['hi/'], '<h1 id="hi">Hi</h1>', {'hi'})
    """

    def render_page(config, files) -> None:
        key = render_key(page, config, files, docstrings)
        path = folder / f"{fingerprint(page.url)[:32]}.json"  # one entry per page address
        kept = _load(path)
        if kept is not None and kept["key"] == key:
            _restore(page, kept, config, files)
            return
        with _recording(page, config) as left:
            render(config, files)
        _store(path, {"key": key, **_rendered(page), **left})

    return render_page


def render_key(page, config, files, docstrings) -> str:
    """A hash of everything converting this page reads: its Markdown as MkDocs converts it (after
    every plugin's ``on_page_markdown``), its address, the site's language, ``mkdocs.yml``, the
    site's files (links are checked and made relative against them), the files pymdownx.snippets
    includes, the documented code on a page mkdocstrings renders, and the converters' versions.

    Examples:
        >>> from types import SimpleNamespace as Namespace
        >>> config = Namespace(config_file_path=None, theme={"language": "en"},
        ...                    markdown_extensions=["toc"])
        >>> def key(markdown, docstrings):
        ...     page = Namespace(markdown=markdown, url="api/",
        ...                      file=Namespace(src_uri="api.md"))
        ...     return render_key(page, config, [], lambda: docstrings)
        >>> key("# API", "v1") == key("# API", "v2")  # no mkdocstrings block
        True
        >>> key("::: snippets", "v1") == key("::: snippets", "v2")
        False
    """
    markdown = page.markdown
    config_file = Path(config.config_file_path) if config.config_file_path else None
    parts = [FORMAT, markdown, page.file.src_uri, page.url, config.theme["language"],
             config_file.read_text(encoding="utf-8") if config_file else repr(config.markdown_extensions),
             sorted(file.src_uri for file in files),
             _included(markdown, getattr(config, "mdx_configs", None) or {}),
             docstrings() if AUTODOC.search(markdown) else "",
             _versions()]
    return fingerprint(*parts)


def _included(markdown: str, options: dict) -> list[tuple[str, str]]:
    """The files pymdownx.snippets puts into the page, and their text, found as it finds them: under
    the first of its base paths (from the working folder) that holds them; those it appends to
    every page too."""
    snippets = options.get("pymdownx.snippets", {})
    bases = snippets.get("base_path", ["."])
    bases = [bases] if isinstance(bases, str) else bases
    paths = {match["path"].split(":")[0] for match in ANY_INCLUDE.finditer(markdown)} | set(snippets.get("auto_append", []))
    found = []
    for path in sorted(paths):
        where = next((Path(base) / path for base in bases if (Path(base) / path).is_file()), None)
        found.append((path, _read(where) if where else ""))  # a missing one: pymdownx.snippets reports it
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


@lru_cache(maxsize=1)
def _versions() -> list[str]:
    found = []
    for name in CONVERTERS:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} -")
    return found


def _rendered(page) -> dict:
    """What ``Page.render`` sets on the page, as JSON."""
    links = page.links_to_anchors
    return {"content": page.content, "toc": [_token(item) for item in page.toc.items],
            "title": page._title_from_render,  # the page's first heading, its title (no public setter)
            "anchors": sorted(page.present_anchor_ids or ()),
            "links": None if links is None else {file.src_uri: found for file, found in links.items()}}


def _token(item) -> dict:
    return {"level": item.level, "id": item.id, "name": item.title, "children": [_token(c) for c in item.children]}


@contextmanager
def _recording(page, config):
    """What a conversion leaves outside the page: the anchors it registers with autorefs, the
    objects mkdocstrings puts in its inventory, what it logs."""
    left = {"registered": [], "inventory": [], "messages": []}
    autorefs, handlers = _autorefs(config), _handlers(config)
    catcher = _Catcher(left["messages"])
    loggers = [logging.getLogger("mkdocs"), logging.getLogger()]  # MkDocs' own does not propagate
    if autorefs is not None:
        register_anchor = autorefs.register_anchor

        def record_anchor(on_page, identifier, anchor=None, *, title=None, primary=True):
            if on_page is not page:
                left["registered"] = None  # not this page's to replay: never taken from the cache
            elif left["registered"] is not None:
                left["registered"].append([identifier, anchor, title, primary])
            register_anchor(on_page, identifier, anchor, title=title, primary=primary)

        autorefs.register_anchor = record_anchor
    if handlers is not None:
        register = handlers.inventory.register

        def record_object(name, domain, role, uri, priority=1, dispname=None):  # Inventory.register's
            entry = {"name": name, "domain": domain, "role": role, "uri": uri, "priority": priority, "dispname": dispname}
            left["inventory"].append(entry)
            return register(**entry)

        handlers.inventory.register = record_object
    for logger in loggers:
        logger.addHandler(catcher)
    try:
        yield left
    finally:
        for logger in loggers:
            logger.removeHandler(catcher)
        for owner, name in ((autorefs, "register_anchor"), (getattr(handlers, "inventory", None), "register")):
            if owner is not None:
                vars(owner).pop(name, None)  # the class's method again


class _Catcher(logging.Handler):
    """Keeps what is logged, once: a record of MkDocs' logger reaches the root's handlers too
    unless MkDocs' command line stopped it propagating."""

    def __init__(self, messages: list):
        super().__init__()
        self.messages, self.last = messages, None

    def emit(self, record: logging.LogRecord) -> None:
        if record is not self.last:
            self.messages.append([record.name, record.levelno, record.getMessage()])
        self.last = record


def _restore(page, kept: dict, config, files) -> None:
    """Set on the page what its conversion set, and leave again what it left elsewhere."""
    page.content, page.toc, page._title_from_render = kept["content"], get_toc(kept["toc"]), kept["title"]
    page.present_anchor_ids = set(kept["anchors"])
    if kept["links"] is not None:
        page.links_to_anchors = {files.get_file_from_path(uri): found for uri, found in kept["links"].items()
                                 if files.get_file_from_path(uri) is not None}
    autorefs, handlers = _autorefs(config), _handlers(config)
    for identifier, anchor, title, primary in kept["registered"]:
        autorefs.register_anchor(page, identifier, anchor, title=title, primary=primary)
    for entry in kept["inventory"]:
        handlers.inventory.register(**entry)
    for name, level, message in kept["messages"]:
        logging.getLogger(name).log(level, "%s", message)


def _autorefs(config):
    return config.plugins.get("autorefs")


def _handlers(config):
    plugin = config.plugins.get("mkdocstrings")
    return plugin.handlers if plugin is not None else None


def _load(path: Path) -> dict | None:
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return kept if isinstance(kept, dict) and kept.get("registered") is not None else None


def _store(path: Path, entry: dict) -> None:
    """Written to a temporary file and renamed: a build that is stopped leaves no half entry."""
    if entry["registered"] is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(entry, file)
    os.replace(temporary, path)
