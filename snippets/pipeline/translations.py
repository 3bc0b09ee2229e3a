"""Translated pages (``docs/<page>.<lang>.md``): kept in step with their English page.

A translation must show the same includes, directives and formulas (identical TeX), in
the same order, as its English page (:func:`parity_problem`), so it can neither miss an
example nor show one the English page dropped. It records in its front matter the
English prose it translates, a short hash per paragraph (:func:`stamp`); when the
English prose changes, :func:`changed_paragraphs` names what changed. Only
``make translations STAMP=<page>`` writes that record (:func:`stamped`).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
from functools import lru_cache
from pathlib import Path

import yaml

from .examples import PROJECT_DIR
from .grammar import ANY_INCLUDE, CODE_SPAN, DIRECTIVE, fenced_lines

TRANSLATION = re.compile(r"^(?P<stem>.+)\.(?P<language>[a-z]{2})\.md$")
FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<yaml>.*?\n)?---[ \t]*\n", re.DOTALL)
FORMULA = re.compile(r"\\\((?P<inline>.+?)\\\)|\\\[(?P<block>.+?)\\\]|\$\$(?P<dollars>.+?)\$\$",
                     re.DOTALL)
KEY = "translation_of"
NOTICE_TITLE = "英語版のページが更新されています / The English page has changed since this translation"


def language_of(src_uri: str) -> tuple[str, str | None]:
    """The English page a docs path translates, and its language (None for an English page).

    Examples:
        >>> language_of("autograd-basics.ja.md"), language_of("index.md")
        (('autograd-basics.md', 'ja'), ('index.md', None))
    """
    match = TRANSLATION.match(src_uri)
    return (f"{match['stem']}.md", match["language"]) if match else (src_uri, None)


def translation_pairs(docs: Path) -> list[tuple[Path, Path]]:
    """Every ``(English page, translation)`` under ``docs``, sorted; a translation whose
    English page is missing is paired with that missing path (parity then fails on it).

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     for name in ("a.md", "a.ja.md", "b.md"):
        ...         _ = (Path(folder) / name).write_text("# A\\n")
        ...     [(e.name, t.name) for e, t in translation_pairs(Path(folder))]
        [('a.md', 'a.ja.md')]
    """
    pairs = []
    for path in sorted(docs.rglob("*.md")):
        relative = path.relative_to(docs).as_posix()
        english, language = language_of(relative)
        if language and not {"hooks", "overrides"} & set(Path(relative).parts):
            pairs.append((docs / english, path))
    return pairs


def _front_matter(markdown: str) -> tuple[dict, int]:
    """The front matter's data and the number of lines it takes (0 when there is none)."""
    match = FRONT_MATTER.match(markdown)
    if not match:
        return {}, 0
    return copy.deepcopy(_yaml_mapping(match["yaml"] or "")), match.group().count("\n")


@lru_cache(maxsize=128)
def _yaml_mapping(text: str) -> dict:
    """A front matter's data, read once per version of it (each build reads every translation's)."""
    data = yaml.safe_load(text) or {}
    return data if isinstance(data, dict) else {}


def _lines(markdown: str) -> list[tuple[int, str, bool]]:
    """Every line as ``(number, text, in_code)``: ``in_code`` for fences and what they hold,
    and for the front matter (so it is neither prose nor structure)."""
    _, skip = _front_matter(markdown)
    return [(number, line, number <= skip or fence is not None) for number, line, fence in fenced_lines(markdown)]


# Characters of Japanese text: kana, CJK ideographs, full-width forms and punctuation.
CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
# The start of a list item's line up to its text: its continuation lines are indented that far.
LIST_ITEM = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+")


def join_cjk_lines(markdown: str) -> str:
    """Join the lines of a paragraph, or of a list item, where the break falls between two
    Japanese characters: a browser shows a line break inside prose as a space, and Japanese puts
    no space there.

    Examples:
        >>> join_cjk_lines("日本語の\\n文章です。\\nEnglish\\ntext\\n```\\n日本\\n語\\n```")
        '日本語の文章です。\\nEnglish\\ntext\\n```\\n日本\\n語\\n```'
        >>> join_cjk_lines("1. 項目の\\n   続きです。\\n   - 入れ子の\\n     続き")
        '1. 項目の続きです。\\n   - 入れ子の続き'
    """
    joined: list[str] = []
    previous_is_prose = False
    for _, line, in_code in _lines(markdown):
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        item = LIST_ITEM.match(joined[-1]) if joined else None
        if (previous_is_prose and not in_code and stripped and CJK.match(stripped)
                and CJK.match(joined[-1][-1:])
                and ((item and len(indent) == len(item.group()))  # an item's text continued
                     or joined[-1].startswith(indent) and not joined[-1][len(indent):len(indent) + 1].isspace())):
            joined[-1] += stripped
        else:
            joined.append(line)
        previous_is_prose = not in_code and bool(stripped)
    return "\n".join(joined)


def structure(markdown: str) -> list[tuple[int, str]]:
    """What a translation must keep, in page order, as ``(line, item)``: includes,
    directives and formulas (TeX with its white space collapsed; code spans are not formulas).

    Examples:
        >>> structure('Text \\\\(x^2\\\\) and `\\\\(no\\\\)`.\\n\\n```python\\n'
        ...           '--8<-- "snippets/a.py:b"\\n```\\n\\n{{ build_report }}\\n')
        [(1, 'formula \\\\(x^2\\\\)'), (4, 'include "snippets/a.py:b"'), (7, 'directive {{ build_report }}')]
    """
    items, prose = [], []
    for number, line, in_code in _lines(markdown):
        for match in ANY_INCLUDE.finditer(line):
            items.append((number, match.start(), f'include "{match["path"]}"'))
        if not in_code and DIRECTIVE.match(line):
            items.append((number, 0, f"directive {{{{ {DIRECTIVE.match(line)['name']} }}}}"))
        prose.append("" if in_code or ANY_INCLUDE.search(line) else line)
    text = CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), "\n".join(prose))
    for match in FORMULA.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - text.rfind("\n", 0, match.start())
        tex = " ".join((match["inline"] or match["block"] or match["dollars"]).split())
        shown = {"inline": f"\\({tex}\\)", "block": f"\\[{tex}\\]", "dollars": f"$${tex}$$"}
        items.append((line, column, shown[match.lastgroup]))
    return [(line, item if item.startswith(("include", "directive")) else f"formula {item}")
            for line, _, item in sorted(items)]


def parity_problem(english: str, translation: str, english_name: str, translation_name: str) -> str | None:
    """None when the translation keeps the English page's structure; otherwise the first
    difference, with ``file:line`` on each side.

    Examples:
        >>> en = '```python\\n--8<-- "snippets/a.py:b"\\n```\\n\\\\(x\\\\)\\n'
        >>> print(parity_problem(en, en, "docs/a.md", "docs/a.ja.md"))
        None
        >>> print(parity_problem(en, 'Only \\\\(x\\\\)\\n', "docs/a.md", "docs/a.ja.md"))
        docs/a.ja.md:1 differs from docs/a.md:2: the translation has formula \\(x\\) where the English page has include "snippets/a.py:b"
    """
    ours, theirs = structure(english), structure(translation)
    for index in range(max(len(ours), len(theirs))):
        mine = theirs[index] if index < len(theirs) else None
        original = ours[index] if index < len(ours) else None
        if mine is not None and original is not None and mine[1] == original[1]:
            continue
        here = f"{translation_name}:{mine[0] if mine else len(translation.split(chr(10)))}"
        there = f"{english_name}:{original[0] if original else len(english.split(chr(10)))}"
        has = mine[1] if mine else "nothing more"
        where = original[1] if original else "nothing more"
        return f"{here} differs from {there}: the translation has {has} where the English page has {where}"
    return None


def paragraphs(markdown: str) -> list[tuple[int, str]]:
    """The English prose, block by block, as ``(first line, text with white space collapsed)``:
    headings, paragraphs, list items, table and admonition text; code fences, includes and
    directives excluded (their parity is checked instead).

    Examples:
        >>> paragraphs('# Title\\n\\nOne\\nparagraph.\\n\\n```python\\ncode\\n```\\n{{ build_report }}\\n')
        [(1, '# Title'), (3, 'One paragraph.')]
    """
    blocks, current = [], []
    for number, line, in_code in _lines(markdown) + [(0, "", False)]:
        if in_code or not line.strip() or DIRECTIVE.match(line) or line.lstrip().startswith("#"):
            if current:
                blocks.append((current[0][0], " ".join(" ".join(t for _, t in current).split())))
            current = []
            if not in_code and line.lstrip().startswith("#") and line.strip():
                blocks.append((number, " ".join(line.split())))
            continue
        current.append((number, line))
    return blocks


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def stamp(english: str) -> dict:
    """The record a translation keeps of the English prose it translates: a hash of all of
    it and an 8-hex hash per paragraph.

    Examples:
        >>> record = stamp("# Title\\n\\nOne\\nparagraph.\\n")
        >>> record["paragraphs"][1] == hashlib.sha256(b"One paragraph.").hexdigest()[:8]
        True
        >>> len(record["hash"]), record == stamp("# Title\\n\\nOne paragraph.\\n")  # reflowing is no change
        (12, True)
    """
    texts = [text for _, text in paragraphs(english)]
    return {"hash": _digest("\n".join(texts), 12), "paragraphs": [_digest(t, 8) for t in texts]}


def recorded_stamp(translation: str) -> dict | None:
    """The stamp in a translation's front matter (None when it has none).

    Examples:
        >>> recorded_stamp("---\\ntranslation_of:\\n  hash: 'ab'\\n  paragraphs: ['01']\\n---\\n# T\\n")
        {'hash': 'ab', 'paragraphs': ['01']}
        >>> recorded_stamp("# T\\n") is None
        True
    """
    data = _front_matter(translation)[0].get(KEY)
    if not isinstance(data, dict):
        return None
    return {"hash": str(data.get("hash", "")), "paragraphs": [str(p) for p in data.get("paragraphs") or []]}


def changed_paragraphs(english: str, translation: str) -> list[str]:
    """What in the English prose changed since the translation was stamped, one line each
    (``line N: "first words..."``); empty when the translation is up to date.

    Examples:
        >>> old = "# Title\\n\\nOne paragraph.\\n"
        >>> done = stamped("# Titre\\n", old)
        >>> changed_paragraphs(old, done)
        []
        >>> changed_paragraphs(old + "\\nA new paragraph that says more.\\n", done)
        ['line 5: "A new paragraph that says more." (changed or new)']
    """
    recorded = recorded_stamp(translation)
    if recorded is None:
        return ["never stamped: run `make translations STAMP=<page>` once it is up to date"]
    current = stamp(english)
    if recorded["hash"] == current["hash"]:
        return []
    blocks = paragraphs(english)
    found = []
    matcher = difflib.SequenceMatcher(None, recorded["paragraphs"], current["paragraphs"], autojunk=False)
    for kind, _, _, first, last in matcher.get_opcodes():
        if kind in ("replace", "insert"):
            for line, text in blocks[first:last]:
                words = text.split()
                start = " ".join(words[:8]) + (" ..." if len(words) > 8 else "")
                found.append(f'line {line}: "{start}" (changed or new)')
        elif kind == "delete":
            where = f"before line {blocks[first][0]}" if first < len(blocks) else "at the end"
            found.append(f"a paragraph was removed {where}")
    return found or ["the English prose changed (paragraphs reordered)"]


def stamped(translation: str, english: str) -> str:
    """The translation with its front matter recording ``english`` as what it translates
    (any earlier record replaced, other front-matter keys kept).

    Examples:
        >>> print(stamped("---\\ntitle: T\\n---\\n# T\\n", "# Title\\n"))  # doctest: +ELLIPSIS
        ---
        title: T
        translation_of:
          hash: '...'
          paragraphs: ['...']
        ---
        # T
        <BLANKLINE>
        >>> again = stamped(stamped("# T\\n", "# Old\\n"), "# Title\\n")
        >>> again == stamped("# T\\n", "# Title\\n"), recorded_stamp(again) == stamp("# Title\\n")
        (True, True)
    """
    match = FRONT_MATTER.match(translation)
    kept, body = [], translation
    if match:
        body = translation[match.end():]
        skipping = False
        for line in (match["yaml"] or "").splitlines():
            if line.startswith(f"{KEY}:"):
                skipping = True
            elif skipping and (line.startswith((" ", "\t", "]")) or not line.strip()):
                continue
            else:
                skipping = False
            if not skipping:
                kept.append(line)
    record = stamp(english)
    hashes = [f"'{h}'" for h in record["paragraphs"]]
    rows = [", ".join(hashes[i:i + 8]) for i in range(0, len(hashes), 8)] or [""]
    listing = (f"  paragraphs: [{rows[0]}]" if len(rows) == 1
               else "  paragraphs: [\n" + ",\n".join(f"    {row}" for row in rows) + "\n  ]")
    lines = ["---", *kept, f"{KEY}:", f"  hash: '{record['hash']}'", listing, "---"]
    return "\n".join(lines) + "\n" + body


def notice(changes: list[str]) -> str:
    """The admonition put at the top of a translation whose English page changed since.

    Examples:
        >>> print(notice(['line 3: "One." (changed or new)']))
        !!! warning "英語版のページが更新されています / The English page has changed since this translation"
        <BLANKLINE>
            この翻訳の後で英語版の本文が変わりました。次の段落を確認してください。
            The English prose changed after this translation; these paragraphs differ:
        <BLANKLINE>
            - line 3: "One." (changed or new)
        <BLANKLINE>
    """
    items = "\n".join(f"    - {change}" for change in changes)
    return (f'!!! warning "{NOTICE_TITLE}"\n\n'
            "    この翻訳の後で英語版の本文が変わりました。次の段落を確認してください。\n"
            "    The English prose changed after this translation; these paragraphs differ:\n\n"
            f"{items}\n")


def report(docs: Path) -> tuple[list[str], list[str]]:
    """``(problems, out_of_date)`` for every translation under ``docs``: parity failures,
    and each stale page with its changed English paragraphs (names relative to the project).

    Examples:
        >>> report(Path("no-such-folder"))
        ([], [])
    """
    problems, stale = [], []
    for english_path, path in translation_pairs(docs):
        name, english_name = _name(path), _name(english_path)
        if not english_path.exists():
            problems.append(f"{name}: translates {english_name}, which does not exist")
            continue
        english, translation = english_path.read_text(encoding="utf-8"), path.read_text(encoding="utf-8")
        problem = parity_problem(english, translation, english_name, name)
        if problem:
            problems.append(problem)
        changes = changed_paragraphs(english, translation)
        if changes:
            stale.append(f"{name} is out of date with {english_name}:\n" + "\n".join(f"  {c}" for c in changes))
    return problems, stale


def _name(path: Path) -> str:
    """``docs/x.md`` for a page of this project, the path as given otherwise."""
    try:
        return path.resolve().relative_to(PROJECT_DIR).as_posix()
    except ValueError:
        return path.as_posix()


def stamp_pages(docs: Path, which: str) -> list[str]:
    """Stamp the translations ``which`` names (``autograd-basics``, ``autograd-basics.ja.md``,
    or ``all``) as up to date with their English pages; refuses one whose structure differs.
    Returns what it did, one line per page.

    Examples:
        >>> stamp_pages(Path("no-such-folder"), "all")
        ['no translation matches all']
    """
    done = []
    for english_path, path in translation_pairs(docs):
        stem = path.relative_to(docs).as_posix()
        if which != "all" and which not in (stem, stem[:-len(".md")], language_of(stem)[0][:-len(".md")],
                                            language_of(stem)[0]):
            continue
        english, translation = english_path.read_text(encoding="utf-8"), path.read_text(encoding="utf-8")
        problem = parity_problem(english, translation, _name(english_path), _name(path))
        if problem:
            done.append(f"not stamped: {problem}")
            continue
        path.write_text(stamped(translation, english), encoding="utf-8")
        done.append(f"stamped {_name(path)} as translating {_name(english_path)} ({stamp(english)['hash']})")
    return done or [f"no translation matches {which}"]


ALTERNATE_LINK = re.compile(r'[ \t]*<link rel="alternate" href="[^"]*" hreflang="[^"]*">\n?')


def without_alternate_links(head: str) -> str:
    """The page head without its ``<link rel="alternate" hreflang>`` links.

    Material reads a sitemap.xml beside each such link, expecting it to be a language's root;
    mkdocs-static-i18n points them at the page's translations, where there is none (a failed
    request per page). The header's language switch keeps its links to the translations, and
    the site's sitemap.xml lists every page's alternates for search engines.

    Examples:
        >>> without_alternate_links('<meta a>\\n  <link rel="alternate" href="../ja/x/" hreflang="ja">\\n<b>')
        '<meta a>\\n<b>'
    """
    return ALTERNATE_LINK.sub("", head)
