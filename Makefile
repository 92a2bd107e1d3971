# A thin wrapper around Meson. `make run` and `make check` are the quick start.
BUILD      ?= build
RUNBUILD   ?= build-run
SANBUILD   ?= build-san
SHIPBUILD  ?= build-shipped
TSANBUILD  ?= build-tsan
RELBUILD   ?= build-release
FUZZBUILD  ?= build-fuzz
FUZZ_SECONDS ?= 60
MESON_TEST ?= meson test --print-errorlogs --num-processes 2
# Where make install puts things: $(DESTDIR)$(PREFIX)/{lib,include,bin,share/man}.
PREFIX     ?= /usr/local
LIBDIR     ?= lib
DESTDIR    ?=

.PHONY: all deps build run check test test-san test-shipped test-tsan release-check interop fuzz \
	bench release install \
	stress mutants clean

all: build

# The Debian package groups (see scripts/deps.sh) each goal needs. `deps`
# installs the union for the goals on the command line once (as root), or
# prints the apt-get line and fails. Every build directory is configured only
# after it (an order-only prerequisite, so also under make -j): meson setup
# fails on a missing package.
DEPS_all           = build check
DEPS_build         = build check
DEPS_run           = build
DEPS_test          = build check model
DEPS_test-san      = build check
DEPS_test-shipped  = build check
DEPS_test-tsan     = build
DEPS_release       = build
DEPS_release-check = build
DEPS_install       = build
DEPS_interop       = build check interop
DEPS_check         = build check model interop
DEPS_stress        = build check
DEPS_mutants       = build check
DEPS_fuzz          = build fuzz
DEPS_bench         = build bench
DEPS_GROUPS := $(sort $(foreach goal,$(or $(MAKECMDGOALS),all),$(DEPS_$(goal))))

deps:
	@scripts/deps.sh $(DEPS_GROUPS)

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) -Dfault_points=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The main job: format a region, let two host processes use it, show the result.
# Its own build has no tests, so it needs only the build packages.
# The build stays quiet unless it fails: the transcript shows the product.
$(RUNBUILD)/build.ninja: | deps
	@mkdir -p $(RUNBUILD)
	@meson setup $(RUNBUILD) -Dtests=false -Dbench=false >$(RUNBUILD)/setup.log 2>&1 || \
		{ cat $(RUNBUILD)/setup.log; exit 1; }

run: deps $(RUNBUILD)/build.ninja
	@echo "Building smemkit in $(RUNBUILD)/ (log: $(RUNBUILD)/build.log)"
	@ninja -C $(RUNBUILD) >$(RUNBUILD)/build.log 2>&1 || { cat $(RUNBUILD)/build.log; exit 1; }
	@scripts/demo.sh $(RUNBUILD)

$(SANBUILD)/build.ninja: | deps
	meson setup $(SANBUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false

test: deps build
	$(MESON_TEST) -C $(BUILD) --no-suite interop

test-san: deps $(SANBUILD)/build.ninja
	ninja -C $(SANBUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		$(MESON_TEST) -C $(SANBUILD) --no-suite interop --no-suite model

# The configuration users get: optimised, fault points compiled out. Every
# FAULT_POINT() of a test build is a full fence, and some sit between the
# stores a queue leaves unfenced on purpose, so the suites run here too, all
# but the crash tests (which need the points) and the models (which do not
# depend on the build).
$(SHIPBUILD)/build.ninja: | deps
	meson setup $(SHIPBUILD) --buildtype=release -Dfault_points=false -Dbench=false

test-shipped: deps $(SHIPBUILD)/build.ninja
	ninja -C $(SHIPBUILD)
	$(MESON_TEST) -C $(SHIPBUILD) --no-suite interop --no-suite model

# The threads of the lock and queue tests under ThreadSanitizer, as shipped
# (no fault points): it sees a weakened memory order that x86 hides. Criterion
# cannot run under it, so these are plain programs (the tsan suite).
$(TSANBUILD)/build.ninja: | deps
	meson setup $(TSANBUILD) -Db_sanitize=thread -Db_lundef=false -Dfault_points=false \
		-Dbench=false

test-tsan: deps $(TSANBUILD)/build.ninja
	ninja -C $(TSANBUILD)
	TSAN_OPTIONS=halt_on_error=1:exitcode=66 $(MESON_TEST) -C $(TSANBUILD) --suite tsan

interop: deps build
	$(MESON_TEST) -C $(BUILD) --suite interop

# Every test: unit, multi-process, crash, stress, models, fuzz replay, in a
# normal and a sanitizer build, again as shipped and under ThreadSanitizer,
# then the release build's lack of fault points, then the real Linux driver
# under QEMU.
check: test test-san test-shipped test-tsan release-check interop
	@echo "make check: all suites passed"

release-check: release
	@scripts/check-release.sh $(RELBUILD)

# Thousands of random kills per layout (make check runs 300).
STRESS_KILLS ?= 5000
stress: build
	$(BUILD)/tests/stress $(STRESS_KILLS) 12
	$(BUILD)/tests/stress $(STRESS_KILLS) 11

# Known-wrong variants of the concurrency and validation code
# (scripts/mutants.py lists them): each must make some test fail.
mutants: deps
	@scripts/mutants.py

$(FUZZBUILD)/build.ninja: | deps
	CC=clang meson setup $(FUZZBUILD) -Dlibfuzzer=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbench=false

# Run every libFuzzer target for FUZZ_SECONDS, growing the corpora in fuzz/corpus/.
fuzz: deps $(FUZZBUILD)/build.ninja
	ninja -C $(FUZZBUILD)
	@scripts/fuzz.sh $(FUZZBUILD) $(FUZZ_SECONDS)

$(RELBUILD)/build.ninja: | deps
	meson setup $(RELBUILD) --buildtype=release -Dfault_points=false -Dtests=false \
		--prefix=$(PREFIX) --libdir=$(LIBDIR)

release: deps $(RELBUILD)/build.ninja
	ninja -C $(RELBUILD)

# Install the release build: libsmemkit.so, the headers, smemkit.pc, smemctl and
# the man pages. No fault point and no test is in it (make release-check).
install: release
	meson configure $(RELBUILD) --prefix=$(PREFIX) --libdir=$(LIBDIR)
	ninja -C $(RELBUILD)
	DESTDIR="$(DESTDIR)" meson install -C $(RELBUILD) --no-rebuild
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

bench: deps release
	@scripts/bench.sh $(RELBUILD)

clean:
	rm -rf $(BUILD) $(RUNBUILD) $(SANBUILD) $(SHIPBUILD) $(TSANBUILD) $(RELBUILD) $(FUZZBUILD)
