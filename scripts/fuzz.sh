#!/usr/bin/env bash
# fuzz.sh: builds and runs the libFuzzer targets tests/fuzz/fuzz_<name>.c.
#   scripts/fuzz.sh build                  clang build of the library into build/fuzz, then
#                                          every target into build/fuzz/fuzz_<name>
#   scripts/fuzz.sh smoke [SECONDS] [NAME…]  build, then run each target (or the named ones)
#                                          for SECONDS (default 15) over a copy of
#                                          tests/fuzz/corpus/<name>/; fails on any crash
#   scripts/fuzz.sh run NAME [ARGS…]       build, then run one target by hand with libFuzzer
#                                          ARGS (corpus copy kept in build/fuzz/work/NAME)
# Environment: CC (default clang), JOBS (make -j, default 2). Leaks inside system libraries
# are suppressed by tests/fuzz/lsan.supp.
set -euo pipefail

cd "$(dirname "$0")/.."
CC=${CC:-clang}
[[ $CC == cc || $CC == gcc ]] && CC=clang # libFuzzer needs clang
JOBS=${JOBS:-2}
OUT=build/fuzz
LIB_SAN='-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all'
BIN_SAN='-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all'

die() {
    echo "fuzz: $*" >&2
    exit 1
}

# Prints a Makefile variable as evaluated with our overrides (one source of truth for flags).
make_var() {
    # shellcheck disable=SC2016 # $(VAR) is for make, not the shell
    printf 'print-var: ; @echo $(%s)\n' "$1" |
        make --no-print-directory -f Makefile -f - BUILD="$OUT" CC="$CC" \
            EXTRA_CFLAGS="$LIB_SAN" print-var
}

targets() {
    local f
    for f in tests/fuzz/fuzz_*.c; do
        [[ -e $f ]] || continue
        f=${f##*/fuzz_}
        echo "${f%.c}"
    done
}

build() {
    command -v "$CC" >/dev/null || die "$CC not found (install clang and libclang-rt-dev)"
    echo "fuzz: building $OUT/libvocero.a with $CC"
    mkdir -p "$OUT"
    if ! make -j"$JOBS" BUILD="$OUT" CC="$CC" EXTRA_CFLAGS="$LIB_SAN" "$OUT/libvocero.a" \
        >"$OUT/build.log" 2>&1; then
        grep -E 'error:|warning:|Error [0-9]' "$OUT/build.log" | head -n 30 >&2
        die "library build failed (full log: $OUT/build.log)"
    fi
    local cflags ldlibs name
    cflags=$(make_var CFLAGS)
    ldlibs=$(make_var LDLIBS)
    # Targets define LLVMFuzzerTestOneInput without a prior prototype; that is the API.
    cflags="${cflags//-fsanitize=fuzzer-no-link,address,undefined/} -Itests -Wno-missing-prototypes"
    for name in $(targets); do
        local src=tests/fuzz/fuzz_$name.c bin=$OUT/fuzz_$name
        if [[ ! -x $bin || $src -nt $bin || $OUT/libvocero.a -nt $bin ]]; then
            echo "fuzz: linking $bin"
            # shellcheck disable=SC2086 # word splitting of flag lists is intended
            "$CC" $cflags $BIN_SAN -o "$bin" "$src" "$OUT/libvocero.a" $ldlibs ||
                die "building $src failed"
        fi
    done
}

# Runs one target for $2 seconds over a fresh copy of its corpus; returns non-zero on a crash.
smoke_one() {
    local name=$1 secs=$2
    local bin=$OUT/fuzz_$name work=$OUT/work/$name log=$OUT/logs/$name.log
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts" "$OUT/logs"
    if [[ -d tests/fuzz/corpus/$name ]]; then
        cp -R tests/fuzz/corpus/"$name"/. "$work/corpus/"
    fi
    local rc=0
    local lsan=""
    [[ -f tests/fuzz/lsan.supp ]] && lsan="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
        LSAN_OPTIONS=${LSAN_OPTIONS:-$lsan} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        timeout $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" >"$log" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "FAIL fuzz_$name (exit $rc; log $log)"
        grep -E 'ERROR:|runtime error|Test unit written|SUMMARY' "$log" | head -n 20 || true
        return 1
    fi
    local runs
    runs=$(grep -oE '^Done [0-9]+ runs' "$log" | awk '{print $2}' | tail -n1)
    echo "ok   fuzz_$name: ${runs:-?} runs in ${secs}s, corpus $(find "$work/corpus" -type f | wc -l) files"
}

smoke() {
    local secs=${1:-15}
    [[ $secs =~ ^[0-9]+$ && $secs -gt 0 ]] || die "seconds must be a positive integer"
    shift || true
    build
    local names=("$@") pass=0 fail=0 name
    [[ ${#names[@]} -gt 0 ]] || mapfile -t names < <(targets)
    for name in "${names[@]}"; do
        if [[ ! -x $OUT/fuzz_$name ]]; then
            echo "FAIL fuzz_$name (no such target)"
            fail=$((fail + 1))
        elif smoke_one "$name" "$secs"; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
        fi
    done
    echo "fuzz: $pass passed, $fail failed"
    [[ $fail -eq 0 ]]
}

case ${1:-} in
build) build ;;
smoke)
    shift
    smoke "$@"
    ;;
run)
    [[ -n ${2:-} ]] || die "usage: $0 run NAME [libFuzzer args]"
    name=$2
    shift 2
    build
    mkdir -p "$OUT/work/$name/corpus"
    [[ -d tests/fuzz/corpus/$name ]] && cp -Rn tests/fuzz/corpus/"$name"/. "$OUT/work/$name/corpus/"
    exec "$OUT/fuzz_$name" "$@" "$OUT/work/$name/corpus"
    ;;
*)
    echo "usage: $0 build | smoke [SECONDS] [NAME...] | run NAME [ARGS...]" >&2
    exit 2
    ;;
esac
