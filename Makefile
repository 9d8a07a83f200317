# newswatch — the two commands a newcomer needs are `make run` and `make test`.
# Everything installs the exact, hash-checked versions in requirements/*.lock (README "Installing").
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LATEST := .venv-latest
LOCK   := requirements/dev.lock
export UV_PYTHON_DOWNLOADS := never

.PHONY: run once test test-fast test-latest mutation faults bench soak lint lock install clean

# uv only writes the locks and the test-latest environment; installs from the lock use plain pip.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)            ## the service on its embedded defaults (SQLite store and broker), Ctrl-C stops
	$(BIN)/newswatch run

once: $(STAMP)           ## one pass over everything due, then exit (non-zero if a delivery is not sent)
	$(BIN)/newswatch run --once

test: $(STAMP)           ## the whole suite; installs and starts the servers it needs
	scripts/ensure-servers.sh
	$(BIN)/python -m pytest

test-latest: | $(UV)     ## the whole suite on the newest versions pyproject.toml allows (not the lock)
	scripts/ensure-servers.sh
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python --upgrade --resolution highest -e '.[dev]'
	$(UV) pip list --python $(LATEST)/bin/python | grep -iE '^(apprise|celery|kombu|redis|sqlalchemy|httpx|pydantic|trafilatura|feedparser) '
	$(LATEST)/bin/python -m pytest --deselect tests/install/test_lock.py::test_this_environment_runs_the_locked_versions

mutation: $(STAMP)       ## prove the delivery tests can fail: run them with alerts.deliver.send raising
	scripts/ensure-servers.sh
	$(BIN)/python scripts/mutation_check.py

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

lock: | $(UV)            ## refresh the locks to the newest versions the ranges allow (then run make test)
	$(UV) pip compile --quiet --universal --generate-hashes --upgrade --extra dev --extra postgres \
		-o $(LOCK) pyproject.toml
	$(UV) pip compile --quiet --universal --generate-hashes --upgrade --extra postgres \
		-c $(LOCK) -o requirements/runtime.lock pyproject.toml

clean:
	rm -rf data .pytest_cache .mypy_cache .ruff_cache
