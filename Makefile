# cohesion-monitor: two commands on a fresh machine with Python 3.11 (no network needed beyond PyPI):
#   make run    build the whole warehouse from the bundled real data
#   make test   run the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
# Compile the environment's bytecode once at install: every Dagster run, sensor and dbt process then starts
# from .pyc files instead of compiling Dagster, dbt and GX from source (PYTHONDONTWRITEBYTECODE may be set).
export UV_COMPILE_BYTECODE := 1
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
DATA_DIR := $(or $(COHESION_DATA_DIR),$(CURDIR)/data)
WAREHOUSE := $(or $(COHESION_WAREHOUSE_PATH),$(DATA_DIR)/warehouse.duckdb)
export DAGSTER_HOME ?= $(DATA_DIR)/dagster_home

# uv from PATH, else the machine's Python (installed there on first use).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
DBT_FILES := $(shell find dbt_project/models dbt_project/macros dbt_project/tests seeds -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' -o -name '*.md' \) 2>/dev/null) dbt_project/dbt_project.yml
MANIFEST := dbt_project/target/manifest.json

.PHONY: help bootstrap install manifest run test ui dashboards docs seeds clean

help:
	@echo "make run    build the warehouse from the bundled real data (data/warehouse.duckdb)"
	@echo "make test   run the test suite"
	@echo "make ui     Dagster UI on http://127.0.0.1:3000"
	@echo "make dashboards  the cohesion atlas (Welsh and English) on http://127.0.0.1:8080"
	@echo "make docs   dbt docs (catalogue of every model and column) in dbt_project/target"
	@echo "make seeds  regenerate seeds/geography from data/snapshots"

bootstrap:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		{ echo "installing uv with pip"; python3 -m pip install --quiet --disable-pip-version-check uv; }

install: bootstrap
	@$(UV) sync --frozen --quiet

$(MANIFEST): $(DBT_FILES) uv.lock
	@cd dbt_project && COHESION_WAREHOUSE_PATH=$(WAREHOUSE) $(UV) run --frozen dbt parse --quiet
	@touch $(MANIFEST)

manifest: install $(MANIFEST)

run: manifest
	@$(UV) run --frozen python -m orchestration.build

# Two pytest-xdist workers (CI has two cores; tests/conftest.py shares the session build between them);
# TEST_WORKERS=0 runs the suite in this one process.
TEST_WORKERS ?= 2
test: manifest
	@$(UV) run --frozen pytest -n $(TEST_WORKERS) --dist loadgroup

ui: manifest
	@$(UV) run --frozen python -c "from orchestration.build import prepare_ui; prepare_ui()"
	@echo "Dagster UI: http://127.0.0.1:3000  (instance: $(DAGSTER_HOME))"
	@$(UV) run --frozen dagster dev -h 127.0.0.1 -p 3000 -m orchestration.definitions

dashboards: install
	@$(UV) run --frozen python -m orchestration.dashboards

docs: manifest
	@cd dbt_project && COHESION_WAREHOUSE_PATH=$(WAREHOUSE) $(UV) run --frozen dbt docs generate --static --quiet
	@echo "dbt docs: $(CURDIR)/dbt_project/target/static_index.html (one file, opens from disk offline; or: cd dbt_project && uv run dbt docs serve)"

seeds: install
	@$(UV) run --frozen python scripts/build_geography_seeds.py

clean:
	rm -rf data/warehouse.duckdb data/warehouse.duckdb.wal data/reports data/quarantine data/landing data/downloads data/restricted data/dagster_home data/gx dbt_project/target dashboards/atlas data/published
