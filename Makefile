# hakone — the two commands that matter:
#   make run    install what is missing, build, start the demo (gateway in front of a sample app)
#   make test   install what is missing, build, run every test (unit, integration, ASan/UBSan, fuzz)
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build run test test-unit test-integration test-asan test-fuzz bench clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j$(JOBS)

run: build
	@bash scripts/run-demo.sh $(BUILD)/hakone

test-unit: build
	ctest --test-dir $(BUILD) -L unit --output-on-failure -j$(JOBS)

test-integration: build
	ctest --test-dir $(BUILD) -L integration --output-on-failure -j1

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1" -DHAKONE_SANITIZE=ON -DHAKONE_INTEGRATION=OFF
	ninja -C $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) -L unit --output-on-failure -j$(JOBS)

test-fuzz: deps
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $${FUZZ_SECONDS:-20}

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) -LE integration
	ctest --test-dir $(BUILD) --output-on-failure -j1 -L integration
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz

bench: build
	bash bench/gateway.sh $(BUILD)/hakone

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
