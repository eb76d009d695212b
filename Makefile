# The README's two commands, `make run` and `make test`, do all the set-up themselves:
# venv + packages, a Docker engine (scripts/provision-docker.sh), base and service images.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLIENTS ?= 5
COURSE_COMPOSE ?= docker-compose-dev.yaml
STOP_GRACE ?= 10
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: run test fast-tests scenarios swarm-scenarios test-slow lint venv docker images bench up down logs clean \
	docker-image docker-compose-up docker-compose-down docker-compose-logs

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
	@$(BIN)/mypy

fast-tests: venv
	@$(BIN)/pytest tests -q -m "not scenario"

scenarios: images
	@$(BIN)/pytest scenarios -q -m scenario

test: lint images
	@mkdir -p build
	@bash scripts/provision-chromium.sh
	@$(BIN)/pytest -q --junitxml=build/junit.xml
	@$(MAKE) --no-print-directory swarm-scenarios

# The same scenarios on a one-node Docker Swarm of this engine (docs/scaling.md): initialised if
# inactive, left as found (`swarm leave --force` only if the harness initialised it).
# (scenarios/test_swarm.py, on swarm whatever the backend, runs in the first pytest above.)
SWARM_SCENARIOS ?= scenarios/test_winners.py::test_planted_winners scenarios/test_graceful_shutdown.py
swarm-scenarios: images
	@mkdir -p build
	@$(BIN)/pytest -q -m scenario --harness-backend swarm --junitxml=build/junit-swarm.xml $(SWARM_SCENARIOS)

# Slow: the same scenarios and the multi-node ones on SWARM_NODES local swarm nodes (one dockerd
# each in a network namespace; root; everything removed at the end). See docs/scaling.md.
SWARM_NODES ?= 3
test-slow: images
	@mkdir -p build
	@$(BIN)/pytest -q -m scenario --harness-backend swarm --harness-swarm-nodes $(SWARM_NODES) \
		--junitxml=build/junit-slow.xml scenarios/test_swarm_nodes.py $(SWARM_SCENARIOS)

# Every benchmark part, medians of 3 runs: tables on stdout, JSON in build/bench.json (docs/benchmarks.md).
# E.g. `make bench BENCH_ARGS="--parts ingest --runs 5"`.
bench: images
	@mkdir -p build
	@$(BIN)/harness bench --wait-quiet 300 $(BENCH_ARGS)

# The harness's isolated clusters (unique names, labels, removed by `down`).
up: images
	@$(BIN)/harness up --clients $(CLIENTS)

down: venv
	@$(BIN)/harness down

logs: venv
	@$(BIN)/harness logs -f

# The course's commands, on the course's layout: images server:latest / client:latest, the compose
# file $(COURSE_COMPOSE) (made by generar-compose.sh with $(CLIENTS) clients when missing), fixed
# container names (docker logs client1, docker stop client1 -t 5). Agency files: .data/agency-N.csv.
docker-image: venv docker
	@$(BIN)/harness standins server/Dockerfile client/Dockerfile
	docker build -f ./server/Dockerfile -t "server:latest" .
	docker build -f ./client/Dockerfile -t "client:latest" .

$(COURSE_COMPOSE):
	./generar-compose.sh $(COURSE_COMPOSE) $(CLIENTS)

docker-compose-up: docker-image $(COURSE_COMPOSE)
	docker compose -f $(COURSE_COMPOSE) up -d

docker-compose-down:
	docker compose -f $(COURSE_COMPOSE) down -t $(STOP_GRACE) --remove-orphans

docker-compose-logs:
	docker compose -f $(COURSE_COMPOSE) logs -f

clean:
	rm -rf build .data $(VENV)
