# Switchyard: the two commands (see README.md).
#   make run   installs what is missing, builds, starts three demo backends and the proxy
#   make test  installs what is missing, builds, runs the unit and integration tests
SHELL := /bin/bash
BUILD ?= build
PY := /usr/bin/python3

.PHONY: all deps deps-build build test unit integration run clean

all: build

deps:
	@scripts/install-deps.sh test

deps-build:
	@scripts/install-deps.sh build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

build: deps-build $(BUILD)/build.ninja
	ninja -C $(BUILD)

unit: build
	$(BUILD)/tests/unit_tests --no-intro

integration: build
	SWITCHYARD_BIN=$(CURDIR)/$(BUILD)/switchyard integration/run.sh

test: deps build
	@scripts/run-tests.sh $(BUILD)

run: build
	@scripts/run-demo.sh $(BUILD)/switchyard config/switchyard.yaml

clean:
	rm -rf $(BUILD)

# Side-by-side benchmark vs nginx and HAProxy (integration/bench/README.md).
#   make bench [CASES="small large post conns workers"]   BENCH_DURATION=10 BENCH_RUNS=3
.PHONY: bench
bench:
	@BENCH_COMMAND='make bench$(if $(CASES), CASES="$(CASES)")' BUILD=$(BUILD) integration/bench/run.sh $(CASES)
