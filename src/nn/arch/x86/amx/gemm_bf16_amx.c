/* gemm_bf16_amx.c: the AMX side of the BF16-panel GEMM (nn/gemm_bf16.c): the CPU/kernel
 * probe, the AVX512-BF16 packers and activation conversion, and the TDPBF16PS tile worker
 * (32 tokens x 32 outputs per unit). Function-level target attributes: nn_gemm_amx_available
 * runs on every CPU. */
#include "core/vb.h"
#include "nn/gemm.h"
#include "nn/fp16.h"
#include "nn/gemm_bf16_internal.h"
#include "nn/kernels.h"

#ifdef NN_GEMM_AMX
#    include "nn/arch/x86/amx/tile_config.h"
#    include <immintrin.h>
#endif

#if defined(__x86_64__) && defined(__linux__)
#    include <cpuid.h>
#    include <pthread.h>
#    include <sys/syscall.h>
#    include <unistd.h>

static bool g_amx;
static pthread_once_t g_amx_once = PTHREAD_ONCE_INIT;

static void amx_probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return;
    if (!(d & (1u << 24)) || !(d & (1u << 22))) /* AMX-TILE, AMX-BF16 */
        return;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5))) /* AVX512-BF16 */
        return;
    /* the kernel must grant the tile-data state to this process (Linux >= 5.16) */
    g_amx = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
}
#endif

bool nn_gemm_amx_available(void)
{
#ifdef NN_GEMM_AMX
    pthread_once(&g_amx_once, amx_probe);
    return g_amx && nn_kernels_isa() >= NN_ISA_AVX512 && nn_kernels_amx_allowed();
#else
    return false;
#endif
}

#ifdef NN_GEMM_AMX
/* Panel rows -> VNNI pairs: each source row converted to bf16 pairs (VCVTNE2PS2BF16, RNE),
 * then a 16-lane gather per k pair. */
__attribute__((target("avx512f,avx512bf16"))) void
nn_amx_pack_bf16(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw)
{
    const int K2 = bf16_k2(n_in), KP = K2 / 2;
    const size_t panels = bf16_panels(n_out);
    uint32_t tmp[NR * 1024];
    if (KP > 1024) {
        nn_gemm_pack_bf16_c(dst, w, n_in, n_out, ldw);
        return;
    }
    const __m512i idx =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32(KP));
    for (size_t p = 0; p < panels; p++) {
        for (int j = 0; j < NR; j++) {
            const size_t o = p * NR + (size_t)j;
            uint32_t *t = tmp + (size_t)j * KP;
            if (o >= (size_t)n_out) {
                memset(t, 0, (size_t)KP * sizeof *t);
                continue;
            }
            const float *src = w + (int64_t)o * ldw;
            int k = 0;
            for (; k + 32 <= n_in; k += 32) {
                __m512bh v =
                    _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + k + 16), _mm512_loadu_ps(src + k));
                _mm512_storeu_si512((void *)(t + k / 2), (__m512i)v);
            }
            uint16_t *t16 = (uint16_t *)(t + k / 2);
            for (int r = 0; k + r < K2; r++)
                t16[r] = k + r < n_in ? nn_fp32_to_bf16(src[k + r]) : 0;
        }
        uint32_t *d = (uint32_t *)(dst + p * (size_t)K2 * NR);
        for (int kp = 0; kp < KP; kp++)
            _mm512_storeu_si512((void *)(d + (size_t)kp * NR),
                                _mm512_i32gather_epi32(idx, (const void *)(tmp + kp), 4));
    }
}

/* Transposed source: a pair of source rows (k, k+1) gives one 64-byte VNNI row per panel. */
__attribute__((target("avx512f"))) static inline __m512i bf16_bits_rne(__m512 v)
{
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    return _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
}

__attribute__((target("avx512f"))) void nn_amx_pack_bf16_t(uint16_t *dst, const float *wt, int n_in,
                                                           int n_out, int64_t ldwt)
{
    const int K2 = bf16_k2(n_in);
    const size_t panels = bf16_panels(n_out);
    for (size_t p = 0; p < panels; p++) {
        uint32_t *d = (uint32_t *)(dst + p * (size_t)K2 * NR);
        const size_t o0 = p * NR;
        const int nc = o0 < (size_t)n_out ? (int)VB_MIN((size_t)NR, (size_t)n_out - o0) : 0;
        const __mmask16 m = (__mmask16)((1u << nc) - 1u);
        for (int k = 0; k < K2; k += 2) {
            __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
            if (k < n_in)
                a = _mm512_maskz_loadu_ps(m, wt + (int64_t)k * ldwt + (int64_t)o0);
            if (k + 1 < n_in)
                b = _mm512_maskz_loadu_ps(m, wt + (int64_t)(k + 1) * ldwt + (int64_t)o0);
            const __m512i lo = _mm512_srli_epi32(bf16_bits_rne(a), 16);
            const __m512i hi =
                _mm512_and_si512(bf16_bits_rne(b), _mm512_set1_epi32((int)0xffff0000));
            _mm512_storeu_si512((void *)(d + (size_t)(k / 2) * NR), _mm512_or_si512(lo, hi));
        }
    }
}

/* 32 floats -> 32 bf16, round to nearest even (VCVTNE2PS2BF16) */
__attribute__((target("avx512f,avx512bf16"))) void nn_amx_bf16_cvt_row(uint16_t *d, const float *s,
                                                                       int n)
{
    int k = 0;
    for (; k + 32 <= n; k += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + k + 16), _mm512_loadu_ps(s + k));
        _mm512_storeu_si512((void *)(d + k), (__m512i)v);
    }
    for (; k < n; k++)
        d[k] = nn_fp32_to_bf16(s[k]);
}

__attribute__((target("amx-tile,amx-bf16"))) void nn_amx_gemm_bf16_worker(void *ctx, int ith,
                                                                          int nth)
{
    struct bf16_job *j = ctx;
    (void)ith;
    (void)nth;
    struct nn_amx_cfg cfg;
    nn_amx_cfg_full(&cfg);
    _tile_loadconfig(&cfg);
    float acc[AMX_M * AMX_PAIRS * NR], bpad[AMX_PAIRS * NR];
    const int64_t units = (int64_t)j->n_mb * j->n_pp;
    const size_t xs = (size_t)j->K2 * sizeof(uint16_t); /* A row stride, bytes */
    for (;;) {
        int64_t u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= units)
            break;
        const int pp = (int)(u / j->n_mb), mb = (int)(u % j->n_mb);
        const uint16_t *a0 = j->xb + (size_t)mb * AMX_M * j->K2, *a1 = a0 + (size_t)16 * j->K2;
        const uint16_t *b0 = j->packed + (size_t)pp * AMX_PAIRS * j->K2 * NR,
                       *b1 = b0 + (size_t)j->K2 * NR;
        const int o0 = pp * AMX_PAIRS * NR;
        if (j->b) { /* the sums start from the bias: every tile row loads the same 16 values */
            const float *bb = j->b + o0;
            if (o0 + AMX_PAIRS * NR > j->n_out) { /* last panels: a zero-padded copy */
                memset(bpad, 0, sizeof bpad);
                memcpy(bpad, bb, (size_t)(j->n_out - o0) * sizeof *bpad);
                bb = bpad;
            }
            _tile_loadd(0, bb, 0);
            _tile_loadd(1, bb + NR, 0);
            _tile_loadd(2, bb, 0);
            _tile_loadd(3, bb + NR, 0);
        } else {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
        }
        for (int k0 = 0; k0 < j->K2; k0 += AMX_K) {
            _tile_loadd(4, a0 + k0, xs);
            _tile_loadd(5, a1 + k0, xs);
            _tile_loadd(6, b0 + (size_t)k0 * NR, 64);
            _tile_loadd(7, b1 + (size_t)k0 * NR, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        const int t0 = mb * AMX_M;
        if (t0 + AMX_M <= j->n_tok && o0 + AMX_PAIRS * NR <= j->n_out) {
            /* full unit: tiles straight into y */
            float *y0 = j->y + (int64_t)t0 * j->ldy + o0;
            const size_t ys = (size_t)j->ldy * sizeof(float);
            _tile_stored(0, y0, ys);
            _tile_stored(1, y0 + NR, ys);
            _tile_stored(2, y0 + 16 * j->ldy, ys);
            _tile_stored(3, y0 + 16 * j->ldy + NR, ys);
            continue;
        }
        const size_t cs = AMX_PAIRS * NR * sizeof(float); /* acc row stride */
        _tile_stored(0, acc, cs);
        _tile_stored(1, acc + NR, cs);
        _tile_stored(2, acc + 16 * AMX_PAIRS * NR, cs);
        _tile_stored(3, acc + 16 * AMX_PAIRS * NR + NR, cs);
        nn_gemm_bf16_store(j, acc, t0, o0, false);
    }
    _tile_release();
}
#endif