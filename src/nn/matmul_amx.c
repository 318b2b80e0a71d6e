/* matmul_amx.c: nn_matmul for token batches on Intel AMX (see matmul_amx.h). Activations go
 * once per call into BF16 B tiles; each thread then takes panels of 32 weight rows,
 * dequantises them into BF16 A tiles and runs 2x2 TDPBF16PS tiles per 32 tokens. */
#include "core/vb.h"
#include "nn/matmul_amx.h"

#include "core/alloc.h"
#include "nn/fp16.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "nn/quant.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__linux__)
#    define MM_AMX 1
#    include "nn/amx.h"
#    include <immintrin.h>
#endif

static atomic_ullong taken;

uint64_t nn_matmul_amx_taken(void)
{
    return atomic_load(&taken);
}

#ifdef MM_AMX

#    define PR          32        /* weight rows per panel: two A tiles */
#    define TT          16        /* tokens per B tile */
#    define KS          32        /* bf16 per A-tile row: one K step */
#    define CS          (PR * KS) /* panel elements per K step: the panel is [K2/KS][PR][KS] */
#    define BT          (TT * KS) /* elements per B tile: [KS/2 pairs][TT tokens][2] */
#    define ALIGN       64
#    define CHUNK_BYTES (1280 * 1024) /* activation bytes (all tokens) of one K chunk */

#    define AVX_TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,f16c")))
#    define AMX_TGT                                                                                \
        __attribute__((target(                                                                     \
            "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,f16c,amx-tile,amx-bf16,amx-int8")))

/* Dequantises groups [g0, g1) of a row of n weights to BF16: element k at
 * dst[(k / KS) * CS + k % KS], the last step zero-padded to KS. A group is a block (32
 * elements; 256 for the K-quants; 32 for F16/BF16, the last one possibly partial). */
typedef void (*deq_fn)(const uint8_t *row, uint16_t *dst, int n, int g0, int g1);

/* ===== panel dequantisers (AVX-512 + AVX512-BF16) ===== */

/* An unaligned f16 field as F32 (F16C: no table lookup in the unpacking loops) */
AVX_TGT static inline float f16_at(const void *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* 32 floats (lo = elements 0..15) -> one 64-byte BF16 tile row, round to nearest even */
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

static deq_fn deq_for(enum nn_type t)
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

/* ===== activations and output ===== */

/* In-register transpose of 16 rows of 16 lanes: r[i][j] -> r[j][i]. */
AVX_TGT static inline void transpose16(__m512 r[16])
{
    __m512 a[16], b[16];
    for (int k = 0; k < 8; k++) {
        a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int q = 0; q < 4; q++) { /* b[4q + c]: column 4L + c of rows 4q..4q+3, lane L */
        const __m512d a0 = _mm512_castps_pd(a[4 * q]), a1 = _mm512_castps_pd(a[4 * q + 1]);
        const __m512d a2 = _mm512_castps_pd(a[4 * q + 2]), a3 = _mm512_castps_pd(a[4 * q + 3]);
        b[4 * q] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        b[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        b[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        b[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    for (int c = 0; c < 4; c++) { /* 4x4 transpose of 128-bit lanes */
        const __m512 p0 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x44);
        const __m512 p1 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xee);
        const __m512 p2 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x44);
        const __m512 p3 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xee);
        r[c] = _mm512_shuffle_f32x4(p0, p2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(p0, p2, 0xdd);
        r[8 + c] = _mm512_shuffle_f32x4(p1, p3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(p1, p3, 0xdd);
    }
}

struct amx_job {
    deq_fn deq;
    const uint8_t *w; /* weight rows, row_bytes apart */
    size_t row_bytes;
    int n_in, n_steps; /* K steps of KS (n_in rounded up) */
    int gsz, gbytes;   /* elements and weight bytes per dequantiser group */
    int64_t r0, r1;
    const float *x; /* (n_tok, n_in) */
    int n_tok, n_tb;
    uint16_t *xa;     /* n_tb blocks of n_steps B tiles */
    uint16_t *panels; /* two [chunk steps][PR][KS] panels per thread */
    float *y;
    int64_t ldy;
    int s0, s1;        /* current K chunk: steps [s0, s1) */
    atomic_llong next; /* next panel to claim */
};

/* Token blocks of 16 -> B tiles: one 16x16 transpose of BF16 pairs per K step. */
AVX_TGT static void convert_worker(void *ctx, int ith, int nth)
{
    const struct amx_job *j = ctx;
    for (int b = ith; b < j->n_tb; b += nth) {
        const int t0 = b * TT, nt = VB_MIN(TT, j->n_tok - t0);
        uint16_t *dst = j->xa + (size_t)b * j->n_steps * BT;
        for (int s = 0; s < j->n_steps; s++, dst += BT) {
            const int k = s * KS, nk = VB_MIN(KS, j->n_in - k);
            const __mmask16 ml = (__mmask16)(nk >= 16 ? 0xffff : (1u << nk) - 1u);
            const __mmask16 mh = (__mmask16)(nk >= 32  ? 0xffff
                                             : nk > 16 ? (1u << (nk - 16)) - 1u
                                                       : 0);
            __m512 r[16];
            for (int t = 0; t < TT; t++) {
                if (t >= nt) {
                    r[t] = _mm512_setzero_ps();
                    continue;
                }
                const float *src = j->x + (int64_t)(t0 + t) * j->n_in + k;
                const __m512 lo = _mm512_maskz_loadu_ps(ml, src);
                const __m512 hi = _mm512_maskz_loadu_ps(mh, src + 16);
                r[t] = _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            }
            transpose16(r);
            for (int p = 0; p < TT; p++)
                _mm512_store_ps((float *)(dst + (size_t)p * 2 * TT), r[p]);
        }
    }
}

/* Writes (add: adds) a 16 (weight rows) x 16 (tokens) tile c, row stride 16, into y
 * transposed: rows of y are tokens t0.., columns col.. (nr valid weight rows, nt valid
 * tokens). K chunks after the first add their partial products. */
AVX_TGT static void store_tile_y(float *y, int64_t ldy, const float *c, int t0, int nt, int64_t col,
                                 int nr, bool add)
{
    if (nr <= 0 || nt <= 0)
        return;
    __m512 r[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_load_ps(c + 16 * i);
    transpose16(r);
    const __mmask16 m = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1u);
    for (int t = 0; t < nt; t++) {
        float *yt = y + (int64_t)(t0 + t) * ldy + col;
        _mm512_mask_storeu_ps(yt, m,
                              add ? _mm512_add_ps(r[t], _mm512_maskz_loadu_ps(m, yt)) : r[t]);
    }
}

/* The four 16 x 16 sums acc of a panel (nr valid rows from column col) and a token pair
 * (tokens t0.. of n_tok; the second block when two) into y. */
static void store_pair_y(float *y, int64_t ldy, const float *acc, int t0, int n_tok, int col,
                         int nr, bool two, bool add)
{
    const int nt0 = VB_MIN(TT, n_tok - t0);
    store_tile_y(y, ldy, acc, t0, nt0, col, nr, add);
    store_tile_y(y, ldy, acc + 256, t0, nt0, col + 16, nr - 16, add);
    if (two) {
        const int nt1 = VB_MIN(TT, n_tok - t0 - TT);
        store_tile_y(y, ldy, acc + 512, t0 + TT, nt1, col, nr, add);
        store_tile_y(y, ldy, acc + 768, t0 + TT, nt1, col + 16, nr - 16, add);
    }
}

AVX_TGT static void store_tile(const struct amx_job *j, const float *c, int t0, int nt, int64_t col,
                               int nr)
{
    store_tile_y(j->y, j->ldy, c, t0, nt, col, nr, j->s0 > 0);
}

/* A panel chunk being dequantised while the tiles of the previous one run: rows
 * [ra, ra + nr), steps [j->s0, j->s1). Work item q = band * nr + row, a band being BAND
 * steps of one row, done up to q < q_end (K-major: the writes stay in a small region). */
#    define BAND 8
struct pending {
    uint16_t *wp;
    int64_t p, ra;
    int nr;
    int64_t q, q_end;
};

static void pending_start(const struct amx_job *j, struct pending *pd, uint16_t *wp, int64_t p)
{
    pd->wp = wp;
    pd->p = p;
    pd->ra = j->r0 + p * PR;
    pd->nr = (int)VB_MIN((int64_t)PR, j->r1 - pd->ra);
    pd->q = 0;
    pd->q_end = (int64_t)pd->nr * ((j->s1 - j->s0 + BAND - 1) / BAND);
    for (int r = pd->nr; r < PR; r++) /* rows past r1 (last panel): zeros */
        for (int s = 0; s < j->s1 - j->s0; s++)
            memset(wp + (size_t)s * CS + r * KS, 0, KS * sizeof *wp);
}

/* Dequantises the pending panel's work items up to `until` (clamped to its end). */
static void pending_pump(const struct amx_job *j, struct pending *pd, int64_t until)
{
    until = VB_MIN(until, pd->q_end);
    const int gsteps = j->gsz / KS; /* steps per group: 1 or 8 */
    for (; pd->q < until; pd->q++) {
        const int band = (int)(pd->q / pd->nr), r = (int)(pd->q % pd->nr);
        const int sa = j->s0 + band * BAND, sb = VB_MIN(sa + BAND, j->s1);
        const int g0 = sa / gsteps, g1 = (sb + gsteps - 1) / gsteps;
        /* the row from group g0 on, written at the band's place in the chunk */
        j->deq(j->w + (size_t)(pd->ra + r) * j->row_bytes + (size_t)g0 * j->gbytes,
               pd->wp + (size_t)(sa - j->s0) * CS + r * KS, j->n_in - g0 * j->gsz, 0, g1 - g0);
    }
}

/* Runs panel chunk cur (dequantised in full) against every token; dequantises `next` (if
 * any) between the tile steps so the vector units work while the tile unit does. */
AMX_TGT static void panel_run(const struct amx_job *j, const struct pending *cur,
                              struct pending *next, float c[4][256])
{
    const uint16_t *wp = cur->wp;
    const size_t bstride = (size_t)j->n_steps * BT; /* elements per token block */
    const int64_t col = cur->ra - j->r0;
    const int nr = cur->nr, ns = j->s1 - j->s0, n_pairs = (j->n_tb + 1) / 2;
    /* work items of `next` per tile step */
    const int64_t per_step =
        next ? (next->q_end + (int64_t)n_pairs * ns - 1) / ((int64_t)n_pairs * ns) : 0;
    int64_t target = 0;
    for (int b = 0; b < j->n_tb; b += 2) {
        const uint16_t *xb = j->xa + (size_t)b * bstride + (size_t)j->s0 * BT;
        const int t0 = b * TT;
        const bool two = b + 1 < j->n_tb;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        if (two) {
            for (int s = 0; s < ns; s++) {
                const uint16_t *a = wp + (size_t)s * CS, *bs = xb + (size_t)s * BT;
                _tile_loadd(4, a, 64);
                _tile_loadd(5, a + 16 * KS, 64);
                _tile_loadd(6, bs, 64);
                _tile_loadd(7, bs + bstride, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 5, 6);
                _tile_dpbf16ps(2, 4, 7);
                _tile_dpbf16ps(3, 5, 7);
                if (next)
                    pending_pump(j, next, target += per_step);
            }
        } else {
            for (int s = 0; s < ns; s++) {
                const uint16_t *a = wp + (size_t)s * CS;
                _tile_loadd(4, a, 64);
                _tile_loadd(5, a + 16 * KS, 64);
                _tile_loadd(6, xb + (size_t)s * BT, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 5, 6);
                if (next)
                    pending_pump(j, next, target += per_step);
            }
        }
        _tile_stored(0, c[0], 64);
        _tile_stored(1, c[1], 64);
        _tile_stored(2, c[2], 64);
        _tile_stored(3, c[3], 64);
        const int nt0 = VB_MIN(TT, j->n_tok - t0);
        store_tile(j, c[0], t0, nt0, col, nr);
        store_tile(j, c[1], t0, nt0, col + 16, nr - 16);
        if (two) {
            const int nt1 = VB_MIN(TT, j->n_tok - t0 - TT);
            store_tile(j, c[2], t0 + TT, nt1, col, nr);
            store_tile(j, c[3], t0 + TT, nt1, col + 16, nr - 16);
        }
    }
    if (next)
        pending_pump(j, next, next->q_end);
}

/* Claims panels one at a time for the current K chunk; two panel buffers per thread (the
 * one in the tiles and the next one being dequantised). */
AMX_TGT static void panel_worker(void *ctx, int ith, int nth)
{
    struct amx_job *j = ctx;
    (void)nth;
    const int64_t n_panels = (j->r1 - j->r0 + PR - 1) / PR;
    int64_t p = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (p >= n_panels)
        return;
    struct nn_amx_cfg cfg;
    nn_amx_cfg_full(&cfg);
    _tile_loadconfig(&cfg);
    float c[4][256] __attribute__((aligned(ALIGN)));
    const size_t pe = (size_t)(j->s1 - j->s0) * CS;
    uint16_t *buf[2] = {j->panels + (size_t)(2 * ith) * pe, j->panels + (size_t)(2 * ith + 1) * pe};
    struct pending pd[2];
    int cur = 0;
    pending_start(j, &pd[cur], buf[cur], p);
    pending_pump(j, &pd[cur], pd[cur].q_end);
    for (;;) {
        const int64_t pn = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        struct pending *next = NULL;
        if (pn < n_panels) {
            next = &pd[1 - cur];
            pending_start(j, next, buf[1 - cur], pn);
        }
        panel_run(j, &pd[cur], next, c);
        if (!next)
            break;
        cur = 1 - cur;
    }
    _tile_release();
}

static bool reserve_aligned(struct nn_scratch *s, size_t n, void **out)
{
    if (!nn_scratch_reserve(s, n + ALIGN))
        return false;
    *out = (void *)(((uintptr_t)s->data + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    return true;
}

/* Claims the next panel *p of n_panels; loads the tile config at the first claim. */
AMX_TGT static bool claim_panel(atomic_llong *next, int64_t n_panels, const struct nn_amx_cfg *cfg,
                                bool *configured, int64_t *p)
{
    *p = atomic_fetch_add_explicit(next, 1, memory_order_relaxed);
    if (*p >= n_panels)
        return false;
    if (!*configured) {
        _tile_loadconfig(cfg);
        *configured = true;
    }
    return true;
}

/* ===== INT8 tiles (TDPBSSD) with the kernels' activation quantisation =====
 * For Q8_0, Q4_0, Q5_0 (activations Q8_0; the K-quants take the super-block path below) the
 * integer block sums are those of the dot-product kernels: the activations go through the
 * same quantiser and each block of 32 is one TDPBSSD into a fresh INT32 tile, scaled into F32
 * sums: sum += C * (d_w * d_x). Results then differ from the kernels' only in F32 rounding.
 * Weight panels: int8 codes [block][PR][32], scales [block][PR]; activations: B tiles
 * [token block][block][8][TT][4] with their scales [token block][block][TT]. */

/* Unpacks nb consecutive blocks (from src) into steps q, q + QSTEP, ...; sw: the F32 scale of
 * each block, PR floats apart. */
typedef void (*unpack_fn)(const uint8_t *src, int nb, int8_t *q, float *sw);

#    define KQ    32        /* K per step: one block */
#    define QSTEP (PR * KQ) /* bytes per step of a panel */

AVX_TGT static void i8_q8_0(const uint8_t *src, int nb, int8_t *q, float *sw)
{
    const struct nn_block_q8_0 *b = (const void *)src;
    for (int i = 0; i < nb; i++, q += QSTEP, sw += PR) {
        _mm256_store_si256((__m256i *)q, _mm256_loadu_si256((const __m256i *)b[i].qs));
        *sw = f16_at(&b[i].d);
    }
}

AVX_TGT static void i8_q4_0(const uint8_t *src, int nb, int8_t *q, float *sw)
{
    const struct nn_block_q4_0 *b = (const void *)src;
    const __m128i m4 = _mm_set1_epi8(15), o8 = _mm_set1_epi8(8);
    for (int i = 0; i < nb; i++, q += QSTEP, sw += PR) {
        const __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs);
        _mm_store_si128((__m128i *)q, _mm_sub_epi8(_mm_and_si128(v, m4), o8));
        _mm_store_si128((__m128i *)(q + 16),
                        _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), o8));
        *sw = f16_at(&b[i].d);
    }
}

AVX_TGT static void i8_q5_0(const uint8_t *src, int nb, int8_t *q, float *sw)
{
    const struct nn_block_q5_0 *b = (const void *)src;
    const __m128i m4 = _mm_set1_epi8(15), b4 = _mm_set1_epi8(16);
    for (int i = 0; i < nb; i++, q += QSTEP, sw += PR) {
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        const __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
        lo = _mm_mask_add_epi8(lo, (__mmask16)(qh & 0xffff), lo, b4);
        hi = _mm_mask_add_epi8(hi, (__mmask16)(qh >> 16), hi, b4);
        _mm_store_si128((__m128i *)q, _mm_sub_epi8(lo, b4));
        _mm_store_si128((__m128i *)(q + 16), _mm_sub_epi8(hi, b4));
        *sw = f16_at(&b[i].d);
    }
}

/* Q6_K codes (0..63, not yet minus 32) of the half g of a 128-element group (ql, qh at the
 * group): v[j] holds elements 32j + 16g .. + 15. */
AVX_TGT static inline void q6_codes(const uint8_t *ql, const uint8_t *qh, int g, __m128i v[4])
{
    const __m128i m4 = _mm_set1_epi8(15), m30 = _mm_set1_epi8(0x30);
    const __m128i a = _mm_loadu_si128((const __m128i *)(ql + 16 * g));
    const __m128i c = _mm_loadu_si128((const __m128i *)(ql + 32 + 16 * g));
    const __m128i hb = _mm_loadu_si128((const __m128i *)(qh + 16 * g));
    v[0] = _mm_or_si128(_mm_and_si128(a, m4), _mm_and_si128(_mm_slli_epi16(hb, 4), m30));
    v[1] = _mm_or_si128(_mm_and_si128(c, m4), _mm_and_si128(_mm_slli_epi16(hb, 2), m30));
    v[2] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m4), _mm_and_si128(hb, m30));
    v[3] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(c, 4), m4),
                        _mm_and_si128(_mm_srli_epi16(hb, 2), m30));
}

/* The panel unpacker of a type on this path, or NULL. */
static unpack_fn i8_unpack_for(enum nn_type t)
{
    switch (t) {
    case NN_TYPE_Q8_0:
        return i8_q8_0;
    case NN_TYPE_Q4_0:
        return i8_q4_0;
    case NN_TYPE_Q5_0:
        return i8_q5_0;
    default:
        return NULL;
    }
}

struct i8_job {
    unpack_fn unpack;
    nn_from_float_fn quantise; /* the kernels' Q8_0 activation quantiser */
    const uint8_t *w;
    size_t row_bytes, block_bytes; /* weight row and block */
    int n_in, n_steps;             /* n_steps: blocks per row */
    int64_t r0, r1;
    const float *x;
    int n_tok, n_tb;
    int8_t *xq;        /* B tiles [n_tb][n_steps][KQ/4][TT][4] */
    float *da;         /* [n_tb][n_steps][TT]: activation scales */
    uint8_t *qrow;     /* one quantised activation row per thread */
    size_t qrow_bytes; /* its stride */
    uint8_t *panels;   /* per thread: int8 [chunk][PR][KQ], then sw [chunk][PR] */
    size_t panel_bytes;
    float *y;
    int64_t ldy;
    int s0, s1;
    atomic_llong next;
};

/* Column tt of a B tile (rows x 64 bytes: TT tokens x 4 codes each) from 4 * rows consecutive
 * codes (NULL: zeros, for the rows past the last token). */
static inline void b_tile_column(int8_t *tile, int tt, const int8_t *codes, int rows)
{
    for (int r = 0; r < rows; r++) {
        if (codes)
            memcpy(tile + r * 64 + tt * 4, codes + 4 * r, 4);
        else
            memset(tile + r * 64 + tt * 4, 0, 4);
    }
}

/* Quantises each token row as the kernels do and scatters it into B tiles. */
static void i8_convert(void *ctx, int ith, int nth)
{
    const struct i8_job *j = ctx;
    uint8_t *qr = j->qrow + (size_t)ith * j->qrow_bytes;
    const struct nn_block_q8_0 *qb = (const void *)qr;
    for (int b = ith; b < j->n_tb; b += nth) {
        int8_t *tiles = j->xq + (size_t)b * j->n_steps * TT * KQ;
        float *da = j->da + (size_t)b * j->n_steps * TT;
        for (int tt = 0; tt < TT; tt++) {
            const int t = b * TT + tt;
            const bool pad = t >= j->n_tok; /* rows past the last token: zeros */
            if (!pad)
                j->quantise(j->x + (int64_t)t * j->n_in, qr, j->n_in);
            for (int s = 0; s < j->n_steps; s++) {
                b_tile_column(tiles + (size_t)s * TT * KQ, tt, pad ? NULL : qb[s].qs, KQ / 4);
                da[(size_t)s * TT + tt] = pad ? 0 : nn_load_fp16(&qb[s].d);
            }
        }
    }
}

/* Unpacks rows [ra, ra + nr) of the current chunk into panel buffer pb (rows past r1: 0). */
static void i8_unpack_panel(const struct i8_job *j, uint8_t *pb, int64_t ra, int nr)
{
    const int ns = j->s1 - j->s0;
    int8_t *q = (int8_t *)pb;
    float *sw = (float *)(pb + (size_t)ns * QSTEP);
    const int band = 8; /* blocks per band: the rows of a band share lines */
    for (int bb = 0; bb < ns; bb += band) {
        const int n = VB_MIN(band, ns - bb);
        for (int r = 0; r < nr; r++)
            j->unpack(j->w + (size_t)(ra + r) * j->row_bytes +
                          (size_t)(j->s0 + bb) * j->block_bytes,
                      n, q + ((size_t)bb * PR + (size_t)r) * KQ, sw + (size_t)bb * PR + r);
    }
    for (int r = nr; r < PR; r++)
        for (int s = 0; s < ns; s++) {
            memset(q + ((size_t)s * PR + r) * KQ, 0, KQ);
            sw[(size_t)s * PR + r] = 0;
        }
}

AMX_TGT static void i8_worker(void *ctx, int ith, int nth)
{
    struct i8_job *j = ctx;
    (void)nth;
    const int64_t n_panels = (j->r1 - j->r0 + PR - 1) / PR;
    const int ns = j->s1 - j->s0;
    struct nn_amx_cfg cfg;
    nn_amx_cfg_full(&cfg);
    cfg.colsb[4] = KQ;    /* A: 16 rows of KQ codes */
    cfg.rows[6] = KQ / 4; /* B: KQ/4 rows of TT x 4 codes */
    bool configured = false;
    int32_t c[2][256] __attribute__((aligned(ALIGN))); /* one tile's sums, double-buffered */
    uint8_t *pb = j->panels + (size_t)ith * j->panel_bytes;
    const int8_t *q = (const int8_t *)pb;
    const float *sw = (const float *)(pb + (size_t)ns * QSTEP);
    const size_t bstride = (size_t)j->n_steps * TT * KQ; /* bytes per token block */
    int64_t p;
    while (claim_panel(&j->next, n_panels, &cfg, &configured, &p)) {
        const int64_t ra = j->r0 + p * PR;
        const int nr = (int)VB_MIN((int64_t)PR, j->r1 - ra);
        i8_unpack_panel(j, pb, ra, nr);
        /* one 16-row half and one token block at a time, its 16 x 16 sums in registers over
         * the whole K chunk; the epilogue of step s - 1 runs while the tile of s does */
        for (int tb = 0; tb < j->n_tb; tb++) {
            const int8_t *bt = j->xq + (size_t)tb * bstride;
            const float *da = j->da + (size_t)tb * j->n_steps * TT;
            for (int half = 0; half < 2; half++) {
                __m512 acc[16];
#    pragma GCC unroll 16
                for (int r = 0; r < 16; r++)
                    acc[r] = _mm512_setzero_ps();
                for (int s = j->s0; s <= j->s1; s++) {
                    const int par = s & 1;
                    if (s < j->s1) {
                        _tile_zero(0);
                        _tile_loadd(4, q + (size_t)(s - j->s0) * QSTEP + half * 16 * KQ, KQ);
                        _tile_loadd(6, bt + (size_t)s * TT * KQ, 64);
                        _tile_dpbssd(0, 4, 6);
                    }
                    if (s > j->s0) {
                        const int32_t *cp = c[par ^ 1];
                        const float *swp = sw + (size_t)(s - 1 - j->s0) * PR + half * 16;
                        const __m512 vda = _mm512_loadu_ps(da + (size_t)(s - 1) * TT);
#    pragma GCC unroll 16
                        for (int r = 0; r < 16; r++)
                            acc[r] = _mm512_fmadd_ps(
                                _mm512_cvtepi32_ps(_mm512_load_si512((const void *)(cp + 16 * r))),
                                _mm512_mul_ps(_mm512_set1_ps(swp[r]), vda), acc[r]);
                    }
                    if (s < j->s1)
                        _tile_stored(0, c[par], 64);
                }
                float out[256] __attribute__((aligned(ALIGN)));
#    pragma GCC unroll 16
                for (int r = 0; r < 16; r++)
                    _mm512_store_ps(out + 16 * r, acc[r]);
                store_tile_y(j->y, j->ldy, out, tb * TT, VB_MIN(TT, j->n_tok - tb * TT),
                             (ra - j->r0) + half * 16, nr - half * 16, j->s0 > 0);
            }
        }
    }
    if (configured)
        _tile_release();
}

/* ===== Q4_K / Q5_K / Q6_K on INT8 tiles with integer sums over whole super-blocks =====
 * Each weight w' = sc[j] * q (sub-block scale times code, 0..945) is split into
 * h = w' >> 7 (0..7) and l = w' & 127, both int8: sum_k w' x = 128 * (h . x) + (l . x) is the
 * kernels' integer super-block sum, so the tiles run K = 64 steps and accumulate a whole
 * super-block (4 steps) before one F32 epilogue: acc += S * (d * d_x) - sum_j (dmin mn[j]) *
 * (d_x bsum_j) (Q6_K has no min terms). Panels: h, l [step][PR][64], then d [sb][PR] and
 * dmin * mn [sb][PR][8] (F32); activations: B tiles [block][step][16][TT][4], d_x
 * [block][sb][TT], d_x times the 32-element sums [block][sb][8][TT]. Q4_K codes go through
 * per-scale tables of h and l (one byte shuffle per 64 weights). */

#    define K4_STEP (PR * 64) /* bytes per K = 64 step of a panel (h or l) */

/* k4_lut[sc][0]: (sc * q) >> 7 for q = 0..15, twice (a 256-bit lane pair); [sc][1]: & 127 */
static uint8_t k4_lut[64][2][32] __attribute__((aligned(32)));
static pthread_once_t k4_lut_once = PTHREAD_ONCE_INIT;

static void k4_lut_init(void)
{
    for (int sc = 0; sc < 64; sc++)
        for (int q = 0; q < 32; q++) {
            k4_lut[sc][0][q] = (uint8_t)((sc * (q & 15)) >> 7);
            k4_lut[sc][1][q] = (uint8_t)((sc * (q & 15)) & 127);
        }
}

/* The h or l table (hl) of scales a (bytes 0..31 of a step) and b (bytes 32..63). */
AVX_TGT static inline __m512i k4_lut_pair(int hl, uint8_t a, uint8_t b)
{
    return _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_load_si256((const __m256i *)k4_lut[a][hl])),
        _mm256_load_si256((const __m256i *)k4_lut[b][hl]), 1);
}

/* Q6_K super-block b: element 128g + 32j + 16u + e (code v - 32, scale sc[8g + 2j + u]) goes
 * to step 2g + j / 2, byte 32 (j % 2) + 16u + e; no min terms. */
AVX_TGT static void k6_unpack_block(const struct nn_block_q6_k *b, int8_t *h, int8_t *l)
{
    const __m128i o32 = _mm_set1_epi8(32);
    const __m256i m127 = _mm256_set1_epi16(127);
    for (int g = 0; g < 2; g++) {
        const uint8_t *ql = b->ql + 64 * g, *qh = b->qh + 32 * g;
        for (int u = 0; u < 2; u++) {
            __m128i v[4];
            q6_codes(ql, qh, u, v);
            for (int jj = 0; jj < 4; jj++) {
                const __m256i w =
                    _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm_sub_epi8(v[jj], o32)),
                                       _mm256_set1_epi16((short)b->scales[8 * g + 2 * jj + u]));
                const size_t off = (size_t)(2 * g + jj / 2) * K4_STEP + 32 * (jj % 2) + 16 * u;
                _mm_store_si128((__m128i *)(h + off),
                                _mm256_cvtepi16_epi8(_mm256_srai_epi16(w, 7)));
                _mm_store_si128((__m128i *)(l + off),
                                _mm256_cvtepi16_epi8(_mm256_and_si256(w, m127)));
            }
        }
    }
}

/* The 6-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K/Q5_K super-block from its
 * 12 scale bytes at s (reads 16 bytes: the next 4 are the block's codes). */
AVX_TGT static inline __m128i k4_scales_mins(const uint8_t *s)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)s);
    /* a: s0-3, s8-11, s4-7, s8-11; b (upper bits of the second four): -, s0-3, -, s4-7 */
    const __m128i a =
        _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i b =
        _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i top = _mm_and_si128(_mm_srli_epi16(b, 2), _mm_set1_epi8(0x30)); /* b>>6<<4 */
    const __m128i m15 = _mm_set1_epi8(15);
    __m128i r = _mm_and_si128(a, _mm_set1_epi8(63));
    r = _mm_mask_mov_epi8(r, 0x00F0, _mm_or_si128(_mm_and_si128(a, m15), top));
    return _mm_mask_mov_epi8(r, 0xF000,
                             _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m15), top));
}

/* nb super-blocks of one weight row (from row) into a panel row: h, l at the row's first
 * step, d and dmin * mn at its first super-block (PR and PR * 8 floats per super-block). */
AVX_TGT static void k4_unpack_row(const uint8_t *row, enum nn_type t, size_t block_bytes, int nb,
                                  int8_t *h, int8_t *l, float *fd, float *mn)
{
    const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
    const __m512i m127 = _mm512_set1_epi16(127);
    for (int i = 0; i < nb; i++) {
        const uint8_t *blk = row + (size_t)i * block_bytes;
        const uint8_t *scales, *qs, *qh = NULL;
        float d, dmin;
        if (t == NN_TYPE_Q6_K) {
            fd[(size_t)i * PR] = f16_at(&((const struct nn_block_q6_k *)blk)->d);
            k6_unpack_block((const void *)blk, h + (size_t)i * 4 * K4_STEP,
                            l + (size_t)i * 4 * K4_STEP);
            continue;
        }
        if (t == NN_TYPE_Q5_K) {
            const struct nn_block_q5_k *b = (const void *)blk;
            d = f16_at(&b->d), dmin = f16_at(&b->dmin);
            scales = b->scales, qs = b->qs, qh = b->qh;
        } else {
            const struct nn_block_q4_k *b = (const void *)blk;
            d = f16_at(&b->d), dmin = f16_at(&b->dmin);
            scales = b->scales, qs = b->qs;
        }
        const __m128i scm = k4_scales_mins(scales);
        uint8_t sc[8];
        _mm_storel_epi64((__m128i *)sc, scm);
        fd[(size_t)i * PR] = d;
        _mm256_storeu_ps(
            mn + (size_t)i * PR * 8,
            _mm256_mul_ps(_mm256_set1_ps(dmin),
                          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(scm, 8)))));
        if (!qh) {
            for (int c = 0; c < 4; c++) {
                /* sub-block 2c: low nibbles, bytes 0..31 of step c; 2c + 1: high nibbles */
                const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
                const __m512i q =
                    _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m4)),
                                       _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), 1);
                const size_t off = ((size_t)i * 4 + c) * K4_STEP;
                _mm512_store_si512(
                    (void *)(h + off),
                    _mm512_shuffle_epi8(k4_lut_pair(0, sc[2 * c], sc[2 * c + 1]), q));
                _mm512_store_si512(
                    (void *)(l + off),
                    _mm512_shuffle_epi8(k4_lut_pair(1, sc[2 * c], sc[2 * c + 1]), q));
            }
            continue;
        }
        const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
        for (int c = 0; c < 4; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i q2[2] = {_mm256_and_si256(v, m4),
                             _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)};
            q2[0] = _mm256_mask_add_epi8(
                q2[0], _mm256_test_epi8_mask(hb, _mm256_set1_epi8((char)(1 << (2 * c)))), q2[0],
                b4);
            q2[1] = _mm256_mask_add_epi8(
                q2[1], _mm256_test_epi8_mask(hb, _mm256_set1_epi8((char)(2 << (2 * c)))), q2[1],
                b4);
            /* sub-blocks 2c, 2c + 1: step i * 4 + c, bytes 0..31 and 32..63 */
            const size_t off = ((size_t)i * 4 + c) * K4_STEP;
            for (int s = 0; s < 2; s++) {
                const __m512i w = _mm512_mullo_epi16(_mm512_cvtepu8_epi16(q2[s]),
                                                     _mm512_set1_epi16((short)sc[2 * c + s]));
                _mm256_store_si256((__m256i *)(h + off + 32 * s),
                                   _mm512_cvtepi16_epi8(_mm512_srli_epi16(w, 7)));
                _mm256_store_si256((__m256i *)(l + off + 32 * s),
                                   _mm512_cvtepi16_epi8(_mm512_and_si512(w, m127)));
            }
        }
    }
}

struct k4_job {
    enum nn_type type;
    nn_from_float_fn quantise;
    const uint8_t *w;
    size_t row_bytes, block_bytes;
    int n_in, n_sb;
    int64_t r0, r1;
    const float *x;
    int n_tok, n_tb, n_pairs;
    int8_t *xq;     /* [n_tb][n_sb * 4][16][TT][4] */
    float *dx, *bs; /* [n_tb][n_sb][TT], [n_tb][n_sb][8][TT]: d_x and d_x * bsum */
    uint8_t *qrow;
    size_t qrow_bytes;
    uint8_t *panels; /* per thread: h, l [csb * 4][PR][64]; d [csb][PR]; dmin mn [csb][PR][8] */
    size_t panel_bytes;
    int csb;    /* super-blocks per chunk */
    float *acc; /* per thread: [pair][4][256] */
    float *y;
    int64_t ldy;
    int s0, s1; /* super-blocks of the current chunk */
    atomic_llong next;
};

static void k4_convert(void *ctx, int ith, int nth)
{
    const struct k4_job *j = ctx;
    uint8_t *qr = j->qrow + (size_t)ith * j->qrow_bytes;
    const size_t tile = 16 * TT * 4; /* bytes per B tile */
    for (int b = ith; b < j->n_tb; b += nth) {
        int8_t *tiles = j->xq + (size_t)b * j->n_sb * 4 * tile;
        float *dx = j->dx + (size_t)b * j->n_sb * TT, *bs = j->bs + (size_t)b * j->n_sb * 8 * TT;
        for (int tt = 0; tt < TT; tt++) {
            const int t = b * TT + tt;
            const bool pad = t >= j->n_tok;
            if (!pad)
                j->quantise(j->x + (int64_t)t * j->n_in, qr, j->n_in);
            for (int s = 0; s < j->n_sb; s++) {
                const struct nn_block_q8_k *bk = (const void *)(qr + (size_t)s * sizeof *bk);
                dx[(size_t)s * TT + tt] = pad ? 0 : bk->d;
                for (int jj = 0; jj < 8; jj++)
                    bs[((size_t)s * 8 + jj) * TT + tt] =
                        pad ? 0 : bk->d * (float)(bk->bsums[2 * jj] + bk->bsums[2 * jj + 1]);
                for (int st = 0; st < 4; st++)
                    b_tile_column(tiles + ((size_t)s * 4 + st) * tile, tt,
                                  pad ? NULL : bk->qs + st * 64, 16);
            }
        }
    }
}

/* acc[16 x 16] += (128 Ch + Cl) * d[r] d_x[t] - sum_j mn[j][r] bs[j][t] (mins: false for
 * Q6_K, which has no min terms; a constant where inlined); mn: dmin * mn, bs: d_x * bsum */
AVX_TGT static inline void k4_epilogue(float *acc, const int32_t *ch, const int32_t *cl,
                                       const float *d, const float *mn, const float *dx,
                                       const float *bs, const bool mins)
{
    const __m512 vdx = _mm512_loadu_ps(dx);
    __m512 vb[8];
    for (int jj = 0; mins && jj < 8; jj++)
        vb[jj] = _mm512_loadu_ps(bs + (size_t)jj * TT);
    for (int r = 0; r < 16; r++) {
        const __m512i s =
            _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512((const void *)(ch + 16 * r)), 7),
                             _mm512_load_si512((const void *)(cl + 16 * r)));
        __m512 a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(_mm512_set1_ps(d[r]), vdx),
                                   _mm512_load_ps(acc + 16 * r));
        for (int jj = 0; mins && jj < 8; jj++)
            a = _mm512_fnmadd_ps(_mm512_set1_ps(mn[(size_t)r * 8 + jj]), vb[jj], a);
        _mm512_store_ps(acc + 16 * r, a);
    }
}

/* k4_worker's body, compiled once with and once without the min terms (Q6_K) */
AMX_TGT static inline __attribute__((always_inline)) void k4_work(struct k4_job *j, int ith,
                                                                  const bool mins)
{
    const int64_t n_panels = (j->r1 - j->r0 + PR - 1) / PR;
    const int ns = j->s1 - j->s0;
    struct nn_amx_cfg cfg;
    nn_amx_cfg_full(&cfg); /* C 0-3, A 4-5 (h, l), B 6-7: all 16 x 64 bytes */
    bool configured = false;
    int32_t c[2][4][256] __attribute__((aligned(ALIGN)));
    uint8_t *pb = j->panels + (size_t)ith * j->panel_bytes;
    int8_t *h = (int8_t *)pb, *l = h + (size_t)ns * 4 * K4_STEP;
    float *fd = (float *)(l + (size_t)ns * 4 * K4_STEP), *mn = fd + (size_t)ns * PR;
    const uint8_t *chunk = j->w + (size_t)j->s0 * j->block_bytes; /* row 0 of this K chunk */
    const size_t tile = 16 * TT * 4, bstride = (size_t)j->n_sb * 4 * tile;
    int64_t p;
    while (claim_panel(&j->next, n_panels, &cfg, &configured, &p)) {
        const int64_t ra = j->r0 + p * PR;
        const int nr = (int)VB_MIN((int64_t)PR, j->r1 - ra);
        for (int r = 0; r < nr; r++)
            k4_unpack_row(chunk + (size_t)(ra + r) * j->row_bytes, j->type, j->block_bytes, ns,
                          h + (size_t)r * 64, l + (size_t)r * 64, fd + r, mn + (size_t)r * 8);
        for (int r = nr; r < PR; r++) {
            for (int s = 0; s < ns * 4; s++) {
                memset(h + (size_t)s * K4_STEP + (size_t)r * 64, 0, 64);
                memset(l + (size_t)s * K4_STEP + (size_t)r * 64, 0, 64);
            }
            for (int s = 0; s < ns; s++) {
                fd[(size_t)s * PR + r] = 0;
                for (int jj = 0; jj < 8; jj++)
                    mn[((size_t)s * PR + r) * 8 + jj] = 0;
            }
        }
        for (int b = 0; b < j->n_tb; b += 2) {
            const bool two = b + 1 < j->n_tb;
            float *acc = j->acc + ((size_t)ith * j->n_pairs + b / 2) * 4 * 256;
            memset(acc, 0, 4 * 256 * sizeof *acc);
            for (int half = 0; half < 2; half++) {
                const size_t ro = (size_t)half * 16 * 64;
                /* the epilogue of super-block s - 1 runs while the tiles of s do (its sums
                 * were stored a step earlier, into c[par ^ 1]) */
                for (int s = 0; s <= ns; s++) {
                    const int par = s & 1;
                    if (s < ns) {
                        const int sg = j->s0 + s;
                        _tile_zero(0);
                        _tile_zero(1);
                        _tile_zero(2);
                        _tile_zero(3);
                        for (int st = 0; st < 4; st++) {
                            const size_t po = ((size_t)s * 4 + st) * K4_STEP + ro;
                            const int8_t *bt =
                                j->xq + (size_t)b * bstride + ((size_t)sg * 4 + st) * tile;
                            _tile_loadd(4, h + po, 64);
                            _tile_loadd(5, l + po, 64);
                            _tile_loadd(6, bt, 64);
                            _tile_dpbssd(0, 4, 6);
                            _tile_dpbssd(1, 5, 6);
                            if (two) {
                                _tile_loadd(7, bt + bstride, 64);
                                _tile_dpbssd(2, 4, 7);
                                _tile_dpbssd(3, 5, 7);
                            }
                        }
                    }
                    if (s > 0) {
                        const int ps = s - 1, sg = j->s0 + ps;
                        int32_t(*cp)[256] = c[par ^ 1];
                        const size_t fo = (size_t)ps * PR + (size_t)half * 16;
                        const size_t mo = ((size_t)ps * PR + (size_t)half * 16) * 8;
                        const float *dx = j->dx + ((size_t)b * j->n_sb + sg) * TT;
                        const float *bs = j->bs + ((size_t)b * j->n_sb + sg) * 8 * TT;
                        k4_epilogue(acc + 256 * half, cp[0], cp[1], fd + fo, mn + mo, dx, bs, mins);
                        if (two)
                            k4_epilogue(acc + 512 + 256 * half, cp[2], cp[3], fd + fo, mn + mo,
                                        dx + (size_t)j->n_sb * TT, bs + (size_t)j->n_sb * 8 * TT,
                                        mins);
                    }
                    if (s < ns) {
                        _tile_stored(0, c[par][0], 64);
                        _tile_stored(1, c[par][1], 64);
                        if (two) {
                            _tile_stored(2, c[par][2], 64);
                            _tile_stored(3, c[par][3], 64);
                        }
                    }
                }
            }
            store_pair_y(j->y, j->ldy, acc, b * TT, j->n_tok, (int)(ra - j->r0), nr, two,
                         j->s0 > 0);
        }
    }
    if (configured)
        _tile_release();
}

AMX_TGT static void k4_worker(void *ctx, int ith, int nth)
{
    struct k4_job *j = ctx;
    (void)nth;
    if (j->type == NN_TYPE_Q6_K)
        k4_work(j, ith, false);
    else
        k4_work(j, ith, true);
}

/* Q4_K / Q5_K products on the super-block path; false on OOM (nothing written). */
static bool k4_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                    const nn_from_float_fn quantise, int64_t r0, int64_t r1, const float *x,
                    int n_tok, float *y, int64_t ldy)
{
    const int nth = pool ? nn_pool_threads(pool) : 1;
    pthread_once(&k4_lut_once, k4_lut_init);
    struct k4_job j = {
        .type = w->type,
        .quantise = quantise,
        .w = w->data,
        .row_bytes = w->row_bytes,
        .block_bytes = nn_type_info(w->type)->block_bytes,
        .n_in = (int)w->ne[0],
        .n_sb = (int)(w->ne[0] / 256),
        .r0 = r0,
        .r1 = r1,
        .x = x,
        .n_tok = n_tok,
        .n_tb = (n_tok + TT - 1) / TT,
        .y = y,
        .ldy = ldy,
    };
    j.n_pairs = (j.n_tb + 1) / 2;
    const size_t tile = 16 * TT * 4;
    j.csb = VB_MAX(1, (int)(CHUNK_BYTES / ((size_t)j.n_tb * 4 * tile)));
    j.csb = VB_MIN(j.csb, j.n_sb);
    const int64_t n_panels = (r1 - r0 + PR - 1) / PR;
    const size_t xq_bytes = (size_t)j.n_tb * j.n_sb * 4 * tile;
    const size_t dx_floats = (size_t)j.n_tb * j.n_sb * TT, bs_floats = dx_floats * 8;
    j.qrow_bytes = (nn_row_bytes(NN_TYPE_Q8_K, j.n_in) + ALIGN - 1) / ALIGN * ALIGN;
    j.panel_bytes =
        ((size_t)j.csb * 8 * K4_STEP + (size_t)j.csb * 9 * PR * sizeof(float) + ALIGN - 1) / ALIGN *
        ALIGN;
    const size_t acc_floats = (size_t)nth * (size_t)j.n_pairs * 4 * 256;
    void *buf;
    if (!reserve_aligned(scratch,
                         (acc_floats + dx_floats + bs_floats) * sizeof(float) + xq_bytes +
                             (size_t)nth * (j.qrow_bytes + j.panel_bytes),
                         &buf))
        return false;
    j.acc = buf;
    j.dx = j.acc + acc_floats;
    j.bs = j.dx + dx_floats;
    j.xq = (int8_t *)(j.bs + bs_floats);
    j.panels = (uint8_t *)j.xq + xq_bytes;
    j.qrow = j.panels + (size_t)nth * j.panel_bytes;
    if (j.n_tb > 1)
        nn_pool_run(pool, k4_convert, &j);
    else
        k4_convert(&j, 0, 1);
    for (int s0 = 0; s0 < j.n_sb; s0 += j.csb) {
        j.s0 = s0;
        j.s1 = VB_MIN(j.n_sb, s0 + j.csb);
        atomic_init(&j.next, 0);
        if (n_panels > 1)
            nn_pool_run(pool, k4_worker, &j);
        else
            k4_worker(&j, 0, 1);
    }
    return true;
}

/* Whether type t has an INT8-tile path (the kernels' own integer sums). */
static bool i8_exact(enum nn_type t)
{
    return i8_unpack_for(t) || t == NN_TYPE_Q4_K || t == NN_TYPE_Q5_K || t == NN_TYPE_Q6_K;
}

/* nn_matmul_rows on INT8 tiles for a type i8_exact accepts; false on OOM (or a kernel whose
 * activation type differs: nothing written). */
static bool i8_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                    int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy)
{
    const struct nn_kernel *k = nn_kernel_for(w->type);
    if (w->type == NN_TYPE_Q4_K || w->type == NN_TYPE_Q5_K || w->type == NN_TYPE_Q6_K)
        return k && k->from_float && k->vec_dot_type == NN_TYPE_Q8_K &&
               k4_rows(pool, scratch, w, k->from_float, r0, r1, x, n_tok, y, ldy);
    if (!k || !k->from_float || k->vec_dot_type != NN_TYPE_Q8_0)
        return false;
    const int nth = pool ? nn_pool_threads(pool) : 1;
    struct i8_job j = {
        .unpack = i8_unpack_for(w->type),
        .quantise = k->from_float,
        .w = w->data,
        .row_bytes = w->row_bytes,
        .block_bytes = nn_type_info(w->type)->block_bytes,
        .n_in = (int)w->ne[0],
        .n_steps = (int)(w->ne[0] / KQ),
        .r0 = r0,
        .r1 = r1,
        .x = x,
        .n_tok = n_tok,
        .n_tb = (n_tok + TT - 1) / TT,
        .y = y,
        .ldy = ldy,
    };
    const size_t tile_bytes = (size_t)TT * KQ;
    int chunk = VB_MAX(1, (int)(CHUNK_BYTES / ((size_t)j.n_tb * tile_bytes)));
    const int csteps = VB_MIN(chunk, j.n_steps);
    const int64_t n_panels = (r1 - r0 + PR - 1) / PR;
    const size_t xq_bytes = (size_t)j.n_tb * j.n_steps * tile_bytes;
    const size_t sc_floats = (size_t)j.n_tb * j.n_steps * TT;
    j.qrow_bytes = (nn_row_bytes(NN_TYPE_Q8_0, j.n_in) + ALIGN - 1) / ALIGN * ALIGN;
    j.panel_bytes =
        ((size_t)csteps * QSTEP + (size_t)csteps * PR * sizeof(float) + ALIGN - 1) / ALIGN * ALIGN;
    void *buf;
    if (!reserve_aligned(scratch,
                         xq_bytes + sc_floats * sizeof(float) +
                             (size_t)nth * (j.qrow_bytes + j.panel_bytes),
                         &buf))
        return false;
    j.da = buf; /* 64-byte multiples first, so every part stays aligned */
    j.xq = (int8_t *)(j.da + sc_floats);
    j.panels = (uint8_t *)j.xq + xq_bytes;
    j.qrow = j.panels + (size_t)nth * j.panel_bytes;
    if (j.n_tb > 1)
        nn_pool_run(pool, i8_convert, &j);
    else
        i8_convert(&j, 0, 1);
    for (int s0 = 0; s0 < j.n_steps; s0 += chunk) {
        j.s0 = s0;
        j.s1 = VB_MIN(j.n_steps, s0 + chunk);
        atomic_init(&j.next, 0);
        if (n_panels > 1)
            nn_pool_run(pool, i8_worker, &j);
        else
            i8_worker(&j, 0, 1);
    }
    return true;
}

static atomic_int mode = -1; /* enum nn_amx_mode; -1: not read from the environment yet */

static enum nn_amx_mode mode_get(void)
{
    int m = atomic_load(&mode);
    if (m < 0) {
        const char *e = getenv("NN_AMX");
        m = !e                                             ? NN_AMX_EXACT
            : strcmp(e, "0") == 0 || strcmp(e, "off") == 0 ? NN_AMX_OFF
            : strcmp(e, "all") == 0 || strcmp(e, "1") == 0 ? NN_AMX_ALL
                                                           : NN_AMX_EXACT;
        int expect = -1;
        atomic_compare_exchange_strong(&mode, &expect, m);
        m = atomic_load(&mode);
    }
    return (enum nn_amx_mode)m;
}

void nn_matmul_amx_set_mode(enum nn_amx_mode m)
{
    atomic_store(&mode, (int)m);
}

enum nn_amx_mode nn_matmul_amx_mode(void)
{
    return mode_get();
}

bool nn_matmul_amx_supported(enum nn_type t)
{
    return deq_for(t) && nn_gemm_amx_available();
}

bool nn_matmul_amx_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                        int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy)
{
    return nn_matmul_amx_rows_mode(pool, scratch, w, mode_get(), r0, r1, x, n_tok, y, ldy);
}

bool nn_matmul_amx_rows_mode(struct nn_pool *pool, struct nn_scratch *scratch,
                             const struct nn_tensor *w, enum nn_amx_mode m, int64_t r0, int64_t r1,
                             const float *x, int n_tok, float *y, int64_t ldy)
{
    if (!nn_matmul_amx_supported(w->type) || w->ne[0] <= 0 || w->ne[0] > INT_MAX - KS)
        return false;
    if (n_tok <= 0 || r1 <= r0)
        return true;
    nn_fp16_table_init();
    if (m != NN_AMX_ALL && i8_exact(w->type))
        return i8_rows(pool, scratch, w, r0, r1, x, n_tok, y, ldy);
    const int nth = pool ? nn_pool_threads(pool) : 1;
    struct amx_job j = {
        .deq = deq_for(w->type),
        .w = w->data,
        .row_bytes = w->row_bytes,
        .n_in = (int)w->ne[0],
        .n_steps = (int)((w->ne[0] + KS - 1) / KS),
        .r0 = r0,
        .r1 = r1,
        .x = x,
        .n_tok = n_tok,
        .n_tb = (n_tok + TT - 1) / TT,
        .y = y,
        .ldy = ldy,
    };
    const size_t xa_elems = (size_t)j.n_tb * j.n_steps * BT;
    const struct nn_type_info *ti = nn_type_info(w->type);
    j.gsz = ti->block > 1 ? ti->block : KS;
    j.gbytes = (int)((size_t)(j.gsz / ti->block) * ti->block_bytes);
    /* K chunks: the activations of one chunk (all tokens) stay in L2 while the threads run
     * every panel against them; a multiple of 8 steps (a K-quant group) */
    const int chunk = VB_MAX(8, (int)(CHUNK_BYTES / ((size_t)j.n_tb * BT * 2)) / 8 * 8);
    const int n_chunks = (j.n_steps + chunk - 1) / chunk;
    const int csteps = VB_MIN(chunk, j.n_steps);
    const int64_t n_panels = (r1 - r0 + PR - 1) / PR;
    const size_t panel_elems = 2 * (size_t)csteps * CS;
    void *buf;
    if (!reserve_aligned(scratch, (xa_elems + (size_t)nth * panel_elems) * sizeof(uint16_t), &buf))
        return false;
    j.xa = buf;
    j.panels = j.xa + xa_elems;
    if (j.n_tb > 1)
        nn_pool_run(pool, convert_worker, &j);
    else
        convert_worker(&j, 0, 1);
    for (int k = 0; k < n_chunks; k++) {
        j.s0 = k * chunk;
        j.s1 = VB_MIN(j.n_steps, j.s0 + chunk);
        atomic_init(&j.next, 0);
        if (n_panels > 1)
            nn_pool_run(pool, panel_worker, &j);
        else
            panel_worker(&j, 0, 1);
    }
    return true;
}

bool nn_matmul_amx_try(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                       int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy,
                       bool *ok)
{
    if (n_tok < NN_AMX_MIN_TOKENS)
        return false;
    const enum nn_amx_mode m = mode_get();
    /* EXACT: BF16 weights (the kernels round the activations to BF16 too) and the INT8 types
     * (the kernels' activation quantisation): only F32 summation order differs */
    if (m == NN_AMX_OFF || (m == NN_AMX_EXACT && w->type != NN_TYPE_BF16 && !i8_exact(w->type)) ||
        !nn_matmul_amx_supported(w->type))
        return false;
    *ok = nn_matmul_amx_rows(pool, scratch, w, r0, r1, x, n_tok, y, ldy);
    atomic_fetch_add(&taken, 1);
    return true;
}

#else /* no AMX on this target */

void nn_matmul_amx_set_mode(enum nn_amx_mode m)
{
    (void)m;
}

enum nn_amx_mode nn_matmul_amx_mode(void)
{
    return NN_AMX_OFF;
}

bool nn_matmul_amx_supported(enum nn_type t)
{
    (void)t;
    return false;
}

bool nn_matmul_amx_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                        int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy)
{
    (void)pool, (void)scratch, (void)w, (void)r0, (void)r1, (void)x, (void)n_tok, (void)y;
    (void)ldy;
    return false;
}

bool nn_matmul_amx_rows_mode(struct nn_pool *pool, struct nn_scratch *scratch,
                             const struct nn_tensor *w, enum nn_amx_mode m, int64_t r0, int64_t r1,
                             const float *x, int n_tok, float *y, int64_t ldy)
{
    (void)pool, (void)scratch, (void)w, (void)m, (void)r0, (void)r1, (void)x, (void)n_tok;
    (void)y, (void)ldy;
    return false;
}

bool nn_matmul_amx_try(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                       int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy,
                       bool *ok)
{
    (void)pool, (void)scratch, (void)w, (void)r0, (void)r1, (void)x, (void)n_tok, (void)y;
    (void)ldy, (void)ok;
    return false;
}

#endif
