#!/usr/bin/env bash
# test-all.sh: what `make test` runs. Build, unit tests (SQLite and a throwaway PostgreSQL),
# the reference-vector suites at every instruction-set level (unit-isa), HTTP integration
# tests on both back ends, the /docs browser test, clang-format, then unit + HTTP again under
# ASan+UBSan, the threaded units under ThreadSanitizer, and a short fuzz smoke run. Prints a
# table per stage and a final "N passed, N failed, N skipped" line adding up every stage;
# exits non-zero when any stage failed.
# Environment: JOBS (make -j, default 2), TEST_DATABASE_URL (use that PostgreSQL instead of
# a throwaway one), VOCERO_TEST_QUICK=1 (skip the sanitizer and fuzz stages; local use only).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
JOBS=${JOBS:-2}
LOG_DIR=$ROOT/build/test-logs
mkdir -p "$LOG_DIR"
export PYTHONDONTWRITEBYTECODE=1

# ---- stage bookkeeping -------------------------------------------------------------------
STAGES=() RESULTS=() PASSES=() FAILS=() SKIPS=() TIMES=()
TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0 ANY_FAIL=0

record() { # name result passed failed skipped seconds
    STAGES+=("$1") RESULTS+=("$2") PASSES+=("$3") FAILS+=("$4") SKIPS+=("$5") TIMES+=("$6")
    TOTAL_PASS=$((TOTAL_PASS + $3)) TOTAL_FAIL=$((TOTAL_FAIL + $4)) TOTAL_SKIP=$((TOTAL_SKIP + $5))
    [ "$2" = FAIL ] && ANY_FAIL=1
    return 0
}

skip() { # name reason: a stage not run counts as one skipped test
    echo "=== $1: skipped ($2)"
    record "$1" "skip" 0 0 1 0
}

# run_stage NAME LIMIT_S CMD...: runs CMD with a time limit, output shown live and kept in
# build/test-logs/NAME.log. Counts come from the last "N passed, N failed[, N skipped]" line
# the command prints (optionally after one "word: "); a command that prints none counts as one
# test. A non-zero exit always counts at least one failure.
run_stage() {
    local name=$1 limit=$2
    shift 2
    local log=$LOG_DIR/$name.log start=$SECONDS rc pid tpid line p=0 f=0 s=0 result
    echo
    echo "=== $name: $*"
    : >"$log"
    # Output goes to a file, not a pipe, so a stray child holding stdout cannot hang us;
    # timeout signals the whole process group (servers the stage started included).
    timeout --kill-after=15 "$limit" "$@" >"$log" 2>&1 </dev/null &
    pid=$!
    tail -n +1 -f --pid="$pid" "$log" &
    tpid=$!
    wait "$pid"
    rc=$?
    wait "$tpid" 2>/dev/null
    line=$(grep -E '^([A-Za-z0-9_.-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        p=$(printf '%s\n' "$line" | sed -E 's/^([A-Za-z0-9_.-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/')
        f=$(printf '%s\n' "$line" | sed -E 's/^([A-Za-z0-9_.-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/')
        s=$(printf '%s\n' "$line" | sed -nE 's/^.* failed, ([0-9]+) skipped.*/\1/p')
        s=${s:-0}
    elif [ $rc -eq 0 ]; then
        p=1
    fi
    if [ $rc -ne 0 ]; then
        [ "$f" -eq 0 ] && f=1
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            echo "!!! $name: timed out after ${limit}s (log: $log)"
        else
            echo "!!! $name: exit status $rc (log: $log)"
        fi
    fi
    if [ $rc -eq 0 ] && [ "$f" -eq 0 ]; then result=ok; else result=FAIL; fi
    record "$name" "$result" "$p" "$f" "$s" $((SECONDS - start))
    [ "$result" = ok ]
}

# ---- throwaway PostgreSQL --------------------------------------------------------------
PGURL=""
PG_STARTED=0
cleanup() {
    if [ $PG_STARTED -eq 1 ]; then
        scripts/pg-test-server.sh stop >/dev/null 2>&1 || echo "warning: pg-test-server.sh stop failed" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_pg() {
    local start=$SECONDS out
    echo
    echo "=== postgres: scripts/pg-test-server.sh start"
    if [ ! -x scripts/pg-test-server.sh ]; then
        echo "!!! postgres: scripts/pg-test-server.sh is missing or not executable"
        record postgres FAIL 0 1 0 0
        return 1
    fi
    PG_STARTED=1
    if out=$(timeout 120 scripts/pg-test-server.sh start 2>"$LOG_DIR/postgres.log" </dev/null); then
        PGURL=$(printf '%s\n' "$out" | grep -E '^postgres(ql)?://' | tail -n 1)
    fi
    if [ -z "$PGURL" ]; then
        cat "$LOG_DIR/postgres.log"
        echo "!!! postgres: no postgresql:// URL from pg-test-server.sh start (got: ${out:-nothing})"
        record postgres FAIL 0 1 0 $((SECONDS - start))
        return 1
    fi
    echo "PostgreSQL for tests: ${PGURL%%\?*}"
    export TEST_DATABASE_URL=$PGURL
    record postgres ok 1 0 0 $((SECONDS - start))
}

# ---- one suite: unit + HTTP (+ browser) against one build directory ----------------------
# suite PREFIX BUILD_DIR MAKE_ARGS...
suite() {
    local prefix=$1 build=$2
    shift 2
    if ! run_stage "${prefix}build" 1800 make -j"$JOBS" BUILD="$build" "$@"; then
        skip "${prefix}unit" "build failed"
        skip "${prefix}http-sqlite" "build failed"
        skip "${prefix}http-postgres" "build failed"
        return
    fi
    run_stage "${prefix}unit" 1200 make -j"$JOBS" BUILD="$build" "$@" unit-test
    if [ -z "$prefix" ]; then
        run_stage unit-isa 1200 make -j"$JOBS" BUILD="$build" isa-test
    fi
    if [ -f tests/http/run.py ]; then
        run_stage "${prefix}http-sqlite" 1200 \
            python3 tests/http/run.py --binary "$build/vocero" --database sqlite
        if [ -n "$PGURL" ]; then
            run_stage "${prefix}http-postgres" 1200 \
                python3 tests/http/run.py --binary "$build/vocero" --database "$PGURL"
        else
            skip "${prefix}http-postgres" "no PostgreSQL server"
        fi
    else
        skip "${prefix}http-sqlite" "tests/http/run.py not present"
        skip "${prefix}http-postgres" "tests/http/run.py not present"
    fi
}

# ---- the stages --------------------------------------------------------------------------
if [ "${VOCERO_SKIP_DEPS:-0}" != 1 ]; then
    run_stage deps 1800 scripts/install-deps.sh
fi
start_pg

suite "" build
if [ -f tests/browser/docs.test.mjs ]; then
    if [ -x build/vocero ]; then
        VOCERO_BIN=$ROOT/build/vocero run_stage browser-docs 300 node tests/browser/docs.test.mjs
    else
        skip browser-docs "build/vocero missing"
    fi
else
    skip browser-docs "tests/browser/docs.test.mjs not present"
fi
run_stage format-check 300 make format-check
# Deliberate numerical mistakes, one at a time in a copy of the tree: each must be caught.
# It needs the reference vectors: without them (a checkout with no ../shared) it is a skip,
# except in CI, where the data is always there and its absence is a failure.
REFDATA_DIR=${VOCERO_REFDATA:-$ROOT/../shared/testdata}
if [ ! -x scripts/mutation-check.sh ]; then
    skip mutation-check "scripts/mutation-check.sh not present"
elif [ ! -d "$REFDATA_DIR/chatterbox-ref" ] || [ ! -d "$REFDATA_DIR/qwen2-ref" ]; then
    if [ "${CI:-}" = true ] || [ "${VOCERO_REQUIRE_REFDATA:-0}" = 1 ]; then
        echo "!!! mutation-check: reference data missing in $REFDATA_DIR (required with CI=true)"
        record mutation-check FAIL 0 1 0 0
    else
        skip mutation-check "no reference data in $REFDATA_DIR"
    fi
else
    run_stage mutation-check 1800 scripts/mutation-check.sh
fi

if [ "${VOCERO_TEST_QUICK:-0}" = 1 ]; then
    skip asan "VOCERO_TEST_QUICK=1"
    skip tsan "VOCERO_TEST_QUICK=1"
    skip fuzz-smoke "VOCERO_TEST_QUICK=1"
else
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1
    suite "asan-" build/asan SANITIZE=1 OPT=-O1
    unset ASAN_OPTIONS UBSAN_OPTIONS
    tsan_args=(BUILD=build/tsan SANITIZE=thread OPT=-O1)
    if run_stage tsan-build 1800 make -j"$JOBS" "${tsan_args[@]}" tsan-bin; then
        run_stage tsan 600 make "${tsan_args[@]}" tsan-test
    else
        skip tsan "build failed"
    fi
    if [ -x scripts/fuzz.sh ]; then
        run_stage fuzz-smoke 1200 scripts/fuzz.sh smoke 10
    else
        skip fuzz-smoke "scripts/fuzz.sh not present"
    fi
fi

# ---- summary -------------------------------------------------------------------------------
echo
echo "Summary (logs in build/test-logs/):"
printf '  %-20s %-6s %8s %8s %8s %8s\n' stage result passed failed skipped seconds
for i in "${!STAGES[@]}"; do
    printf '  %-20s %-6s %8s %8s %8s %8s\n' "${STAGES[$i]}" "${RESULTS[$i]}" "${PASSES[$i]}" \
        "${FAILS[$i]}" "${SKIPS[$i]}" "${TIMES[$i]}"
done
printf '  %-20s %-6s %8s %8s %8s %8s\n' total "$([ $ANY_FAIL -eq 0 ] && echo ok || echo FAIL)" \
    "$TOTAL_PASS" "$TOTAL_FAIL" "$TOTAL_SKIP" "$SECONDS"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
[ $ANY_FAIL -eq 0 ] && [ "$TOTAL_FAIL" -eq 0 ]
