#!/usr/bin/env bash
# Runs each unit-test binary given as an argument and adds up their
# "N passed, N failed, N skipped" lines; each binary gets at most UNIT_TEST_TIMEOUT seconds
# (default 600). Shows every FAIL line and every SKIPPED line (with its reason), then the
# total "unit: N passed, N failed, N skipped" and the skipped names. Exit status is non-zero
# when any binary fails, crashes or prints no closing line.
# Environment: UNIT_LABEL (default "unit": the label of the total line and a suffix of the
# per-binary logs, BIN.LABEL.log, so runs under several settings keep their own logs).
set -u
label=${UNIT_LABEL:-unit}
total_pass=0 total_fail=0 total_skip=0 status=0
skipped=()
for bin in "$@"; do
    log=$bin.log
    [ "$label" != unit ] && log=$bin.$label.log
    out=$(timeout --kill-after=10 "${UNIT_TEST_TIMEOUT:-600}" "$bin" 2>"$log")
    rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n1)
    p=$(printf '%s' "$line" | awk '{print $1}')
    f=$(printf '%s' "$line" | awk '{print $3}')
    s=$(printf '%s' "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
    p=${p:-0} f=${f:-0} s=${s:-0}
    if [ $rc -ne 0 ] || [ -z "$line" ] || [ "$f" -ne 0 ]; then
        status=1
        [ "$f" -eq 0 ] && f=1
        echo "FAIL $bin (exit $rc${line:+: $line})"
        grep -E '^ *FAIL' "$log" | head -n 60
        # the first sanitizer report; else, with no FAIL line (a crash, a timeout), the end
        san=$(grep -n -m1 -E '(WARNING|ERROR): [A-Za-z]*Sanitizer|runtime error:' "$log" | cut -d: -f1)
        if [ -n "$san" ]; then
            sed -n "${san},$((san + 60))p" "$log"
        elif ! grep -qE '^ *FAIL' "$log"; then
            tail -n 40 "$log"
        fi
    else
        echo "ok   $bin: $line"
    fi
    while IFS= read -r l; do
        echo "  $l"
        skipped+=("${bin##*/}: ${l#SKIPPED }")
    done < <(grep -h '^SKIPPED' "$log")
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
done
if [ ${#skipped[@]} -gt 0 ]; then
    echo "skipped ($label):"
    printf '  %s\n' "${skipped[@]}"
fi
echo "$label: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
