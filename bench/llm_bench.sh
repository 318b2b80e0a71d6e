#!/bin/sh
# llm_bench.sh: prompt and decode tokens/s of our engine on random-weight models with the
# exact Qwen2.5 shapes (written by `vocero models make-random`), 2 threads by default.
#   bench/llm_bench.sh [SHAPE...]      (default: 3b 0.5b)   env: THREADS, PP, TG, REPEAT, OUT,
#   TYPES, AMX_MODES (extra prompt runs with NN_AMX=mode, default "all": BF16 tiles for every
#   type; "" for none; the first run uses the default, exact INT8/BF16 tiles where AMX
#   exists), LLAMA_BENCH (a llama.cpp llama-bench binary built from its public source: run
#   back to back on the same file and threads, with the ratios ours/llama.cpp)
# Both programs warm up first and report the mean +- sd of REPEAT runs.
# Uses build/vocero (run `make` first). Models are cached in $OUT between runs.
set -e
cd "$(dirname "$0")/.."
OUT=${OUT:-build/bench}
THREADS=${THREADS:-2}
PP=${PP:-64}
TG=${TG:-16}
REPEAT=${REPEAT:-3}
TYPES=${TYPES:-"q4_k_m q8_0"}
AMX_MODES=${AMX_MODES-all}
mkdir -p "$OUT"
# "RATE" from a line "...= RATE +- SD tokens/s..."
rate() { sed -n "s/^$1: .*= \([0-9.]*\) +-.*/\1/p"; }
for shape in ${*:-3b 0.5b}; do
    for type in $TYPES; do
        f="$OUT/random-$shape-$type.gguf"
        [ -f "$f" ] || build/vocero models make-random qwen2 "$f" --shape "$shape" --type "$type"
        echo "== $shape $type, $THREADS threads"
        ours=$(build/vocero llm-bench --model "$f" --threads "$THREADS" --prompt-tokens "$PP" \
            --gen-tokens "$TG" --repeat "$REPEAT")
        echo "$ours"
        for mode in $AMX_MODES; do
            out=$(NN_AMX=$mode build/vocero llm-bench --model "$f" --threads "$THREADS" \
                --prompt-tokens "$PP" --gen-tokens 1 --repeat "$REPEAT")
            echo "$out" | sed -n "s/^prompt:/prompt (NN_AMX=$mode):/p"
        done
        [ -n "$LLAMA_BENCH" ] && [ -x "$LLAMA_BENCH" ] || continue
        ll=$("$LLAMA_BENCH" -m "$f" -t "$THREADS" -p "$PP" -n "$TG" -r "$REPEAT" 2>/dev/null |
            grep -E "\| +(pp$PP|tg$TG) +\|") || {
            echo "llama-bench failed on $f"
            continue
        }
        lpp=$(echo "$ll" | sed -n "s/.*pp$PP *| *\([0-9.]*\) ± *\([0-9.]*\).*/\1/p")
        lsd=$(echo "$ll" | sed -n "s/.*pp$PP *| *\([0-9.]*\) ± *\([0-9.]*\).*/\2/p")
        ltg=$(echo "$ll" | sed -n "s/.*tg$TG *| *\([0-9.]*\) ± *\([0-9.]*\).*/\1/p")
        ltd=$(echo "$ll" | sed -n "s/.*tg$TG *| *\([0-9.]*\) ± *\([0-9.]*\).*/\2/p")
        opp=$(echo "$ours" | rate prompt)
        otg=$(echo "$ours" | rate decode)
        echo "llama.cpp ($LLAMA_BENCH): prompt $lpp +- $lsd tokens/s, decode $ltg +- $ltd tokens/s"
        awk -v a="$opp" -v b="$lpp" -v c="$otg" -v d="$ltg" 'BEGIN {
            printf "ratio ours/llama.cpp: prompt %.2f, decode %.2f\n", a / b, c / d }'
    done
done
