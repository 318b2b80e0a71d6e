#!/bin/sh
# t3_bench.sh: Chatterbox-Turbo T3 alone at the real GPT-2-medium shapes on random weights:
# load/convert, cold and warm prefill, decode tokens/s, RTF, peak RSS, logits error per weight
# type (see bench/t3_bench.c), 2 threads by default.
#   bench/t3_bench.sh [t3_bench args...]   env: THREADS (2), OUT (build/bench), CC
# Builds a standalone binary from src/core, src/nn and src/tts/chatterbox/t3.c.
set -e
cd "$(dirname "$0")/.."
OUT=${OUT:-build/bench}
THREADS=${THREADS:-2}
CC=${CC:-cc}
mkdir -p "$OUT"
CORE="src/core/alloc.c src/core/buf.c src/core/err.c src/core/log.c src/core/json.c"
NN=$(find src/nn -maxdepth 1 -name '*.c')
FLAGS="-std=c17 -O2 -g -D_GNU_SOURCE -Isrc -pthread"
objs=""
for f in src/nn/arch/x86/avx2/*.c; do
    $CC $FLAGS -mavx2 -mfma -mf16c -c "$f" -o "$OUT/t3_$(basename "$f" .c).o"
    objs="$objs $OUT/t3_$(basename "$f" .c).o"
done
for f in src/nn/arch/x86/avx512/*.c; do
    $CC $FLAGS -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni \
        -c "$f" -o "$OUT/t3_$(basename "$f" .c).o"
    objs="$objs $OUT/t3_$(basename "$f" .c).o"
done
# shellcheck disable=SC2086 # word splitting of the source lists is intended
$CC $FLAGS -o "$OUT/t3_bench" bench/t3_bench.c $CORE $NN src/tts/chatterbox/t3.c $objs -lm
exec "$OUT/t3_bench" --threads "$THREADS" "$@"
