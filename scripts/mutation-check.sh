#!/usr/bin/env bash
# scripts/mutation-check.sh: checks that the unit tests catch deliberate numerical mistakes.
#
# Each mutant is one sed rule on one source file and the unit test binary that must catch it.
# The working tree (tracked and untracked, not ignored files) is copied to a temporary folder
# with the existing build objects (so make rebuilds only what a mutant touches); the real tree
# is never modified. For each mutant: apply the rule (a rule that no longer matches is a
# failure), rebuild that one test, run it; the mutant is caught when the test fails. The file
# is restored before the next mutant. Mutants of a kernel the CPU lacks are skipped.
#
#   scripts/mutation-check.sh            # all mutants
#   scripts/mutation-check.sh NAME...    # only these
# Environment: VOCERO_REFDATA (default ../shared/testdata, the reference vectors the tests
# need), JOBS (make -j, default 2), MUTATION_KEEP=1 keeps the temporary copy.
# Prints a table and "N passed, N failed, N skipped" (passed = caught); exits 1 unless every
# mutant that ran was caught.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-2}
REFDATA=${VOCERO_REFDATA:-$ROOT/../shared/testdata}
if [ ! -d "$REFDATA/chatterbox-ref" ] || [ ! -d "$REFDATA/qwen2-ref" ]; then
    echo "mutation-check: reference data not found in $REFDATA (set VOCERO_REFDATA)" >&2
    exit 1
fi
export VOCERO_REFDATA
VOCERO_REFDATA=$(cd "$REFDATA" && pwd)

# name | file | test binary (under build/tests/unit) | CPU flag needed or - | sed rule
MUTANTS=(
    "campplus-biased-std|src/tts/chatterbox/campplus.c|tts/chatterbox/test_campplus|-|s@sqrt(var / (double)(T2 - 1))@sqrt(var / (double)T2)@"
    "conformer-layernorm-eps|src/tts/chatterbox/s3gen_flow.c|tts/chatterbox/test_s3gen_flow|-|s@\(c->norm_\(mha\|ff\)_b\), 1e-12f@\1, 1e-5f@"
    "meanflow-t-r-swapped|src/tts/chatterbox/s3gen_flow.c|tts/chatterbox/test_s3gen_flow|-|s@cond, T, t0, t1, v)@cond, T, t1, t0, v)@"
    "t3-decode-bias-dropped|src/nn/wmat.c|tts/chatterbox/test_t3_quant|-|/if (!nn_matmul(pool, scratch, &w->t, x, n, y, ldy))/,/return true;/s@nn_add(y + (int64_t)t \* ldy, b, n_out);@(void)t;@"
    "t3-prefill-bias-dropped|src/nn/wmat.c|tts/chatterbox/test_t3_quant|-|s@j->b ? j->b + r0 : NULL@NULL@"
    "t3-position-off-by-one|src/tts/chatterbox/t3.c|tts/chatterbox/test_t3|-|s@gather_row(m->wpe, pos0 + t, c->pos)@gather_row(m->wpe, pos0 + t + 1, c->pos)@"
    "t3-softmax-scale|src/nn/attn_cache.c|tts/chatterbox/test_t3|-|s@scale = 1.0f / sqrtf((float)\(j->head_dim\|D\));@scale = 1.0f / (float)\1;@"
    "sampler-turbo-top-k-skipped|src/nn/sampler.c|nn/test_sampler|-|s@if (gp->top_k > 0 && gp->top_k < n) {@if (gp->top_k > 0 \&\& gp->top_k < n \&\& n_hist == 0) {@"
    "sampler-hf-presence-dropped|src/nn/sampler.c|nn/test_sampler|-|s@\*l -= (float)cnt \* p->frequency_penalty + p->presence_penalty;@*l -= (float)cnt * p->frequency_penalty;@"
    "q6k-gemv-offset|src/nn/arch/x86/avx512/gemv_avx512.c|nn/test_kernels|avx512_vnni|s@_mm256_slli_epi32(corr, 5)@_mm256_slli_epi32(corr, 4)@"
    "q6k-dot-offset|src/nn/quant.c|nn/test_kernels|avx2|/^void nn_vec_dot_q6_k_ref/,/^}/s@(((qh\[l\] >> 0) . 3) << 4)) - 32;@(((qh[l] >> 0) \& 3) << 4)) - 31;@"
    "q6k-float-accumulation|src/nn/quant.c|nn/test_kernels|avx512_vnni|s@double sumf = 0; /\* block terms exact@float sumf = 0; /* block terms exact@"
    "rope-theta-exponent|src/nn/ops.c|llm/test_qwen2_ref|-|s@powf(base, -2.0f / (float)n_rot)@powf(base, -1.0f / (float)n_rot)@"
    "gqa-head-mapping|src/nn/ops.c|llm/test_qwen2_ref|-|s@int g = h / gqa;@int g = h % (j->n_head / gqa);@"
    "gelu-vec-cubic|src/nn/arch/x86/act_vec.h|nn/test_ops|avx2|s@k1 = SET(0.044715f)@k1 = SET(0.04f)@"
    "snake-avx512-inverse|src/nn/arch/x86/avx512/activations_avx512.c|tts/chatterbox/test_hift|avx512f|s@_mm512_set1_ps(1.0f / (alpha + 1e-9f))@_mm512_set1_ps(1.0f / (alpha + 0.1f))@"
    "hift-snake-alpha|src/tts/chatterbox/hift.c|tts/chatterbox/test_hift|-|s@nn_snake(y, x, j->t, j->alpha\[r\])@nn_snake(y, x, j->t, 1.0f / j->alpha[r])@"
    "hift-stft-window|src/tts/chatterbox/hift.c|tts/chatterbox/test_hift|-|s@j->m->window, true@NULL, true@"
    "hift-istft-phase|src/tts/chatterbox/hift.c|tts/chatterbox/test_hift|-|s@float phase = sinf(j->ph@float phase = (j->ph@"
    "kaldi-preemphasis|src/tts/chatterbox/frontend.c|tts/chatterbox/test_frontend|-|s@(v - 0.97f \* prev)@(v - 0.96f * prev)@"
    "kaldi-band-edges-double|src/audio/spectral.c|tts/chatterbox/test_frontend|-|s@flo + ((float)b + \([12]\).0f) \* fdelta@(float)(mlo + (b + \1.0) * ((mhi - mlo) / (n_mels + 1)))@"
)

want=("$@")
selected() {
    [ ${#want[@]} -eq 0 ] && return 0
    local w
    for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
    return 1
}

cpu_has() {
    [ "$1" = "-" ] || grep -qw "$1" /proc/cpuinfo
}

work=$(mktemp -d "${TMPDIR:-/tmp}/vocero-mutants.XXXXXX")
if [ "${MUTATION_KEEP:-0}" = 1 ]; then
    echo "mutation-check: copy kept in $work"
else
    trap 'rm -rf "$work"' EXIT
fi
(cd "$ROOT" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) |
    (cd "$work" && tar -xf -)
mkdir -p "$work/build"
for p in obj libvocero.a tests; do
    [ -e "$ROOT/build/$p" ] && cp -a "$ROOT/build/$p" "$work/build/"
done
cd "$work"

start=$(date +%s)
log="$work/mutation.log"
: >"$log"

# the named tests must pass before any mutant is applied
tests=()
for m in "${MUTANTS[@]}"; do
    IFS='|' read -r name _ test _ _ <<<"$m"
    selected "$name" || continue
    case " ${tests[*]-} " in *" $test "*) ;; *) tests+=("$test") ;; esac
done
if [ ${#tests[@]} -eq 0 ]; then
    echo "mutation-check: no mutant named ${want[*]}" >&2
    exit 1
fi
echo "mutation-check: baseline build and run of ${#tests[@]} tests"
targets=()
for t in "${tests[@]}"; do targets+=("build/tests/unit/$t"); done
if ! make -s -j"$JOBS" "${targets[@]}" >>"$log" 2>&1; then
    tail -20 "$log"
    echo "mutation-check: baseline build failed" >&2
    exit 1
fi
for t in "${tests[@]}"; do
    if ! timeout 600 "build/tests/unit/$t" >>"$log" 2>&1; then
        echo "mutation-check: $t fails without any mutant (see $log)" >&2
        exit 1
    fi
done

passed=0 failed=0 skipped=0
printf '%-26s %-28s %s\n' mutant test result
for m in "${MUTANTS[@]}"; do
    IFS='|' read -r name file test flag rule <<<"$m"
    selected "$name" || continue
    if ! cpu_has "$flag"; then
        printf '%-26s %-28s %s\n' "$name" "$test" "skipped (no $flag)"
        skipped=$((skipped + 1))
        continue
    fi
    cp -p "$file" "$work/orig"
    sed -i -e "$rule" "$file"
    if cmp -s "$file" "$work/orig"; then
        result="FAILED: rule does not match $file"
    elif ! make -s -j"$JOBS" "build/tests/unit/$test" >>"$log" 2>&1; then
        result="FAILED: does not build"
    elif timeout 600 "build/tests/unit/$test" >"$work/run.log" 2>&1; then
        result="FAILED: survived"
    else
        result="caught ($(grep -c '^FAIL ' "$work/run.log" || true) failing tests)"
    fi
    cat "$work/run.log" >>"$log" 2>/dev/null || true
    rm -f "$work/run.log"
    cp "$work/orig" "$file" # restored with a new time stamp: rebuilt for the next mutant
    case $result in
    caught*) passed=$((passed + 1)) ;;
    *) failed=$((failed + 1)) ;;
    esac
    printf '%-26s %-28s %s\n' "$name" "$test" "$result"
done
echo "mutation-check: $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
