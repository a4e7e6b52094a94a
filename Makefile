# xid developer entry points. Every target bootstraps what it needs on a fresh machine:
# a private copy of uv in .uv/, then the locked environment in .venv/ (uv.lock).

PYTHON      ?= python3
UV_VERSION  := 0.13.9
UV          := .uv/bin/uv
VENV        := .venv
PY          := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

# The 'card' extra (pyscard, for PC/SC card readers) has no Linux wheel: it builds from source and needs libpcsclite's
# headers, swig and a C compiler (Debian: apt-get install libpcsclite-dev swig gcc). It is installed where those are
# found; CARD=1 asks for it explicitly, CARD=0 leaves it out. Without it the demo reads the software card in-process
# and the PC/SC tests skip (in CI, where .ci/run installs the build dependencies, they must run).
ifndef CARD
CARD := $(shell pkg-config --exists libpcsclite 2>/dev/null && command -v swig >/dev/null 2>&1 \
          && command -v cc >/dev/null 2>&1 && echo 1 || echo 0)
CARD_WHY := libpcsclite-dev, swig or a C compiler is missing (CARD=1 to require it)
else
CARD_WHY := CARD=$(CARD) was given
endif
ifeq ($(CARD),1)
SYNC_EXTRAS := --extra card
else
SYNC_EXTRAS :=
endif
SYNCED := $(VENV)/.synced-card$(CARD)

.PHONY: help demo test lint fmt typecheck pytest bench bench-postgres lock clean postgres interop migration

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet "uv==$(UV_VERSION)"

$(SYNCED): pyproject.toml uv.lock | $(UV)
ifeq ($(CARD),1)
	@pkg-config --exists libpcsclite 2>/dev/null && command -v swig >/dev/null 2>&1 || { \
		echo "CARD=1: the card extra (pyscard) builds from source and needs libpcsclite-dev, swig and a C compiler" >&2; \
		echo "        (Debian: apt-get install libpcsclite-dev swig gcc); or run with CARD=0 to leave it out" >&2; \
		exit 1; }
else
	@echo "note: the card extra (pyscard) is left out: $(CARD_WHY)."
	@echo "      The demo reads the software card in-process; the PC/SC reader tests will skip."
endif
	$(UV) sync --frozen $(SYNC_EXTRAS) --python $(PYTHON) --quiet
	@rm -f $(VENV)/.synced $(VENV)/.synced-card*
	@touch $@

demo: $(SYNCED)  ## run the whole story on the embedded defaults
	$(VENV)/bin/xid demo

test: lint typecheck interop pytest  ## ruff, mypy --strict and the whole test suite

INTEROP_LOCKS := $(wildcard tests/interop/*/package-lock.json tests/interop/w3c/*/package-lock.json)
INTEROP_STAMPS := $(INTEROP_LOCKS:package-lock.json=node_modules/.installed)

interop: $(INTEROP_STAMPS)  ## install the pinned npm interop peers (npm ci in each tests/interop/* folder)

tests/interop/%/node_modules/.installed: tests/interop/%/package-lock.json tests/interop/%/package.json
	@if command -v npm >/dev/null 2>&1; then \
		echo "npm ci in tests/interop/$*"; \
		cd tests/interop/$* && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
		echo "npm not found: the interop tests will skip here (in CI, .ci/run installs node)"; \
	fi

lint: $(SYNCED)  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(SYNCED)  ## mypy --strict over packages, tests and benchmarks
	$(VENV)/bin/mypy .

# The coverage gate: line and branch coverage of the packages (pyproject.toml [tool.coverage]), just under the figure
# measured on the whole suite. For a partial run, switch it off: make pytest COVERAGE= PYTEST_ARGS=tests/did
COVERAGE ?= --cov --cov-report=term --cov-fail-under=93

pytest: $(SYNCED)  ## the test suite with the coverage gate (CI=true turns missing components into failures)
	$(PY) -m pytest $(COVERAGE) $(PYTEST_ARGS)

bench: $(SYNCED)  ## benchmarks: prints a table, writes bench/out/*.json
	$(PY) -m bench $(BENCH_ARGS)

bench-postgres: $(SYNCED)  ## the benchmarks with a durable throwaway PostgreSQL (fsync on) for the ledger's rows
	XID_BENCH_DATABASE_URL="$$(XID_PG_DIR=/tmp/xid-postgres-durable XID_PG_PORT=54330 XID_PG_DURABLE=1 \
		scripts/postgres-test.sh)" $(PY) -m bench $(BENCH_ARGS)

fmt: $(SYNCED)  ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

postgres:  ## start a throwaway PostgreSQL for the tests; prints the XID_TEST_DATABASE_URL to export
	@scripts/postgres-test.sh

SCHEMA ?= services
migration: $(SYNCED)  ## write the next schema revision from the table definitions: make migration MSG="..." [SCHEMA=ledger]
	@test -n "$(MSG)" || { echo 'usage: make migration MSG="what changed" [SCHEMA=services|ledger]' >&2; exit 2; }
	$(VENV)/bin/python -m xid.db_migrate revision $(SCHEMA) "$(MSG)"
	$(VENV)/bin/ruff format xid/migrations

lock: | $(UV)  ## refresh uv.lock after editing pyproject.toml
	$(UV) lock --python $(PYTHON)

clean:  ## remove the environments and caches
	rm -rf .venv .uv .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage bench/out tests/interop/*/node_modules
