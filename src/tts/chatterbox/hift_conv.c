/* hift_conv.c: register-tiled direct 1-D convolutions for HiFT (see hift_conv.h). */
#include "core/vb.h"
#include "tts/chatterbox/hift_conv.h"
#include "core/alloc.h"
#include "nn/fp16.h"
#include "nn/gemm.h"
#include "nn/kernels.h"

#include <stdatomic.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#    include <immintrin.h>
#    define HAVE_X86 1
#else
#    define HAVE_X86 0
#endif
#if HAVE_X86 && defined(__linux__)
#    include "nn/amx.h"
#    define HAVE_AMX 1
#else
#    define HAVE_AMX 0
#endif

#define MR     CB_HIFT_CONV_MR
#define NR     CB_HIFT_CONV_NR
#define TBLOCK (8 * NR) /* time steps per unit of threaded work */
#define KC     64       /* input channels per partial sum */

enum vb_err cb_hift_conv_init(struct cb_hift_conv *c, const float *w, const float *b, int c_out,
                              int c_in, int k, int dilation, int pad)
{
    memset(c, 0, sizeof *c);
    if (c_out <= 0 || c_in <= 0 || k <= 0 || dilation <= 0 || pad < 0)
        return VB_ERR_INVALID;
    c->c_in = c_in;
    c->c_out = c_out;
    c->k = k;
    c->dilation = dilation;
    c->pad = pad;
    c->n_blk = (c_out + MR - 1) / MR;
    size_t n = (size_t)c->n_blk * (size_t)k * (size_t)c_in * MR;
    c->w = vb_try_calloc(n, sizeof *c->w);
    if (!c->w)
        return VB_ERR_NOMEM;
    if (b) {
        c->b = vb_try_malloc((size_t)c_out * sizeof *c->b);
        if (!c->b) {
            cb_hift_conv_release(c);
            return VB_ERR_NOMEM;
        }
        memcpy(c->b, b, (size_t)c_out * sizeof *c->b);
    }
    for (int co = 0; co < c_out; co++) {
        int blk = co / MR, r = co % MR;
        for (int ci = 0; ci < c_in; ci++)
            for (int j = 0; j < k; j++)
                c->w[(((size_t)blk * k + j) * c_in + ci) * MR + r] =
                    w[((size_t)co * c_in + ci) * k + j];
    }
    return VB_OK;
}

void cb_hift_conv_release(struct cb_hift_conv *c)
{
    if (!c)
        return;
    vb_free(c->w);
    vb_free(c->b);
    vb_free(c->wb);
    memset(c, 0, sizeof *c);
}

/* One tile: rows x cols outputs; x points at input step (t0 - pad) of channel 0. The sum over
 * (input channel, tap) runs in chunks of KC input channels whose partial sums are added into
 * the tile total: float error grows with the chunk length, not with c_in * k. */
static void tile_c(const struct cb_hift_conv *c, const float *wp, const float *x, int64_t ldx,
                   float *y, int64_t ldy, int rows, int cols, bool accumulate, const float *bias)
{
    float tot[MR][NR], a[MR][NR];
    memset(tot, 0, sizeof tot);
    for (int c0 = 0; c0 < c->c_in; c0 += KC) {
        int c1 = VB_MIN(c->c_in, c0 + KC);
        memset(a, 0, sizeof a);
        for (int j = 0; j < c->k; j++) {
            for (int ci = c0; ci < c1; ci++) {
                const float *xr = x + (int64_t)ci * ldx + (int64_t)j * c->dilation;
                const float *w = wp + ((size_t)j * c->c_in + ci) * MR;
                for (int r = 0; r < MR; r++)
                    for (int t = 0; t < NR; t++)
                        a[r][t] += w[r] * xr[t];
            }
        }
        for (int r = 0; r < MR; r++)
            for (int t = 0; t < NR; t++)
                tot[r][t] += a[r][t];
    }
    for (int r = 0; r < rows; r++) {
        float bv = bias ? bias[r] : 0.0f;
        float *yr = y + (int64_t)r * ldy;
        for (int t = 0; t < cols; t++)
            yr[t] = (accumulate ? yr[t] : 0.0f) + (tot[r][t] + bv);
    }
}

#if HAVE_X86
#    define FMA_ROW(r)                                                                             \
        do {                                                                                       \
            __m512 wv = _mm512_set1_ps(w[r]);                                                      \
            a##r##0 = _mm512_fmadd_ps(wv, x0, a##r##0);                                            \
            a##r##1 = _mm512_fmadd_ps(wv, x1, a##r##1);                                            \
        } while (0)
#    define ADD_ROW(r)                                                                             \
        do {                                                                                       \
            _mm512_storeu_ps(tot[r], _mm512_add_ps(_mm512_loadu_ps(tot[r]), a##r##0));             \
            _mm512_storeu_ps(tot[r] + 16, _mm512_add_ps(_mm512_loadu_ps(tot[r] + 16), a##r##1));   \
        } while (0)

__attribute__((target("avx512f"))) static void
tile_avx512(const struct cb_hift_conv *c, const float *wp, const float *x, int64_t ldx, float *y,
            int64_t ldy, int rows, int cols, bool accumulate, const float *bias)
{
    float tot[MR][NR] __attribute__((aligned(64)));
    memset(tot, 0, sizeof tot);
    const int c_in = c->c_in;
    for (int c0 = 0; c0 < c_in; c0 += KC) {
        int c1 = VB_MIN(c_in, c0 + KC);
        __m512 a00 = _mm512_setzero_ps(), a01 = _mm512_setzero_ps();
        __m512 a10 = _mm512_setzero_ps(), a11 = _mm512_setzero_ps();
        __m512 a20 = _mm512_setzero_ps(), a21 = _mm512_setzero_ps();
        __m512 a30 = _mm512_setzero_ps(), a31 = _mm512_setzero_ps();
        __m512 a40 = _mm512_setzero_ps(), a41 = _mm512_setzero_ps();
        __m512 a50 = _mm512_setzero_ps(), a51 = _mm512_setzero_ps();
        __m512 a60 = _mm512_setzero_ps(), a61 = _mm512_setzero_ps();
        __m512 a70 = _mm512_setzero_ps(), a71 = _mm512_setzero_ps();
        for (int j = 0; j < c->k; j++) {
            const float *xj = x + (int64_t)j * c->dilation + (int64_t)c0 * ldx;
            const float *w = wp + ((size_t)j * c_in + c0) * MR;
            for (int ci = c0; ci < c1; ci++, w += MR, xj += ldx) {
                __m512 x0 = _mm512_loadu_ps(xj), x1 = _mm512_loadu_ps(xj + 16);
                FMA_ROW(0);
                FMA_ROW(1);
                FMA_ROW(2);
                FMA_ROW(3);
                FMA_ROW(4);
                FMA_ROW(5);
                FMA_ROW(6);
                FMA_ROW(7);
            }
        }
        ADD_ROW(0);
        ADD_ROW(1);
        ADD_ROW(2);
        ADD_ROW(3);
        ADD_ROW(4);
        ADD_ROW(5);
        ADD_ROW(6);
        ADD_ROW(7);
    }
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1u);
    int c1 = cols - 16;
    __mmask16 m1 = c1 >= 16 ? (__mmask16)0xFFFF : c1 > 0 ? (__mmask16)((1u << c1) - 1u) : 0;
    for (int r = 0; r < rows; r++) {
        __m512 bv = _mm512_set1_ps(bias ? bias[r] : 0.0f);
        float *yr = y + (int64_t)r * ldy;
        __m512 v0 = _mm512_add_ps(_mm512_load_ps(tot[r]), bv);
        __m512 v1 = _mm512_add_ps(_mm512_load_ps(tot[r] + 16), bv);
        if (accumulate) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yr), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yr + 16), v1);
        }
        _mm512_mask_storeu_ps(yr, m0, v0);
        _mm512_mask_storeu_ps(yr + 16, m1, v1);
    }
}
#endif

#if HAVE_X86
/* AVX2/FMA: the 8 x 32 tile as four 4-row x 16-step passes (11 of the 16 ymm registers). */
__attribute__((target("avx2,fma"))) static void
tile_avx2(const struct cb_hift_conv *c, const float *wp, const float *x, int64_t ldx, float *y,
          int64_t ldy, int rows, int cols, bool accumulate, const float *bias)
{
    float tot[MR][NR] __attribute__((aligned(32)));
    memset(tot, 0, sizeof tot);
    const int c_in = c->c_in;
    for (int rh = 0; rh < MR; rh += 4) {
        for (int ch = 0; ch < NR; ch += 16) {
            for (int c0 = 0; c0 < c_in; c0 += KC) {
                int c1 = VB_MIN(c_in, c0 + KC);
                __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps();
                __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
                __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps();
                __m256 a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
                for (int j = 0; j < c->k; j++) {
                    const float *xj = x + (int64_t)j * c->dilation + (int64_t)c0 * ldx + ch;
                    const float *w = wp + ((size_t)j * c_in + c0) * MR + rh;
                    for (int ci = c0; ci < c1; ci++, w += MR, xj += ldx) {
                        __m256 x0 = _mm256_loadu_ps(xj), x1 = _mm256_loadu_ps(xj + 8);
                        __m256 wv = _mm256_broadcast_ss(w);
                        a00 = _mm256_fmadd_ps(wv, x0, a00);
                        a01 = _mm256_fmadd_ps(wv, x1, a01);
                        wv = _mm256_broadcast_ss(w + 1);
                        a10 = _mm256_fmadd_ps(wv, x0, a10);
                        a11 = _mm256_fmadd_ps(wv, x1, a11);
                        wv = _mm256_broadcast_ss(w + 2);
                        a20 = _mm256_fmadd_ps(wv, x0, a20);
                        a21 = _mm256_fmadd_ps(wv, x1, a21);
                        wv = _mm256_broadcast_ss(w + 3);
                        a30 = _mm256_fmadd_ps(wv, x0, a30);
                        a31 = _mm256_fmadd_ps(wv, x1, a31);
                    }
                }
                __m256 acc[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
                for (int r = 0; r < 4; r++)
                    for (int h = 0; h < 2; h++) {
                        float *tp = &tot[rh + r][ch + 8 * h];
                        _mm256_store_ps(tp, _mm256_add_ps(_mm256_load_ps(tp), acc[r][h]));
                    }
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        float bv = bias ? bias[r] : 0.0f;
        float *yr = y + (int64_t)r * ldy;
        for (int t = 0; t < cols; t++)
            yr[t] = (accumulate ? yr[t] : 0.0f) + (tot[r][t] + bv);
    }
}
#endif

typedef void (*tile_fn)(const struct cb_hift_conv *c, const float *wp, const float *x, int64_t ldx,
                        float *y, int64_t ldy, int rows, int cols, bool accumulate,
                        const float *bias);

static tile_fn pick_tile(void)
{
#if HAVE_X86
    if (nn_kernels_isa() >= NN_ISA_AVX512)
        return tile_avx512;
    if (nn_kernels_isa() >= NN_ISA_AVX2)
        return tile_avx2;
#endif
    return tile_c;
}

struct conv_job {
    const struct cb_hift_conv *c;
    const float *x;
    int64_t ldx, t_out;
    float *y;
    int64_t ldy;
    bool accumulate;
    int64_t n_tblk;
    int n_split; /* channel-block ranges per time block */
    float *pack; /* per-thread packed input blocks, pack_stride floats each; NULL = direct */
    size_t pack_stride;
    int64_t pld; /* row stride of a packed block */
    tile_fn tile;
    atomic_llong next; /* next unit to take: threads that run late take fewer */
};

static int64_t pack_ld(const struct cb_hift_conv *c)
{
    return (TBLOCK + (int64_t)(c->k - 1) * c->dilation + NR + 15) / 16 * 16;
}

static void conv_worker(void *ctx, int ith, int nth)
{
    struct conv_job *j = ctx;
    const struct cb_hift_conv *c = j->c;
    (void)nth;
    int64_t units = j->n_tblk * j->n_split, packed_tb = -1;
    float *pack = j->pack ? j->pack + (size_t)ith * j->pack_stride : NULL;
    for (;;) {
        int64_t u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= units)
            break;
        int64_t tb = u / j->n_split;
        int part = (int)(u % j->n_split);
        int b0 = c->n_blk * part / j->n_split, b1 = c->n_blk * (part + 1) / j->n_split;
        int64_t t_beg = tb * TBLOCK, t_end = VB_MIN(j->t_out, (tb + 1) * TBLOCK);
        const float *xs = j->x + t_beg - c->pad; /* input of step t_beg, channel 0 */
        int64_t ldx = j->ldx;
        if (pack) {
            /* Copy the block's input window (rows ci, steps t_beg - pad ..) contiguously: short
             * row strides keep the tile's loads prefetchable and within a few pages. */
            int64_t len = (t_end - t_beg) + (int64_t)(c->k - 1) * c->dilation + NR;
            if (packed_tb != tb) {
                for (int ci = 0; ci < c->c_in; ci++)
                    memcpy(pack + (int64_t)ci * j->pld, xs + (int64_t)ci * j->ldx,
                           (size_t)len * sizeof *pack);
                packed_tb = tb;
            }
            xs = pack;
            ldx = j->pld;
        }
        for (int blk = b0; blk < b1; blk++) {
            int rows = VB_MIN(MR, c->c_out - blk * MR);
            const float *wp = c->w + (size_t)blk * c->k * c->c_in * MR;
            const float *bias = c->b ? c->b + blk * MR : NULL;
            float *yb = j->y + (int64_t)blk * MR * j->ldy;
            for (int64_t t0 = t_beg; t0 < t_end; t0 += NR) {
                int cols = (int)VB_MIN(NR, t_end - t0);
                j->tile(c, wp, xs + (t0 - t_beg), ldx, yb + t0, j->ldy, rows, cols, j->accumulate,
                        bias);
            }
        }
    }
}

void cb_hift_scratch_release(struct cb_hift_scratch *s)
{
    if (!s)
        return;
    vb_free(s->data);
    s->data = NULL;
    s->cap = 0;
    vb_free(s->bf);
    s->bf = NULL;
    s->bf_cap = 0;
}

/* Grows *buf (old contents dropped) to hold need elements of es bytes; *cap counts elements.
 * false on OOM (*buf unchanged). */
static bool grow(void **buf, size_t *cap, size_t need, size_t es)
{
    if (*cap >= need)
        return true;
    void *p = vb_try_malloc(need * es);
    if (!p)
        return false;
    vb_free(*buf);
    *buf = p;
    *cap = need;
    return true;
}

/* ---- BF16 on AMX ------------------------------------------------------------------------
 * Output tile C[co][t] (16 x 16 F32) += A[co][ci] (16 x 32 bf16, one tap) . B[ci][t], with B
 * read straight from the input stored as channel pairs: B row p of a tile is the 16 steps of
 * the pair (2p, 2p+1) as bf16 pairs (64 bytes), so a tap is just an offset of j*dil steps. A
 * unit is 32 output channels x 32 steps: 4 C tiles, 2 A tiles, 2 B tiles per (tap, 32 input
 * channels). */

#define BM 32 /* output channels per unit (two A tiles) */
#define BT 32 /* steps per unit (two B tiles) */
#define BK 32 /* input channels per K step */

static int ceil_to(int v, int m)
{
    return (v + m - 1) / m * m;
}

/* Weight (co, ci, tap j) from the F32 packing, or from the BF16 tiles once only they remain. */
static float w_at(const struct cb_hift_conv *c, int co, int ci, int j)
{
    if (c->w)
        return c->w[(((size_t)(co / MR) * c->k + j) * c->c_in + ci) * MR + co % MR];
    const int n_kb = ceil_to(c->c_in, BK) / BK;
    const size_t blk = ((size_t)(co / BM) * c->k + j) * n_kb + (size_t)(ci / BK);
    return nn_bf16_to_fp32(c->wb[blk * BM * BK + (size_t)(co % BM) * BK + ci % BK]);
}

enum vb_err cb_hift_conv_use_bf16(struct cb_hift_conv *c)
{
    if (c->wb || !nn_gemm_amx_available() || c->c_in < BK || c->c_out < BM)
        return VB_OK;
    const int n_cb = ceil_to(c->c_out, BM) / BM, n_kb = ceil_to(c->c_in, BK) / BK;
    uint16_t *wb = vb_try_malloc((size_t)n_cb * c->k * n_kb * BM * BK * sizeof *wb);
    if (!wb)
        return VB_ERR_NOMEM;
    uint16_t *d = wb;
    for (int cb = 0; cb < n_cb; cb++)
        for (int j = 0; j < c->k; j++)
            for (int kb = 0; kb < n_kb; kb++)
                for (int r = 0; r < BM; r++) /* tile rows: output channels */
                    for (int kk = 0; kk < BK; kk++) {
                        const int co = cb * BM + r, ci = kb * BK + kk;
                        *d++ =
                            co < c->c_out && ci < c->c_in ? nn_fp32_to_bf16(w_at(c, co, ci, j)) : 0;
                    }
    c->wb = wb;
    vb_free(c->w); /* BF16 from now on: the F32 copy would only cost memory */
    c->w = NULL;
    return VB_OK;
}

struct bf_job {
    const struct cb_hift_conv *c;
    const float *x; /* input step 0 of channel 0 */
    int64_t ldx, t_out, len;
    uint32_t *xp; /* (n_pairs, ldp) bf16 pairs, step s <-> input step s - pad */
    int64_t ldp;
    float *y;
    int64_t ldy;
    bool accumulate;
    int n_cb, n_tb, n_kb;
    atomic_llong next;
};

#if HAVE_AMX
/* 16 steps of two rows at a time -> bf16 pairs (round to nearest even); returns steps done */
__attribute__((target("avx512f,avx512bw,avx512bf16"))) static int64_t
bf_pairs_avx512(uint32_t *d, const float *r0, const float *r1, int64_t n)
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
#endif

/* Input rows 2p, 2p+1 -> pair row p (zeros past the readable range and past c_in). */
static void bf_pairs_worker(void *ctx, int ith, int nth)
{
    const struct bf_job *j = ctx;
    const struct cb_hift_conv *c = j->c;
    const int n_pairs = j->n_kb * BK / 2;
    const int64_t valid = j->t_out + (int64_t)(c->k - 1) * c->dilation; /* readable steps */
    for (int p = ith; p < n_pairs; p += nth) {
        uint32_t *d = j->xp + (int64_t)p * j->ldp;
        const int c0 = 2 * p, c1 = 2 * p + 1;
        const float *r0 = c0 < c->c_in ? j->x + (int64_t)c0 * j->ldx - c->pad : NULL;
        const float *r1 = c1 < c->c_in ? j->x + (int64_t)c1 * j->ldx - c->pad : NULL;
        int64_t s = 0;
#if HAVE_AMX
        s = bf_pairs_avx512(d, r0, r1, valid);
#endif
        for (; s < valid; s++)
            d[s] = (uint32_t)(r0 ? nn_fp32_to_bf16(r0[s]) : 0) |
                   (uint32_t)(r1 ? nn_fp32_to_bf16(r1[s]) : 0) << 16;
        for (; s < j->ldp; s++)
            d[s] = 0;
    }
}

/* y = (accumulate ? y : 0) + acc + b for one unit, clipped (the same sums, in the same order,
 * wherever the unit lies) */
static void bf_store(const struct bf_job *j, const float *acc, int co0, int64_t t0)
{
    const struct cb_hift_conv *c = j->c;
    const int rows = VB_MIN(BM, c->c_out - co0);
    const int cols = (int)VB_MIN((int64_t)BT, j->t_out - t0);
    for (int r = 0; r < rows; r++) {
        float *yr = j->y + (int64_t)(co0 + r) * j->ldy + t0;
        const float bv = c->b ? c->b[co0 + r] : 0.0f;
        for (int t = 0; t < cols; t++)
            yr[t] = (j->accumulate ? yr[t] : 0.0f) + acc[r * BT + t] + bv;
    }
}

#if HAVE_AMX
__attribute__((target("amx-tile,amx-bf16,avx512f"))) static void bf_worker(void *ctx, int ith,
                                                                           int nth)
{
    struct bf_job *j = ctx;
    const struct cb_hift_conv *c = j->c;
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
            bf_store(j, acc, co0, t0);
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

/* The BF16 path; false when it does not apply (no copy, no AMX). */
static bool conv_run_bf16(struct nn_pool *pool, const struct cb_hift_conv *c, const float *x,
                          int64_t ldx, int64_t t_out, float *y, int64_t ldy, bool accumulate,
                          struct cb_hift_scratch *ws, enum vb_err *err)
{
#if HAVE_AMX
    if (!c->wb || !nn_gemm_amx_available())
        return false;
    if (!ws) { /* a one-off scratch (the F32 weights are gone) */
        struct cb_hift_scratch tmp = {0};
        conv_run_bf16(pool, c, x, ldx, t_out, y, ldy, accumulate, &tmp, err);
        cb_hift_scratch_release(&tmp);
        return true;
    }
    struct bf_job j = {.c = c,
                       .x = x,
                       .ldx = ldx,
                       .t_out = t_out,
                       .y = y,
                       .ldy = ldy,
                       .accumulate = accumulate,
                       .n_cb = ceil_to(c->c_out, BM) / BM,
                       .n_tb = (int)((t_out + BT - 1) / BT),
                       .n_kb = ceil_to(c->c_in, BK) / BK};
    /* steps a unit's B tiles reach: the last unit's end plus the taps, rounded for alignment */
    j.ldp = ((int64_t)j.n_tb * BT + (int64_t)(c->k - 1) * c->dilation + 15) / 16 * 16;
    const size_t need = (size_t)j.n_kb * (BK / 2) * (size_t)j.ldp * sizeof(uint32_t);
    if (!grow(&ws->bf, &ws->bf_cap, need, 1)) {
        *err = VB_ERR_NOMEM;
        return true;
    }
    j.xp = ws->bf;
    nn_pool_run(pool, bf_pairs_worker, &j);
    atomic_init(&j.next, 0);
    nn_pool_run(pool, bf_worker, &j);
    *err = VB_OK;
    return true;
#else
    (void)pool, (void)c, (void)x, (void)ldx, (void)t_out, (void)y, (void)ldy, (void)accumulate;
    (void)ws, (void)err;
    return false;
#endif
}

enum vb_err cb_hift_conv_run(struct nn_pool *pool, const struct cb_hift_conv *c, const float *x,
                             int64_t ldx, int64_t t_out, float *y, int64_t ldy, bool accumulate,
                             struct cb_hift_scratch *ws)
{
    if (t_out <= 0)
        return VB_OK;
    enum vb_err bf_err;
    if (conv_run_bf16(pool, c, x, ldx, t_out, y, ldy, accumulate, ws, &bf_err))
        return bf_err;
    int nth = nn_pool_threads(pool);
    struct conv_job j = {
        .c = c,
        .x = x,
        .ldx = ldx,
        .t_out = t_out,
        .y = y,
        .ldy = ldy,
        .accumulate = accumulate,
        .n_tblk = (t_out + TBLOCK - 1) / TBLOCK,
        .tile = pick_tile(),
    };
    atomic_init(&j.next, 0);
    /* Enough units for every thread: split the channel blocks when time blocks are few. */
    j.n_split = 1;
    if (nth > 1)
        while (j.n_tblk * j.n_split < 8 * nth && j.n_split < c->n_blk)
            j.n_split++;
    if (ws) {
        j.pld = pack_ld(c);
        j.pack_stride = (size_t)c->c_in * (size_t)j.pld;
        size_t need = j.pack_stride * (size_t)nth;
        void *data = ws->data;
        if (!grow(&data, &ws->cap, need, sizeof(float)))
            return VB_ERR_NOMEM;
        ws->data = data;
        j.pack = ws->data;
    }
    nn_pool_run(pool, conv_worker, &j);
    return VB_OK;
}

void cb_hift_conv_run_ref(const struct cb_hift_conv *c, const float *x, int64_t ldx, int64_t t_out,
                          float *y, int64_t ldy, bool accumulate)
{
    for (int co = 0; co < c->c_out; co++) {
        for (int64_t t = 0; t < t_out; t++) {
            double s = c->b ? c->b[co] : 0.0;
            for (int ci = 0; ci < c->c_in; ci++)
                for (int j = 0; j < c->k; j++)
                    s += (double)w_at(c, co, ci, j) *
                         x[(int64_t)ci * ldx + t - c->pad + (int64_t)j * c->dilation];
            float *yo = &y[(int64_t)co * ldy + t];
            *yo = (accumulate ? *yo : 0.0f) + (float)s;
        }
    }
}

/* ---- transposed ------------------------------------------------------------------------- */

enum vb_err cb_hift_convt_init(struct cb_hift_convt *c, const float *w, const float *b, int c_in,
                               int c_out, int k, int stride, int pad)
{
    enum vb_err err = VB_OK;
    float *wt = NULL;
    memset(c, 0, sizeof *c);
    if (c_in <= 0 || c_out <= 0 || k <= 0 || stride <= 0 || pad < 0)
        return VB_ERR_INVALID;
    c->c_in = c_in;
    c->c_out = c_out;
    c->k = k;
    c->stride = stride;
    c->pad = pad;
    /* GEMM weights: row (o*k + j), column i = w[i][o][j]. */
    wt = vb_try_malloc((size_t)c_out * k * c_in * sizeof *wt);
    c->b = vb_try_calloc((size_t)c_out, sizeof *c->b);
    if (!wt || !c->b) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    if (b)
        memcpy(c->b, b, (size_t)c_out * sizeof *c->b);
    for (int i = 0; i < c_in; i++)
        for (int o = 0; o < c_out; o++)
            for (int j = 0; j < k; j++)
                wt[((size_t)o * k + j) * c_in + i] = w[((size_t)i * c_out + o) * k + j];
    err = cb_hift_conv_init(&c->gemm, wt, NULL, c_out * k, c_in, 1, 1, 0);
out:
    vb_free(wt);
    if (err)
        cb_hift_convt_release(c);
    return err;
}

void cb_hift_convt_release(struct cb_hift_convt *c)
{
    if (!c)
        return;
    cb_hift_conv_release(&c->gemm);
    vb_free(c->b);
    memset(c, 0, sizeof *c);
}

int64_t cb_hift_convt_len(const struct cb_hift_convt *c, int64_t t_in)
{
    return (t_in - 1) * c->stride - 2 * c->pad + c->k;
}

size_t cb_hift_convt_scratch(const struct cb_hift_convt *c, int64_t t_in)
{
    return (size_t)c->c_out * c->k * (size_t)t_in;
}

struct ola_job {
    const struct cb_hift_convt *c;
    const float *z;
    int64_t t_in, t_out;
    float *y;
    int64_t ldy;
};

static void ola_worker(void *ctx, int ith, int nth)
{
    struct ola_job *j = ctx;
    const struct cb_hift_convt *c = j->c;
    int o0 = c->c_out * ith / nth, o1 = c->c_out * (ith + 1) / nth;
    for (int o = o0; o < o1; o++) {
        float *yr = j->y + (int64_t)o * j->ldy;
        for (int64_t t = 0; t < j->t_out; t++)
            yr[t] = c->b[o];
        for (int k = 0; k < c->k; k++) {
            const float *zr = j->z + ((int64_t)o * c->k + k) * j->t_in;
            for (int64_t s = 0; s < j->t_in; s++) {
                int64_t t = s * c->stride + k - c->pad;
                if (t >= 0 && t < j->t_out)
                    yr[t] += zr[s];
            }
        }
    }
}

enum vb_err cb_hift_convt_run(struct nn_pool *pool, const struct cb_hift_convt *c, const float *x,
                              int64_t ldx, int64_t t_in, float *z, float *y, int64_t ldy,
                              struct cb_hift_scratch *ws)
{
    enum vb_err err = cb_hift_conv_run(pool, &c->gemm, x, ldx, t_in, z, t_in, false, ws);
    if (err)
        return err;
    struct ola_job j = {
        .c = c, .z = z, .t_in = t_in, .t_out = cb_hift_convt_len(c, t_in), .y = y, .ldy = ldy};
    nn_pool_run(pool, ola_worker, &j);
    return VB_OK;
}

/* ---- strided ---------------------------------------------------------------------------- */

enum vb_err cb_hift_convs_init(struct cb_hift_convs *c, const float *w, const float *b, int c_out,
                               int c_in, int k, int stride, int pad)
{
    memset(c, 0, sizeof *c);
    if (c_in <= 0 || c_out <= 0 || k <= 0 || stride <= 0 || pad < 0)
        return VB_ERR_INVALID;
    c->c_in = c_in;
    c->c_out = c_out;
    c->k = k;
    c->stride = stride;
    c->pad = pad;
    /* (c_out, c_in, k) is already (c_out, c_in*k) row-major. */
    return cb_hift_conv_init(&c->gemm, w, b, c_out, c_in * k, 1, 1, 0);
}

void cb_hift_convs_release(struct cb_hift_convs *c)
{
    if (!c)
        return;
    cb_hift_conv_release(&c->gemm);
    memset(c, 0, sizeof *c);
}

int64_t cb_hift_convs_len(const struct cb_hift_convs *c, int64_t t_in)
{
    return (t_in + 2 * c->pad - c->k) / c->stride + 1;
}

static int64_t col_ld(int64_t t_out)
{
    return t_out + NR;
}

size_t cb_hift_convs_scratch(const struct cb_hift_convs *c, int64_t t_in)
{
    return ((size_t)c->c_in * c->k + 1) * (size_t)col_ld(cb_hift_convs_len(c, t_in));
}

enum vb_err cb_hift_convs_run(struct nn_pool *pool, const struct cb_hift_convs *c, const float *x,
                              int64_t ldx, int64_t t_in, float *col, float *y, int64_t ldy,
                              struct cb_hift_scratch *ws)
{
    int64_t t_out = cb_hift_convs_len(c, t_in), ld = col_ld(t_out);
    for (int ci = 0; ci < c->c_in; ci++)
        for (int j = 0; j < c->k; j++) {
            float *cr = col + ((int64_t)ci * c->k + j) * ld;
            const float *xr = x + (int64_t)ci * ldx;
            for (int64_t t = 0; t < t_out; t++) {
                int64_t s = t * c->stride + j - c->pad;
                cr[t] = s >= 0 && s < t_in ? xr[s] : 0.0f;
            }
            memset(cr + t_out, 0, (size_t)(ld - t_out) * sizeof *cr);
        }
    memset(col + (int64_t)c->c_in * c->k * ld, 0, (size_t)ld * sizeof *col);
    return cb_hift_conv_run(pool, &c->gemm, col, ld, t_out, y, ldy, false, ws);
}
