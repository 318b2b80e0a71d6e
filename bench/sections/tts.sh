# tts.sh: `make bench` section: real-time factor of speech generation on a 1,000-character
# text (espeak-ng alone, the whole pipeline with ambience mixing and mp3 encoding, and the
# pipeline without the engine), plus POST /generate-tts through the server.
bench_section_tts() {
    local bin=build/bench/tts_bench out line
    if ! make -s "$bin" >"$TMP/tts_bench.log" 2>&1; then
        cat "$TMP/tts_bench.log"
        bench_fail "tts: cannot build $bin"
        return
    fi
    echo
    echo "== tts: $bin ${BENCH_TTS_RUNS:-5} mp3 rain"
    out=$("$bin" "${BENCH_TTS_RUNS:-5}" mp3 rain 2>&1) || {
        echo "$out"
        bench_fail "tts: $bin failed"
        return
    }
    echo "$out" | grep -v '^TTS_BENCH'
    line=$(echo "$out" | grep '^TTS_BENCH' | tail -n 1)
    echo "$line"
    bench_row "tts rtf (s/s audio)" "-" "-" "-" 0 0 "${line#TTS_BENCH }"
    # one generation through HTTP
    local t0 t1 code
    t0=$(date +%s%N)
    code=$(curl -s -o "$TMP/gen.json" -w '%{http_code}' --max-time 60 -X POST \
        -H "$AUTH_HEADER" -H 'Content-Type: application/json' \
        --data-binary '{"text":"Benchmarking the generation route with a short sentence."}' \
        "$BASE/generate-tts") || code=000
    t1=$(date +%s%N)
    if [ "$code" != 201 ]; then
        bench_fail "tts: POST /generate-tts answered HTTP $code"
        return
    fi
    bench_row "POST /generate-tts" "-" "$(((t1 - t0) / 1000000))" "-" 0 0 "one request, ms"
}
