/* conv_bf16_amx.c: the AMX side of the BF16 direct convolution (nn/conv_tile.h): the
 * AVX512-BF16 input pairing and the TDPBF16PS unit worker (32 output channels x 32 steps).
 * Function-level target attributes (the folder has no ISA flags). */
#include "core/vb.h"
#include "nn/conv_tile.h"

#ifdef NN_CONV_BF16_AMX
#    include "nn/arch/x86/amx/tile_config.h"
#    include <immintrin.h>

#    define BM NN_CONV_BF16_BM
#    define BT NN_CONV_BF16_BT
#    define BK NN_CONV_BF16_BK

/* 16 steps of two rows at a time -> bf16 pairs (round to nearest even); returns steps done */
__attribute__((target("avx512f,avx512bw,avx512bf16"))) int64_t
nn_amx_conv_bf16_pairs(uint32_t *d, const float *r0, const float *r1, int64_t n)
{
    int64_t s = 0;
    const __m512 z = _mm512_setzero_ps();
    for (; s + 16 <= n; s += 16) {
        const __m512 a = r0 ? _mm512_loadu_ps(r0 + s) : z, b = r1 ? _mm512_loadu_ps(r1 + s) : z;
        /* a0..a15 and b0..b15 -> [a0 b0 a1 b1 ...]: convert each to 16 bf16, then interleave */
        const __m256i ha = (__m256i)_mm512_cvtneps_pbh(a), hb = (__m256i)_mm512_cvtneps_pbh(b);
        const __m512i wa = _mm512_cvtepu16_epi32(ha), wb = _mm512_cvtepu16_epi32(hb);
        _mm512_storeu_si512((void *)(d + s), _mm512_or_si512(wa, _mm512_slli_epi32(wb, 16)));
    }
    return s;
}

__attribute__((target("amx-tile,amx-bf16,avx512f"))) void nn_amx_conv_bf16_worker(void *ctx,
                                                                                  int ith, int nth)
{
    struct nn_conv_bf16_job *j = ctx;
    const struct nn_conv_bf16 *c = j->c;
    (void)ith;
    (void)nth;
    struct nn_amx_cfg cfg;
    nn_amx_cfg_full(&cfg);
    _tile_loadconfig(&cfg);
    float acc[BM * BT] __attribute__((aligned(64)));
    const int64_t units = (int64_t)j->n_cb * j->n_tb;
    const size_t xs = (size_t)j->ldp * sizeof(uint32_t), ys = (size_t)j->ldy * sizeof(float);
    const size_t wblk = (size_t)BM * BK; /* bf16 per (cb, tap, kb) block */
    for (;;) {
        const int64_t u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= units)
            break;
        const int cb = (int)(u / j->n_tb);
        const int64_t t0 = (u % j->n_tb) * BT;
        const int co0 = cb * BM;
        const bool full = co0 + BM <= c->c_out && t0 + BT <= j->t_out;
        float *y0 = j->y + (int64_t)co0 * j->ldy + t0;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        const uint16_t *wc = c->wb + (size_t)cb * c->k * j->n_kb * wblk;
        for (int tap = 0; tap < c->k; tap++) {
            const uint32_t *xt = j->xp + t0 + (int64_t)tap * c->dilation;
            for (int kb = 0; kb < j->n_kb; kb++, wc += wblk) {
                const uint32_t *xb = xt + (int64_t)kb * (BK / 2) * j->ldp;
                _tile_loadd(4, wc, BK * sizeof(uint16_t));
                _tile_loadd(5, wc + 16 * BK, BK * sizeof(uint16_t));
                _tile_loadd(6, xb, xs);
                _tile_loadd(7, xb + 16, xs);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
        }
        if (full && !j->accumulate) { /* straight into y, then the bias */
            _tile_stored(0, y0, ys);
            _tile_stored(1, y0 + 16, ys);
            _tile_stored(2, y0 + 16 * j->ldy, ys);
            _tile_stored(3, y0 + 16 * j->ldy + 16, ys);
            if (c->b)
                for (int r = 0; r < BM; r++) {
                    float *yr = y0 + (int64_t)r * j->ldy;
                    const __m512 bv = _mm512_set1_ps(c->b[co0 + r]);
                    _mm512_storeu_ps(yr, _mm512_add_ps(_mm512_loadu_ps(yr), bv));
                    _mm512_storeu_ps(yr + 16, _mm512_add_ps(_mm512_loadu_ps(yr + 16), bv));
                }
            continue;
        }
        const size_t as = BT * sizeof(float);
        _tile_stored(0, acc, as);
        _tile_stored(1, acc + 16, as);
        _tile_stored(2, acc + 16 * BT, as);
        _tile_stored(3, acc + 16 * BT + 16, as);
        if (!full) {
            nn_conv_bf16_store(j, acc, co0, t0);
            continue;
        }
        for (int r = 0; r < BM; r++) { /* full unit, accumulating: y = (y + acc) + b */
            float *yr = y0 + (int64_t)r * j->ldy;
            const __m512 bv = _mm512_set1_ps(c->b ? c->b[co0 + r] : 0.0f);
            const __m512 s0 = _mm512_add_ps(_mm512_loadu_ps(yr), _mm512_load_ps(acc + r * BT));
            const __m512 s1 =
                _mm512_add_ps(_mm512_loadu_ps(yr + 16), _mm512_load_ps(acc + r * BT + 16));
            _mm512_storeu_ps(yr, _mm512_add_ps(s0, bv));
            _mm512_storeu_ps(yr + 16, _mm512_add_ps(s1, bv));
        }
    }
    _tile_release();
}

#endif
