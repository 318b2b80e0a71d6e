#!/usr/bin/env bash
# run-isa-tests.sh BUILD_DIR: the reference-vector suites (Qwen2 logits, T3, flow, HiFT, voice
# encoder, CAMPPlus, S3 tokenizer, front ends, voice conditionals) once per instruction-set
# level, NN_ISA=generic, avx2, avx512 and amx (AMX tiles; with it the AMX matmul test too).
# BUILD_DIR/tests/tools/isa_level says which level a process really runs at: a level this
# machine lacks is reported as one skipped test, not run. Prints each level's results and
# "unit-isa: N passed, N failed, N skipped"; non-zero exit when any suite failed.
# Environment: ISA_LEVELS (default "generic avx2 avx512 amx").
set -u
cd "$(dirname "$0")/.." || exit 2
build=${1:-build}
suites=(llm/test_qwen2_ref tts/chatterbox/test_t3 tts/chatterbox/test_t3_quant tts/chatterbox/test_s3gen_flow tts/chatterbox/test_hift
    tts/chatterbox/test_voice_encoder tts/chatterbox/test_campplus tts/chatterbox/test_s3tokenizer
    tts/chatterbox/test_frontend audio/test_spectral tts/chatterbox/test_voice_cond)
amx_suites=(nn/test_matmul_amx)
tool=$build/tests/tools/isa_level
total_pass=0 total_fail=0 total_skip=0 status=0
if [ ! -x "$tool" ]; then
    echo "FAIL $tool missing (make $tool)"
    echo "unit-isa: 0 passed, 1 failed, 0 skipped"
    exit 1
fi
for level in ${ISA_LEVELS:-generic avx2 avx512 amx}; do
    got=$(NN_ISA=$level "$tool" 2>&1)
    if [ "$got" != "$level" ]; then
        echo "SKIPPED isa-$level: this machine runs NN_ISA=$level at ${got:-?} (CPU lacks $level)"
        total_skip=$((total_skip + 1))
        continue
    fi
    bins=()
    for s in "${suites[@]}"; do bins+=("$build/tests/unit/$s"); done
    if [ "$level" = amx ]; then
        for s in "${amx_suites[@]}"; do bins+=("$build/tests/unit/$s"); done
    fi
    echo "--- NN_ISA=$level"
    out=$(NN_ISA=$level UNIT_LABEL=isa-$level scripts/run-unit-tests.sh "${bins[@]}") || status=1
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -E "^isa-$level: [0-9]+ passed" | tail -n 1)
    read -r p f s < <(printf '%s\n' "$line" |
        sed -nE 's/^[^:]+: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/p')
    if [ -z "${p:-}" ]; then
        p=0 f=1 s=0 status=1
    fi
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
    p='' f='' s=''
done
echo "unit-isa: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
