# Every target installs what it needs into .venv first (once, and again when the pins change).
VENV := .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE := /usr/bin/node
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve build test regen check versions bench bench-peers clean screenshots translations

$(INSTALLED): requirements.txt pyproject.toml package.json package-lock.json | $(NODE)
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error  # KaTeX, which typesets the formulas in the build
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(INSTALLED)

serve: $(INSTALLED)  ## build, serve on http://127.0.0.1:8000 and render again, on every change, the pages it changes
	$(VENV)/bin/mkdocs serve --dirty

build: $(INSTALLED)  ## strict build into site/: fails on drift, errors and broken links
	$(VENV)/bin/mkdocs build --strict

test: $(INSTALLED)  ## truths, drift check, doctests and site checks
	$(PYTHON) -m pytest

regen: $(INSTALLED)  ## rewrite the records after an intended change (all or nothing, cross-checked under ATEN_CPU_CAPABILITY=default); MODULE=name for one page
	$(PYTHON) -m snippets.pipeline regen $(if $(MODULE),--module $(MODULE))

check: $(INSTALLED)  ## list every drift without writing anything; REPORT=file appends it as Markdown
	$(PYTHON) -m snippets.pipeline check $(if $(REPORT),--report $(REPORT))

versions: $(INSTALLED)  ## every example under each older supported torch (.venvs/torch-X.Y, made on demand): drift against its records; WRITE=1 rewrites them, VERSION=2.12 one only, REPORT=file
	$(PYTHON) -m snippets.pipeline versions $(if $(VERSION),--version $(VERSION)) $(if $(WRITE),--write) $(if $(REPORT),--report $(REPORT))

translations: $(INSTALLED)  ## list translations (docs/<page>.ja.md) behind their English page; STAMP=<page> (or all) records one as up to date
	$(PYTHON) -m snippets.pipeline translations $(if $(STAMP),--stamp $(STAMP))

bench: $(INSTALLED)  ## medians of execution-off, warm, one-changed, cold builds and make test, and issue 17's targets
	$(PYTHON) benchmarks/build_speed.py

# The peers (markdown-exec, mkdocs-jupyter) live in their own environment, pinned.
PEERS_VENV := benchmarks/.venv-peers
PEERS_INSTALLED := $(PEERS_VENV)/.installed

$(PEERS_INSTALLED): benchmarks/peers/requirements.txt requirements.txt
	python3 -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r benchmarks/peers/requirements.txt
	touch $(PEERS_INSTALLED)

bench-peers: $(INSTALLED) $(PEERS_INSTALLED)  ## this build against markdown-exec and mkdocs-jupyter on the same pages; RUNS=N (default 2)
	$(PYTHON) benchmarks/peers/bench.py --runs $(or $(RUNS),2)

screenshots: build $(CHROMIUM)  ## every page at 1280 and 390 px, light and dark, into screenshots/ (ignored by git)
	$(PYTHON) tests/screenshots.py site screenshots

clean:
	rm -rf site .cache screenshots .venvs

# The browser tests (tests/test_browser.py) drive Debian's chromium through Playwright; nothing
# downloads a browser. `make test` installs the package when it is missing (as root, as in CI).
CHROMIUM := /usr/bin/chromium
# The Japanese pages in the browser tests and screenshots need a CJK font (readers' systems have one).
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

test: $(CHROMIUM) $(CJK_FONT)
screenshots: $(CJK_FONT)

$(CJK_FONT):
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make: the Japanese pages need a CJK font in the browser, which is missing." >&2; \
	  echo "Install it as root: apt-get update && apt-get install -y fonts-noto-cjk  (then run make again)" >&2; \
	  exit 1; \
	fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y fonts-noto-cjk

$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make test: the browser tests need Debian's chromium at $(CHROMIUM), which is missing." >&2; \
	  echo "Install it as root: apt-get update && apt-get install -y chromium  (then run make test again)" >&2; \
	  exit 1; \
	fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# The build typesets formulas with KaTeX (package.json) run by Debian's Node.js; npm installs KaTeX.
$(NODE):
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make: typesetting the formulas needs Debian's nodejs and npm, which are missing." >&2; \
	  echo "Install them as root: apt-get update && apt-get install -y nodejs npm  (then run make again)" >&2; \
	  exit 1; \
	fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
