# Top-level entry points. Each target installs missing packages first, so the
# commands in README.md work on a fresh Debian machine.

JOBS ?= $(shell nproc)
CMAKE ?= cmake
CTEST_ARGS ?= --output-on-failure --no-tests=error

.PHONY: all deps build test tsan demo bench fuzz soak clean format

all: build

deps:
	@scripts/install-deps

build: deps
	$(CMAKE) -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DPD_WERROR=ON >/dev/null
	$(CMAKE) --build build/release -j $(JOBS)

# Debug build with ASan+UBSan and -Werror; runs every test under ctest.
test: deps
	$(CMAKE) -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DPD_SANITIZE=address -DPD_WERROR=ON >/dev/null
	$(CMAKE) --build build/asan -j $(JOBS)
	cd build/asan && ctest -j $(JOBS) $(CTEST_ARGS)

# ThreadSanitizer build; runs the tests labelled "concurrency".
tsan: deps
	$(CMAKE) -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug -DPD_SANITIZE=thread -DPD_WERROR=ON >/dev/null
	$(CMAKE) --build build/tsan -j $(JOBS)
	cd build/tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest -L concurrency $(CTEST_ARGS)

demo: build
	scripts/demo.sh build/release/parsediff

# The long live-write soak: 200 diff runs against a live writer and a live
# sync, on the release build (the short version runs under ASan in make test).
soak: deps
	$(CMAKE) -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DPD_WERROR=ON >/dev/null
	$(CMAKE) --build build/release -j $(JOBS) --target parsediff test_soak_short
	cd build/release && PD_SOAK_RUNS=200 ctest -R test_soak_short --timeout 3600 -V $(CTEST_ARGS)

# Only parsediff-bench writes to stdout, so `PD_BENCH_ARGS=--json make -s
# bench > out.json` gives a JSON file; the build's output goes to stderr.
bench: deps
	@$(CMAKE) -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DPD_WERROR=ON >/dev/null
	@$(CMAKE) --build build/release -j $(JOBS) >&2
	@scripts/bench.sh build/release

# libFuzzer targets, built with clang (see fuzz/Makefile). Runs each target
# for FUZZ_SECONDS (default 60) and fails on any crash, leak or sanitizer report.
fuzz: deps
	$(MAKE) -C fuzz run

clean:
	rm -rf build

format:
	clang-format -i */*.c */*.h */*.cpp
