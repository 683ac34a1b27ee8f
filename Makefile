# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)

.PHONY: demo test check lint typecheck pytest browser bench locales clean format

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Serve the demo news site on http://127.0.0.1:8000 with the embedded SQLite store under var/.
demo: $(STAMP)
	mkdir -p var
	$(BIN)/consent demo --host 127.0.0.1 --port 8000 --data-dir var

## Build the environment, install the browser when missing, and run every check and test.
test: $(STAMP) browser check pytest

browser:
	@if [ -z "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-core >/dev/null; \
	  else \
	    echo "WARNING: chromium is missing and cannot be installed here; browser tests will skip (or fail in CI)"; \
	  fi; \
	fi

check: lint typecheck locales

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

locales: $(STAMP)
	$(BIN)/consent locales check

pytest: $(STAMP)
	$(BIN)/python -m coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m coverage report --fail-under=80 | tail -1

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache .coverage
