/* attn_f16_avx512.c: several adjacent attention heads of one query row over an f16 KV cache,
 * position-major, with AVX-512 (reference: nn_attn_head_f16_ref in nn/attn_cache.c, one head
 * at a time). Compiled with the AVX-512 flags; chosen at run time by nn/attn_cache.c. */
#include "core/vb.h"
#include "nn/attn_cache.h"
#include "nn/attention.h"

#include <immintrin.h>

static inline __m512 load16_f16(const uint16_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* o (ng heads of n16 x 16) += sum_p a[hh][p] V[p][hh], V rows of stride E; inlined with
 * constant ng/n16 so the accumulators stay in registers. */
__attribute__((always_inline)) static inline void values(const uint16_t *v, int64_t E, int64_t n_kv,
                                                         const float *a, int64_t la, const int ng,
                                                         const int n16, float *o)
{
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < ng * n16; i++)
        acc[i] = _mm512_setzero_ps();
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *vr = v + p * E;
#pragma GCC unroll 4
        for (int hh = 0; hh < ng; hh++) {
            const __m512 w = _mm512_set1_ps(a[hh * la + p]);
#pragma GCC unroll 4
            for (int i = 0; i < n16; i++)
                acc[hh * n16 + i] =
                    _mm512_fmadd_ps(w, load16_f16(vr + (hh * n16 + i) * 16), acc[hh * n16 + i]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < ng * n16; i++)
        _mm512_storeu_ps(o + 16 * i, acc[i]);
}

/* Each K row's slice of these heads is read once for all of them (sequential streams instead
 * of one strided pass per head), one vectorised softmax per head, then each V row's slice
 * once per group of 4 heads. */
void nn_attn_heads_f16_avx512(const float *q, const uint16_t *k, const uint16_t *v, int64_t E,
                              int64_t n_kv, int nh, int n16, float scale, float *s, int64_t ls,
                              float *o)
{
    const int D = 16 * n16;
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *kr = k + p * E;
        for (int hh = 0; hh < nh; hh++) {
            const uint16_t *kh = kr + hh * D;
            const float *qh = q + hh * D;
            __m512 acc = _mm512_mul_ps(load16_f16(kh), _mm512_loadu_ps(qh));
            for (int i = 1; i < n16; i++)
                acc = _mm512_fmadd_ps(load16_f16(kh + 16 * i), _mm512_loadu_ps(qh + 16 * i), acc);
            s[hh * ls + p] = _mm512_reduce_add_ps(acc);
        }
    }
    for (int hh = 0; hh < nh; hh++)
        nn_softmax_scaled(s + hh * ls, (int)n_kv, scale);
    for (int g = 0; g < nh;) {
        const int ng = VB_MIN(4, nh - g);
        const uint16_t *vg = v + (int64_t)g * D;
        const float *ag = s + g * ls;
        float *og = o + (int64_t)g * D;
        if (n16 == 4 && ng == 4) /* GPT-2 medium */
            values(vg, E, n_kv, ag, ls, 4, 4, og);
        else if (ng == 1)
            values(vg, E, n_kv, ag, ls, 1, n16, og);
        else
            for (int hh = 0; hh < ng; hh++)
                values(vg + hh * D, E, n_kv, ag + hh * ls, ls, 1, n16, og + hh * D);
        g += ng;
    }
}
