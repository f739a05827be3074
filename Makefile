# kaizen-bot: `make run` and `make test` work on a fresh clone with only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: run test bench bench-digest lint format audit clean

# Runtime install (stamp files: reinstall only when pyproject.toml changes).
$(VENV)/.installed-run: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

## run: install, migrate the database (SQLite ./kaizen.db by default), start `kaizen serve`
run: $(VENV)/.installed-run
	$(BIN)/kaizen db upgrade
	exec $(BIN)/kaizen serve --local-if-unconfigured

## test: install with dev extras and run the whole suite (PostgreSQL too if KAIZEN_TEST_POSTGRES_URL),
## one process per core up to four (PYTEST_ARGS="-n 0" runs it in one process)
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n auto --maxprocesses 4 $(PYTEST_ARGS)

## bench: run the four benchmarks in bench/ and print their figures (see bench/RESULTS.md)
bench: $(VENV)/.installed-dev
	@for script in bench/bench_board.py bench/bench_turns.py bench/bench_memory.py \
			bench/bench_digest.py; do \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

## bench-digest: only the digest benchmark (1,000,000 ideas; about 3 minutes)
bench-digest: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_digest.py

$(VENV)/.installed-audit: pyproject.toml $(VENV)/.installed-dev
	$(PIP) install --quiet -e '.[dev,audit]'
	@touch $@

## audit: known vulnerabilities in every installed dependency (pip-audit against PyPI's
## advisory data; needs that service reachable; --strict: a package it cannot check fails)
audit: $(VENV)/.installed-audit
	$(BIN)/pip-audit --local --skip-editable --strict --progress-spinner off

## lint: ruff, then mypy (strict on bot/; settings in pyproject.toml)
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
