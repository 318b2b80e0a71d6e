/* quant_avx512.c: AVX-512 BW/VNNI dot products of one weight row with up to NN_MULTI_MAX
 * activation rows (prompt batches unpack each weight block once; decode has its own kernels
 * in gemv_avx512.c).
 * maddubs (u8 x s8 -> s16 pairs) then vpdpwssd with the 16-bit block scales accumulates
 * straight into int32; integer results equal the C reference exactly. */
#include "core/vb.h"
#include "nn/fp16.h"
#include "nn/arch/x86/avx512/simd_avx512.h"
#include "nn/kernels.h"

#include <immintrin.h>

/* ===== Q4_K x Q8_K ===== */

static ALWAYS_INLINE float f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* The 8 six-bit scales and 8 mins of a Q4_K/Q5_K super-block as 16-bit lanes (u32 trick:
 * specs §2.3.1), and the per-chunk scale vectors (lanes 0-15: sub-block 2c, 16-31: 2c+1). */
static ALWAYS_INLINE void k4_scales(const uint8_t s12[12], __m512i scv[4], __m128i *mins)
{
    uint32_t u[3];
    memcpy(u, s12, 12);
    const uint32_t sc_lo = u[0] & 0x3f3f3f3f, mn_lo = u[1] & 0x3f3f3f3f;
    const uint32_t sc_hi = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    const uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
    const __m128i sc16 = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)sc_hi, (int)sc_lo));
    *mins = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)mn_hi, (int)mn_lo));
    const __m512i all = _mm512_castsi128_si512(sc16);
    for (int c = 0; c < 4; c++) {
        const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * c)),
                                               _mm256_set1_epi16((short)(2 * c + 1)), 1);
        scv[c] = _mm512_permutexvar_epi16(idx, all);
    }
}

/* The float accumulation mirrors ggml's AVX2 kernel (8 int32 lanes per super-block scaled
 * with one FMA; mins in 4 lanes), so results match llama.cpp bit for bit where it used it. */
static ALWAYS_INLINE void q4k_body(int n, const void *vx, const void *vy, size_t by, const int ny,
                                   float *s, size_t ss)
{
    const struct nn_block_q4_k *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[NN_MULTI_MAX];
    __m128 accm[NN_MULTI_MAX];
    for (int t = 0; t < ny; t++) {
        acc[t] = _mm256_setzero_ps();
        accm[t] = _mm_setzero_ps();
    }
    for (int i = 0; i < n / NN_QK_K; i++) {
        _mm_prefetch((const char *)(x + i + 4), _MM_HINT_T0);
        _mm_prefetch((const char *)(x + i + 4) + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)(x + i + 4) + 128, _MM_HINT_T0);
        const float xd = f16(x[i].d), xdmin = f16(x[i].dmin);
        __m512i w[4], scv[4];
        __m128i mins;
        k4_scales(x[i].scales, scv, &mins);
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            w[c] = cat256(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
        }
        for (int t = 0; t < ny; t++) {
            const struct nn_block_q8_k *y =
                (const struct nn_block_q8_k *)((const uint8_t *)vy + (size_t)t * by) + i;
            /* four independent partial sums: short dependency chains */
            __m512i p[4];
            for (int c = 0; c < 4; c++) {
                __m512i a = _mm512_loadu_si512((const void *)(y->qs + 64 * c));
                p[c] = _mm512_madd_epi16(_mm512_maddubs_epi16(w[c], a), scv[c]);
            }
            __m512i sum =
                _mm512_add_epi32(_mm512_add_epi32(p[0], p[1]), _mm512_add_epi32(p[2], p[3]));
            const float d = y->d * xd, dmin = -y->d * xdmin;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(halves(sum)), acc[t]);
            __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
            __m128i q8s =
                _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
            accm[t] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(_mm_madd_epi16(mins, q8s)),
                                   accm[t]);
        }
    }
    for (int t = 0; t < ny; t++)
        s[(size_t)t * ss] = hsum256(acc[t]) + hsum128(accm[t]);
}

/* ===== Q5_K x Q8_K: Q4_K plus the fifth bits from qh ===== */

static ALWAYS_INLINE void q5k_body(int n, const void *vx, const void *vy, size_t by, const int ny,
                                   float *s, size_t ss)
{
    const struct nn_block_q5_k *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256 acc[NN_MULTI_MAX];
    __m128 accm[NN_MULTI_MAX];
    for (int t = 0; t < ny; t++) {
        acc[t] = _mm256_setzero_ps();
        accm[t] = _mm_setzero_ps();
    }
    for (int i = 0; i < n / NN_QK_K; i++) {
        _mm_prefetch((const char *)(x + i + 3), _MM_HINT_T0);
        _mm_prefetch((const char *)(x + i + 3) + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)(x + i + 3) + 128, _MM_HINT_T0);
        const float xd = f16(x[i].d), xdmin = f16(x[i].dmin);
        const __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m512i w[4], scv[4];
        __m128i mins;
        k4_scales(x[i].scales, scv, &mins);
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), one);
            __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), one);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16(h0, 4));
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                         _mm256_slli_epi16(h1, 4));
            w[c] = cat256(lo, hi);
        }
        for (int t = 0; t < ny; t++) {
            const struct nn_block_q8_k *y =
                (const struct nn_block_q8_k *)((const uint8_t *)vy + (size_t)t * by) + i;
            __m512i p[4];
            for (int c = 0; c < 4; c++) {
                __m512i a = _mm512_loadu_si512((const void *)(y->qs + 64 * c));
                p[c] = _mm512_madd_epi16(_mm512_maddubs_epi16(w[c], a), scv[c]);
            }
            __m512i sum =
                _mm512_add_epi32(_mm512_add_epi32(p[0], p[1]), _mm512_add_epi32(p[2], p[3]));
            const float d = y->d * xd, dmin = -y->d * xdmin;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(halves(sum)), acc[t]);
            __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
            __m128i q8s =
                _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
            accm[t] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(_mm_madd_epi16(mins, q8s)),
                                   accm[t]);
        }
    }
    for (int t = 0; t < ny; t++)
        s[(size_t)t * ss] = hsum256(acc[t]) + hsum128(accm[t]);
}

/* ===== Q6_K x Q8_K ===== */

static ALWAYS_INLINE void q6k_body(int n, const void *vx, const void *vy, size_t by, const int ny,
                                   float *s, size_t ss)
{
    const struct nn_block_q6_k *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    /* i16 lane j of a 64-element zmm covers elements 2j, 2j+1: scale index j / 8 */
    const __m512i perm_lo = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1,
                                             1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i four = _mm512_set1_epi16(4);
    const __m512i k32 = _mm512_set1_epi8(32);
    __m256 acc[NN_MULTI_MAX];
    for (int t = 0; t < ny; t++)
        acc[t] = _mm256_setzero_ps();
    for (int i = 0; i < n / NN_QK_K; i++) {
        for (int l = 0; l < 4; l++)
            _mm_prefetch((const char *)(x + i + 3) + 64 * l, _MM_HINT_T0);
        const float xd = nn_fp16_to_fp32_calc(x[i].d);
        const __m512i sc16 = _mm512_castsi256_si512(
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales)));
        __m512i w[4], scv[4];
        for (int h = 0; h < 2; h++) {
            __m256i b1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            __m256i b2 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            __m256i bh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(b1, m4),
                                         _mm256_slli_epi16(_mm256_and_si256(bh, m2), 4));
            __m256i q1 = _mm256_or_si256(
                _mm256_and_si256(b2, m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m2), 4));
            __m256i q2 = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m2), 4));
            __m256i q3 = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m2), 4));
            w[2 * h] = cat256(q0, q1);
            w[2 * h + 1] = cat256(q2, q3);
            __m512i base = _mm512_add_epi16(perm_lo, _mm512_set1_epi16((short)(8 * h)));
            scv[2 * h] = _mm512_permutexvar_epi16(base, sc16);
            scv[2 * h + 1] = _mm512_permutexvar_epi16(_mm512_add_epi16(base, four), sc16);
        }
        for (int t = 0; t < ny; t++) {
            const struct nn_block_q8_k *y =
                (const struct nn_block_q8_k *)((const uint8_t *)vy + (size_t)t * by) + i;
            __m512i sum = _mm512_setzero_si512();
            for (int k = 0; k < 4; k++) {
                __m512i a = _mm512_loadu_si512((const void *)(y->qs + 64 * k));
                /* (q - 32) * a per pair, in the lanes (as ggml's AVX2 kernel) */
                __m512i p =
                    _mm512_sub_epi16(_mm512_maddubs_epi16(w[k], a), _mm512_maddubs_epi16(k32, a));
                sum = _mm512_dpwssd_epi32(sum, p, scv[k]);
            }
            acc[t] =
                _mm256_fmadd_ps(_mm256_set1_ps(y->d * xd), _mm256_cvtepi32_ps(halves(sum)), acc[t]);
        }
    }
    for (int t = 0; t < ny; t++)
        s[(size_t)t * ss] = hsum256(acc[t]);
}

/* ===== Q8_0 x Q8_0: two blocks per zmm, VNNI, sign moved onto the activations ===== */

/* 32 signed weight values of block i of each legacy type whose activations are Q8_0 */
static ALWAYS_INLINE __m256i w_q8_0(const void *vx, int i)
{
    return _mm256_loadu_si256((const __m256i *)((const struct nn_block_q8_0 *)vx)[i].qs);
}

static ALWAYS_INLINE __m256i nibbles(const uint8_t *qs)
{
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

static ALWAYS_INLINE __m256i w_q4_0(const void *vx, int i)
{
    return _mm256_sub_epi8(nibbles(((const struct nn_block_q4_0 *)vx)[i].qs), _mm256_set1_epi8(8));
}

static ALWAYS_INLINE __m256i w_q5_0(const void *vx, int i)
{
    const struct nn_block_q5_0 *b = (const struct nn_block_q5_0 *)vx + i;
    uint32_t h;
    memcpy(&h, b->qh, 4);
    /* bit k of h is the fifth bit of element k: expand to 0x10 bytes */
    __mmask32 m = (__mmask32)h;
    __m256i hi = _mm256_maskz_mov_epi8(m, _mm256_set1_epi8(0x10));
    return _mm256_sub_epi8(_mm256_or_si256(nibbles(b->qs), hi), _mm256_set1_epi8(16));
}

static ALWAYS_INLINE float xd_of(enum nn_type t, const void *vx, int i)
{
    switch (t) {
    case NN_TYPE_Q4_0:
        return f16(((const struct nn_block_q4_0 *)vx)[i].d);
    case NN_TYPE_Q5_0:
        return f16(((const struct nn_block_q5_0 *)vx)[i].d);
    default:
        return f16(((const struct nn_block_q8_0 *)vx)[i].d);
    }
}

static ALWAYS_INLINE __m256i w_of(enum nn_type t, const void *vx, int i)
{
    switch (t) {
    case NN_TYPE_Q4_0:
        return w_q4_0(vx, i);
    case NN_TYPE_Q5_0:
        return w_q5_0(vx, i);
    default:
        return w_q8_0(vx, i);
    }
}

static ALWAYS_INLINE size_t block_bytes_of(enum nn_type t)
{
    return t == NN_TYPE_Q4_0 ? 18 : t == NN_TYPE_Q5_0 ? 22 : 34;
}

/* Signed 32-element weight blocks x Q8_0 activations: two blocks per zmm; |w| x (a with the
 * sign of w) through VNNI; per-block float scales. */
static ALWAYS_INLINE void qs_body(enum nn_type wt, int n, const void *vx, const void *vy, size_t by,
                                  const int ny, float *s, size_t ss)
{
    const int nb = n / NN_QK;
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc[NN_MULTI_MAX];
    for (int t = 0; t < ny; t++)
        acc[t] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 1 < nb; i += 2) {
        _mm_prefetch((const char *)vx + (size_t)(i + 12) * block_bytes_of(wt), _MM_HINT_T0);
        const __m512i q = cat256(w_of(wt, vx, i), w_of(wt, vx, i + 1));
        const __m512i aq = _mm512_abs_epi8(q);
        const __mmask64 neg = _mm512_movepi8_mask(q);
        const float xd0 = xd_of(wt, vx, i), xd1 = xd_of(wt, vx, i + 1);
        for (int t = 0; t < ny; t++) {
            const struct nn_block_q8_0 *y =
                (const struct nn_block_q8_0 *)((const uint8_t *)vy + (size_t)t * by) + i;
            __m512i a = cat256(_mm256_loadu_si256((const __m256i *)y[0].qs),
                               _mm256_loadu_si256((const __m256i *)y[1].qs));
            a = _mm512_mask_sub_epi8(a, neg, zero, a);
            __m512i p = _mm512_dpbusd_epi32(zero, aq, a);
            __m512 d = _mm512_insertf32x8(_mm512_set1_ps(xd0 * f16(y[0].d)),
                                          _mm256_set1_ps(xd1 * f16(y[1].d)), 1);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc[t]);
        }
    }
    for (; i < nb; i++) { /* odd block count */
        const __m256i q = w_of(wt, vx, i);
        const __m256i aq = _mm256_sign_epi8(q, q);
        const float xd = xd_of(wt, vx, i);
        for (int t = 0; t < ny; t++) {
            const struct nn_block_q8_0 *y =
                (const struct nn_block_q8_0 *)((const uint8_t *)vy + (size_t)t * by) + i;
            __m256i a = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), q);
            __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aq, a);
            __m512 d = _mm512_castps256_ps512(_mm256_set1_ps(xd * f16(y->d)));
            acc[t] = _mm512_mask3_fmadd_ps(_mm512_castps256_ps512(_mm256_cvtepi32_ps(p)), d, acc[t],
                                           0x00FF);
        }
    }
    for (int t = 0; t < ny; t++)
        s[(size_t)t * ss] = _mm512_reduce_add_ps(acc[t]);
}

static ALWAYS_INLINE void q8_0_body(int n, const void *vx, const void *vy, size_t by, const int ny,
                                    float *s, size_t ss)
{
    qs_body(NN_TYPE_Q8_0, n, vx, vy, by, ny, s, ss);
}

static ALWAYS_INLINE void q4_0_body(int n, const void *vx, const void *vy, size_t by, const int ny,
                                    float *s, size_t ss)
{
    qs_body(NN_TYPE_Q4_0, n, vx, vy, by, ny, s, ss);
}

static ALWAYS_INLINE void q5_0_body(int n, const void *vx, const void *vy, size_t by, const int ny,
                                    float *s, size_t ss)
{
    qs_body(NN_TYPE_Q5_0, n, vx, vy, by, ny, s, ss);
}

/* ===== Q4_1 / Q5_1 x Q8_1: unsigned codes straight into VNNI, plus m * s per block ===== */

static ALWAYS_INLINE __m256i wu_of(enum nn_type t, const void *vx, int i)
{
    if (t == NN_TYPE_Q4_1)
        return nibbles(((const struct nn_block_q4_1 *)vx)[i].qs);
    const struct nn_block_q5_1 *b = (const struct nn_block_q5_1 *)vx + i;
    uint32_t h;
    memcpy(&h, b->qh, 4);
    __m256i hi = _mm256_maskz_mov_epi8((__mmask32)h, _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nibbles(b->qs), hi);
}

static ALWAYS_INLINE void qu_body(enum nn_type wt, int n, const void *vx, const void *vy, size_t by,
                                  const int ny, float *s, size_t ss)
{
    const int nb = n / NN_QK;
    const size_t bb =
        wt == NN_TYPE_Q4_1 ? sizeof(struct nn_block_q4_1) : sizeof(struct nn_block_q5_1);
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc[NN_MULTI_MAX];
    float summ[NN_MULTI_MAX];
    for (int t = 0; t < ny; t++) {
        acc[t] = _mm512_setzero_ps();
        summ[t] = 0;
    }
    for (int i = 0; i < nb; i += 2) {
        _mm_prefetch((const char *)vx + (size_t)(i + 12) * bb, _MM_HINT_T0);
        const bool pair = i + 1 < nb;
        const __m512i w =
            cat256(wu_of(wt, vx, i), pair ? wu_of(wt, vx, i + 1) : _mm256_setzero_si256());
        /* d and m are the first two f16 fields of both block types */
        const uint16_t *h0 = (const uint16_t *)((const uint8_t *)vx + (size_t)i * bb);
        const uint16_t *h1 = (const uint16_t *)((const uint8_t *)vx + (size_t)(i + 1) * bb);
        const float xd0 = f16(h0[0]), xm0 = f16(h0[1]);
        const float xd1 = pair ? f16(h1[0]) : 0, xm1 = pair ? f16(h1[1]) : 0;
        for (int t = 0; t < ny; t++) {
            const struct nn_block_q8_1 *y =
                (const struct nn_block_q8_1 *)((const uint8_t *)vy + (size_t)t * by) + i;
            __m512i a = cat256(_mm256_loadu_si256((const __m256i *)y[0].qs),
                               pair ? _mm256_loadu_si256((const __m256i *)y[1].qs)
                                    : _mm256_setzero_si256());
            __m512i p = _mm512_dpbusd_epi32(zero, w, a);
            __m512 d = _mm512_insertf32x8(_mm512_set1_ps(xd0 * f16(y[0].d)),
                                          _mm256_set1_ps(pair ? xd1 * f16(y[1].d) : 0), 1);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc[t]);
            summ[t] += xm0 * f16(y[0].s) + (pair ? xm1 * f16(y[1].s) : 0);
        }
    }
    for (int t = 0; t < ny; t++)
        s[(size_t)t * ss] = _mm512_reduce_add_ps(acc[t]) + summ[t];
}

static ALWAYS_INLINE void q4_1_body(int n, const void *vx, const void *vy, size_t by, const int ny,
                                    float *s, size_t ss)
{
    qu_body(NN_TYPE_Q4_1, n, vx, vy, by, ny, s, ss);
}

static ALWAYS_INLINE void q5_1_body(int n, const void *vx, const void *vy, size_t by, const int ny,
                                    float *s, size_t ss)
{
    qu_body(NN_TYPE_Q5_1, n, vx, vy, by, ny, s, ss);
}

/* ===== F16 / BF16 x same: widen the weights once, 16 per zmm ===== */

static ALWAYS_INLINE __m512 widen16(enum nn_type t, const uint16_t *p)
{
    return widen_half(t == NN_TYPE_BF16, _mm256_loadu_si256((const __m256i *)p));
}

static ALWAYS_INLINE float widen1(enum nn_type t, uint16_t h)
{
    return t == NN_TYPE_F16 ? f16(h) : nn_bf16_to_fp32(h);
}

static ALWAYS_INLINE void half_body(enum nn_type wt, int n, const void *vx, const void *vy,
                                    size_t by, const int ny, float *s, size_t ss)
{
    const uint16_t *x = vx;
    __m512 acc[NN_MULTI_MAX];
    for (int t = 0; t < ny; t++)
        acc[t] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm_prefetch((const char *)(x + i + 256), _MM_HINT_T0);
        const __m512 w = widen16(wt, x + i);
        for (int t = 0; t < ny; t++) {
            const uint16_t *y = (const uint16_t *)((const uint8_t *)vy + (size_t)t * by);
            acc[t] = _mm512_fmadd_ps(w, widen16(wt, y + i), acc[t]);
        }
    }
    for (int t = 0; t < ny; t++) {
        const uint16_t *y = (const uint16_t *)((const uint8_t *)vy + (size_t)t * by);
        float sum = _mm512_reduce_add_ps(acc[t]);
        for (int k = i; k < n; k++)
            sum += widen1(wt, x[k]) * widen1(wt, y[k]);
        s[(size_t)t * ss] = sum;
    }
}

static ALWAYS_INLINE void f16_body(int n, const void *vx, const void *vy, size_t by, const int ny,
                                   float *s, size_t ss)
{
    half_body(NN_TYPE_F16, n, vx, vy, by, ny, s, ss);
}

static ALWAYS_INLINE void bf16_body(int n, const void *vx, const void *vy, size_t by, const int ny,
                                    float *s, size_t ss)
{
    half_body(NN_TYPE_BF16, n, vx, vy, by, ny, s, ss);
}

/* Instantiates fixed-ny versions (so the accumulators live in registers) and a dispatcher. */
#define MULTI(name, body)                                                                          \
    static void name##_multi(int n, const void *x, const void *y, size_t by, int ny, float *s,     \
                             size_t ss)                                                            \
    {                                                                                              \
        switch (ny) {                                                                              \
        case 1:                                                                                    \
            body(n, x, y, by, 1, s, ss);                                                           \
            break;                                                                                 \
        case 2:                                                                                    \
            body(n, x, y, by, 2, s, ss);                                                           \
            break;                                                                                 \
        case 3:                                                                                    \
            body(n, x, y, by, 3, s, ss);                                                           \
            break;                                                                                 \
        case 4:                                                                                    \
            body(n, x, y, by, 4, s, ss);                                                           \
            break;                                                                                 \
        case 5:                                                                                    \
            body(n, x, y, by, 5, s, ss);                                                           \
            break;                                                                                 \
        case 6:                                                                                    \
            body(n, x, y, by, 6, s, ss);                                                           \
            break;                                                                                 \
        case 7:                                                                                    \
            body(n, x, y, by, 7, s, ss);                                                           \
            break;                                                                                 \
        default:                                                                                   \
            body(n, x, y, by, 8, s, ss);                                                           \
            break;                                                                                 \
        }                                                                                          \
    }                                                                                              \
    static void name##_single(int n, float *s, const void *x, const void *y)                       \
    {                                                                                              \
        body(n, x, y, 0, 1, s, 0);                                                                 \
    }

MULTI(q4k, q4k_body)
MULTI(q5k, q5k_body)
MULTI(q6k, q6k_body)
MULTI(q8_0, q8_0_body)
MULTI(q4_0, q4_0_body)
MULTI(q5_0, q5_0_body)
MULTI(q4_1, q4_1_body)
MULTI(q5_1, q5_1_body)
MULTI(f16, f16_body)
MULTI(bf16, bf16_body)

nn_vec_dot_fn nn_avx512_vec_dot(enum nn_type t)
{
    switch (t) {
    case NN_TYPE_Q4_K:
        return q4k_single;
    case NN_TYPE_Q5_K:
        return q5k_single;
    case NN_TYPE_Q6_K:
        return q6k_single;
    case NN_TYPE_Q8_0:
        return q8_0_single;
    case NN_TYPE_Q4_0:
        return q4_0_single;
    case NN_TYPE_Q5_0:
        return q5_0_single;
    case NN_TYPE_Q4_1:
        return q4_1_single;
    case NN_TYPE_Q5_1:
        return q5_1_single;
    case NN_TYPE_F16:
        return f16_single;
    case NN_TYPE_BF16:
        return bf16_single;
    default:
        return NULL;
    }
}

nn_vec_dot_multi_fn nn_avx512_vec_dot_multi(enum nn_type t)
{
    switch (t) {
    case NN_TYPE_Q4_K:
        return q4k_multi;
    case NN_TYPE_Q5_K:
        return q5k_multi;
    case NN_TYPE_Q6_K:
        return q6k_multi;
    case NN_TYPE_Q8_0:
        return q8_0_multi;
    case NN_TYPE_Q4_0:
        return q4_0_multi;
    case NN_TYPE_Q5_0:
        return q5_0_multi;
    case NN_TYPE_Q4_1:
        return q4_1_multi;
    case NN_TYPE_Q5_1:
        return q5_1_multi;
    case NN_TYPE_F16:
        return f16_multi;
    case NN_TYPE_BF16:
        return bf16_multi;
    default:
        return NULL;
    }
}

/* Q8_0 activation rows, byte-identical to nn_quantize_row_q8_0. */
static void from_float_q8_0(const float *x, void *dst, int64_t n)
{
    struct nn_block_q8_0 *y = dst;
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / NN_QK; b++) {
        __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
        float amax = _mm512_reduce_max_ps(
            _mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1)));
        float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[b].d = nn_fp32_to_fp16(amax / 127.f);
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(
                                                 _mm512_mul_ps(x0, _mm512_set1_ps(id)))));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(
                                                        _mm512_mul_ps(x1, _mm512_set1_ps(id)))));
    }
}

nn_from_float_fn nn_avx512_from_float(enum nn_type t)
{
    switch (t) {
    case NN_TYPE_Q8_0:
        return from_float_q8_0;
    case NN_TYPE_Q8_K:
        return nn_avx512_quantize_row_q8_k;
    default:
        return NULL;
    }
}
