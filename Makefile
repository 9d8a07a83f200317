# newswatch — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run once test test-fast faults bench soak lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)            ## the service on its embedded defaults (SQLite store and broker), Ctrl-C stops
	$(BIN)/newswatch run

once: $(STAMP)           ## one pass over everything due, then exit
	$(BIN)/newswatch run --once

test: $(STAMP)           ## the whole suite; installs and starts the servers it needs
	scripts/ensure-servers.sh
	$(BIN)/python -m pytest

faults: $(STAMP)         ## only the fault-injection tests
	scripts/ensure-servers.sh
	$(BIN)/python -m pytest -m faults

bench: $(STAMP)          ## benchmarks: key: value lines, also in bench/results.json
	scripts/ensure-servers.sh
	$(BIN)/python bench/run_all.py

soak: $(STAMP)           ## opt-in 10-minute soak: key: value lines, also in bench/soak.json
	scripts/ensure-servers.sh
	$(BIN)/python bench/soak.py --minutes 10

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf data .pytest_cache .mypy_cache .ruff_cache
