#!/bin/sh
# voice_cond_bench.sh: reference-voice conditioning speed (front ends, resampler, VoiceEncoder,
# CAMPPlus) at the real sizes on random weights for a 10 s clip, 2 threads by default.
#   bench/voice_cond_bench.sh [voice_cond_bench args...]   env: THREADS (2), OUT (build/bench), CC
# Builds a standalone binary from src/core, src/nn, src/audio/spectral.c and the encoder sources.
set -e
cd "$(dirname "$0")/.."
OUT=${OUT:-build/bench}
THREADS=${THREADS:-2}
CC=${CC:-cc}
mkdir -p "$OUT"
CORE="src/core/alloc.c src/core/buf.c src/core/err.c src/core/log.c src/core/json.c"
NN=$(find src/nn -maxdepth 1 -name '*.c')
ENC="src/audio/spectral.c src/tts/chatterbox/frontend.c src/tts/chatterbox/voice_encoder.c
     src/tts/chatterbox/campplus.c"
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
# shellcheck disable=SC2086 # word splitting of the file lists is intended
$CC $FLAGS -o "$OUT/voice_cond_bench" bench/voice_cond_bench.c $CORE $NN $ENC $objs -lm
exec "$OUT/voice_cond_bench" --threads "$THREADS" "$@"
