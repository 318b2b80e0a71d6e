# soak.sh: `make bench` section: bench/soak.py, 64 connections for SOAK_DURATION_S (60) s
# mixing GET /, /auth/me and /history with speech and chat requests that keep their queues
# full; reports health p99 and the server's RSS at start, middle and end.
bench_section_soak() {
    local out line kv
    echo
    echo "== soak: bench/soak.py (${SOAK_DURATION_S:-60} s)"
    out=$(BENCH_BIN="$BIN" python3 bench/soak.py 2>&1) || {
        echo "$out"
        bench_fail "soak: bench/soak.py failed"
        return
    }
    echo "$out" | grep -v '^SOAK_RESULT'
    line=$(echo "$out" | grep '^SOAK_RESULT' | tail -n 1)
    kv() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
    bench_row "soak GET / (health)" "$(kv health_rps)" "-" "$(kv health_p99_ms)" 0 0 \
        "RSS KiB idle $(kv rss_idle_kib), load $(kv rss_start_kib)/$(kv rss_middle_kib)/$(kv rss_end_kib)"
}
