#!/bin/sh
# t3_bench.sh: Chatterbox-Turbo T3 alone at the real GPT-2-medium shapes on random weights:
# load/convert, cold and warm prefill, decode tokens/s, RTF, peak RSS, logits error per weight
# type (see bench/t3_bench.c), 2 threads by default.
#   bench/t3_bench.sh [t3_bench args...]   env: THREADS (2)
# Builds build/bench/t3_bench with make (linked with build/libvocero.a, like the server).
set -e
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
make -s build/bench/t3_bench
exec build/bench/t3_bench --threads "$THREADS" "$@"
