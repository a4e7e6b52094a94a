# xid developer entry points. Every target bootstraps what it needs on a fresh machine:
# a private copy of uv in .uv/, then the locked environment in .venv/ (uv.lock).

PYTHON      ?= python3
UV_VERSION  := 0.13.9
UV          := .uv/bin/uv
VENV        := .venv
PY          := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help demo test lint fmt typecheck pytest bench lock clean postgres interop

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --python $(PYTHON) --quiet
	@touch $@

demo: $(VENV)/.synced  ## run the whole story on the embedded defaults
	$(VENV)/bin/xid demo

test: lint typecheck interop pytest  ## ruff, mypy --strict and the whole test suite

INTEROP_LOCKS := $(wildcard tests/interop/*/package-lock.json)
INTEROP_STAMPS := $(INTEROP_LOCKS:package-lock.json=node_modules/.installed)

interop: $(INTEROP_STAMPS)  ## install the pinned npm interop peers (npm ci in each tests/interop/* folder)

tests/interop/%/node_modules/.installed: tests/interop/%/package-lock.json tests/interop/%/package.json
	@if command -v npm >/dev/null 2>&1; then \
		echo "npm ci in tests/interop/$*"; \
		cd tests/interop/$* && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
		echo "npm not found: the interop tests will skip here (in CI, .ci/run installs node)"; \
	fi

lint: $(VENV)/.synced  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced  ## mypy --strict over packages, tests and benchmarks
	$(VENV)/bin/mypy .

# The coverage gate: line and branch coverage of the packages (pyproject.toml [tool.coverage]), just under the figure
# measured on the whole suite. For a partial run, switch it off: make pytest COVERAGE= PYTEST_ARGS=tests/did
COVERAGE ?= --cov --cov-report=term --cov-fail-under=93

pytest: $(VENV)/.synced  ## the test suite with the coverage gate (CI=true turns missing components into failures)
	$(PY) -m pytest $(COVERAGE) $(PYTEST_ARGS)

bench: $(VENV)/.synced  ## benchmarks: prints a table, writes bench/out/*.json
	$(PY) -m bench

fmt: $(VENV)/.synced  ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

postgres:  ## start a throwaway PostgreSQL for the tests; prints the XID_TEST_DATABASE_URL to export
	@scripts/postgres-test.sh

lock: | $(UV)  ## refresh uv.lock after editing pyproject.toml
	$(UV) lock --python $(PYTHON)

clean:  ## remove the environments and caches
	rm -rf .venv .uv .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage bench/out tests/interop/*/node_modules
