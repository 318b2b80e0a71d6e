/* gemv_avx512.c: AVX-512 BW/VNNI decode kernels (nn_gemv): many weight rows x one activation
 * row that each kernel's prep converted once into its own layout, so that the per-row loop
 * does little besides streaming the weights. Tested against the C reference dot products. */
#include "core/vb.h"
#include "nn/arch/x86/avx512/simd_avx512.h"
#include "nn/fp16.h"
#include "nn/kernels.h"

#include <immintrin.h>

/* The group loops are unrolled where the compiler can (GCC drops the annotation, with a warning,
 * once sanitizer checks are in the loop). */
#if defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#    define GEMV_UNROLL_8 _Pragma("GCC unroll 8")
#else
#    define GEMV_UNROLL_8
#endif

/* ===== Decode kernels: many weight rows x one activation row (nn_gemv) =====
 * The activation row is converted once per matmul into a layout private to each kernel, so
 * that the per-row loop does as little as possible besides streaming the weights: integer
 * codes ordered as the weights unpack, block scales already in float, and per-block sums
 * of the codes for the weights' constant offsets (folded in with one FMA per 16 blocks). */

#define GEMV_GROUP 16 /* 32-element blocks per scale vector */
#ifndef GEMV_HINT     /* build-time tunables for experiments (-DGEMV_PREFETCH=...) */
#    define GEMV_HINT _MM_HINT_T0
#endif
#ifndef GEMV_PREFETCH
#    define GEMV_PREFETCH 2048 /* bytes ahead of the weight stream (measured: 1-6 KiB) */
#endif
#ifndef GEMV_PREFETCH_L2 /* second, farther prefetch into L2 only */
#    define GEMV_PREFETCH_L2 6144
#endif

/* Prefetches `lines` cache lines `near` bytes ahead of p into L1 and GEMV_PREFETCH_L2 bytes
 * ahead into L2. The hardware prefetcher alone leaves a core at ~60% of its bandwidth; the
 * second stream keeps more lines in flight than L1's fill buffers allow (3B q8_0 decode
 * +10-15% with two threads, the memory shared with other work). */
static ALWAYS_INLINE void gemv_prefetch(const void *p, int near, int lines)
{
    for (int l = 0; l < lines; l++) {
        _mm_prefetch((const char *)p + near + 64 * l, GEMV_HINT);
        _mm_prefetch((const char *)p + GEMV_PREFETCH_L2 + 64 * l, _MM_HINT_T1);
    }
}

/* --- legacy 32-element blocks (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1) x one row ----------------------
 * act: qs (nbp * 32 int8, in the order the weights unpack), then yd[nbp] (activation
 * scales), then ys[nbp] (yd * sum of the block's codes: the weights' constant offset, or
 * their min m, times it); nbp = nb rounded up to GEMV_GROUP, padding zeroed. */

static size_t legacy_nbp(int64_t n)
{
    int64_t nb = n / NN_QK;
    return (size_t)((nb + GEMV_GROUP - 1) / GEMV_GROUP * GEMV_GROUP);
}

static size_t gemv_act_bytes_legacy(int64_t n)
{
    return legacy_nbp(n) * (NN_QK + 2 * sizeof(float));
}

/* Quantises x like nn_quantize_row_q8_0 (same codes, scale rounded through f16). Code
 * layout per step of the row kernel: Q8_0 two blocks in order (64 bytes); nibble types
 * (`quad`) four blocks as [elements 0-15 of each, then 16-31 of each] (128 bytes), as the
 * nibbles unpack. `s16`: ys as nn_quantize_row_q8_1's s (unrounded scale x sum, to f16). */
static ALWAYS_INLINE void prep_legacy(const float *x, void *act, int64_t n, bool quad, bool s16)
{
    const int64_t nb = n / NN_QK;
    const size_t nbp = legacy_nbp(n);
    int8_t *qs = act;
    float *yd = (float *)(qs + nbp * NN_QK), *ys = yd + nbp;
    const __m512 sign = _mm512_set1_ps(-0.0f);
    /* from the last step with a missing block on: zero codes */
    const int64_t full = nb & ~(int64_t)(quad ? 3 : 1);
    memset(qs + full * NN_QK, 0, (nbp - (size_t)full) * NN_QK);
    for (int64_t b = 0; b < nb; b++) {
        __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
        float amax = _mm512_reduce_max_ps(
            _mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1)));
        float d = amax / 127.f;
        float id = amax != 0.0f ? 127.f / amax : 0.0f;
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, _mm512_set1_ps(id)));
        __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, _mm512_set1_ps(id)));
        __m128i q0 = _mm512_cvtepi32_epi8(i0), q1 = _mm512_cvtepi32_epi8(i1);
        if (quad) {
            int8_t *dst = qs + 128 * (b / 4) + 16 * (b % 4);
            _mm_storeu_si128((__m128i *)dst, q0);
            _mm_storeu_si128((__m128i *)(dst + 64), q1);
        } else {
            _mm_storeu_si128((__m128i *)(qs + 32 * b), q0);
            _mm_storeu_si128((__m128i *)(qs + 32 * b + 16), q1);
        }
        const float sum = (float)_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
        yd[b] = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        ys[b] = s16 ? _cvtsh_ss(_cvtss_sh(d * sum, _MM_FROUND_TO_NEAREST_INT)) : yd[b] * sum;
    }
    for (size_t b = (size_t)nb; b < nbp; b++)
        yd[b] = ys[b] = 0;
}

static void gemv_prep_q8_0(const float *x, void *act, int64_t n)
{
    prep_legacy(x, act, n, false, false);
}

static void gemv_prep_quad(const float *x, void *act, int64_t n)
{
    prep_legacy(x, act, n, true, false);
}

static void gemv_prep_quad_s16(const float *x, void *act, int64_t n)
{
    prep_legacy(x, act, n, true, true);
}

/* Block layout of each legacy type: bytes, where the codes start, whether a 32-bit qh (just
 * before qs) holds fifth bits, whether an f16 min m follows d; the codes' constant offset. */
static ALWAYS_INLINE int legacy_bb(enum nn_type wt)
{
    switch (wt) {
    case NN_TYPE_Q8_0:
        return sizeof(struct nn_block_q8_0);
    case NN_TYPE_Q4_0:
        return sizeof(struct nn_block_q4_0);
    case NN_TYPE_Q5_0:
        return sizeof(struct nn_block_q5_0);
    case NN_TYPE_Q4_1:
        return sizeof(struct nn_block_q4_1);
    default:
        return sizeof(struct nn_block_q5_1);
    }
}

static ALWAYS_INLINE int legacy_qs_off(enum nn_type wt)
{
    switch (wt) {
    case NN_TYPE_Q5_0:
        return offsetof(struct nn_block_q5_0, qs);
    case NN_TYPE_Q4_1:
        return offsetof(struct nn_block_q4_1, qs);
    case NN_TYPE_Q5_1:
        return offsetof(struct nn_block_q5_1, qs);
    default:
        return 2;
    }
}

static ALWAYS_INLINE bool legacy_has_qh(enum nn_type wt)
{
    return wt == NN_TYPE_Q5_0 || wt == NN_TYPE_Q5_1;
}

static ALWAYS_INLINE bool legacy_has_min(enum nn_type wt)
{
    return wt == NN_TYPE_Q4_1 || wt == NN_TYPE_Q5_1;
}

static ALWAYS_INLINE float legacy_offset(enum nn_type wt)
{
    return wt == NN_TYPE_Q8_0 ? 128.f : wt == NN_TYPE_Q4_0 ? 8.f : wt == NN_TYPE_Q5_0 ? 16.f : 0.f;
}

/* Blocks per step of the row kernel: Q8_0 two (64 codes), nibble types four (128). */
#define STEP_BLOCKS(wt) ((wt) == NN_TYPE_Q8_0 ? 2 : 4)

/* Integer sums of step j of a group (first block at rg) with its activation codes at ag:
 * Q8_0 codes + 128 (offset -128 per code) or unsigned nibbles (plus 16 where the fifth-bit
 * masks qm[j] (low nibbles) and qm[4 + j] (high ones) are set) through VNNI, one int32 lane
 * per 4 products. `cnt` blocks of the step exist; the others read as zero. */
static ALWAYS_INLINE __m512i legacy_step(enum nn_type wt, const uint8_t *rg, const int8_t *ag,
                                         int j, int cnt, const uint64_t qm[8])
{
    const __m512i zero = _mm512_setzero_si512();
    if (wt == NN_TYPE_Q8_0) {
        const uint8_t *b = rg + (size_t)j * 68;
        __m256i lo = _mm256_loadu_si256((const __m256i *)(b + 2));
        __m256i hi =
            cnt > 1 ? _mm256_loadu_si256((const __m256i *)(b + 36)) : _mm256_setzero_si256();
        __m512i w = _mm512_xor_si512(cat256(lo, hi), _mm512_set1_epi8((char)0x80));
        return _mm512_dpbusd_epi32(zero, w, _mm512_loadu_si512(ag + 64 * j));
    }
    const int bb = legacy_bb(wt);
    const uint8_t *b = rg + (size_t)j * 4 * bb + legacy_qs_off(wt);
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)b));
    if (cnt == 4) {
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(b + bb)), 1);
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(b + 2 * bb)), 2);
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(b + 3 * bb)), 3);
    } else {
        for (int k = 1; k < cnt; k++) {
            __m512i t = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(b + bb * k)));
            z = _mm512_mask_mov_epi32(z, (__mmask16)(0xF << (4 * k)), t);
        }
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i lo = _mm512_and_si512(z, m4), hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
    if (legacy_has_qh(wt)) {
        const __m512i b16 = _mm512_set1_epi8(0x10);
        lo = _mm512_mask_add_epi8(lo, _load_mask64((__mmask64 *)&qm[j & 3]), lo, b16);
        hi = _mm512_mask_add_epi8(hi, _load_mask64((__mmask64 *)&qm[4 + (j & 3)]), hi, b16);
    }
    __m512i d = _mm512_dpbusd_epi32(zero, lo, _mm512_loadu_si512(ag + 128 * j));
    return _mm512_dpbusd_epi32(d, hi, _mm512_loadu_si512(ag + 128 * j + 64));
}

static ALWAYS_INLINE void legacy_row(enum nn_type wt, int n, const uint8_t *row, const void *act,
                                     float *out)
{
    const int nb = n / NN_QK;
    const int bb = legacy_bb(wt);
    const int sb = STEP_BLOCKS(wt);
    const float off = legacy_has_min(wt) ? -1.f : legacy_offset(wt);
    const int pf = wt == NN_TYPE_Q8_0 ? GEMV_PREFETCH * 3 / 2 : GEMV_PREFETCH;
    const int npf = (2 * sb * bb + 40) / 64; /* lines per two steps */
    const size_t nbp = legacy_nbp(n);
    const int8_t *qs = act;
    const float *yd = (const float *)(qs + nbp * NN_QK), *ys = yd + nbp;
    const __m512i gidx =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(bb));
    /* dword lane -> block of the step: Q8_0 [b0 x8, b1 x8], others [b0 x4, .., b3 x4] */
    const __m512i lane_blk = wt == NN_TYPE_Q8_0
                                 ? _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0)
                                 : _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i zero = _mm512_setzero_si512();
    const __m512i qh_idx =
        _mm512_set_epi16(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1, 30, 28, 26, 24,
                         22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, accm = acc0;
    for (int g = 0; g < nb; g += GEMV_GROUP) {
        const int left = nb - g;
        const __mmask16 m = left >= GEMV_GROUP ? 0xFFFF : (__mmask16)((1u << left) - 1);
        /* d in the low half of each block's first dword, m (if any) in the high half */
        const __m512i dw = _mm512_mask_i32gather_epi32(zero, m, gidx, row + (size_t)g * bb, 1);
        const __m512 xd = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dw));
        const __m512 sc = _mm512_mul_ps(xd, _mm512_loadu_ps(yd + g));
        const __m512 xo = legacy_has_min(wt)
                              ? _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dw, 16)))
                              : xd;
        accm = _mm512_fmadd_ps(xo, _mm512_loadu_ps(ys + g), accm);
        const uint8_t *rg = row + (size_t)g * bb;
        const int8_t *ag = qs + (size_t)g * NN_QK;
        /* fifth bits: bit e of block b's qh is element e; elements 0-15 sit in the low
         * nibbles (byte 16(b % 4) + e of step b / 4), 16-31 in the high ones. The 16 qh
         * words, low halves first, give each step's two byte masks as qm[j], qm[4 + j]. */
        uint64_t qm[8] __attribute__((aligned(64)));
        if (legacy_has_qh(wt)) {
            const __m512i qh =
                _mm512_mask_i32gather_epi32(zero, m, gidx, rg + legacy_qs_off(wt) - 4, 1);
            _mm512_store_si512((void *)qm, _mm512_permutexvar_epi16(qh_idx, qh));
        }
        if (left >= GEMV_GROUP) {
            GEMV_UNROLL_8
            for (int j = 0; j < GEMV_GROUP / sb; j += 2) {
                gemv_prefetch(rg + bb * sb * j, pf, npf);
                __m512i d0 = legacy_step(wt, rg, ag, j, sb, qm);
                __m512i d1 = legacy_step(wt, rg, ag, j + 1, sb, qm);
                __m512 s0 = _mm512_permutexvar_ps(
                    _mm512_add_epi32(lane_blk, _mm512_set1_epi32(sb * j)), sc);
                __m512 s1 = _mm512_permutexvar_ps(
                    _mm512_add_epi32(lane_blk, _mm512_set1_epi32(sb * j + sb)), sc);
                acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), s0, acc0);
                acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d1), s1, acc1);
            }
        } else {
            for (int j = 0; sb * j < left; j++) {
                gemv_prefetch(rg + bb * sb * j, pf, npf);
                __m512i d = legacy_step(wt, rg, ag, j, VB_MIN(sb, left - sb * j), qm);
                __m512 s = _mm512_permutexvar_ps(
                    _mm512_add_epi32(lane_blk, _mm512_set1_epi32(sb * j)), sc);
                acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), s, acc0);
            }
        }
    }
    *out = _mm512_reduce_add_ps(
        _mm512_fnmadd_ps(accm, _mm512_set1_ps(off), _mm512_add_ps(acc0, acc1)));
}

#define LEGACY_GEMV(name, wt)                                                                      \
    static void name(int n, const void *w, size_t rb, int64_t nr, const void *act, float *y)       \
    {                                                                                              \
        for (int64_t r = 0; r < nr; r++)                                                           \
            legacy_row(wt, n, (const uint8_t *)w + (size_t)r * rb, act, y + r);                    \
    }
LEGACY_GEMV(gemv_q8_0, NN_TYPE_Q8_0)
LEGACY_GEMV(gemv_q4_0, NN_TYPE_Q4_0)
LEGACY_GEMV(gemv_q5_0, NN_TYPE_Q5_0)
LEGACY_GEMV(gemv_q4_1, NN_TYPE_Q4_1)
LEGACY_GEMV(gemv_q5_1, NN_TYPE_Q5_1)

/* --- Q4_K x one row ---------------------------------------------------------------------
 * act per super-block: d, the 8 sub-block sums of the codes, and the 256 codes with the
 * middle quarters of each 128 swapped, so that the low and high nibbles of 64 weight bytes
 * (sub-blocks 4k, 4k+2 and 4k+1, 4k+3) meet their activations in one zmm each. */
struct gemv_q4k_act {
    float d;
    int16_t msum[8];
    int8_t qs[NN_QK_K];
};

static size_t gemv_act_bytes_k(int64_t n)
{
    return (size_t)(n / NN_QK_K) * sizeof(struct gemv_q4k_act);
}

/* One super-block quantised exactly as nn_quantize_row_q8_k (scale from the first element
 * of largest magnitude, round half to even, codes capped at 127): codes of 16-element group
 * g go to qs + dst_of(g), their sums to bsums[g]; returns d. */
static ALWAYS_INLINE float q8k_block(const float *x, int8_t *qs, int16_t bsums[16], bool swap)
{
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 v[16], amax = _mm512_setzero_ps();
    for (int g = 0; g < 16; g++) {
        v[g] = _mm512_loadu_ps(x + 16 * g);
        amax = _mm512_max_ps(amax, _mm512_andnot_ps(sign, v[g]));
    }
    const float am = _mm512_reduce_max_ps(amax);
    if (am == 0.0f) {
        memset(qs, 0, NN_QK_K);
        memset(bsums, 0, 16 * sizeof *bsums);
        return 0.0f;
    }
    float max = 0;
    for (int g = 0; g < 16; g++) {
        __mmask16 m =
            _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, v[g]), _mm512_set1_ps(am), _CMP_EQ_OQ);
        if (m) {
            max = x[16 * g + __builtin_ctz(m)];
            break;
        }
    }
    const float iscale = -127.f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    const __m512i cap = _mm512_set1_epi32(127);
    for (int g = 0; g < 16; g++) {
        __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v[g], vs)), cap);
        int off = 16 * g;
        if (swap) { /* quarters 1 and 2 of each 128 trade places */
            int r = off % 128;
            off += r >= 32 && r < 64 ? 32 : r >= 64 && r < 96 ? -32 : 0;
        }
        _mm_storeu_si128((__m128i *)(qs + off), _mm512_cvtepi32_epi8(q));
        bsums[g] = (int16_t)_mm512_reduce_add_epi32(q);
    }
    return 1 / iscale;
}

static void gemv_prep_q4k(const float *x, void *act, int64_t n)
{
    struct gemv_q4k_act *a = act;
    for (int64_t i = 0; i < n / NN_QK_K; i++) {
        int16_t bs[16];
        a[i].d = q8k_block(x + NN_QK_K * i, a[i].qs, bs, true);
        for (int j = 0; j < 8; j++)
            a[i].msum[j] = (int16_t)(bs[2 * j] + bs[2 * j + 1]);
    }
}

/* Q4_K (`five` false) or Q5_K row x act: the two share d, dmin and the packed scales; Q5_K's
 * qh bit 2c (2c + 1) of byte l is the fifth bit of element 64c + l (64c + 32 + l). */
static ALWAYS_INLINE float k45_row(bool five, int n, const uint8_t *x, const struct gemv_q4k_act *a)
{
    const size_t bb = five ? sizeof(struct nn_block_q5_k) : sizeof(struct nn_block_q4_k);
    const size_t qs_off =
        five ? offsetof(struct nn_block_q5_k, qs) : offsetof(struct nn_block_q4_k, qs);
    const __m512i m4 = _mm512_set1_epi8(0x0F), b16 = _mm512_set1_epi8(0x10);
    /* i16 lanes 0-15 take scale s0, 16-31 scale s1 */
#define SCIDX(s0, s1) _mm512_inserti64x4(_mm512_set1_epi16(s0), _mm256_set1_epi16(s1), 1)
    const __m512i i02 = SCIDX(0, 2), i13 = SCIDX(1, 3), i46 = SCIDX(4, 6), i57 = SCIDX(5, 7);
#undef SCIDX
    /* qh bits of the fifth bits of lo(q0), hi(q0), lo(q1), hi(q1): bytes 0-31 | 32-63 */
#define QHBIT(b0, b1)                                                                              \
    _mm512_inserti64x4(_mm512_set1_epi8((char)(1u << (b0))), _mm256_set1_epi8((char)(1u << (b1))), \
                       1)
    const __m512i h0 = QHBIT(0, 2), h1 = QHBIT(1, 3), h2 = QHBIT(4, 6), h3 = QHBIT(5, 7);
#undef QHBIT
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int i = 0; i < n / NN_QK_K; i++) {
        const uint8_t *xb = x + (size_t)i * bb;
        gemv_prefetch(xb, GEMV_PREFETCH, 3);
        uint32_t dd;
        memcpy(&dd, xb, 4);
        const __m128 dm = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)dd)),
                                     _mm_set1_ps(a[i].d)); /* d * yd, dmin * yd */
        uint32_t u[3];
        memcpy(u, xb + 4, 12);
        const uint32_t sc_lo = u[0] & 0x3f3f3f3f, mn_lo = u[1] & 0x3f3f3f3f;
        const uint32_t sc_hi = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
        const uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
        const __m512i sc =
            _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)sc_hi, (int)sc_lo)));
        const __m128i mn = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)mn_hi, (int)mn_lo));
        const __m512i q0 = _mm512_loadu_si512((const void *)(xb + qs_off));
        const __m512i q1 = _mm512_loadu_si512((const void *)(xb + qs_off + 64));
        __m512i w0 = _mm512_and_si512(q0, m4), w1 = _mm512_and_si512(_mm512_srli_epi16(q0, 4), m4);
        __m512i w2 = _mm512_and_si512(q1, m4), w3 = _mm512_and_si512(_mm512_srli_epi16(q1, 4), m4);
        if (five) {
            const __m512i qh = _mm512_broadcast_i64x4(
                _mm256_loadu_si256((const __m256i *)(xb + offsetof(struct nn_block_q5_k, qh))));
            w0 = _mm512_mask_add_epi8(w0, _mm512_test_epi8_mask(qh, h0), w0, b16);
            w1 = _mm512_mask_add_epi8(w1, _mm512_test_epi8_mask(qh, h1), w1, b16);
            w2 = _mm512_mask_add_epi8(w2, _mm512_test_epi8_mask(qh, h2), w2, b16);
            w3 = _mm512_mask_add_epi8(w3, _mm512_test_epi8_mask(qh, h3), w3, b16);
        }
        const int8_t *aq = a[i].qs;
        __m512i s0 = _mm512_madd_epi16(_mm512_maddubs_epi16(w0, _mm512_loadu_si512(aq)),
                                       _mm512_permutexvar_epi16(i02, sc));
        __m512i s1 = _mm512_madd_epi16(_mm512_maddubs_epi16(w1, _mm512_loadu_si512(aq + 64)),
                                       _mm512_permutexvar_epi16(i13, sc));
        s0 = _mm512_dpwssd_epi32(s0, _mm512_maddubs_epi16(w2, _mm512_loadu_si512(aq + 128)),
                                 _mm512_permutexvar_epi16(i46, sc));
        s1 = _mm512_dpwssd_epi32(s1, _mm512_maddubs_epi16(w3, _mm512_loadu_si512(aq + 192)),
                                 _mm512_permutexvar_epi16(i57, sc));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                              _mm512_broadcastss_ps(dm), acc);
        const __m128i ms = _mm_madd_epi16(mn, _mm_loadu_si128((const __m128i *)a[i].msum));
        accm = _mm_fmadd_ps(_mm_cvtepi32_ps(ms), _mm_shuffle_ps(dm, dm, 0x55), accm);
    }
    return _mm512_reduce_add_ps(acc) - hsum128(accm);
}

static void gemv_q4k(int n, const void *w, size_t rb, int64_t nr, const void *act, float *y)
{
    for (int64_t r = 0; r < nr; r++)
        y[r] = k45_row(false, n, (const uint8_t *)w + (size_t)r * rb, act);
}

static void gemv_q5k(int n, const void *w, size_t rb, int64_t nr, const void *act, float *y)
{
    for (int64_t r = 0; r < nr; r++)
        y[r] = k45_row(true, n, (const uint8_t *)w + (size_t)r * rb, act);
}

/* --- Q6_K x one row: act is a plain Q8_K row (codes in order, bsums for the -32 offset) -- */

static size_t gemv_act_bytes_q8k(int64_t n)
{
    return (size_t)(n / NN_QK_K) * sizeof(struct nn_block_q8_k);
}

void nn_avx512_quantize_row_q8_k(const float *x, void *act, int64_t n)
{
    struct nn_block_q8_k *a = act;
    for (int64_t i = 0; i < n / NN_QK_K; i++)
        a[i].d = q8k_block(x + NN_QK_K * i, a[i].qs, a[i].bsums, false);
}

static ALWAYS_INLINE float q6k_row(int n, const struct nn_block_q6_k *x,
                                   const struct nn_block_q8_k *a)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    /* the two bits of qh for elements 0-31 | 32-63 of a half moved to bits 4-5 (i16 lanes
     * 0-15 | 16-31): left by 4 | 2 for the low nibbles, right by 0 | 2 for the high ones */
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
    /* i16 lane j of the 64 elements of zmm k uses scale 4k + j / 8 */
    const __m512i sidx = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1,
                                          1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i four = _mm512_set1_epi16(4);
    /* the block terms in double: d * total is exact there, and a row whose blocks cancel
     * (signed scales) keeps its low digits; one rounding to float at the end */
    __m512d acc = _mm512_setzero_pd();
    for (int i = 0; i < n / NN_QK_K; i++) {
        gemv_prefetch(x + i, GEMV_PREFETCH, 4);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m512i scz = _mm512_castsi256_si512(sc16);
        __m512i sum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i l = _mm512_loadu_si512((const void *)(x[i].ql + 64 * h));
            const __m512i qh =
                _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h)));
            /* elements 128h + 0..63 and 128h + 64..127 */
            const __m512i wlo = _mm512_ternarylogic_epi32(_mm512_and_si512(l, m4),
                                                          _mm512_sllv_epi16(qh, shl), m30, 0xF8);
            const __m512i whi =
                _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                          _mm512_srlv_epi16(qh, shr), m30, 0xF8);
            const __m512i idx0 = _mm512_add_epi16(sidx, _mm512_set1_epi16((short)(8 * h)));
            sum = _mm512_dpwssd_epi32(
                sum,
                _mm512_maddubs_epi16(wlo, _mm512_loadu_si512((const void *)(a[i].qs + 128 * h))),
                _mm512_permutexvar_epi16(idx0, scz));
            sum = _mm512_dpwssd_epi32(
                sum,
                _mm512_maddubs_epi16(whi,
                                     _mm512_loadu_si512((const void *)(a[i].qs + 128 * h + 64))),
                _mm512_permutexvar_epi16(_mm512_add_epi16(idx0, four), scz));
        }
        /* codes are q + 32: subtract 32 * sum over sub-blocks of scale * activation sum */
        const __m256i corr =
            _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)a[i].bsums));
        const __m256i tot = _mm256_sub_epi32(halves(sum), _mm256_slli_epi32(corr, 5));
        acc = _mm512_fmadd_pd(_mm512_cvtepi32_pd(tot),
                              _mm512_set1_pd((double)(a[i].d * nn_fp16_to_fp32_calc(x[i].d))), acc);
    }
    return (float)_mm512_reduce_add_pd(acc);
}

static void gemv_q6k(int n, const void *w, size_t rb, int64_t nr, const void *act, float *y)
{
    for (int64_t r = 0; r < nr; r++)
        y[r] = q6k_row(n, (const struct nn_block_q6_k *)((const uint8_t *)w + (size_t)r * rb), act);
}

/* --- F16 / BF16 x one row: act is the row rounded as nn_quantize_row_f16/bf16 would, kept
 * as f32, so the kernel widens only the weights ----------------------------------------- */

static size_t gemv_act_bytes_half(int64_t n)
{
    return (size_t)n * sizeof(float);
}

static ALWAYS_INLINE __m512 round_half(bool bf, __m512 v)
{
    if (!bf)
        return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    /* nn_fp32_to_bf16: round to nearest even, NaN kept quiet */
    const __m512i u = _mm512_castps_si512(v);
    const __m512i bias =
        _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                         _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)));
    __m512i r = _mm512_andnot_si512(_mm512_set1_epi32(0xffff), _mm512_add_epi32(u, bias));
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan,
                              _mm512_or_si512(_mm512_andnot_si512(_mm512_set1_epi32(0xffff), u),
                                              _mm512_set1_epi32(64 << 16)));
    return _mm512_castsi512_ps(r);
}

static ALWAYS_INLINE void prep_half(bool bf, const float *x, void *act, int64_t n)
{
    float *a = act;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(a + i, m, round_half(bf, _mm512_maskz_loadu_ps(m, x + i)));
    }
}

static void gemv_prep_f16(const float *x, void *act, int64_t n)
{
    prep_half(false, x, act, n);
}

static void gemv_prep_bf16(const float *x, void *act, int64_t n)
{
    prep_half(true, x, act, n);
}

static ALWAYS_INLINE float half_row(bool bf, int n, const uint16_t *x, const float *a)
{
    __m512 acc[4];
    for (int k = 0; k < 4; k++)
        acc[k] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        gemv_prefetch(x + i, GEMV_PREFETCH, 2);
        for (int k = 0; k < 4; k++) {
            const __m256i h = _mm256_loadu_si256((const __m256i *)(x + i + 16 * k));
            acc[k] = _mm512_fmadd_ps(widen_half(bf, h), _mm512_loadu_ps(a + i + 16 * k), acc[k]);
        }
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m256i h = _mm256_maskz_loadu_epi16(m, x + i);
        acc[0] = _mm512_fmadd_ps(widen_half(bf, h), _mm512_maskz_loadu_ps(m, a + i), acc[0]);
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

static void gemv_f16(int n, const void *w, size_t rb, int64_t nr, const void *act, float *y)
{
    for (int64_t r = 0; r < nr; r++)
        y[r] = half_row(false, n, (const uint16_t *)((const uint8_t *)w + (size_t)r * rb), act);
}

static void gemv_bf16(int n, const void *w, size_t rb, int64_t nr, const void *act, float *y)
{
    for (int64_t r = 0; r < nr; r++)
        y[r] = half_row(true, n, (const uint16_t *)((const uint8_t *)w + (size_t)r * rb), act);
}

bool nn_avx512_gemv(enum nn_type t, struct nn_gemv *out)
{
    switch (t) {
    case NN_TYPE_Q8_0:
        *out = (struct nn_gemv){gemv_q8_0, gemv_prep_q8_0, gemv_act_bytes_legacy};
        return true;
    case NN_TYPE_Q4_0:
        *out = (struct nn_gemv){gemv_q4_0, gemv_prep_quad, gemv_act_bytes_legacy};
        return true;
    case NN_TYPE_Q5_0:
        *out = (struct nn_gemv){gemv_q5_0, gemv_prep_quad, gemv_act_bytes_legacy};
        return true;
    case NN_TYPE_Q4_1:
        *out = (struct nn_gemv){gemv_q4_1, gemv_prep_quad_s16, gemv_act_bytes_legacy};
        return true;
    case NN_TYPE_Q5_1:
        *out = (struct nn_gemv){gemv_q5_1, gemv_prep_quad_s16, gemv_act_bytes_legacy};
        return true;
    case NN_TYPE_Q4_K:
        *out = (struct nn_gemv){gemv_q4k, gemv_prep_q4k, gemv_act_bytes_k};
        return true;
    case NN_TYPE_Q5_K:
        *out = (struct nn_gemv){gemv_q5k, gemv_prep_q4k, gemv_act_bytes_k};
        return true;
    case NN_TYPE_Q6_K:
        *out = (struct nn_gemv){gemv_q6k, nn_avx512_quantize_row_q8_k, gemv_act_bytes_q8k};
        return true;
    case NN_TYPE_F16:
        *out = (struct nn_gemv){gemv_f16, gemv_prep_f16, gemv_act_bytes_half};
        return true;
    case NN_TYPE_BF16:
        *out = (struct nn_gemv){gemv_bf16, gemv_prep_bf16, gemv_act_bytes_half};
        return true;
    default:
        return false;
    }
}
