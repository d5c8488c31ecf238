# The two commands of README.md:
#   make run   - install packages, build Release, start the server on ./data (SQLite)
#   make test  - install packages, build, run unit (ctest), functional (pytest) and browser tests on
#                SQLite and on a throwaway PostgreSQL 15 cluster, then again built with
#                AddressSanitizer + UndefinedBehaviorSanitizer
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
PYTHON ?= /usr/bin/python3
ARGS ?=

.PHONY: all deps configure build run test unit-test functional-test functional-test-postgres \
        browser-test sanitize-test clean format
.PHONY: fuzz

all: build

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) > /dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/statehouse serve $(ARGS)

# Unit tests and the storage contract suite (on PostgreSQL too when STATEHOUSE_TEST_PG_URL is
# set, as under `make test`).
unit-test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# The functional suite against the real binary on SQLite ...
functional-test: build
	env -u STATEHOUSE_TEST_PG_URL STATEHOUSE_BIN=$(abspath $(BUILD_DIR))/statehouse \
	  $(PYTHON) -m pytest tests/functional -q -p no:cacheprovider

# ... and on PostgreSQL (needs STATEHOUSE_TEST_PG_URL).
functional-test-postgres: build
	STATEHOUSE_BIN=$(abspath $(BUILD_DIR))/statehouse \
	  $(PYTHON) -m pytest tests/functional -q -p no:cacheprovider

# The web console in a real browser: Debian's chromium driven by playwright-core, which npm
# installs from tests/browser/package-lock.json (again only when the lockfile changes).
BROWSER_MODULES := tests/browser/node_modules/.package-lock.json
$(BROWSER_MODULES): tests/browser/package-lock.json tests/browser/package.json
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

browser-test: build $(BROWSER_MODULES)
	cd tests/browser && STATEHOUSE_BIN=$(abspath $(BUILD_DIR))/statehouse \
	  node --test --test-concurrency=1 .

# The unit, contract and functional suites again, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (any report fails the run), at -O1 -g1 (line tables only):
# reports keep file and line, and the build does less work than at -O2 -g.
SANITIZE_DIR ?= build-asan
sanitize-test: deps
	@cmake -S . -B $(SANITIZE_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DSTATEHOUSE_SANITIZE=ON > /dev/null
	@cmake --build $(SANITIZE_DIR) -j $(JOBS)
	ctest --test-dir $(SANITIZE_DIR) --output-on-failure -j $(JOBS)
	env -u STATEHOUSE_TEST_PG_URL STATEHOUSE_SANITIZED=1 \
	  STATEHOUSE_BIN=$(abspath $(SANITIZE_DIR))/statehouse \
	  $(PYTHON) -m pytest tests/functional -q -p no:cacheprovider

# Everything, on both backends: a throwaway PostgreSQL 15 cluster runs for the duration.
test: build
	scripts/with-postgres $(MAKE) --no-print-directory unit-test functional-test browser-test \
	  functional-test-postgres sanitize-test

format:
	clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'bench/*.cpp')

# libFuzzer targets (clang-14, ASan+UBSan) in their own build dir, build-fuzz/; each runs for
# FUZZ_SECONDS. See fuzz/README.md.
FUZZ_SECONDS ?= 60
fuzz:
	@fuzz/build.sh
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

clean:
	rm -rf $(BUILD_DIR)
