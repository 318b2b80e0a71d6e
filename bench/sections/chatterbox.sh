# chatterbox.sh: `make bench` section: Chatterbox-Turbo end to end on a random full-size
# checkpoint (written once by make-random into CB_BENCH_DIR, ~3 GB), a 200-character text,
# BENCH_CB_TOKENS (300) speech tokens = 12 s of audio, BENCH_CB_THREADS (2) threads, per T3
# weight type in BENCH_CB_TYPES (q8_0,q4_0,f32). PyTorch on these machines: RTF 8.9.
bench_section_chatterbox() {
    local out line
    echo
    echo "== chatterbox: bench/chatterbox_bench.sh --types ${BENCH_CB_TYPES:-q8_0,q4_0,f32}"
    out=$(OUT=build/bench THREADS=${BENCH_CB_THREADS:-2} bench/chatterbox_bench.sh \
        --types "${BENCH_CB_TYPES:-q8_0,q4_0,f32}" --tokens "${BENCH_CB_TOKENS:-300}" 2>&1) || {
        echo "$out"
        bench_fail "chatterbox: bench/chatterbox_bench.sh failed"
        return
    }
    echo "$out" | grep -v '^CB_BENCH'
    echo "$out" | grep '^CB_BENCH' | while read -r line; do
        bench_row "chatterbox ${line#CB_BENCH }" "-" "-" "-" 0 0 "rtf and first chunk in s"
    done
    [ -n "$(echo "$out" | grep '^CB_BENCH')" ] || bench_fail "chatterbox: no CB_BENCH line"
}
