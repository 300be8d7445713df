# Siyu — two commands matter: `make run` (demo on the embedded SQLite default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck test-sqlite test-postgres bench clean install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	SIYU_MODE=demo $(BIN)/siyu db upgrade
	SIYU_MODE=demo $(BIN)/siyu demo ensure
	SIYU_MODE=demo $(BIN)/siyu run --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test-sqlite: $(STAMP)
	SIYU_TEST_DATABASE_URL=sqlite $(BIN)/pytest -n 2 tests

test-postgres: $(STAMP)
	SIYU_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -n 2 tests

test: lint typecheck test-sqlite test-postgres

bench: $(STAMP)
	$(BIN)/python bench/import_orders.py
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
