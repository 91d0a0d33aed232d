# Landfall — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := demo

CACHE ?= $(HOME)/.cache/landfall
export DUCKDB_LIB_DIR ?= $(CACHE)/duckdb/1.5.6
# Outside the clone, so a warm machine (and CI) reuses the build.
export CARGO_TARGET_DIR ?= $(CACHE)/target
DBT_VENV ?= $(CACHE)/venv-dbt
export LANDFALL_DBT ?= $(DBT_VENV)/bin/dbt
# Where the tests find their tools (installed by `make tools`).
export LANDFALL_MOTO_SERVER ?= $(CACHE)/venv-tools/bin/moto_server
export LANDFALL_TOOLS_PYTHON ?= $(CACHE)/venv-tools/bin/python
export LANDFALL_FAKESNOW_PYTHON ?= $(CACHE)/venv-snow/bin/python
export LANDFALL_SAM_VENV ?= $(CACHE)/venv-sam
export LANDFALL_ASL_VALIDATOR ?= $(CACHE)/node-tools/node_modules/.bin/asl-validator
export LANDFALL_CHECKOV ?= $(CACHE)/venv-checkov/bin/checkov
LANDFALL := $(CARGO_TARGET_DIR)/cli/landfall
# `make conformance` reads what the repository may not contain, from beside it.
SHARED ?= $(abspath $(CURDIR)/../shared)
export LANDFALL_NETFLIX_DIR ?= $(SHARED)/data/netflix
# `make bench` scales and runs (SCALES=1 RUNS=5 make bench narrows it).
SCALES ?= 1,10,100
RUNS ?= 3
DEMO_DIR ?= out/demo

.PHONY: demo test e2e conformance bench libduckdb dbt-venv tools build release lambdas lint fmt clean

libduckdb: $(DUCKDB_LIB_DIR)/libduckdb.so
$(DUCKDB_LIB_DIR)/libduckdb.so:
	infra/local/fetch-libduckdb.sh "$(DUCKDB_LIB_DIR)"

dbt-venv:
	infra/local/dbt-venv.sh "$(DBT_VENV)"

## moto server (AWS API emulator) and asl-validator, pinned, in the cache.
tools:
	infra/local/tools.sh "$(CACHE)"

build: libduckdb
	cargo build --workspace

release: libduckdb
	cargo build --profile cli -p landfall-cli

## The six Lambda binaries as `sam build` builds them (profile `release`: small), for x86_64 here.
lambdas:
	cargo build --release -p landfall-trigger -p landfall-load -p landfall-transform -p landfall-quality -p landfall-publish -p landfall-notify

## The main job: synthetic sample data through the whole local pipeline, then the summary.
demo: release
	rm -rf "$(DEMO_DIR)"
	$(LANDFALL) demo --dir "$(DEMO_DIR)" --project transform
	@echo "warehouse: $(DEMO_DIR)/landfall.duckdb (published marts in schema 'marts'); run report: $(DEMO_DIR)/reports/; alerts: $(DEMO_DIR)/alerts.jsonl"

## Everything the tests need, then every test.
test: libduckdb dbt-venv tools
	@# The Lambda binaries must never link DuckDB.
	@if cargo tree -e normal -p landfall-trigger -p landfall-notify -p landfall-load -p landfall-transform -p landfall-quality -p landfall-publish -p landfall-lambda -p landfall-aws -p landfall-snowflake | grep -q duckdb; then \
	    echo "a Lambda crate depends on DuckDB" >&2; exit 1; fi
	cargo test --workspace --exclude landfall-e2e --no-fail-fast
	@# The trigger as `sam build` builds it: alone, so no other binary's features reach it
	@# (a workspace build unifies them; the trigger must still embed the project).
	cargo test -p landfall-trigger --no-fail-fast

## The deployed stack end to end on emulators: the six release Lambda binaries (built here, as
## `sam build` builds them) behind Runtime API emulators, configured from template.yaml, a local
## Step Functions endpoint running statemachine.asl.json, moto, the fakesnow wrapper, Slack.
e2e: libduckdb tools lambdas
	LANDFALL_LAMBDA_DIR="$(CARGO_TARGET_DIR)/release" cargo test -p landfall-e2e --no-fail-fast

## The checks on data the repository must not contain: the real Netflix export
## (../shared/data/netflix, or LANDFALL_NETFLIX_DIR). They are the `#[ignore]`d tests; a missing
## export fails here, naming the path.
conformance: libduckdb dbt-venv tools
	@for f in titles.csv credits.csv; do \
	    if [ ! -f "$(LANDFALL_NETFLIX_DIR)/$$f" ]; then \
	        echo "make conformance: the real export is missing: $(LANDFALL_NETFLIX_DIR)/$$f not found (put the export in ../shared/data/netflix or set LANDFALL_NETFLIX_DIR)" >&2; exit 1; fi; \
	done
	cargo test --workspace --exclude landfall-e2e --no-fail-fast -- --ignored

## landfall vs the dbt-duckdb peer vs our own floor at 1x, 10x, 100x; writes bench/RESULTS.md.
bench: release dbt-venv tools
	python3 bench/bench.py --runs $(RUNS) --scales $(SCALES)

lint: libduckdb
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	rm -rf out
