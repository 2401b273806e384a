# mplink: `make demo` runs it, `make test` checks it. Both set up everything from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP_QUIET := 2> >(grep -v -e '^WARNING: Location' -e 'BuildBackendWarning' >&2)

.PHONY: all demo test test-fast test-reliability lint bench system-deps clean

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]' $(PIP_QUIET)
	@touch $(STAMP)

system-deps:
	@scripts/system-deps.sh chromium fonts-noto-cjk

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# tests run in TEST_WORKERS processes (pytest-xdist; most tests wait on servers, so more than the cores);
# an idle process takes work from a busy one (worksteal), so the long end-to-end tests do not hold up the end
TEST_WORKERS ?= 4

test: $(STAMP) system-deps lint
	MPLINK_REQUIRE_POSTGRES=1 MPLINK_REQUIRE_CHROMIUM=1 $(BIN)/python -m pytest -v -n $(TEST_WORKERS) --dist worksteal

# the unit tier: the domain and the services on in-memory fakes, no I/O and no servers
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# the long chaos run: workers killed with SIGKILL while AWS throttles and fails (make test runs its short version)
test-reliability: $(STAMP)
	MPLINK_CHAOS=long MPLINK_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -v -s -p no:xdist tests/reliability

bench: $(STAMP) system-deps
	@$(BIN)/python -m benchmarks

#: make demo PORT=8100 SANDBOX_PORT=4666 picks the ports (DESIGN.md)
PORT ?= 8000
SANDBOX_PORT ?= 4566

demo: $(STAMP) system-deps
	$(BIN)/mplink demo --port $(PORT) --sandbox-port $(SANDBOX_PORT)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mplink.db
