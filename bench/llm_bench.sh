#!/bin/sh
# llm_bench.sh: prompt and decode tokens/s of our engine on random-weight models with the
# exact Qwen2.5 shapes (written by `vocero models make-random`), 2 threads by default.
#   bench/llm_bench.sh [SHAPE...]      (default: 3b 0.5b)   env: THREADS, PP, TG, OUT, TYPES,
#   AMX_MODES (extra prompt runs with NN_AMX=mode, default "all": BF16 tiles for every type;
#   "" for none; the first run uses the default, exact INT8/BF16 tiles where AMX exists)
# Uses build/vocero (run `make` first). Models are cached in $OUT between runs.
set -e
cd "$(dirname "$0")/.."
OUT=${OUT:-build/bench}
THREADS=${THREADS:-2}
PP=${PP:-64}
TG=${TG:-16}
TYPES=${TYPES:-"q4_k_m q8_0"}
AMX_MODES=${AMX_MODES-all}
mkdir -p "$OUT"
for shape in ${*:-3b 0.5b}; do
    for type in $TYPES; do
        f="$OUT/random-$shape-$type.gguf"
        [ -f "$f" ] || build/vocero models make-random qwen2 "$f" --shape "$shape" --type "$type"
        echo "== $shape $type, $THREADS threads"
        build/vocero llm-bench --model "$f" --threads "$THREADS" --prompt-tokens "$PP" \
            --gen-tokens "$TG"
        for mode in $AMX_MODES; do
            out=$(NN_AMX=$mode build/vocero llm-bench --model "$f" --threads "$THREADS" \
                --prompt-tokens "$PP" --gen-tokens 1)
            echo "$out" | sed -n "s/^prompt:/prompt (NN_AMX=$mode):/p"
        done
    done
done
