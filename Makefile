# Switchyard: the two commands (see README.md).
#   make run   installs what is missing, builds, starts three demo backends and the proxy
#   make test  installs what is missing, builds, runs the unit and integration tests
SHELL := /bin/bash
BUILD ?= build
PY := /usr/bin/python3

.PHONY: all deps deps-build build test unit integration run clean test-sanitize test-sanitize-io-uring test-io-uring fuzz fuzz-deps ci deb deb-deps

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
	rm -rf $(BUILD) build-asan build-fuzz build-deb

# Debian package (debian/): build-deb/switchyard_<version>_<arch>.deb, built with debhelper
# from a copy of the source tree (files git tracks or would track), then checked by lintian
# (no errors, no warnings). scripts/check-deb.sh installs and purges it in a container.
VERSION := $(shell sed -n "s/^  version : '\(.*\)',$$/\1/p" meson.build)
deb-deps:
	@scripts/install-deps.sh build
	@scripts/install-deps.sh deb

deb: deb-deps
	@test "$$(dpkg-parsechangelog -S Version)" = "$(VERSION)" || \
	  { echo "debian/changelog is not at version $(VERSION) (meson.build)" >&2; exit 1; }
	rm -rf build-deb && mkdir -p build-deb/switchyard-$(VERSION)
	if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git ls-files -z --cached --others --exclude-standard | \
	    xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
	    tar -c --null -T - -f - | tar -x -C build-deb/switchyard-$(VERSION); \
	else \
	  tar -c --exclude='./build*' -f - . | tar -x -C build-deb/switchyard-$(VERSION); \
	fi
	cd build-deb/switchyard-$(VERSION) && dpkg-buildpackage -b -us -uc
	lintian --fail-on error,warning \
	  build-deb/switchyard_$(VERSION)_*.changes
	@ls build-deb/switchyard_$(VERSION)_*.deb

# The unit and integration tests against an AddressSanitizer + UBSan build (a sanitizer
# report in the proxy's stderr fails the test that produced it).
# -fno-sanitize=vptr: UBSan's vptr check probes memory through a pipe(2), which fails while the
# fd-exhaustion test holds every descriptor, and then reports valid objects as bad.
build-asan/build.ninja:
	meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined \
	  -Db_lundef=false -Dcpp_args=-fno-sanitize=vptr

# The integration suite again with `io_uring: on` in every config the tests write (the files
# that carry no proxy traffic are left out). Where the kernel or a sandbox refuses io_uring the
# tests are reported as skipped, with the reason.
test-io-uring: deps build
	SWITCHYARD_IO_URING=on SWITCHYARD_BIN=$(CURDIR)/$(BUILD)/switchyard integration/run.sh \
	  --ignore=integration/test_cli.py --ignore=integration/test_man.py \
	  --ignore=integration/test_deploy_image.py --ignore=integration/test_deploy_compose.py \
	  --ignore=integration/test_deploy_k8s_systemd.py --ignore=integration/test_install.py \
	  --ignore=integration/test_systemd.py

test-sanitize: deps build-asan/build.ninja
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  scripts/run-tests.sh build-asan

# The io_uring data path under the same sanitizers: the files that move bytes through the ring
# (provided buffers taken over by connections, queued sends, TLS, WebSocket, HTTP/2, retries,
# limits, early answers), about 3 minutes. Skipped, with the reason, where io_uring is refused.
SANITIZE_IO_URING_TESTS = integration/test_io_uring.py integration/test_core.py \
  integration/test_request_path.py integration/test_early_response.py \
  integration/test_limits.py integration/test_websocket.py integration/test_http2_flow.py \
  integration/test_retries.py integration/test_tls.py
test-sanitize-io-uring: deps build-asan/build.ninja
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  SWITCHYARD_IO_URING=on SWITCHYARD_BIN=$(CURDIR)/build-asan/switchyard \
	  integration/run.sh $(SANITIZE_IO_URING_TESTS)

# libFuzzer targets (fuzz/): request parser + head normaliser, config loader. Each runs for
# FUZZ_SECONDS on a copy of the seed corpus in fuzz/corpus; a crash fails the target.
FUZZ_SECONDS ?= 60
build-fuzz/build.ninja:
	meson setup build-fuzz --buildtype=debugoptimized -Dfuzz=true \
	  -Db_sanitize=address,undefined -Db_lundef=false

fuzz-deps:
	@scripts/install-deps.sh build
	@scripts/install-deps.sh fuzz

fuzz: fuzz-deps build-fuzz/build.ninja
	ninja -C build-fuzz
	@scripts/run-fuzz.sh build-fuzz $(FUZZ_SECONDS)

# What CI runs (.ci/run): the plain tests, io_uring, the sanitizer runs and a short fuzz run.
ci: test test-io-uring test-sanitize test-sanitize-io-uring
	$(MAKE) fuzz FUZZ_SECONDS=20

# Side-by-side benchmark vs nginx and HAProxy (integration/bench/README.md).
#   make bench [CASES="small large post tls h2 lowconc conns workers"]   BENCH_DURATION=10 BENCH_RUNS=3
#   (default: all but workers, Switchyard on epoll and io_uring; about 23 minutes)
.PHONY: bench
bench:
	@BENCH_COMMAND='make bench$(if $(CASES), CASES="$(CASES)")' BUILD=$(BUILD) integration/bench/run.sh $(CASES)

# HTTP/2 to an h2c backend (nghttpd) through Switchyard, HAProxy and nginx: req/s, CPU/request
# and upstream connections. BENCH_DURATION=5 BENCH_RUNS=3 (integration/bench/README.md).
.PHONY: bench-h2-upstream
bench-h2-upstream: build
	@scripts/install-deps.sh bench
	@BENCH_COMMAND='make bench-h2-upstream' SWITCHYARD_BIN=$(CURDIR)/$(BUILD)/switchyard $(PY) integration/bench/h2_upstream.py
