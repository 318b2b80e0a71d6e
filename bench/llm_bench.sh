#!/bin/sh
# llm_bench.sh: decode and prompt tokens/s of our engine on random-weight models with the
# exact Qwen2.5 shapes (written by our own make-random), 2 threads by default.
#   bench/llm_bench.sh [SHAPE...]      (default: 3b 0.5b)   env: THREADS, PP, TG, OUT
# Builds a standalone binary from src/core, src/nn, src/llm (no other dependencies).
set -e
cd "$(dirname "$0")/.."
OUT=${OUT:-build/bench}
THREADS=${THREADS:-2}
PP=${PP:-64}
TG=${TG:-16}
mkdir -p "$OUT"
CORE="src/core/alloc.c src/core/buf.c src/core/err.c src/core/log.c src/core/json.c"
NN="src/nn/gguf.c src/nn/gguf_write.c src/nn/kernels.c src/nn/matmul.c src/nn/ops.c src/nn/quant.c
    src/nn/quantize.c src/nn/threadpool.c src/nn/types.c"
LLM=$(find src/llm -name '*.c')
FLAGS="-std=c17 -O2 -g -D_GNU_SOURCE -Isrc -pthread"
objs=""
for f in src/nn/arch/x86/avx2/quant_avx2.c; do
    cc $FLAGS -mavx2 -mfma -mf16c -c "$f" -o "$OUT/$(basename "$f" .c).o"
    objs="$objs $OUT/$(basename "$f" .c).o"
done
for f in src/nn/arch/x86/avx512/quant_avx512.c; do
    cc $FLAGS -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni \
        -c "$f" -o "$OUT/$(basename "$f" .c).o"
    objs="$objs $OUT/$(basename "$f" .c).o"
done
cc $FLAGS -o "$OUT/llm_bench" bench/llm_bench.c $CORE $NN $LLM $objs -lm
SHAPES=${*:-"3b 0.5b"}
for shape in $SHAPES; do
    for type in q4_k_m q8_0; do
        f="$OUT/random-$shape-$type.gguf"
        [ -f "$f" ] || "$OUT/llm_bench" make-random qwen2 "$f" --shape "$shape" --type "$type"
        echo "== $shape $type, $THREADS threads"
        "$OUT/llm_bench" run --model "$f" --threads "$THREADS" --prompt-tokens "$PP" \
            --gen-tokens "$TG"
    done
done
