#!/bin/sh
# hift_bench.sh: HiFT vocoder speed at the real size (base 512) on random weights for 4 s of
# audio (F0, source, decode timed separately), 2 threads by default.
#   bench/hift_bench.sh [hift_bench args...]   env: THREADS (2), OUT (build/bench), CC
# Builds a standalone binary from src/core, src/nn, src/audio/dsp.c and the HiFT sources.
set -e
cd "$(dirname "$0")/.."
OUT=${OUT:-build/bench}
THREADS=${THREADS:-2}
CC=${CC:-cc}
mkdir -p "$OUT"
CORE="src/core/alloc.c src/core/buf.c src/core/err.c src/core/log.c src/core/json.c"
NN=$(find src/nn -maxdepth 1 -name '*.c')
HIFT="src/audio/dsp.c src/tts/chatterbox/hift.c src/tts/chatterbox/hift_conv.c"
FLAGS="-std=c17 -O2 -g -D_GNU_SOURCE -Isrc -pthread"
objs=""
for f in src/nn/arch/x86/avx2/*.c; do
    $CC $FLAGS -mavx2 -mfma -mf16c -c "$f" -o "$OUT/$(basename "$f" .c).o"
    objs="$objs $OUT/$(basename "$f" .c).o"
done
for f in src/nn/arch/x86/avx512/*.c; do
    $CC $FLAGS -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni \
        -c "$f" -o "$OUT/$(basename "$f" .c).o"
    objs="$objs $OUT/$(basename "$f" .c).o"
done
$CC $FLAGS -o "$OUT/hift_bench" bench/hift_bench.c $CORE $NN $HIFT $objs -lm
exec "$OUT/hift_bench" --threads "$THREADS" "$@"
