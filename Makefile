# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)

REFERENCE := $(VENV)/reference

.PHONY: reference demo test test-load check-install check lint typecheck pytest browser postgres bench locales clean format scan-demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Serve the demo news site on http://127.0.0.1:8000 with the embedded SQLite store under var/.
demo: $(STAMP)
	mkdir -p var
	$(BIN)/consent demo --host 127.0.0.1 --port 8000 --data-dir var

## Build the environment, install the browser when missing, and run every check and test
## except the load test (minutes of four busy workers; `make test-load`, run by .ci/run).
test: $(STAMP) browser postgres reference check pytest scan-demo

postgres:
	@bash .ci/ensure-postgres

# Debian's Chromium, and Noto fonts so that Arabic, Hebrew and CJK banners render and measure.
# nginx and openssl: the deployment tests put nginx, terminating TLS, in front of uvicorn.
BROWSER_PACKAGES := chromium fonts-noto-core fonts-noto-cjk nginx openssl
NGINX ?= $(shell command -v nginx || ls /usr/sbin/nginx 2>/dev/null)
browser:
	@if [ -z "$(CHROMIUM)" ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" \
	  || ! fc-list 2>/dev/null | grep -qi "Noto Sans Arabic" \
	  || [ -z "$(NGINX)" ] || ! command -v openssl >/dev/null; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "Installing $(BROWSER_PACKAGES) for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
	  else \
	    echo "WARNING: chromium, its fonts, nginx or openssl are missing and cannot be installed here;"; \
	    echo "WARNING: browser tests will skip (and fail where CONSENT_REQUIRE_BROWSER=1)"; \
	  fi; \
	fi

# IAB's own JavaScript libraries, run with node by the tests that check GPP strings against them.
reference: $(REFERENCE)/.installed
$(REFERENCE)/.installed: tests/reference/package.json
	@if ! command -v npm >/dev/null && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  echo "Installing nodejs and npm for the reference-library tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	@if command -v npm >/dev/null; then \
	  mkdir -p $(REFERENCE) && cp tests/reference/package.json $(REFERENCE)/ && \
	  npm install --prefix $(REFERENCE) --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error && \
	  touch $@; \
	else \
	  echo "WARNING: node and npm are missing; the reference-library tests will skip"; \
	  echo "WARNING: (and fail where CONSENT_REQUIRE_NODE=1)"; \
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

# One pytest worker per core (pytest-xdist). --dist loadfile keeps a module's tests on one
# worker, so that a browser, a server, nginx or the real pages' report a module shares is
# built once. pytest-cov measures every worker and combines their data into .coverage, which
# the floor below is checked against.
PYTEST_WORKERS ?= auto
pytest: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --cov --cov-report= $(PYTEST_ARGS)
	@echo "coverage of consent/ (floor 85 %):" $$($(BIN)/python -m coverage report --format=total)
	$(BIN)/python -m coverage report --fail-under=85 --format=total >/dev/null

## Scan the demo site in Chromium in every consent state, as CI does: exit 1 on any
## violation. Third parties are answered locally (--offline); reports go to build/scan-demo/.
SCAN_REPORTS := build/scan-demo
scan-demo: $(STAMP) browser
	mkdir -p $(SCAN_REPORTS)
	$(BIN)/consent scan examples.news.app:create_app --factory --offline \
	  --path / --path /news/night-trams-return --depth 1 --max-pages 10 \
	  --json $(SCAN_REPORTS)/report.json --html $(SCAN_REPORTS)/report.html \
	  --junit $(SCAN_REPORTS)/junit.xml

## The audit load test: 4 uvicorn workers, 20 000 decisions, a worker killed mid-run.
test-load: $(STAMP) postgres
	$(BIN)/python -m pytest -m load -p no:cacheprovider tests/load

## Install the checkout, not editable and without extras, into a throw-away environment and use it.
check-install:
	bash .ci/check-install

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache .coverage
