# Siyu — two commands matter: `make run` (demo on the embedded SQLite default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
LOCALE := src/siyu/locale
PO := $(LOCALE)/zh_CN/LC_MESSAGES/siyu.po
MO := $(PO:.po=.mo)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck test-sqlite test-postgres bench clean install constraints java chromium fonts wrk screenshots gettext messages

# The versions installed are the ones constraints.txt pins (pyproject.toml keeps the lower bounds).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pybabel -q compile -D siyu -d $(LOCALE) -l zh_CN
	touch $(STAMP)

# The Chinese catalogue, compiled again whenever siyu.po changes (the .mo is not committed).
$(MO): $(PO) | $(STAMP)
	$(BIN)/pybabel -q compile -D siyu -d $(LOCALE) -l zh_CN

install: $(STAMP) $(MO)

# After changing wording in the code or templates: the English message ids into siyu.po (new
# ones untranslated, gone ones dropped); then write their Chinese and run the catalogue test.
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg $$(PYTHONPATH=src $(BIN)/python -m siyu.messages) --no-location --sort-output -o $(LOCALE)/siyu.pot .
	$(BIN)/pybabel -q update -D siyu -d $(LOCALE) -l zh_CN -i $(LOCALE)/siyu.pot --no-fuzzy-matching --ignore-obsolete --width 100
	rm $(LOCALE)/siyu.pot

# Move the pins on, deliberately: the newest versions pyproject.toml allows, installed and frozen
# into constraints.txt. Run `make test` before committing the new file.
constraints:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --upgrade --upgrade-strategy eager -e '.[dev]'
	{ head -n 3 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	touch $(STAMP)

# The Spark engine (and its parity test) needs Java 17; install it from Debian when missing.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "installing Java 17 (openjdk-17-jre-headless) for the Spark engine"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jre-headless; }

# Browser tests drive Debian's Chromium (no browser download); CJK fonts so pages render in Chinese.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; } || { \
	  echo "installing Chromium and CJK fonts (chromium, fonts-noto-cjk) for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk; }

# Referral posters are drawn with a CJK font (Pillow finds Noto Sans CJK where Debian puts it).
fonts:
	@fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || { \
	  echo "installing CJK fonts (fonts-noto-cjk) for referral posters"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq fonts-noto-cjk fontconfig; }

# The catalogue test checks siyu.po with Debian's msgfmt -c (placeholders kept in translation).
gettext:
	@command -v msgfmt >/dev/null 2>&1 || { \
	  echo "installing gettext (msgfmt) for the catalogue test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gettext; }

# The event ingest benchmark loads the server with Debian's wrk (a Python client would share the CPU).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing wrk for bench/ingest.py"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }

# Redo the pictures in docs/img from the browser test's walk through the console.
screenshots: $(STAMP) $(MO) chromium
	SIYU_SCREENSHOTS=docs/img SIYU_TEST_DATABASE_URL=sqlite $(BIN)/pytest -q tests/e2e/test_browser.py

run: $(STAMP) $(MO) fonts
	SIYU_MODE=demo $(BIN)/siyu db upgrade
	SIYU_MODE=demo $(BIN)/siyu demo ensure
	SIYU_MODE=demo $(BIN)/siyu run --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	PYTHONPATH=src:. $(BIN)/lint-imports --no-cache  # import contracts: pyproject.toml

typecheck: $(STAMP)
	$(BIN)/mypy

test-sqlite: $(STAMP) $(MO) java chromium gettext
	SIYU_TEST_DATABASE_URL=sqlite $(BIN)/pytest -n 2 tests

test-postgres: $(STAMP) $(MO) java chromium gettext
	SIYU_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -n 2 tests

test: lint typecheck test-sqlite test-postgres

bench: $(STAMP) wrk
	$(BIN)/python bench/import_orders.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/traits.py
	$(BIN)/python bench/callbacks.py
	$(BIN)/python bench/masking.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
