# The README's two commands, `make run` and `make test`, do all the set-up themselves:
# venv + packages, a Docker engine (scripts/provision-docker.sh), base and service images.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLIENTS ?= 5
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: run test fast-tests scenarios lint venv docker images bench up down logs clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

docker:
	@bash scripts/provision-docker.sh

images: venv docker
	@$(BIN)/harness base-image
	@$(BIN)/harness images

run: images
	@$(BIN)/harness run --clients $(CLIENTS)

lint: venv
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

fast-tests: venv
	@$(BIN)/pytest tests -q -m "not scenario"

scenarios: images
	@$(BIN)/pytest scenarios -q -m scenario

test: lint images
	@mkdir -p build
	@bash scripts/provision-chromium.sh
	@$(BIN)/pytest -q --junitxml=build/junit.xml

# Every benchmark part, medians of 3 runs: tables on stdout, JSON in build/bench.json (docs/benchmarks.md).
# E.g. `make bench BENCH_ARGS="--parts ingest --runs 5"`.
bench: images
	@mkdir -p build
	@$(BIN)/harness bench --wait-quiet 300 $(BENCH_ARGS)

# The course's habits.
up: images
	@$(BIN)/harness up --clients $(CLIENTS)

down: venv
	@$(BIN)/harness down

logs: venv
	@$(BIN)/harness logs -f

clean:
	rm -rf build .data $(VENV)
