#!/bin/sh
# hift_bench.sh: HiFT vocoder speed at the real size (base 512) on random weights for 4 s of
# audio (F0, source, decode timed separately), 2 threads by default.
#   bench/hift_bench.sh [hift_bench args...]   env: THREADS (2)
# Builds build/bench/hift_bench with make (linked with build/libvocero.a, like the server).
set -e
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
make -s build/bench/hift_bench
exec build/bench/hift_bench --threads "$THREADS" "$@"
