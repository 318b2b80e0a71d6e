# Vocero build. `make` builds ./build/vocero; `make test` runs every test (also under
# ASan+UBSan); `make run` installs what is missing, builds and serves; `make bench`,
# `make fuzz`, `make format`. Options: BUILD=dir, SANITIZE=1, NATIVE=1, EXTRA_CFLAGS=...
BUILD     ?= build
CC        ?= cc
PKGS      := libmicrohttpd libjwt sqlite3 libpq libcurl sndfile soxr libebur128 openssl
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wpointer-arith -Wno-format-nonliteral
OPT       ?= -O2
CFLAGS    := -std=c17 $(OPT) -g -D_GNU_SOURCE -Isrc -fno-common -pthread $(WARN) \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LDLIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lespeak-ng -lcrypt -lm -pthread
ifeq ($(SANITIZE),1)
CFLAGS    += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined
endif

SRC       := $(shell find src -name '*.c' ! -path src/main.c | sort)
OBJ       := $(SRC:%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libvocero.a
UNIT_SRC  := $(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort)
UNIT_BIN  := $(UNIT_SRC:%.c=$(BUILD)/%)

# SIMD kernels: compiled for their instruction set, chosen at run time.
$(BUILD)/obj/src/nn/arch/x86/avx2/%.o: CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/obj/src/nn/arch/x86/avx512/%.o: CFLAGS += -mavx2 -mfma -mf16c -mavx512f -mavx512bw \
	-mavx512vl -mavx512dq -mavx512vnni

.PHONY: all test unit-test http-test asan-test fuzz fuzz-smoke bench run deps format \
	format-check clean
all: $(BUILD)/vocero

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/vocero: $(BUILD)/obj/src/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB) tests/unit/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

# Benchmark programs (bench/*.c), linked like the server; the bench/*.sh scripts build them.
$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

unit-test: $(UNIT_BIN)
	@scripts/run-unit-tests.sh $(UNIT_BIN)

test:
	@scripts/test-all.sh

deps:
	@scripts/install-deps.sh

run: deps all
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
