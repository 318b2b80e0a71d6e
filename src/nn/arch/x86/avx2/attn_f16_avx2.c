/* attn_f16_avx2.c: one attention head over an f16 KV cache with AVX2/FMA/F16C (reference:
 * nn_attn_head_f16_ref in nn/attn_cache.c), and the f16 -> f32 row widening. Compiled with
 * -mavx2 -mfma -mf16c; chosen at run time by nn/attn_cache.c. */
#include "core/vb.h"
#include "nn/attn_cache.h"
#include "nn/fp16.h"

#include <immintrin.h>
#include <math.h>

#define MAX_D8 (NN_ATTN_HEAD_AVX2_MAX_D / 8)

/* The query and the output stay in registers, halves are widened 8 at a time, V rows are
 * accumulated in place (no transposed copy). n8 = D / 8; inlined with a constant n8 so the
 * arrays become registers. */
__attribute__((always_inline)) static inline void head_body(const float *q, const uint16_t *k,
                                                            const uint16_t *v, int64_t stride,
                                                            int64_t n_kv, const int n8, float scale,
                                                            float *s, float *o)
{
    __m256 qv[MAX_D8], ov[MAX_D8];
#pragma GCC unroll 32
    for (int i = 0; i < n8; i++) {
        qv[i] = _mm256_loadu_ps(q + 8 * i);
        ov[i] = _mm256_setzero_ps();
    }
    float mx = -INFINITY;
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *kr = k + p * stride;
        __m256 acc = _mm256_setzero_ps();
#pragma GCC unroll 32
        for (int i = 0; i < n8; i++)
            acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kr + 8 * i))),
                                  qv[i], acc);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        s[p] = _mm_cvtss_f32(h) * scale;
        mx = fmaxf(mx, s[p]);
    }
    const float inv = nn_exp_shifted(s, n_kv, mx);
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *vr = v + p * stride;
        const __m256 a = _mm256_set1_ps(s[p] * inv);
#pragma GCC unroll 32
        for (int i = 0; i < n8; i++)
            ov[i] = _mm256_fmadd_ps(
                a, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vr + 8 * i))), ov[i]);
    }
#pragma GCC unroll 32
    for (int i = 0; i < n8; i++)
        _mm256_storeu_ps(o + 8 * i, ov[i]);
}

void nn_attn_head_f16_avx2(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride,
                           int64_t n_kv, int D, float scale, float *s, float *o)
{
    if (D == 64) /* GPT-2 medium */
        head_body(q, k, v, stride, n_kv, 8, scale, s, o);
    else if (D == 16)
        head_body(q, k, v, stride, n_kv, 2, scale, s, o);
    else
        head_body(q, k, v, stride, n_kv, D / 8, scale, s, o);
}

void nn_f16_to_f32_row_avx2(float *d, const uint16_t *s, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++)
        d[i] = nn_fp16_to_fp32(s[i]);
}
