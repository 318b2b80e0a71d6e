/* quant_avx2.c: AVX2/FMA/F16C dot products "weight row x activation row" for every matmul
 * type. Integer block sums are exact (same as the C reference); only the float accumulation
 * order differs. Compiled with -mavx2 -mfma -mf16c; selected at run time by nn/kernels.c. */
#include "core/vb.h"
#include "nn/kernels.h"
#include "nn/fp16.h"
#include "nn/arch/x86/simd_x86.h"

#include <immintrin.h>

static inline int hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* unsigned bytes x signed bytes -> 8 int32 sums of 4 products */
static inline __m256i dot_us8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* signed x signed bytes (|x| <= 128, y in [-127, 127]) -> 8 int32 sums */
static inline __m256i dot_ss8(__m256i x, __m256i y)
{
    return dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* 16 packed bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31) */
static inline __m256i nibbles_32(const uint8_t *qs)
{
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, 0xFF where the bit is set (byte k <-> bit k) */
static inline __m256i bits_to_bytes(const uint8_t *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
}

static void dot_f32(int n, float *s, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float sum = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

static inline __m256 load_f16x8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static void dot_f16(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_f16x8(x + i), load_f16x8(y + i), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(x + i + 8), load_f16x8(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(x + i + 16), load_f16x8(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(x + i + 24), load_f16x8(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(load_f16x8(x + i), load_f16x8(y + i), a0);
    float sum = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += nn_fp16_to_fp32_calc(x[i]) * nn_fp16_to_fp32_calc(y[i]);
    *s = sum;
}

static inline __m256 load_bf16x8(const uint16_t *p)
{
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

static void dot_bf16(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(load_bf16x8(x + i), load_bf16x8(y + i), a0);
        a1 = _mm256_fmadd_ps(load_bf16x8(x + i + 8), load_bf16x8(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(load_bf16x8(x + i), load_bf16x8(y + i), a0);
    float sum = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        sum += nn_bf16_to_fp32(x[i]) * nn_bf16_to_fp32(y[i]);
    *s = sum;
}

static void from_float_f16(const float *x, void *dst, int64_t n)
{
    uint16_t *o = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(o + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), 0));
    for (; i < n; i++)
        o[i] = nn_fp32_to_fp16(x[i]);
}

static void dot_q8_0(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q8_0 *x = vx, *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / NN_QK; i++) {
        __m256 d = _mm256_set1_ps(nn_fp16_to_fp32_calc(x[i].d) * nn_fp16_to_fp32_calc(y[i].d));
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_ss8(qx, qy)), acc);
    }
    *s = hsum256(acc);
}

static void dot_q4_0(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q4_0 *x = vx;
    const struct nn_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    const __m256i off = _mm256_set1_epi8(8);
    for (int i = 0; i < n / NN_QK; i++) {
        __m256 d = _mm256_set1_ps(nn_fp16_to_fp32_calc(x[i].d) * nn_fp16_to_fp32_calc(y[i].d));
        __m256i qx = _mm256_sub_epi8(nibbles_32(x[i].qs), off);
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_ss8(qx, qy)), acc);
    }
    *s = hsum256(acc);
}

static void dot_q4_1(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q4_1 *x = vx;
    const struct nn_block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int i = 0; i < n / NN_QK; i++) {
        summs += nn_fp16_to_fp32_calc(x[i].m) * nn_fp16_to_fp32_calc(y[i].s);
        __m256 d = _mm256_set1_ps(nn_fp16_to_fp32_calc(x[i].d) * nn_fp16_to_fp32_calc(y[i].d));
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_us8(nibbles_32(x[i].qs), qy)), acc);
    }
    *s = hsum256(acc) + summs;
}

static void dot_q5_0(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q5_0 *x = vx;
    const struct nn_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    const __m256i b16 = _mm256_set1_epi8(16);
    for (int i = 0; i < n / NN_QK; i++) {
        __m256 d = _mm256_set1_ps(nn_fp16_to_fp32_calc(x[i].d) * nn_fp16_to_fp32_calc(y[i].d));
        __m256i hi = _mm256_and_si256(bits_to_bytes(x[i].qh), b16);
        __m256i qx = _mm256_sub_epi8(_mm256_or_si256(nibbles_32(x[i].qs), hi), b16);
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_ss8(qx, qy)), acc);
    }
    *s = hsum256(acc);
}

static void dot_q5_1(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q5_1 *x = vx;
    const struct nn_block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    const __m256i b16 = _mm256_set1_epi8(16);
    for (int i = 0; i < n / NN_QK; i++) {
        summs += nn_fp16_to_fp32_calc(x[i].m) * nn_fp16_to_fp32_calc(y[i].s);
        __m256 d = _mm256_set1_ps(nn_fp16_to_fp32_calc(x[i].d) * nn_fp16_to_fp32_calc(y[i].d));
        __m256i hi = _mm256_and_si256(bits_to_bytes(x[i].qh), b16);
        __m256i qx = _mm256_or_si256(nibbles_32(x[i].qs), hi);
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_us8(qx, qy)), acc);
    }
    *s = hsum256(acc) + summs;
}

/* Q4_K / Q5_K mins term: sum_g bsums[g] * mn[g/2] */
static inline int k4_mins(const int16_t *bsums, const uint8_t mn[8])
{
    __m256i b = _mm256_loadu_si256((const __m256i *)bsums);
    __m128i m8 = _mm_loadl_epi64((const __m128i *)mn);
    /* duplicate each min for its two 16-element groups */
    __m128i m16 = _mm_unpacklo_epi8(m8, m8);
    __m256i m = _mm256_cvtepu8_epi16(m16);
    return hsum_epi32(_mm256_madd_epi16(b, m));
}

static void dot_q4_k(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q4_k *x = vx;
    const struct nn_block_q8_k *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0;
    for (int i = 0; i < n / NN_QK_K; i++) {
        uint8_t sc[8], mn[8];
        nn_unpack_scales_k4(x[i].scales, sc, mn);
        const float d = y[i].d * nn_fp16_to_fp32_calc(x[i].d);
        const float dmin = y[i].d * nn_fp16_to_fp32_calc(x[i].dmin);
        accm += dmin * (float)k4_mins(y[i].bsums, mn);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            __m256i lo = _mm256_and_si256(q4, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            __m256i ql = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));
            __m256i pl =
                _mm256_madd_epi16(_mm256_maddubs_epi16(lo, ql), _mm256_set1_epi16(sc[2 * c]));
            __m256i ph =
                _mm256_madd_epi16(_mm256_maddubs_epi16(hi, qh), _mm256_set1_epi16(sc[2 * c + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum256(acc) - accm;
}

static void dot_q5_k(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q5_k *x = vx;
    const struct nn_block_q8_k *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0;
    for (int i = 0; i < n / NN_QK_K; i++) {
        uint8_t sc[8], mn[8];
        nn_unpack_scales_k4(x[i].scales, sc, mn);
        const float d = y[i].d * nn_fp16_to_fp32_calc(x[i].d);
        const float dmin = y[i].d * nn_fp16_to_fp32_calc(x[i].dmin);
        accm += dmin * (float)k4_mins(y[i].bsums, mn);
        const __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), one);
            __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), one);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(q4, m4), _mm256_slli_epi16(h0, 4));
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4),
                                         _mm256_slli_epi16(h1, 4));
            __m256i ql = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));
            __m256i pl =
                _mm256_madd_epi16(_mm256_maddubs_epi16(lo, ql), _mm256_set1_epi16(sc[2 * c]));
            __m256i ph =
                _mm256_madd_epi16(_mm256_maddubs_epi16(hi, qh), _mm256_set1_epi16(sc[2 * c + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum256(acc) - accm;
}

static inline __m256i scale_pair(const int8_t *sc)
{
    return _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
}

static void dot_q6_k(int n, float *s, const void *vx, const void *vy)
{
    const struct nn_block_q6_k *x = vx;
    const struct nn_block_q8_k *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    const __m256i k32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / NN_QK_K; i++) {
        const float d = y[i].d * nn_fp16_to_fp32_calc(x[i].d);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h;
            const int8_t *sc = x[i].scales + 8 * h;
            const int8_t *a = y[i].qs + 128 * h;
            __m256i b1 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i b2 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i bh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(b1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(bh, m2), 4));
            q[1] = _mm256_or_si256(
                _mm256_and_si256(b2, m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m2), 4));
            q[2] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m2), 4));
            q[3] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m2), 4));
            for (int k = 0; k < 4; k++) {
                __m256i q8 = _mm256_loadu_si256((const __m256i *)(a + 32 * k));
                __m256i p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], q8), _mm256_maddubs_epi16(k32, q8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale_pair(sc + 2 * k), p));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum256(acc);
}

nn_vec_dot_fn nn_avx2_vec_dot(enum nn_type t)
{
    switch (t) {
    case NN_TYPE_F32:
        return dot_f32;
    case NN_TYPE_F16:
        return dot_f16;
    case NN_TYPE_BF16:
        return dot_bf16;
    case NN_TYPE_Q8_0:
        return dot_q8_0;
    case NN_TYPE_Q4_0:
        return dot_q4_0;
    case NN_TYPE_Q4_1:
        return dot_q4_1;
    case NN_TYPE_Q5_0:
        return dot_q5_0;
    case NN_TYPE_Q5_1:
        return dot_q5_1;
    case NN_TYPE_Q4_K:
        return dot_q4_k;
    case NN_TYPE_Q5_K:
        return dot_q5_k;
    case NN_TYPE_Q6_K:
        return dot_q6_k;
    default:
        return NULL;
    }
}

nn_from_float_fn nn_avx2_from_float(enum nn_type t)
{
    switch (t) {
    case NN_TYPE_F16:
        return from_float_f16;
    default:
        return NULL;
    }
}

static void axpy_f32(int n, float a, const void *vx, float *y)
{
    const float *x = vx;
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

static void axpy_f16(int n, float a, const void *vx, float *y)
{
    const uint16_t *x = vx;
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_f16x8(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * nn_fp16_to_fp32_calc(x[i]);
}

nn_axpy_fn nn_avx2_axpy(enum nn_type t)
{
    return t == NN_TYPE_F32 ? axpy_f32 : t == NN_TYPE_F16 ? axpy_f16 : NULL;
}
