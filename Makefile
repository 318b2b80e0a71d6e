# Vocero build. `make` builds ./build/vocero; `make test` runs every test (also under
# ASan+UBSan and TSan); `make run` installs what is missing, builds and serves; `make bench`,
# `make fuzz`, `make format`. Options: BUILD=dir, SANITIZE=1 (ASan+UBSan), SANITIZE=thread
# (TSan), NATIVE=1, EXTRA_CFLAGS=...
#
# The library flags below come from pkg-config when make reads this file. `run` and `test`
# therefore install the packages first and build in a second make, which reads the flags
# afresh; a build whose libraries were missing when make started stops at once (pkg-check)
# instead of compiling without their include folders.
BUILD     ?= build
CC        ?= cc
PKG_CONFIG ?= pkg-config
PKGS      := libmicrohttpd libjwt sqlite3 libpq libcurl sndfile soxr libebur128 openssl
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wpointer-arith -Wno-format-nonliteral
OPT       ?= -O2
# Non-empty when pkg-config or one of PKGS is missing: what went wrong.
PKG_MISSING := $(shell $(PKG_CONFIG) --exists $(PKGS) 2>/dev/null || \
	{ echo 'not found by $(PKG_CONFIG):'; $(PKG_CONFIG) --print-errors --exists $(PKGS) 2>&1; true; })
CFLAGS    := -std=c17 $(OPT) -g -D_GNU_SOURCE -Isrc -fno-common -pthread $(WARN) \
             $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LDLIBS    := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lespeak-ng -lcrypt -lm -pthread
ifeq ($(SANITIZE),1)
CFLAGS    += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined
else ifeq ($(SANITIZE),thread)
CFLAGS    += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=thread
endif

SRC       := $(shell find src -name '*.c' ! -path src/main.c | sort)
OBJ       := $(SRC:%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libvocero.a
UNIT_SRC  := $(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort)
UNIT_BIN  := $(UNIT_SRC:%.c=$(BUILD)/%)
# What `make tsan-test` runs (build with SANITIZE=thread): the nn thread pool and threaded
# attention, the worker queue, the generation job queue, the streaming joiner and pipeline, the concurrency
# limiter, the HTTP worker pool, the login throttle, espeak, the chat model's session LRU.
TSAN_BIN  := $(addprefix $(BUILD)/tests/unit/,nn/test_threadpool nn/test_attention_kv \
             tts/test_jobs tts/test_joiner tts/test_pipeline tts/test_limiter tts/test_espeak \
             http/test_server auth/test_throttle llm/test_service core/test_workq)

# SIMD kernels: compiled for their instruction set, chosen at run time (nn/kernels.c). The
# AMX folder (nn/arch/x86/amx) has no folder flags: its entry points and the CPU probe run on
# every CPU, so each function that runs AVX-512 or tile instructions carries its own target
# attribute.
$(BUILD)/obj/src/nn/arch/x86/avx2/%.o: CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/obj/src/nn/arch/x86/avx512/%.o: CFLAGS += -mavx2 -mfma -mf16c -mavx512f -mavx512bw \
	-mavx512vl -mavx512dq -mavx512vnni

.PHONY: all test unit-test isa-test tsan-bin tsan-test http-test asan-test fuzz fuzz-smoke \
	bench run deps format format-check clean pkg-check
all: $(BUILD)/vocero

# Every compile waits for this check (order-only: it never forces a rebuild).
pkg-check:
ifneq ($(strip $(PKG_MISSING)),)
	@echo 'make: the build libraries were not all found when make started:' >&2
	@echo '  $(subst ',,$(PKG_MISSING))' >&2
	@echo 'make: install them with `make deps` (scripts/install-deps.sh), then run make again' >&2
	@exit 1
endif

$(BUILD)/obj/%.o: %.c | pkg-check
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/vocero: $(BUILD)/obj/src/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB) tests/unit/test.h | pkg-check
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

# Benchmark programs (bench/*.c), linked like the server; the bench/*.sh scripts build them.
$(BUILD)/bench/%: bench/%.c $(LIB) | pkg-check
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

unit-test: $(UNIT_BIN)
	@scripts/run-unit-tests.sh $(UNIT_BIN)

# The reference-vector suites at every instruction-set level this machine has (NN_ISA).
isa-test: $(UNIT_BIN) $(BUILD)/tests/tools/isa_level
	@scripts/run-isa-tests.sh $(BUILD)

# A race report makes the binary exit 66 (TSan's default), a failure.
tsan-bin: $(TSAN_BIN)
tsan-test: $(TSAN_BIN)
	@UNIT_LABEL=tsan TSAN_OPTIONS="second_deadlock_stack=1 $(TSAN_OPTIONS)" \
		scripts/run-unit-tests.sh $(TSAN_BIN)

# test-all.sh runs install-deps.sh first, then builds in make processes of its own.
test:
	@scripts/test-all.sh

deps:
	@scripts/install-deps.sh

# Not `run: deps all`: this make read the pkg-config flags before deps installed anything
# (and -j would build alongside deps); the second make reads them once the packages are in.
run:
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory all
	./$(BUILD)/vocero serve

bench: all
	@scripts/bench.sh

fuzz:
	@scripts/fuzz.sh build

fuzz-smoke:
	@scripts/fuzz.sh smoke

format:
	clang-format -i $$(find src tests bench -name '*.[ch]')

format-check:
	clang-format --dry-run -Werror $$(find src tests bench -name '*.[ch]')

clean:
	rm -rf $(BUILD)

$(BUILD)/obj/src/api/docs.o: docs/openapi.json

-include $(OBJ:.o=.d) $(BUILD)/obj/src/main.d
