# The README's commands. Everything runs from the project's own virtualenv (.venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)/.dagster

.PHONY: install demo test lint ui bench instance

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

instance:
	@scripts/dagster_home.sh

## Materialize the demo (two ISO weeks of kura data, a day of replay ticks for two teams, a day
## of minority-report ticks) into data/warehouse.duckdb, with every check.
demo: install instance
	$(PY) -m kura_assets.cli demo
	$(PY) -m replay_assets.cli demo
	$(PY) -m minority_report_assets.cli demo

## Lint and format check (ruff: pyflakes, pycodestyle, import order; 120 columns).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## The test suite (unit, in-process materializations, Postgres).
test: install
	$(PY) -m pytest -q

## The Dagster UI on the same warehouse and instance.
ui: install instance
	$(VENV)/bin/dagster dev -w workspace.yaml

## Benchmarks: figures and ratios against the baselines they name.
bench: install
	$(PY) bench/kura_bench.py
	$(PY) bench/replay_bench.py
	$(PY) bench/minority_report_bench.py
