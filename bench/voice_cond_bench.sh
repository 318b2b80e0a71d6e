#!/bin/sh
# voice_cond_bench.sh: reference-voice conditioning speed (front ends, resampler, VoiceEncoder,
# CAMPPlus) at the real sizes on random weights for a 10 s clip, 2 threads by default.
#   bench/voice_cond_bench.sh [voice_cond_bench args...]   env: THREADS (2)
# Builds build/bench/voice_cond_bench with make (linked with build/libvocero.a, like the server).
set -e
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
make -s build/bench/voice_cond_bench
exec build/bench/voice_cond_bench --threads "$THREADS" "$@"
