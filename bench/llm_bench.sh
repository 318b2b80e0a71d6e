#!/bin/sh
# llm_bench.sh: prompt and decode tokens/s of our engine on random-weight models with the
# exact Qwen2.5 shapes (written by `vocero models make-random`), 2 threads by default.
#   bench/llm_bench.sh [SHAPE...]      (default: 3b 0.5b)   env: THREADS, PP (prompt lengths,
#   default "64 512": 512 is llama-bench's default), TG, REPEAT, OUT, TYPES, AMX_MODES (extra
#   prompt runs with NN_AMX=mode, default "all": BF16 tiles for every type; "" for none; the
#   first run uses the default, exact INT8/BF16 tiles where AMX exists), LLAMA_BENCH (a
#   llama.cpp llama-bench binary built from its public source: run back to back on the same
#   file and threads, with the ratios ours/llama.cpp)
# Both programs warm up first and report the mean +- sd of REPEAT runs.
# Uses build/vocero (run `make` first). Models are cached in $OUT between runs.
set -e
cd "$(dirname "$0")/.."
OUT=${OUT:-build/bench}
THREADS=${THREADS:-2}
PP=${PP:-64 512}
TG=${TG:-16}
REPEAT=${REPEAT:-3}
TYPES=${TYPES:-"q4_k_m q8_0"}
AMX_MODES=${AMX_MODES-all}
mkdir -p "$OUT"
# "RATE" from a line "...= RATE +- SD tokens/s..."
rate() { sed -n "s/^$1: .*= \([0-9.]*\) +-.*/\1/p"; }
# "RATE +- SD" of llama-bench's row for test $1 (pp64, tg16, ...)
llama_rate() { sed -n "s/.*| *$1 *| *\([0-9.]*\) ± *\([0-9.]*\).*/\1 +- \2/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
for shape in ${*:-3b 0.5b}; do
    for type in $TYPES; do
        f="$OUT/random-$shape-$type.gguf"
        [ -f "$f" ] || build/vocero models make-random qwen2 "$f" --shape "$shape" --type "$type"
        echo "== $shape $type, $THREADS threads"
        have_llama=false
        [ -n "$LLAMA_BENCH" ] && [ -x "$LLAMA_BENCH" ] && have_llama=true
        first=true
        for pp in $PP; do
            gen=1
            $first && gen=$TG
            ours=$(build/vocero llm-bench --model "$f" --threads "$THREADS" --prompt-tokens "$pp" \
                --gen-tokens "$gen" --repeat "$REPEAT")
            if $first; then
                echo "$ours"
            else
                echo "$ours" | grep -E "^prompt:"
            fi
            for mode in $AMX_MODES; do
                out=$(NN_AMX=$mode build/vocero llm-bench --model "$f" --threads "$THREADS" \
                    --prompt-tokens "$pp" --gen-tokens 1 --repeat "$REPEAT")
                echo "$out" | sed -n "s/^prompt:/prompt (NN_AMX=$mode):/p"
            done
            $have_llama || { first=false; continue; }
            n=0
            $first && n=$TG
            ll=$("$LLAMA_BENCH" -m "$f" -t "$THREADS" -p "$pp" -n "$n" -r "$REPEAT" 2>/dev/null) || {
                echo "llama-bench failed on $f"
                first=false
                continue
            }
            lpp=$(echo "$ll" | llama_rate "pp$pp")
            echo "llama.cpp ($LLAMA_BENCH): prompt $pp tokens $lpp tokens/s"
            echo "ratio ours/llama.cpp: prompt $pp tokens $(ratio "$(echo "$ours" | rate prompt)" \
                "${lpp%% *}")"
            if $first; then
                ltg=$(echo "$ll" | llama_rate "tg$TG")
                echo "llama.cpp ($LLAMA_BENCH): decode $ltg tokens/s"
                echo "ratio ours/llama.cpp: decode $(ratio "$(echo "$ours" | rate decode)" \
                    "${ltg%% *}")"
            fi
            first=false
        done
    done
done
