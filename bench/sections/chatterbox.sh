# chatterbox.sh: `make bench` section: Chatterbox-Turbo end to end on a random full-size
# checkpoint (written once by make-random into CB_BENCH_DIR, default /tmp/vocero-cb-bench-full,
# ~3 GB, reused by later runs), a 200-character text, BENCH_CB_TOKENS (300) speech tokens =
# 12 s of audio, BENCH_CB_THREADS (2) threads, per T3 weight type in BENCH_CB_TYPES
# (q8_0,q4_0; add f32 for the exact weights). PyTorch on these machines: RTF 8.9, T3 4 tokens/s.
# Each row also gives the time to first audio of a streamed request through the whole speech
# pipeline (pipeline_first_audio_s: engine + joiner + stream chain, built-in voice primed;
# goal < 1 s) next to the synthesis layer's own (first_chunk_s, 200-character text at once).
bench_section_chatterbox() {
    local out line lines
    echo
    echo "== chatterbox: bench/chatterbox_bench.sh --types ${BENCH_CB_TYPES:-q8_0,q4_0}"
    out=$(OUT=build/bench THREADS=${BENCH_CB_THREADS:-2} bench/chatterbox_bench.sh \
        --types "${BENCH_CB_TYPES:-q8_0,q4_0}" --tokens "${BENCH_CB_TOKENS:-300}" 2>&1) || {
        echo "$out"
        bench_fail "chatterbox: bench/chatterbox_bench.sh failed"
        return
    }
    echo "$out" | grep -v '^CB_BENCH'
    lines=$(echo "$out" | grep '^CB_BENCH' || true)
    [ -n "$lines" ] || {
        bench_fail "chatterbox: no CB_BENCH line"
        return
    }
    while read -r line; do
        line=${line#CB_BENCH type=}
        bench_row "chatterbox ${line%% *}" "-" "-" "-" 0 0 "${line#* }"
    done <<<"$lines"
}
