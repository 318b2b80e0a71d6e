/* gemm.c: packed-panel F32 GEMM (Y = X W^T + b): 6x16 register tiles, AVX2/FMA kernel chosen
 * at run time (function-level target attribute, so no special build flags), plain C
 * fallback, threads over (panel, token block) tiles. */
#include "core/vb.h"
#include "nn/gemm.h"
#include "nn/amx.h"

#include "nn/fp16.h"
#include <stdatomic.h>
#include "nn/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#    include <immintrin.h>
#    define GEMM_X86 1
#endif

#define MR      6 /* tokens per register tile (AVX2, generic); AVX-512 uses MR_MAX */
#define MR_MAX  14
#define TB_ROWS 84 /* tokens per thread work unit (a multiple of both tile heights) */
#define NR      NN_GEMM_NR

size_t nn_gemm_packed_floats(int n_in, int n_out)
{
    size_t panels = ((size_t)n_out + NR - 1) / NR;
    return panels * (size_t)n_in * NR;
}

void nn_gemm_pack(float *dst, const float *w, int n_in, int n_out, int64_t ldw)
{
    size_t panels = ((size_t)n_out + NR - 1) / NR;
    for (size_t p = 0; p < panels; p++) {
        float *d = dst + p * (size_t)n_in * NR;
        for (int j = 0; j < NR; j++) { /* one source row at a time: contiguous reads */
            const size_t o = p * NR + (size_t)j;
            if (o >= (size_t)n_out) {
                for (int k = 0; k < n_in; k++)
                    d[(size_t)k * NR + (size_t)j] = 0.0f;
                continue;
            }
            const float *src = w + (int64_t)o * ldw;
            for (int k = 0; k < n_in; k++)
                d[(size_t)k * NR + (size_t)j] = src[k];
        }
    }
}

void nn_gemm_pack_t(float *dst, const float *wt, int n_in, int n_out, int64_t ldwt)
{
    size_t panels = ((size_t)n_out + NR - 1) / NR;
    for (size_t p = 0; p < panels; p++) {
        float *d = dst + p * (size_t)n_in * NR;
        size_t o0 = p * NR, nc = VB_MIN((size_t)NR, (size_t)n_out - o0);
        for (int k = 0; k < n_in; k++) {
            const float *src = wt + (int64_t)k * ldwt + (int64_t)o0;
            float *dr = d + (size_t)k * NR;
            memcpy(dr, src, nc * sizeof *dr);
            for (size_t j = nc; j < NR; j++)
                dr[j] = 0.0f;
        }
    }
}

/* tile[r][j] = sum_k x_r[k] * p[k][j] for r < MR, j < NR; F32 and F16 panels */
static void kern_generic(int K, const float *const xr[MR_MAX], const void *pv, float *tile,
                         int64_t ldt)
{
    const float *p = pv;
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < K; k++) {
        const float *w = p + (size_t)k * NR;
        for (int r = 0; r < MR; r++) {
            const float a = xr[r][k];
            for (int j = 0; j < NR; j++)
                acc[r][j] += a * w[j];
        }
    }
    for (int r = 0; r < MR; r++)
        memcpy(tile + r * ldt, acc[r], sizeof acc[r]);
}

static void kern_generic_f16(int K, const float *const xr[MR_MAX], const void *pv, float *tile,
                             int64_t ldt)
{
    const uint16_t *p = pv;
    float acc[MR][NR], w[NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < K; k++) {
        for (int j = 0; j < NR; j++)
            w[j] = nn_fp16_to_fp32(p[(size_t)k * NR + (size_t)j]);
        for (int r = 0; r < MR; r++) {
            const float a = xr[r][k];
            for (int j = 0; j < NR; j++)
                acc[r][j] += a * w[j];
        }
    }
    for (int r = 0; r < MR; r++)
        memcpy(tile + r * ldt, acc[r], sizeof acc[r]);
}

#ifdef GEMM_X86
/* 6 x 16 with two ymm weight vectors per k; W0/W1 load the k-th panel row */
#    define AVX2_KERNEL(name, tgt, T, W0, W1)                                                      \
        __attribute__((target(tgt))) static void name(int K, const float *const xr[MR_MAX],        \
                                                      const void *pv, float *tile, int64_t ldt)    \
        {                                                                                          \
            const T *p = pv;                                                                       \
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00;          \
            __m256 c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;    \
            for (int k = 0; k < K; k++) {                                                          \
                const T *pk = p + (size_t)k * NR;                                                  \
                const __m256 w0 = W0, w1 = W1;                                                     \
                __m256 a;                                                                          \
                AVX2_ROW(0);                                                                       \
                AVX2_ROW(1);                                                                       \
                AVX2_ROW(2);                                                                       \
                AVX2_ROW(3);                                                                       \
                AVX2_ROW(4);                                                                       \
                AVX2_ROW(5);                                                                       \
            }                                                                                      \
            AVX2_STORE(0);                                                                         \
            AVX2_STORE(1);                                                                         \
            AVX2_STORE(2);                                                                         \
            AVX2_STORE(3);                                                                         \
            AVX2_STORE(4);                                                                         \
            AVX2_STORE(5);                                                                         \
        }
#    define AVX2_ROW(r)                                                                            \
        a = _mm256_broadcast_ss(xr[r] + k);                                                        \
        c##r##0 = _mm256_fmadd_ps(a, w0, c##r##0);                                                 \
        c##r##1 = _mm256_fmadd_ps(a, w1, c##r##1)
#    define AVX2_STORE(r)                                                                          \
        _mm256_storeu_ps(tile + (r)*ldt, c##r##0);                                                 \
        _mm256_storeu_ps(tile + (r)*ldt + 8, c##r##1)

AVX2_KERNEL(kern_avx2, "avx2,fma", float, _mm256_loadu_ps(pk), _mm256_loadu_ps(pk + 8))
AVX2_KERNEL(kern_avx2_f16, "avx2,fma,f16c", uint16_t,
            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)pk)),
            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pk + 8))))

/* 14 x 16 with one zmm weight vector per k */
#    define AVX512_KERNEL(name, T, W)                                                              \
        __attribute__((target("avx512f"))) static void name(                                       \
            int K, const float *const xr[MR_MAX], const void *pv, float *tile, int64_t ldt)        \
        {                                                                                          \
            const T *p = pv;                                                                       \
            __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;          \
            __m512 c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0;     \
            for (int k = 0; k < K; k++) {                                                          \
                const T *pk = p + (size_t)k * NR;                                                  \
                const __m512 w = W;                                                                \
                AVX512_ROW(0);                                                                     \
                AVX512_ROW(1);                                                                     \
                AVX512_ROW(2);                                                                     \
                AVX512_ROW(3);                                                                     \
                AVX512_ROW(4);                                                                     \
                AVX512_ROW(5);                                                                     \
                AVX512_ROW(6);                                                                     \
                AVX512_ROW(7);                                                                     \
                AVX512_ROW(8);                                                                     \
                AVX512_ROW(9);                                                                     \
                AVX512_ROW(10);                                                                    \
                AVX512_ROW(11);                                                                    \
                AVX512_ROW(12);                                                                    \
                AVX512_ROW(13);                                                                    \
            }                                                                                      \
            _mm512_storeu_ps(tile + 0 * ldt, c0);                                                  \
            _mm512_storeu_ps(tile + 1 * ldt, c1);                                                  \
            _mm512_storeu_ps(tile + 2 * ldt, c2);                                                  \
            _mm512_storeu_ps(tile + 3 * ldt, c3);                                                  \
            _mm512_storeu_ps(tile + 4 * ldt, c4);                                                  \
            _mm512_storeu_ps(tile + 5 * ldt, c5);                                                  \
            _mm512_storeu_ps(tile + 6 * ldt, c6);                                                  \
            _mm512_storeu_ps(tile + 7 * ldt, c7);                                                  \
            _mm512_storeu_ps(tile + 8 * ldt, c8);                                                  \
            _mm512_storeu_ps(tile + 9 * ldt, c9);                                                  \
            _mm512_storeu_ps(tile + 10 * ldt, c10);                                                \
            _mm512_storeu_ps(tile + 11 * ldt, c11);                                                \
            _mm512_storeu_ps(tile + 12 * ldt, c12);                                                \
            _mm512_storeu_ps(tile + 13 * ldt, c13);                                                \
        }
#    define AVX512_ROW(r) c##r = _mm512_fmadd_ps(_mm512_set1_ps(xr[r][k]), w, c##r)

AVX512_KERNEL(kern_avx512, float, _mm512_loadu_ps(pk))
AVX512_KERNEL(kern_avx512_f16, uint16_t, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pk)))

/* 12 x 32: two adjacent panels (the second starts K rows after the first) */
#    define AVX512W_KERNEL(name, T, LOAD)                                                          \
        __attribute__((target("avx512f"))) static void name(                                       \
            int K, const float *const xr[MR_MAX], const void *pv, float *tile, int64_t ldt)        \
        {                                                                                          \
            const T *p0 = pv, *p1 = p0 + (size_t)K * NR;                                           \
            __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00;          \
            __m512 c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;    \
            __m512 c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00, c90 = c00;    \
            __m512 c91 = c00, cA0 = c00, cA1 = c00, cB0 = c00, cB1 = c00;                          \
            for (int k = 0; k < K; k++) {                                                          \
                const __m512 w0 = LOAD(p0 + (size_t)k * NR), w1 = LOAD(p1 + (size_t)k * NR);       \
                __m512 a;                                                                          \
                W_ROW(0, 0);                                                                       \
                W_ROW(1, 1);                                                                       \
                W_ROW(2, 2);                                                                       \
                W_ROW(3, 3);                                                                       \
                W_ROW(4, 4);                                                                       \
                W_ROW(5, 5);                                                                       \
                W_ROW(6, 6);                                                                       \
                W_ROW(7, 7);                                                                       \
                W_ROW(8, 8);                                                                       \
                W_ROW(9, 9);                                                                       \
                W_ROW(A, 10);                                                                      \
                W_ROW(B, 11);                                                                      \
            }                                                                                      \
            W_STORE(0, 0);                                                                         \
            W_STORE(1, 1);                                                                         \
            W_STORE(2, 2);                                                                         \
            W_STORE(3, 3);                                                                         \
            W_STORE(4, 4);                                                                         \
            W_STORE(5, 5);                                                                         \
            W_STORE(6, 6);                                                                         \
            W_STORE(7, 7);                                                                         \
            W_STORE(8, 8);                                                                         \
            W_STORE(9, 9);                                                                         \
            W_STORE(A, 10);                                                                        \
            W_STORE(B, 11);                                                                        \
        }
#    define W_ROW(n, r)                                                                            \
        a = _mm512_set1_ps(xr[r][k]);                                                              \
        c##n##0 = _mm512_fmadd_ps(a, w0, c##n##0);                                                 \
        c##n##1 = _mm512_fmadd_ps(a, w1, c##n##1)
#    define W_STORE(n, r)                                                                          \
        _mm512_storeu_ps(tile + (r)*ldt, c##n##0);                                                 \
        _mm512_storeu_ps(tile + (r)*ldt + NR, c##n##1)
#    define LOAD_F32(q) _mm512_loadu_ps(q)
#    define LOAD_F16(q) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(q)))

AVX512W_KERNEL(kern_avx512_w, float, LOAD_F32)
AVX512W_KERNEL(kern_avx512_w_f16, uint16_t, LOAD_F16)
#endif

typedef void (*kern_fn)(int K, const float *const xr[MR_MAX], const void *pv, float *tile,
                        int64_t ldt);

struct gemm_job {
    kern_fn kern;
    int mr;        /* tile height of kern (one panel wide) */
    kern_fn kern2; /* optional two-panel kernel, tile height mr2 */
    int mr2;
    int n_groups;          /* panel groups: pairs when kern2, else single panels */
    const uint8_t *packed; /* panels of esize-byte values */
    size_t esize;
    const float *x, *b;
    float *y;
    int n_in, n_out, n_tok;
    int64_t ldx, ldy;
    int n_panels, n_tb;
    atomic_llong next; /* next unclaimed tile unit (threads claim units dynamically) */
};

static void gemm_tile_range(const struct gemm_job *j, int64_t u0, int64_t u1)
{
    float tile[MR_MAX * 2 * NR];
    for (int64_t u = u0; u < u1; u++) {
        const int g = (int)(u / j->n_tb), tb = (int)(u % j->n_tb);
        const int per = j->kern2 ? 2 : 1, pnl = g * per;
        const bool wide = j->kern2 && pnl + 1 < j->n_panels;
        const kern_fn kern = wide ? j->kern2 : j->kern;
        const int kmr = wide ? j->mr2 : j->mr, tw = wide ? 2 * NR : NR;
        const void *p = j->packed + (size_t)pnl * (size_t)j->n_in * NR * j->esize;
        const int o0 = pnl * NR, nc = VB_MIN(tw, j->n_out - o0);
        const int t_end = VB_MIN(j->n_tok, (tb + 1) * TB_ROWS);
        for (int t0 = tb * TB_ROWS; t0 < t_end; t0 += kmr) {
            const int mr = VB_MIN(kmr, t_end - t0);
            const float *xr[MR_MAX];
            for (int r = 0; r < kmr; r++) /* rows past the end repeat the last (discarded) */
                xr[r] = j->x + (int64_t)(t0 + VB_MIN(r, mr - 1)) * j->ldx;
            float *yt = j->y + (int64_t)t0 * j->ldy + o0;
            if (mr == kmr && nc == tw) {
                /* full tile: straight into y, then the bias */
                kern(j->n_in, xr, p, yt, j->ldy);
                if (j->b)
                    for (int r = 0; r < mr; r++)
                        for (int c = 0; c < nc; c++)
                            yt[(int64_t)r * j->ldy + c] += j->b[o0 + c];
                continue;
            }
            kern(j->n_in, xr, p, tile, tw);
            for (int r = 0; r < mr; r++) {
                float *yr = yt + (int64_t)r * j->ldy;
                const float *tr = tile + r * tw;
                if (j->b)
                    for (int c = 0; c < nc; c++)
                        yr[c] = tr[c] + j->b[o0 + c];
                else
                    memcpy(yr, tr, (size_t)nc * sizeof *yr);
            }
        }
    }
}

static void gemm_worker(void *ctx, int ith, int nth)
{
    struct gemm_job *j = ctx;
    (void)ith;
    (void)nth;
    const int64_t units = (int64_t)j->n_groups * j->n_tb;
    for (;;) {
        int64_t u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= units)
            break;
        gemm_tile_range(j, u, u + 1);
    }
}

static void gemm_run(struct nn_pool *pool, bool f16, const void *packed, int n_in, int n_out,
                     const float *x, int64_t ldx, int n_tok, const float *b, float *y, int64_t ldy)
{
    if (n_tok <= 0 || n_out <= 0)
        return;
    struct gemm_job j = {
        .kern = f16 ? kern_generic_f16 : kern_generic,
        .mr = MR,
        .packed = packed,
        .esize = f16 ? sizeof(uint16_t) : sizeof(float),
        .x = x,
        .b = b,
        .y = y,
        .n_in = n_in,
        .n_out = n_out,
        .n_tok = n_tok,
        .ldx = ldx,
        .ldy = ldy,
        .n_panels = (n_out + NR - 1) / NR,
        .n_tb = (n_tok + TB_ROWS - 1) / TB_ROWS,
    };
#ifdef GEMM_X86
    if (nn_kernels_isa() >= NN_ISA_AVX512) {
        j.kern = f16 ? kern_avx512_f16 : kern_avx512;
        j.mr = MR_MAX;
        j.kern2 = f16 ? kern_avx512_w_f16 : kern_avx512_w;
        j.mr2 = 12;
    } else if (nn_kernels_isa() >= NN_ISA_AVX2) {
        j.kern = f16 ? kern_avx2_f16 : kern_avx2;
    }
#endif
    j.n_groups = j.kern2 ? (j.n_panels + 1) / 2 : j.n_panels;
    atomic_init(&j.next, 0);
    if ((int64_t)j.n_groups * j.n_tb == 1)
        gemm_tile_range(&j, 0, 1);
    else
        nn_pool_run(pool, gemm_worker, &j);
}

void nn_gemm(struct nn_pool *pool, const float *packed, int n_in, int n_out, const float *x,
             int64_t ldx, int n_tok, const float *b, float *y, int64_t ldy)
{
    gemm_run(pool, false, packed, n_in, n_out, x, ldx, n_tok, b, y, ldy);
}

void nn_gemm_f16(struct nn_pool *pool, const uint16_t *packed, int n_in, int n_out, const float *x,
                 int64_t ldx, int n_tok, const float *b, float *y, int64_t ldy)
{
    gemm_run(pool, true, packed, n_in, n_out, x, ldx, n_tok, b, y, ldy);
}

void nn_gemm_pack_f16(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw)
{
    size_t panels = ((size_t)n_out + NR - 1) / NR;
    for (size_t p = 0; p < panels; p++) {
        uint16_t *d = dst + p * (size_t)n_in * NR;
        for (int k = 0; k < n_in; k++)
            for (int j = 0; j < NR; j++) {
                size_t o = p * NR + (size_t)j;
                d[(size_t)k * NR + (size_t)j] =
                    nn_fp32_to_fp16(o < (size_t)n_out ? w[(int64_t)o * ldw + k] : 0.0f);
            }
    }
}

void nn_gemm_ref(const float *packed, int n_in, int n_out, const float *x, int64_t ldx, int n_tok,
                 const float *b, float *y, int64_t ldy)
{
    for (int t = 0; t < n_tok; t++)
        for (int o = 0; o < n_out; o++) {
            const float *p = packed + (size_t)(o / NR) * (size_t)n_in * NR + (size_t)(o % NR);
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < n_in; k++)
                s += (double)x[(int64_t)t * ldx + k] * p[(size_t)k * NR];
            y[(int64_t)t * ldy + o] = (float)s;
        }
}

/* ===== BF16 panels on AMX =====
 * Weights: panels of NR outputs, n_in padded to a multiple of 32 (K2), each panel stored as
 * [K2/2][NR][2] bf16 (the VNNI pairs a TDPBF16PS B tile reads, one 64-byte row per k pair);
 * the panel count is rounded up to even so panels always come in pairs. Activations are
 * converted per call into a zero-padded (M2 x K2) bf16 copy, M2 a multiple of 32. A unit is
 * 32 tokens x 32 outputs: 4 C tiles (tmm0-3), 2 A tiles (tmm4-5), 2 B tiles (tmm6-7). */

#define AMX_K     32 /* bf16 per A-tile row */
#define AMX_M     32 /* tokens per unit */
#define AMX_PAIRS 2  /* panels per unit */

static int bf16_k2(int n_in)
{
    return (n_in + AMX_K - 1) / AMX_K * AMX_K;
}

static size_t bf16_panels(int n_out)
{
    size_t p = ((size_t)n_out + NR - 1) / NR;
    return (p + 1) / 2 * 2;
}

size_t nn_gemm_packed_bf16_elems(int n_in, int n_out)
{
    return bf16_panels(n_out) * (size_t)bf16_k2(n_in) * NR;
}

static void pack_bf16_c(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw)
{
    const int K2 = bf16_k2(n_in);
    const size_t panels = bf16_panels(n_out);
    for (size_t p = 0; p < panels; p++) {
        uint16_t *d = dst + p * (size_t)K2 * NR;
        for (int j = 0; j < NR; j++) {
            const size_t o = p * NR + (size_t)j;
            const float *src = o < (size_t)n_out ? w + (int64_t)o * ldw : NULL;
            for (int k = 0; k < K2; k++)
                d[(size_t)(k / 2) * 2 * NR + (size_t)j * 2 + (size_t)(k % 2)] =
                    src && k < n_in ? nn_fp32_to_bf16(src[k]) : 0;
        }
    }
}

static void pack_bf16_t_c(uint16_t *dst, const float *wt, int n_in, int n_out, int64_t ldwt)
{
    const int K2 = bf16_k2(n_in);
    const size_t panels = bf16_panels(n_out);
    for (size_t p = 0; p < panels; p++) {
        uint16_t *d = dst + p * (size_t)K2 * NR;
        const size_t o0 = p * NR;
        const int nc = o0 < (size_t)n_out ? (int)VB_MIN((size_t)NR, (size_t)n_out - o0) : 0;
        for (int k = 0; k < K2; k++) {
            uint16_t *dk = d + (size_t)(k / 2) * 2 * NR + (size_t)(k % 2);
            const float *src = k < n_in ? wt + (int64_t)k * ldwt + (int64_t)o0 : NULL;
            for (int j = 0; j < NR; j++)
                dk[(size_t)j * 2] = src && j < nc ? nn_fp32_to_bf16(src[j]) : 0;
        }
    }
}

size_t nn_gemm_bf16_scratch_bytes(int n_in, int n_tok)
{
    size_t m2 = ((size_t)VB_MAX(n_tok, 1) + AMX_M - 1) / AMX_M * AMX_M;
    return m2 * (size_t)bf16_k2(n_in) * sizeof(uint16_t);
}

#if defined(__x86_64__) && defined(__linux__)
#    include <cpuid.h>
#    include <pthread.h>
#    include <sys/syscall.h>
#    include <unistd.h>
#    define GEMM_AMX 1

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
#ifdef GEMM_AMX
    pthread_once(&g_amx_once, amx_probe);
    return g_amx && nn_kernels_isa() >= NN_ISA_AVX512 && nn_kernels_amx_allowed();
#else
    return false;
#endif
}

#ifdef GEMM_AMX
/* Panel rows -> VNNI pairs: each source row converted to bf16 pairs (VCVTNE2PS2BF16, RNE),
 * then a 16-lane gather per k pair. */
__attribute__((target("avx512f,avx512bf16"))) static void
pack_bf16_avx512(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw)
{
    const int K2 = bf16_k2(n_in), KP = K2 / 2;
    const size_t panels = bf16_panels(n_out);
    uint32_t tmp[NR * 1024];
    if (KP > 1024) {
        pack_bf16_c(dst, w, n_in, n_out, ldw);
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

__attribute__((target("avx512f"))) static void pack_bf16_t_avx512(uint16_t *dst, const float *wt,
                                                                  int n_in, int n_out, int64_t ldwt)
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
#endif

void nn_gemm_pack_bf16(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw)
{
#ifdef GEMM_AMX
    if (nn_gemm_amx_available()) {
        pack_bf16_avx512(dst, w, n_in, n_out, ldw);
        return;
    }
#endif
    pack_bf16_c(dst, w, n_in, n_out, ldw);
}

void nn_gemm_pack_bf16_t(uint16_t *dst, const float *wt, int n_in, int n_out, int64_t ldwt)
{
#ifdef GEMM_AMX
    if (nn_gemm_amx_available()) {
        pack_bf16_t_avx512(dst, wt, n_in, n_out, ldwt);
        return;
    }
#endif
    pack_bf16_t_c(dst, wt, n_in, n_out, ldwt);
}

struct bf16_job {
    const uint16_t *packed, *xb;
    const float *b;
    float *y;
    int n_in, K2, n_out, n_tok;
    int64_t ldy;
    int n_mb, n_pp; /* token blocks, panel pairs */
    atomic_llong next;
    bool amx;
};

/* Writes the 32 x 32 block acc (row stride 32) into y rows t0.., columns o0.. (clipped). */
/* (with_bias: + the bias, for sums that do not include it yet) */
static void bf16_store(const struct bf16_job *j, const float *acc, int t0, int o0, bool with_bias)
{
    const int mr = VB_MIN(AMX_M, j->n_tok - t0), nc = VB_MIN(AMX_PAIRS * NR, j->n_out - o0);
    for (int r = 0; r < mr; r++) {
        float *yr = j->y + (int64_t)(t0 + r) * j->ldy + o0;
        const float *ar = acc + r * AMX_PAIRS * NR;
        for (int c = 0; c < nc; c++)
            yr[c] = ar[c] + (with_bias && j->b ? j->b[o0 + c] : 0.0f);
    }
}

static void bf16_unit_generic(const struct bf16_job *j, int mb, int pp, float *acc)
{
    const int t0 = mb * AMX_M, o0 = pp * AMX_PAIRS * NR;
    for (int r = 0; r < AMX_M; r++)
        for (int c = 0; c < AMX_PAIRS * NR; c++) {
            const uint16_t *p = j->packed + (size_t)(pp * AMX_PAIRS + c / NR) * j->K2 * NR;
            const uint16_t *x = j->xb + (size_t)(t0 + r) * j->K2;
            float s = 0;
            for (int k = 0; k < j->K2; k++)
                s += nn_bf16_to_fp32(x[k]) *
                     nn_bf16_to_fp32(p[(size_t)(k / 2) * 2 * NR + (size_t)(c % NR) * 2 + (k % 2)]);
            acc[r * AMX_PAIRS * NR + c] = s;
        }
    bf16_store(j, acc, t0, o0, true);
}

#ifdef GEMM_AMX
/* 32 floats -> 32 bf16, round to nearest even (VCVTNE2PS2BF16) */
__attribute__((target("avx512f,avx512bf16"))) static void cvt_row_avx512(uint16_t *d,
                                                                         const float *s, int n)
{
    int k = 0;
    for (; k + 32 <= n; k += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + k + 16), _mm512_loadu_ps(s + k));
        _mm512_storeu_si512((void *)(d + k), (__m512i)v);
    }
    for (; k < n; k++)
        d[k] = nn_fp32_to_bf16(s[k]);
}

__attribute__((target("amx-tile,amx-bf16"))) static void bf16_worker_amx(void *ctx, int ith,
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
        bf16_store(j, acc, t0, o0, false);
    }
    _tile_release();
}
#endif

static void bf16_worker_generic(void *ctx, int ith, int nth)
{
    struct bf16_job *j = ctx;
    (void)ith;
    (void)nth;
    float acc[AMX_M * AMX_PAIRS * NR];
    const int64_t units = (int64_t)j->n_mb * j->n_pp;
    for (;;) {
        int64_t u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= units)
            break;
        bf16_unit_generic(j, (int)(u % j->n_mb), (int)(u / j->n_mb), acc);
    }
}

struct cvt_job {
    bool fast; /* AVX512-BF16 conversion */
    const float *x;
    int64_t ldx;
    uint16_t *xb;
    int n_in, K2, n_tok, m2;
};

static void cvt_worker(void *ctx, int ith, int nth)
{
    const struct cvt_job *c = ctx;
    for (int r = ith; r < c->m2; r += nth) {
        uint16_t *d = c->xb + (size_t)r * c->K2;
        int k = 0;
        if (r < c->n_tok) {
            const float *s = c->x + (int64_t)r * c->ldx;
#ifdef GEMM_AMX
            if (c->fast) {
                cvt_row_avx512(d, s, c->n_in);
                k = c->n_in;
            }
#endif
            for (; k < c->n_in; k++)
                d[k] = nn_fp32_to_bf16(s[k]);
        }
        for (; k < c->K2; k++)
            d[k] = 0;
    }
}

void nn_gemm_bf16(struct nn_pool *pool, const uint16_t *packed, int n_in, int n_out, const float *x,
                  int64_t ldx, int n_tok, const float *b, float *y, int64_t ldy, void *scratch)
{
    if (n_tok <= 0 || n_out <= 0)
        return;
    const int K2 = bf16_k2(n_in), m2 = (n_tok + AMX_M - 1) / AMX_M * AMX_M;
    struct cvt_job c = {.fast = nn_gemm_amx_available(),
                        .x = x,
                        .ldx = ldx,
                        .xb = scratch,
                        .n_in = n_in,
                        .K2 = K2,
                        .n_tok = n_tok,
                        .m2 = m2};
    if ((int64_t)m2 * K2 >= 16384)
        nn_pool_run(pool, cvt_worker, &c);
    else
        cvt_worker(&c, 0, 1);
    struct bf16_job j = {
        .packed = packed,
        .xb = scratch,
        .b = b,
        .y = y,
        .n_in = n_in,
        .K2 = K2,
        .n_out = n_out,
        .n_tok = n_tok,
        .ldy = ldy,
        .n_mb = m2 / AMX_M,
        .n_pp = (int)(bf16_panels(n_out) / AMX_PAIRS),
    };
    atomic_init(&j.next, 0);
    nn_pool_fn fn = bf16_worker_generic;
#ifdef GEMM_AMX
    if (nn_gemm_amx_available())
        fn = bf16_worker_amx;
#endif
    if ((int64_t)j.n_mb * j.n_pp == 1)
        fn(&j, 0, 1);
    else
        nn_pool_run(pool, fn, &j);
}
