#!/bin/sh
# chatterbox_bench.sh: Chatterbox-Turbo end to end (voice conditioning, T3, flow, HiFT, time to
# first audio, peak RSS) at the real shapes on a random-weight checkpoint written once by
# make-random (~3 GB under DIR), per T3 weight type, 2 threads by default.
#   bench/chatterbox_bench.sh [chatterbox_bench args...]   env: THREADS (2), OUT (build/bench),
#   CB_BENCH_DIR (/tmp/vocero-cb-bench-full), CC. Needs build/libvocero.a (make).
set -e
cd "$(dirname "$0")/.."
OUT=${OUT:-build/bench}
THREADS=${THREADS:-2}
CC=${CC:-cc}
mkdir -p "$OUT"
[ -f build/libvocero.a ] || make -j2 build/libvocero.a
$CC -std=c17 -O2 -g -D_GNU_SOURCE -Isrc -pthread -o "$OUT/chatterbox_bench" \
    bench/chatterbox_bench.c build/libvocero.a -lmicrohttpd -ljwt -lsqlite3 -lpq -lcurl \
    -lsndfile -lsoxr -lebur128 -lssl -lcrypto -lespeak-ng -lcrypt -lm
exec "$OUT/chatterbox_bench" --threads "$THREADS" --dir "${CB_BENCH_DIR:-/tmp/vocero-cb-bench-full}" "$@"
