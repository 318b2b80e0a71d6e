#!/bin/sh
# chatterbox_bench.sh: Chatterbox-Turbo end to end (voice conditioning, T3, flow, HiFT, time to
# first audio, peak RSS) at the real shapes on a random-weight checkpoint written once by
# make-random (~3 GB under DIR), per T3 weight type, 2 threads by default.
#   bench/chatterbox_bench.sh [chatterbox_bench args...]   env: THREADS (2),
#   CB_BENCH_DIR (/tmp/vocero-cb-bench-full). Builds build/bench/chatterbox_bench with make.
set -e
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
make -s build/bench/chatterbox_bench
exec build/bench/chatterbox_bench --threads "$THREADS" --dir "${CB_BENCH_DIR:-/tmp/vocero-cb-bench-full}" "$@"
