# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean system

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m nornir_esi.demo

# PostgreSQL, Redis, RabbitMQ and libpq headers for the real NetBox and Heat of the tests
# (Debian packages).
system:
	scripts/system-packages

test: $(STAMP) system
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check nornir_esi tests bench lab tasks
	$(BIN)/ruff format --check nornir_esi tests bench lab tasks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache

# The figures of issue 9 beside their goals (bench/perf.py); the other benches run as
# `$(BIN)/python -m bench.<name>`.
$(VENV)/.bench: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

bench: $(VENV)/.bench
	$(BIN)/python -m bench.perf

clean:
	rm -rf $(VENV)
