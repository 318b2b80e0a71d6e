/* deq.c: the AMX matmul's panel dequantisers: a row of weights of each supported type to
 * BF16 A-tile rows (AVX-512 + AVX512-BF16; see matmul_internal.h). */
#include "nn/arch/x86/amx/matmul_internal.h"

#ifdef MM_AMX
AVX_TGT static inline void put32(uint16_t *d, __m512 lo, __m512 hi)
{
    _mm512_store_si512((void *)d, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

AVX_TGT static inline __m512i u8x16(const uint8_t *p)
{
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
}

/* q * d + m for 16 integer codes */
AVX_TGT static inline __m512 qfma(__m512i q, __m512 d, __m512 m)
{
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(q), d, m);
}

AVX_TGT static void deq_q8_0(const uint8_t *row, uint16_t *dst, int n, int g0, int g1)
{
    const struct nn_block_q8_0 *b = (const void *)row;
    (void)n;
    dst += (size_t)g0 * CS;
    for (int i = g0; i < g1; i++, dst += CS) {
        const __m512 d = _mm512_set1_ps(nn_load_fp16(&b[i].d));
        const __m512i q0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b[i].qs));
        const __m512i q1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + 16)));
        put32(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(q0), d),
              _mm512_mul_ps(_mm512_cvtepi32_ps(q1), d));
    }
}

AVX_TGT static void deq_q4_0(const uint8_t *row, uint16_t *dst, int n, int g0, int g1)
{
    const struct nn_block_q4_0 *b = (const void *)row;
    const __m512i m4 = _mm512_set1_epi32(15);
    (void)n;
    dst += (size_t)g0 * CS;
    for (int i = g0; i < g1; i++, dst += CS) {
        const float df = nn_load_fp16(&b[i].d);
        const __m512 d = _mm512_set1_ps(df), m = _mm512_set1_ps(-8.0f * df);
        const __m512i v = u8x16(b[i].qs);
        put32(dst, qfma(_mm512_and_si512(v, m4), d, m), qfma(_mm512_srli_epi32(v, 4), d, m));
    }
}

AVX_TGT static void deq_q4_1(const uint8_t *row, uint16_t *dst, int n, int g0, int g1)
{
    const struct nn_block_q4_1 *b = (const void *)row;
    const __m512i m4 = _mm512_set1_epi32(15);
    (void)n;
    dst += (size_t)g0 * CS;
    for (int i = g0; i < g1; i++, dst += CS) {
        const __m512 d = _mm512_set1_ps(nn_load_fp16(&b[i].d));
        const __m512 m = _mm512_set1_ps(nn_load_fp16(&b[i].m));
        const __m512i v = u8x16(b[i].qs);
        put32(dst, qfma(_mm512_and_si512(v, m4), d, m), qfma(_mm512_srli_epi32(v, 4), d, m));
    }
}

/* the fifth bits of a Q5 block: bit k of qh for element k */
AVX_TGT static inline void q5_codes(const uint8_t *qs, const uint8_t qh4[4], __m512i *lo,
                                    __m512i *hi)
{
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    const __m512i v = u8x16(qs), b4 = _mm512_set1_epi32(16);
    const __m512i l = _mm512_and_si512(v, _mm512_set1_epi32(15)), h = _mm512_srli_epi32(v, 4);
    *lo = _mm512_mask_or_epi32(l, (__mmask16)(qh & 0xffff), l, b4);
    *hi = _mm512_mask_or_epi32(h, (__mmask16)(qh >> 16), h, b4);
}

AVX_TGT static void deq_q5_0(const uint8_t *row, uint16_t *dst, int n, int g0, int g1)
{
    const struct nn_block_q5_0 *b = (const void *)row;
    (void)n;
    dst += (size_t)g0 * CS;
    for (int i = g0; i < g1; i++, dst += CS) {
        const float df = nn_load_fp16(&b[i].d);
        const __m512 d = _mm512_set1_ps(df), m = _mm512_set1_ps(-16.0f * df);
        __m512i lo, hi;
        q5_codes(b[i].qs, b[i].qh, &lo, &hi);
        put32(dst, qfma(lo, d, m), qfma(hi, d, m));
    }
}

AVX_TGT static void deq_q5_1(const uint8_t *row, uint16_t *dst, int n, int g0, int g1)
{
    const struct nn_block_q5_1 *b = (const void *)row;
    (void)n;
    dst += (size_t)g0 * CS;
    for (int i = g0; i < g1; i++, dst += CS) {
        const __m512 d = _mm512_set1_ps(nn_load_fp16(&b[i].d));
        const __m512 m = _mm512_set1_ps(nn_load_fp16(&b[i].m));
        __m512i lo, hi;
        q5_codes(b[i].qs, b[i].qh, &lo, &hi);
        put32(dst, qfma(lo, d, m), qfma(hi, d, m));
    }
}

/* Q4_K / Q5_K through lookup tables: per pair of sub-blocks one zmm holds both 16-entry
 * (Q5_K: 32-entry) tables of BF16 values d * sc * q - dmin * mn, and VPERMW maps 32 codes
 * at a time. */
AVX_TGT static inline void deq_k4_lut(const uint8_t *qs, const uint8_t *qh,
                                      const uint8_t scales[12], float d, float dmin, uint16_t *dst)
{
    uint8_t sc[8], mn[8];
    nn_unpack_scales_k4(scales, sc, mn);
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 iota16 = _mm512_add_ps(iota, _mm512_set1_ps(16.0f));
    const __m512i m4 = _mm512_set1_epi16(15), b4 = _mm512_set1_epi16(16);
    const __m512i h =
        qh ? _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)qh)) : _mm512_setzero_si512();
    for (int c = 0; c < 4; c++, qs += 32) {
        const __m512i v = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)qs));
        __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_srli_epi16(v, 4);
        const __m512 d1 = _mm512_set1_ps(d * sc[2 * c]), m1 = _mm512_set1_ps(-dmin * mn[2 * c]);
        const __m512 d2 = _mm512_set1_ps(d * sc[2 * c + 1]);
        const __m512 m2 = _mm512_set1_ps(-dmin * mn[2 * c + 1]);
        __m512i t1, t2;
        if (qh) {
            lo = _mm512_mask_add_epi16(
                lo, _mm512_test_epi16_mask(h, _mm512_set1_epi16((short)(1 << (2 * c)))), lo, b4);
            hi = _mm512_mask_add_epi16(
                hi, _mm512_test_epi16_mask(h, _mm512_set1_epi16((short)(2 << (2 * c)))), hi, b4);
            t1 = (__m512i)_mm512_cvtne2ps_pbh(_mm512_fmadd_ps(iota16, d1, m1),
                                              _mm512_fmadd_ps(iota, d1, m1));
            t2 = (__m512i)_mm512_cvtne2ps_pbh(_mm512_fmadd_ps(iota16, d2, m2),
                                              _mm512_fmadd_ps(iota, d2, m2));
        } else {
            /* both tables in one register: sub-block 2c in words 0..15, 2c+1 in 16..31 */
            t1 = (__m512i)_mm512_cvtne2ps_pbh(_mm512_fmadd_ps(iota, d2, m2),
                                              _mm512_fmadd_ps(iota, d1, m1));
            t2 = t1;
            hi = _mm512_or_si512(hi, b4);
        }
        _mm512_store_si512((void *)dst, _mm512_permutexvar_epi16(lo, t1));
        dst += CS;
        _mm512_store_si512((void *)dst, _mm512_permutexvar_epi16(hi, t2));
        dst += CS;
    }
}

AVX_TGT static void deq_q4_k(const uint8_t *row, uint16_t *dst, int n, int g0, int g1)
{
    const struct nn_block_q4_k *b = (const void *)row;
    (void)n;
    dst += (size_t)g0 * 8 * CS;
    for (int i = g0; i < g1; i++, dst += 8 * CS)
        deq_k4_lut(b[i].qs, NULL, b[i].scales, nn_load_fp16(&b[i].d), nn_load_fp16(&b[i].dmin),
                   dst);
}

AVX_TGT static void deq_q5_k(const uint8_t *row, uint16_t *dst, int n, int g0, int g1)
{
    const struct nn_block_q5_k *b = (const void *)row;
    (void)n;
    dst += (size_t)g0 * 8 * CS;
    for (int i = g0; i < g1; i++, dst += 8 * CS)
        deq_k4_lut(b[i].qs, b[i].qh, b[i].scales, nn_load_fp16(&b[i].d), nn_load_fp16(&b[i].dmin),
                   dst);
}

/* Q6_K: two halves of 128; element l (< 32) of quarter j takes a nibble of ql and two bits of
 * qh[l], with scale scales[j * 2 + l / 16] */
AVX_TGT static void deq_q6_k(const uint8_t *row, uint16_t *dst, int n, int g0, int g1)
{
    const struct nn_block_q6_k *b = (const void *)row;
    const __m512i m4 = _mm512_set1_epi32(15), m30 = _mm512_set1_epi32(0x30);
    (void)n;
    dst += (size_t)g0 * 8 * CS;
    for (int i = g0; i < g1; i++) {
        const float d = nn_load_fp16(&b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            __m512i q[4][2];
            for (int g = 0; g < 2; g++) {
                const __m512i a = u8x16(ql + 16 * g), c = u8x16(ql + 32 + 16 * g);
                const __m512i hb = u8x16(qh + 16 * g);
                q[0][g] = _mm512_or_si512(_mm512_and_si512(a, m4),
                                          _mm512_and_si512(_mm512_slli_epi32(hb, 4), m30));
                q[1][g] = _mm512_or_si512(_mm512_and_si512(c, m4),
                                          _mm512_and_si512(_mm512_slli_epi32(hb, 2), m30));
                q[2][g] = _mm512_or_si512(_mm512_srli_epi32(a, 4), _mm512_and_si512(hb, m30));
                q[3][g] = _mm512_or_si512(_mm512_srli_epi32(c, 4),
                                          _mm512_and_si512(_mm512_srli_epi32(hb, 2), m30));
            }
            for (int j = 0; j < 4; j++, dst += CS) {
                const float s0 = d * sc[2 * j], s1 = d * sc[2 * j + 1];
                put32(dst, qfma(q[j][0], _mm512_set1_ps(s0), _mm512_set1_ps(-32.0f * s0)),
                      qfma(q[j][1], _mm512_set1_ps(s1), _mm512_set1_ps(-32.0f * s1)));
            }
        }
    }
}

AVX_TGT static void deq_f16(const uint8_t *row, uint16_t *dst, int n, int g0, int g1)
{
    int k = g0 * KS;
    const int end = VB_MIN(n, g1 * KS);
    dst += (size_t)g0 * CS;
    for (; k + KS <= end; k += KS, dst += CS)
        put32(dst, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * k))),
              _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * k + 32))));
    if (k < end) {
        for (int j = 0; j < KS; j++)
            dst[j] = k + j < n ? nn_fp32_to_bf16(nn_load_fp16(row + 2 * (k + j))) : 0;
    }
}

AVX_TGT static void deq_bf16(const uint8_t *row, uint16_t *dst, int n, int g0, int g1)
{
    int k = g0 * KS;
    const int end = VB_MIN(n, g1 * KS);
    dst += (size_t)g0 * CS;
    for (; k + KS <= end; k += KS, dst += CS)
        _mm512_store_si512((void *)dst, _mm512_loadu_si512((const void *)(row + 2 * k)));
    if (k < end) {
        for (int j = 0; j < KS; j++) {
            uint16_t h = 0;
            if (k + j < n)
                memcpy(&h, row + 2 * (k + j), 2);
            dst[j] = h;
        }
    }
}

deq_fn nn_amx_deq_for(enum nn_type t)
{
    switch (t) {
    case NN_TYPE_F16:
        return deq_f16;
    case NN_TYPE_BF16:
        return deq_bf16;
    case NN_TYPE_Q8_0:
        return deq_q8_0;
    case NN_TYPE_Q4_0:
        return deq_q4_0;
    case NN_TYPE_Q4_1:
        return deq_q4_1;
    case NN_TYPE_Q5_0:
        return deq_q5_0;
    case NN_TYPE_Q5_1:
        return deq_q5_1;
    case NN_TYPE_Q4_K:
        return deq_q4_k;
    case NN_TYPE_Q5_K:
        return deq_q5_k;
    case NN_TYPE_Q6_K:
        return deq_q6_k;
    default:
        return NULL;
    }
}

#endif
