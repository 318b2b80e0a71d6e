#!/usr/bin/env bash
# Runs each unit-test binary given as an argument and adds up their "N passed, N failed"
# lines; each binary gets at most UNIT_TEST_TIMEOUT seconds (default 600). Exit status is non-zero when any binary fails or crashes.
set -u
total_pass=0 total_fail=0 status=0
for bin in "$@"; do
    out=$(timeout --kill-after=10 "${UNIT_TEST_TIMEOUT:-600}" "$bin" 2>"$bin.log")
    rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n1)
    p=$(printf '%s' "$line" | awk '{print $1}')
    f=$(printf '%s' "$line" | awk '{print $3}')
    p=${p:-0} f=${f:-0}
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        status=1
        [ "$f" -eq 0 ] && f=1
        echo "FAIL $bin (exit $rc)"
        tail -n 40 "$bin.log"
    else
        echo "ok   $bin: $line"
    fi
    grep -h '^SKIPPED' "$bin.log" || true
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
done
echo "unit: $total_pass passed, $total_fail failed"
exit $status
