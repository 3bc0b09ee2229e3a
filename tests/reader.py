"""The site as a reader gets it: where pages land, the code blocks a reader copies with the
outputs shown under them, a fresh Python that runs those blocks, and the comparison of what
they print with what the page shows. Used by test_browser, test_copy and test_downloads."""

import hashlib
import http.server
import io
import json
import os
import posixpath
import re
import select
import signal
import subprocess
import sys
import threading
import time
import tokenize
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from snippets.pipeline import grammar
from snippets.pipeline.examples import PROJECT_DIR
from snippets.pipeline.translations import language_of
from snippets.pipeline.words import WORDS


def site_url_path() -> str:
    """The path the site is published under (``/repo/`` of mkdocs.yml's site_url), served the same way here."""
    match = re.search(r"^site_url:\s*(\S+)", (PROJECT_DIR / "mkdocs.yml").read_text(encoding="utf-8"), re.M)
    path = urlsplit(match[1]).path if match else "/"
    return path if path.endswith("/") else path + "/"


def doc_pages(language: str | None = "any") -> list[str]:
    """Every Markdown page under docs/, as its path relative to docs/ (the pages a reader can reach):
    the English pages and their translations (``x.ja.md``); ``language`` None for the English
    pages only, or a language code for its translations only."""
    docs = PROJECT_DIR / "docs"
    return sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md")
                  if not {"hooks", "overrides"} & set(p.relative_to(docs).parts)
                  and language in ("any", language_of(p.name)[1]))


def older_torch_output(example_id: str, minor: str) -> str:
    """What an example prints under an older supported torch, as ``make versions WRITE=1``
    recorded it (the newest torch's record where that release prints the same)."""
    from snippets.pipeline import versions
    entry = versions.load(PROJECT_DIR / "snippets" / "records").get(minor, {}).get(example_id)
    if entry is None:
        module, name = example_id.split(":")
        return json.loads((PROJECT_DIR / "snippets" / "records" / f"{module}.json").read_text())["examples"][name]["text"]
    return entry.record.text if entry.record else entry.error


def page_path(src_uri: str) -> str:
    """Where a page lands in the built site: ``a.md`` -> ``a/``, ``index.md`` -> ``''``,
    a translation under its language: ``a.ja.md`` -> ``ja/a/``, ``index.ja.md`` -> ``ja/``."""
    src_uri, language = language_of(src_uri)
    stem = src_uri[:-len(".md")]
    if stem == "index" or stem.endswith("/index"):
        stem = stem[:-len("index")]
    else:
        stem += "/"
    return f"{language}/{stem}" if language else stem


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site under its published path and answers unknown addresses with 404.html,
    as GitHub Pages does."""

    prefix = "/"

    def translate_path(self, path):
        path = urlsplit(path).path
        if not path.startswith(self.prefix):
            return str(Path(self.directory) / "__outside_the_site__")
        return super().translate_path("/" + path[len(self.prefix):])

    def send_error(self, code, message=None, explain=None):
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.exists():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args):
        pass


PIPELINE_ADMONITIONS = {said[key] for said in WORDS.values() for key in ("drifted", "error")}


@dataclass
class CodeBlock:
    """A code block of a built page: the text its copy button gives, the outputs shown under it,
    and, for an example, what the line under it offers: its runnable copy (``example``, ``href``,
    ``text`` the second copy button gives, ``tooltip``) or why it has none (``example``, ``why``)."""

    number: int
    code: str
    outputs: list[str] = field(default_factory=list)
    runnable: dict | None = None

    @property
    def shown(self) -> str:
        return "".join(self.outputs)

    def name(self, page: str) -> str:
        first = next((line for line in self.code.splitlines() if line.strip()), "")
        return f"{page}, code block {self.number} ({first.strip()[:60]!r})"


class _HighlightBlocks(HTMLParser):
    """Every ``div.highlight`` of a page, in order: its code text, its language (its class
    ``language-NAME``, which ``pygments_lang_class`` in mkdocs.yml writes), its title
    (``span.filename``), and whether it sits in the pipeline's drift/error admonitions or in
    mkdocstrings' API docs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.containers, self.blocks = [], []
        self.block = self.capture = None

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "a" and "data-example" in dict(attrs) and self.blocks:  # under an example's block
            attributes = dict(attrs)
            self.blocks[-1]["runnable"] = {"example": attributes["data-example"], "href": attributes["href"],
                                           "text": attributes["data-runnable"], "tooltip": attributes["data-tooltip"]}
        elif tag == "p" and "runnable-copy--none" in classes and self.blocks:
            self.blocks[-1]["runnable"] = {"example": dict(attrs)["data-example"], "why": ""}
            self.capture = "why"
        elif tag in ("div", "details"):
            entry = {"classes": classes, "title": "", "highlight": "highlight" in classes and tag == "div"}
            self.containers.append(entry)
            if entry["highlight"] and self.block is None:
                skipped = any("doc" in c["classes"] or "older-torch" in c["classes"]
                              or c["title"] in PIPELINE_ADMONITIONS for c in self.containers)
                language = next((c[len("language-"):] for c in classes if c.startswith("language-")), "")
                self.block = {"code": "", "title": "", "skipped": skipped, "depth": len(self.containers),
                              "output": "output" in classes, "language": language}
        elif tag == "p" and "admonition-title" in classes or tag == "summary":
            self.capture = "container-title"
        elif self.block is not None and tag == "span" and "filename" in classes:
            self.capture = "block-title"
        elif self.block is not None and tag == "code":
            self.capture = "code"

    def handle_endtag(self, tag):
        if tag in ("div", "details") and self.containers:
            if self.block is not None and self.block["depth"] == len(self.containers):
                self.blocks.append(self.block)
                self.block = None
            self.containers.pop()
        elif tag in ("p", "summary", "span", "code"):
            self.capture = None if tag != "span" or self.capture == "block-title" else self.capture

    def handle_data(self, data):
        if self.capture == "why":
            self.blocks[-1]["runnable"]["why"] += data
        elif self.capture == "container-title" and self.containers:
            self.containers[-1]["title"] += data
        elif self.capture == "block-title":
            self.block["title"] += data
        elif self.capture == "code":
            self.block["code"] += data


def markdown_fence_languages(markdown: str) -> list[str]:
    """The language of every fenced block of a Markdown source, in order ('' when none is given)."""
    return grammar.fence_languages(markdown)


def python_blocks(page_html: str, markdown: str, page: str) -> list[CodeBlock]:
    """The page's Python code blocks with the outputs shown under each.

    A block's language is its class (``language-python``: ``pygments_lang_class`` in mkdocs.yml);
    the outputs the build adds are told apart by their ``output`` class, its drift/error notes by
    their admonition, mkdocstrings' blocks by their container. The page must hold exactly the
    fences of its Markdown source, in their languages.
    """
    parser = _HighlightBlocks()
    parser.feed(page_html)
    fenced = [b for b in parser.blocks if not b["skipped"] and not b["output"]]
    languages = markdown_fence_languages(markdown)
    assert len(fenced) == len(languages), (
        f"{page}: {len(languages)} fenced blocks in the Markdown but {len(fenced)} code blocks in the HTML")
    shown = [b["language"] for b in fenced]
    assert [language or "text" for language in languages] == shown, (
        f"{page}: the fences' languages {languages} are not the code blocks' classes {shown}")
    python = {id(b) for b in fenced if b["language"] in ("python", "py", "python3")}
    blocks = []
    for b in parser.blocks:
        if id(b) in python:
            blocks.append(CodeBlock(len(blocks) + 1, b["code"], runnable=b.get("runnable")))
        elif b["output"] and not b["skipped"] and blocks:
            blocks[-1].outputs.append(b["code"])
    return blocks


_RUNNER = r'''
import json, os, sys, traceback, warnings
separator = sys.argv[2]
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
sys.stderr = sys.stdout  # what the page shows is stdout and stderr, interleaved as written
namespace = {"__name__": "__main__"}
if len(sys.argv) > 3:  # the blocks are a script's, run as `python script.py` runs it
    namespace["__file__"] = os.path.abspath(sys.argv[3])
import matplotlib.pyplot as plt  # MPLBACKEND=Agg: figures are drawn, then closed as a window would be
plt.show = lambda *args, **kwargs: plt.close("all")
# Python's own warning filters, as a reader has them (a warning raised inside a library for a
# library's sake stays hidden), written the way the page shows them. Nothing is reset between
# blocks: the run is the page's script run whole, or its notebook run top to bottom, so a warning
# shown under two blocks of the page but printed only once here is a difference.
warnings.showwarning = lambda message, category, *rest, **kw: print(f"{category.__name__}: {message}")
for name, code in blocks:
    try:
        exec(compile(code, name, "exec"), namespace)
    except BaseException:
        print(separator + "ERROR " + traceback.format_exc(), end="", flush=True)
        break
    print(separator, end="", flush=True)
'''

# A Python that has imported what every run imports, then forks one child per run: the child is
# what `python -I runner.py ...` would be in the run's folder, without paying torch's import again
# (about 3 s of CPU, some 140 times a session). The child's code still runs its own imports; the
# random generators a fresh Python seeds from the OS are reseeded from the OS. Any warning or output
# of the imports themselves would be part of what a fresh Python prints, so then the zygote says so
# and the runs fall back to fresh Pythons.
_ZYGOTE = r'''
import io, json, os, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("default")
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
    import torch, numpy, matplotlib.pyplot
    printed = sys.stdout.getvalue() + sys.stderr.getvalue() + "".join(map(str, caught))
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
answer = os.fdopen(int(sys.argv[2]), "w", buffering=1)
answer.write(json.dumps({"printed": printed}) + "\n")
runner = compile(open(sys.argv[1], encoding="utf-8").read(), "runner.py", "exec")
for line in sys.stdin:
    directory, argv = json.loads(line)
    pid = os.fork()
    if pid == 0:
        answer.close()
        os.chdir(directory)
        for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
            os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.argv, sys.path[0] = argv, directory
        import random
        random.seed()
        numpy.random.seed()
        code = 0
        try:
            exec(runner, {"__name__": "__main__", "__file__": os.path.join(directory, "runner.py")})
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException:
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    answer.write(json.dumps({"pid": pid}) + "\n")
    answer.write(json.dumps({"status": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}) + "\n")
'''


def _without_comments(code: str) -> str:
    """Python code with its comments blanked (code that does not tokenize is kept whole).

    Examples:
        >>> _without_comments("x = 1  # one\\n# two\\ns = '# three'\\n")
        "x = 1  \\n\\ns = '# three'\\n"
    """
    try:
        comments = [t for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError):
        return code
    lines = code.splitlines(keepends=True)
    for token in reversed(comments):
        (row, start), (_, end) = token.start, token.end
        lines[row - 1] = lines[row - 1][:start] + lines[row - 1][end:]
    return "".join(lines)


class ReaderPython:
    """A fresh Python (the project's, with torch, numpy, matplotlib) that runs code blocks in
    order in one namespace, in an empty temporary directory, and returns what each printed.
    Each run is forked from a warm Python that has only imported torch, NumPy and Matplotlib
    (see ``_ZYGOTE``), which spares torch's import per run; a fresh process when those imports print.
    Runs are remembered by their code, so the same blocks are never run twice in a session.
    Runs can be started in the background (:meth:`start`), ``workers`` at a time, to overlap with
    other tests; ``nice`` lowers their priority (Unix), so they take what the other tests leave."""

    def __init__(self, workdir: Path, workers: int = 1, nice: int = 0):
        self.workdir, self.runs, self.nice = workdir, {}, nice
        self.pool = ThreadPoolExecutor(workers)
        self.lock = threading.Lock()  # start() may run in the background while a test calls run()
        self.zygotes, self.local = [], threading.local()  # one warm Python per worker thread

    def start(self, jobs: list[tuple]):
        """Start ``(blocks, files)`` or ``(blocks, files, script)`` runs in the background, in this
        order, one fresh Python each; :meth:`run` with the same arguments waits for the remembered
        result."""
        for blocks, files, *script in jobs:
            self._submit(blocks, files or {}, 300, *script)

    def run(self, blocks: list[tuple[str, str]], files: dict[str, Path] | None = None,
            timeout: float = 300, script: str | None = None) -> tuple[list[str], str | None]:
        """``blocks`` are ``(name, code)``; ``files`` (relative path -> file) are put in the
        working directory first, as a reader saves the files a page links to; ``script`` names
        the file the blocks are cells of (one of ``files``), which gives them its ``__file__`` as
        ``python script`` does. Returns each block's output and the error that stopped them (None)."""
        return self._submit(blocks, files or {}, timeout, script).result()

    def close(self):
        """Drop the runs not started yet and wait for those under way (a run stops at its timeout)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        for zygote in self.zygotes:
            zygote.kill()
            zygote.wait()
            os.close(zygote.answers)

    def _submit(self, blocks, files, timeout, script=None) -> Future:
        key = self._key(blocks, files, script)
        with self.lock:
            if key not in self.runs:
                self.runs[key] = self.pool.submit(self._run, blocks, files, timeout, script)
            return self.runs[key]

    @staticmethod
    def _key(blocks, files, script):
        """The same code, with the same files' contents in the same places, is the same run.
        Comments run nothing: a translation's copy differs from the English one only in its
        header's title and link, and is not run a second time."""
        contents = tuple(sorted((relative, hashlib.sha256(
            _without_comments(Path(source).read_text(encoding="utf-8")).encode() if relative.endswith(".py")
            else Path(source).read_bytes()).hexdigest()) for relative, source in files.items()))
        return tuple(_without_comments(code).rstrip("\n") for _, code in blocks), contents, script

    def _run(self, blocks, files, timeout, script=None):
        separator = f"\n<<<end of block {uuid.uuid4().hex}>>>\n"
        directory = Path(self.workdir) / uuid.uuid4().hex
        directory.mkdir()
        for relative, source in files.items():
            (directory / relative).parent.mkdir(parents=True, exist_ok=True)
            (directory / relative).write_bytes(source.read_bytes())
        (directory / "blocks.json").write_text(json.dumps(blocks), encoding="utf-8")
        (directory / "runner.py").write_text(_RUNNER, encoding="utf-8")
        argv = ["runner.py", "blocks.json", separator] + ([script] if script else [])
        zygote = self._zygote()
        if zygote:
            returncode = self._forked(zygote, directory, argv, timeout)
            stdout, stderr = ((directory / name).read_text(encoding="utf-8", errors="replace")
                              for name in ("stdout.txt", "stderr.txt"))
        else:
            with subprocess.Popen([sys.executable, "-I", *argv], cwd=directory, env=_reader_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
                self._lower_priority(run.pid)
                try:
                    stdout, stderr = run.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    run.kill()
                    raise
            returncode = run.returncode
        outputs = stdout.split(separator)
        error = None
        if outputs and outputs[-1].startswith("ERROR "):
            error = outputs.pop()[len("ERROR "):]
        elif outputs and outputs[-1]:
            error = f"the run ended early (exit {returncode}): {outputs[-1][-2000:]}{stderr[-2000:]}"
        if outputs and not outputs[-1]:
            outputs.pop()
        return outputs, error

    def _zygote(self) -> subprocess.Popen | None:
        """This worker thread's warm Python, started on its first run; None when importing printed
        something (then every run is a fresh Python, which prints it too)."""
        if not hasattr(self.local, "zygote"):
            path = Path(self.workdir) / "zygote.py"
            path.write_text(_ZYGOTE, encoding="utf-8")
            (Path(self.workdir) / "runner.py").write_text(_RUNNER, encoding="utf-8")
            read, write = os.pipe()
            zygote = subprocess.Popen([sys.executable, "-I", str(path), str(Path(self.workdir) / "runner.py"), str(write)],
                                      cwd=self.workdir, env=_reader_env(), stdin=subprocess.PIPE, text=True,
                                      pass_fds=(write,))
            os.close(write)
            zygote.answers, zygote.unread = read, b""
            self._lower_priority(zygote.pid)
            with self.lock:
                self.zygotes.append(zygote)
            printed = (_answer(zygote, 300) or {"printed": "no answer"})["printed"]
            self.local.zygote = None if printed else zygote
        return self.local.zygote

    @staticmethod
    def _forked(zygote, directory: Path, argv: list[str], timeout: float) -> int:
        """Run ``argv`` in a child of the zygote in ``directory``; its exit code (killed at the timeout)."""
        zygote.stdin.write(json.dumps([str(directory), argv]) + "\n")
        zygote.stdin.flush()
        pid = _answer(zygote, 60)["pid"]
        status = _answer(zygote, timeout)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            _answer(zygote, 60)
            raise subprocess.TimeoutExpired(argv, timeout)
        return status["status"]

    def _lower_priority(self, pid: int):
        if self.nice and hasattr(os, "setpriority"):
            os.setpriority(os.PRIO_PROCESS, pid, self.nice)


def _answer(zygote, timeout: float) -> dict | None:
    """The zygote's next line of JSON on its answer pipe, or None when none came within ``timeout``."""
    deadline = time.monotonic() + timeout
    while b"\n" not in zygote.unread:
        ready, _, _ = select.select([zygote.answers], [], [], max(0, deadline - time.monotonic()))
        chunk = os.read(zygote.answers, 4096) if ready else None
        if not chunk:
            return None
        zygote.unread += chunk
    line, zygote.unread = zygote.unread.split(b"\n", 1)
    return json.loads(line)


def _reader_env() -> dict[str, str]:
    """The environment of a reader's Python: none of the test session's Python or Matplotlib settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "MPL"))}
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    return env


_NUMBER = grammar.NUMBER  # the records' own: the same numbers, nan and inf included


def _precision(token: str) -> float:
    """Half a unit in the last digit a number is shown with."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def output_difference(actual: str, shown: str) -> str | None:
    """None when ``actual`` shows what ``shown`` shows: the same text, every number equal to
    the precision it is shown with; otherwise a diff naming the first difference."""
    actual_lines = [line.rstrip() for line in actual.rstrip().splitlines()]
    shown_lines = [line.rstrip() for line in shown.rstrip().splitlines()]
    for number, (a, s) in enumerate(zip(actual_lines, shown_lines), start=1):
        a_numbers, s_numbers = _NUMBER.findall(a), _NUMBER.findall(s)
        same = _NUMBER.sub("#", a) == _NUMBER.sub("#", s) and len(a_numbers) == len(s_numbers) and all(
            x == y or abs(float(x) - float(y)) <= _precision(y) * (1 + 1e-9) for x, y in zip(a_numbers, s_numbers))
        if not same:
            return f"line {number}:\n  shown: {s!r}\n  now:   {a!r}"
    if len(actual_lines) != len(shown_lines):
        longer, which = (actual_lines, "now") if len(actual_lines) > len(shown_lines) else (shown_lines, "shown")
        return (f"{len(shown_lines)} lines shown, {len(actual_lines)} printed now; first extra ({which}): "
                f"{longer[min(len(actual_lines), len(shown_lines))]!r}")
    return None


_LINK = re.compile(r'<a\b[^>]*\bhref="(?P<href>[^"#?]+)(?:[?#][^"]*)?"(?P<rest>[^>]*)>')


def linked_files(page_html: str, page: str, site: Path) -> dict[str, Path]:
    """The files (not pages, not the code downloads) a page links to, as a reader saves them: the
    link as written in the Markdown (``data/iris.csv``), taken relative to the working directory."""
    page_dir, markdown_dir = site / page_path(page), site / os.path.dirname(page)
    found = {}
    for match in _LINK.finditer(page_html):
        href = match["href"]
        if "://" in href or href.startswith(("/", "mailto:")) or href.endswith((".html", "/")) \
                or re.search(r"\sdownload(?:[\s=]|$)", match["rest"]):
            continue
        target = (page_dir / href).resolve()
        if target.is_file() and site.resolve() in target.parents:
            relative = os.path.relpath(target, markdown_dir.resolve())
            found[relative if not relative.startswith("..") else target.name] = target
    return found


_ANCHOR = re.compile(r'<a href="(?P<href>[^"]+)"(?P<rest>[^>]*)>')
# What a download says of the data files it reads (snippets.pipeline.downloads.data_note and notebook()).
def sentence_pattern(template: str, **fields: str) -> str:
    """A pattern of one of the build's sentences (snippets/pipeline/words.py): each ``{field}``
    becomes a group of that name matching ``fields[field]``, and its repeats must say the same.

    Examples:
        >>> re.fullmatch(sentence_pattern("{a} of {b}, {a}.", a=r"\\d+", b=r"\\d+"), "3 of 4, 3.")["b"]
        '4'
    """
    pattern = re.escape(template)
    for name, matching in fields.items():
        placeholder = re.escape("{" + name + "}")
        first = pattern.find(placeholder)
        pattern = (pattern[:first] + f"(?P<{name}>{matching})"
                   + pattern[first + len(placeholder):].replace(placeholder, f"(?P={name})"))
    return pattern


# What a script's header or a notebook's first cell says of each data file, in every language.
_DATA_FIELDS = {"file": r"[^`\s\]]+", "url": r"[^)\s]+"}
_DATA_SENTENCES = [re.compile(f"^# {sentence_pattern(said['data_where'], **_DATA_FIELDS)}$", re.M)
                   for said in WORDS.values()] + \
                  [re.compile(sentence_pattern(said["notebook_data"], **_DATA_FIELDS)) for said in WORDS.values()]


def site_file(site: Path, url: str) -> Path:
    """The file of the built site at an address of the published site (mkdocs.yml's site_url)."""
    match = re.search(r"^site_url:\s*(\S+)", (PROJECT_DIR / "mkdocs.yml").read_text(encoding="utf-8"), re.M)
    base = match[1] if match[1].endswith("/") else match[1] + "/"
    assert url.startswith(base), f"{url} is not an address of the site ({base})"
    return site / url[len(base):]


def named_data(text: str, site: Path) -> dict[str, Path]:
    """The data files a script or notebook says it reads, as it says to save them (``data/iris.csv``),
    taken from where it says the site has them."""
    found = {m["file"]: site_file(site, m["url"]) for pattern in _DATA_SENTENCES
             for m in pattern.finditer(text)}
    missing = [f"{relative} ({path})" for relative, path in found.items() if not path.is_file()]
    assert not missing, f"named but not in the built site: {missing}"
    return found


@dataclass
class PageCode:
    """What a reader can take from one built page: its code blocks with their outputs, its
    download links (by suffix) and files, and the data files it links to."""

    page: str
    blocks: list[CodeBlock]
    links: dict[str, str]
    files: dict[str, Path]
    data: dict[str, Path]
    site: Path | None = None

    def copy_job(self):
        """The blocks as the copy button gives them, run in order in one fresh Python."""
        return [(f"<{self.page} block {b.number}>", b.code) for b in self.blocks], self.data

    def script_job(self):
        """The page's script, alone in an empty folder with the data files it says it reads, run as
        ``python`` runs it, cell by cell (``# %%``) so that each cell's output can be compared."""
        script = self.files[".py"]
        cells = grammar.script_cells(script.read_text(encoding="utf-8"))
        blocks = [(str(script.name), cell.rstrip("\n") + "\n") for cell in cells]
        files = {script.name: script, **named_data(script.read_text(encoding="utf-8"), self.site)}
        return blocks, files, script.name

    def notebook_job(self):
        """The notebook's code cells, run top to bottom in an empty folder with the data files it
        says it reads (a notebook runs in its folder and has no ``__file__``)."""
        book = json.loads(self.files[".ipynb"].read_text(encoding="utf-8"))
        cells = ["".join(cell["source"]) for cell in book["cells"] if cell["cell_type"] == "code"]
        intro = "".join(book["cells"][0]["source"])
        return [(f"<{self.page} cell {n}>", cell) for n, cell in enumerate(cells, 1)], named_data(intro, self.site)

    def example_blocks(self) -> list[CodeBlock]:
        """The blocks that show an example (a runnable copy, or why it has none, under them)."""
        return [b for b in self.blocks if b.runnable]

    def standalone_jobs(self, block: CodeBlock) -> list[tuple]:
        """An example's runnable copy, alone in an empty folder with the data files it names: run
        as a file (``python fit_both.py``), and, when it uses ``__file__``, also pasted into a
        session (the second copy button's text, which is the file's)."""
        copy = (self.site / page_path(self.page) / block.runnable["href"]).resolve()
        text = copy.read_text(encoding="utf-8")
        data = named_data(text, self.site)
        jobs = [([(copy.name, text)], {copy.name: copy, **data}, copy.name)]
        if "__file__" in text:
            jobs.append(([(f"<pasted {copy.name}>", text)], data))
        return jobs


def page_code(site: Path, page: str) -> PageCode:
    """Read a built page the way a reader takes code from it."""
    html = (site / page_path(page) / "index.html").read_text(encoding="utf-8")
    blocks = python_blocks(html, (PROJECT_DIR / "docs" / page).read_text(encoding="utf-8"), page)
    links = {}  # the page's script and notebook; not the examples' copies, not the data files
    for anchor in _ANCHOR.finditer(html):
        suffix = posixpath.splitext(anchor["href"])[1]
        if re.search(r"\bdownload\b", anchor["rest"]) and "data-example" not in anchor["rest"] \
                and suffix in (".py", ".ipynb"):
            links[suffix] = anchor["href"]
    files = {suffix: (site / page_path(page) / href).resolve() for suffix, href in links.items()}
    return PageCode(page, blocks, links, files, linked_files(html, page, site), site)


def fresh_python_stderr(code: str) -> str:
    """What a fresh Python running ``code`` (with every warning shown) writes to stderr: the
    warnings a reader sees that run once per process, which no test inside pytest's process can."""
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                          text=True, timeout=120, env=_reader_env())
    assert done.returncode == 0, done.stderr
    return done.stderr


JIT_WARNING = "`torch.jit.script` is deprecated"


def assert_first_use_warns_once_unless_filtered(setup: str, first_use: str) -> None:
    """torch 2.14 prints a FutureWarning that `torch.jit.script` is deprecated, once per process,
    the first time torch.func loads its forward-mode rules; a page's setup block filters it."""
    import torch
    without_filter = fresh_python_stderr(first_use)
    with_filter = fresh_python_stderr(setup + first_use)
    if tuple(map(int, torch.__version__.split("+")[0].split(".")[:2])) >= (2, 14):
        assert "FutureWarning: " + JIT_WARNING in without_filter
        assert without_filter.count(JIT_WARNING) == 1
    assert JIT_WARNING not in with_filter and "Warning" not in with_filter
