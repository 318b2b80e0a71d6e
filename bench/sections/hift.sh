# hift.sh: `make bench` section: the HiFT vocoder alone at the real size (base 512, random
# weights built in memory in the checkpoint layout), 4 s of audio, BENCH_HIFT_THREADS (2)
# threads; PyTorch's figure on these machines is 1.55 s per 4 s (RTF 0.39).
bench_section_hift() {
    local out line
    echo
    echo "== hift: bench/hift_bench.sh --seconds 4 --reps 3"
    out=$(OUT=build/bench THREADS=${BENCH_HIFT_THREADS:-2} bench/hift_bench.sh --seconds 4 \
        --reps 3 2>&1) || {
        echo "$out"
        bench_fail "hift: bench/hift_bench.sh failed"
        return
    }
    echo "$out" | grep -v '^HIFT_BENCH'
    line=$(echo "$out" | grep '^HIFT_BENCH' | tail -n 1)
    [ -n "$line" ] || {
        bench_fail "hift: no HIFT_BENCH line"
        return
    }
    bench_row "hift rtf (s/s audio)" "-" "-" "-" 0 0 "${line#HIFT_BENCH }"
}
