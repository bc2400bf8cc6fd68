# hakone — the two commands that matter:
#   make run    install what is missing, build, start the demo (gateway in front of a sample app)
#   make test   install what is missing, build, run every test (unit, integration, ASan/UBSan, fuzz)
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: web es-node-deps all deps build run test test-unit test-integration test-asan test-fuzz bench image clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps web $(BUILD)/build.ninja
	ninja -C $(BUILD) -j$(JOBS)

run: build
	@bash scripts/run-demo.sh $(BUILD)/hakone

test-unit: build
	ctest --test-dir $(BUILD) -L unit --output-on-failure -j$(JOBS)

test-integration: build es-node-deps
	ctest --test-dir $(BUILD) -L integration --output-on-failure -j1

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1" -DHAKONE_SANITIZE=ON -DHAKONE_INTEGRATION=OFF
	# Only the unit-test binaries (and what they link): the sanitizer build runs nothing else.
	ninja -C $(ASAN_BUILD) -j$(JOBS) $$(ninja -C $(ASAN_BUILD) -t targets all | awk -F': ' '$$2 == "phony" && $$1 ~ /^[a-z0-9_]+_test$$/ && $$1 !~ /^cmake_/ {print $$1}')
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) -L unit -E "^graph_tck$$" --output-on-failure -j$(JOBS)  # graph_tck runs the hakone binary, not built here

test-fuzz: deps
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $${FUZZ_SECONDS:-10}

test: build es-node-deps
	cd web && npm test
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) -LE integration
	ctest --test-dir $(BUILD) --output-on-failure -j1 -L integration
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz

# The official Node.js Elasticsearch client for tests/integration/es_clients_test.cc (lockfile committed).
es-node-deps: deps
	cd tests/integration/es && npm ci --no-audit --no-fund --loglevel=error

# The web console (web/, embedded into the binary by src/console) and the browser tests' driver.
# (npm ci only when package-lock.json is newer than the installed tree.)
web: deps
	cd web && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run build
	cd tests/e2e && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; }

bench: build
	bash bench/gateway.sh $(BUILD)/hakone

# The container image (deploy/Containerfile) with podman; skipped with a message when podman is
# not installed (see deploy/scripts/build-image.sh and docs/deploy.md).
image: web
	bash deploy/scripts/build-image.sh $(IMAGE_TAG)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
