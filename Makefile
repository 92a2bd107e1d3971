# A thin wrapper around Meson. `make run` and `make check` are the quick start.
BUILD      ?= build
SANBUILD   ?= build-san
RELBUILD   ?= build-release
FUZZBUILD  ?= build-fuzz
FUZZ_SECONDS ?= 60
MESON_TEST ?= meson test --print-errorlogs --num-processes 2
# Where make install puts things: $(DESTDIR)$(PREFIX)/{lib,include,bin,share/man}.
PREFIX     ?= /usr/local
LIBDIR     ?= lib
DESTDIR    ?=

.PHONY: all build run check test test-san release-check interop fuzz bench release install stress clean

all: build

deps-%:
	@scripts/deps.sh $*

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dfault_points=true

build: deps-build $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The main job: format a region, let two host processes use it, show the result.
run: build
	@scripts/demo.sh $(BUILD)

$(SANBUILD)/build.ninja:
	meson setup $(SANBUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false

test: build deps-check
	$(MESON_TEST) -C $(BUILD) --no-suite interop

test-san: deps-build deps-check $(SANBUILD)/build.ninja
	ninja -C $(SANBUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		$(MESON_TEST) -C $(SANBUILD) --no-suite interop --no-suite model

interop: build
	@scripts/deps.sh interop
	$(MESON_TEST) -C $(BUILD) --suite interop

# Every test: unit, multi-process, crash, stress, models, fuzz replay, in a
# normal and a sanitizer build, then the release build's lack of fault points,
# then the real Linux driver under QEMU.
check: test test-san release-check interop
	@echo "make check: all suites passed"

release-check: release
	@scripts/check-release.sh $(RELBUILD)

# Thousands of random kills per layout (make check runs 300).
STRESS_KILLS ?= 5000
stress: build
	$(BUILD)/tests/stress $(STRESS_KILLS) 12
	$(BUILD)/tests/stress $(STRESS_KILLS) 11

$(FUZZBUILD)/build.ninja:
	CC=clang meson setup $(FUZZBUILD) -Dlibfuzzer=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbench=false

# Run every libFuzzer target for FUZZ_SECONDS, growing the corpora in fuzz/corpus/.
fuzz: deps-build deps-fuzz $(FUZZBUILD)/build.ninja
	ninja -C $(FUZZBUILD)
	@scripts/fuzz.sh $(FUZZBUILD) $(FUZZ_SECONDS)

$(RELBUILD)/build.ninja:
	meson setup $(RELBUILD) --buildtype=release -Dfault_points=false -Dtests=false \
		--prefix=$(PREFIX) --libdir=$(LIBDIR)

release: deps-build $(RELBUILD)/build.ninja
	ninja -C $(RELBUILD)

# Install the release build: libsmemkit.so, the headers, smemkit.pc, smemctl and
# the man pages. No fault point and no test is in it (make release-check).
install: release
	meson configure $(RELBUILD) --prefix=$(PREFIX) --libdir=$(LIBDIR)
	ninja -C $(RELBUILD)
	DESTDIR="$(DESTDIR)" meson install -C $(RELBUILD) --no-rebuild
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

bench: release deps-bench
	@scripts/bench.sh $(RELBUILD)

clean:
	rm -rf $(BUILD) $(SANBUILD) $(RELBUILD) $(FUZZBUILD)
