# llm.sh: `make bench` section: chat LLM prompt and decode tokens/s on random-weight models
# with the real Qwen2.5-3B and 0.5B shapes (q4_k_m and q8_0), 2 threads, and the second
# chat turn with and without the KV cache. Anchor on these machines (llama.cpp, 2 threads,
# 3B random weights): q4_k_m decode ~4.9 tok/s, prompt ~8.7; q8_0 decode ~3.7, prompt ~10.5.
bench_section_llm() {
    local out
    echo
    echo "== llm: bench/llm_bench.sh ${BENCH_LLM_SHAPES:-3b 0.5b}"
    out=$(OUT=build/bench THREADS=${BENCH_LLM_THREADS:-2} bench/llm_bench.sh \
        ${BENCH_LLM_SHAPES:-3b 0.5b} 2>&1) || {
        echo "$out"
        bench_fail "llm: bench/llm_bench.sh failed"
        return
    }
    echo "$out"
    echo "== llm: second chat turn, 3b q4_k_m"
    out=$(build/vocero llm-bench --model build/bench/random-3b-q4_k_m.gguf \
        --threads "${BENCH_LLM_THREADS:-2}" --second-turn 2>&1) || {
        echo "$out"
        bench_fail "llm: second-turn benchmark failed"
        return
    }
    echo "$out"
}
