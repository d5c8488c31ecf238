# The two commands of README.md:
#   make run   - install packages, build Release, start the server on ./data (SQLite)
#   make test  - install packages, build, run unit (ctest) and functional (pytest) tests
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
PYTHON ?= /usr/bin/python3
ARGS ?=

.PHONY: all deps configure build run test unit-test functional-test clean format

all: build

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) > /dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/statehouse serve $(ARGS)

unit-test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

functional-test: build
	STATEHOUSE_BIN=$(abspath $(BUILD_DIR))/statehouse $(PYTHON) -m pytest tests/functional -q -p no:cacheprovider

test: unit-test functional-test

format:
	clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'bench/*.cpp')

clean:
	rm -rf $(BUILD_DIR)
