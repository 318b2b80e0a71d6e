/* gemm.c: packed-panel F32 GEMM (Y = X W^T + b): the packing, the plain C register tiles and
 * the driver that threads over (panel, token block) tiles with the tile kernels of the ISA
 * the kernel table chose (nn/arch/x86/avx2, avx512: 6x16, 14x16 and 12x32 tiles). The BF16
 * panels are in gemm_bf16.c. */
#include "core/vb.h"
#include "nn/gemm.h"
#include "nn/fp16.h"
#include "nn/kernels.h"

#include <stdatomic.h>

#define MR      NN_GEMM_MR /* tokens per register tile (AVX2, generic); AVX-512 uses MR_MAX */
#define MR_MAX  NN_GEMM_MR_MAX
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
void nn_gemm_tile_ref(int K, const float *const xr[MR_MAX], const void *pv, float *tile,
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

void nn_gemm_tile_f16_ref(int K, const float *const xr[MR_MAX], const void *pv, float *tile,
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

struct gemm_job {
    nn_gemm_tile_fn kern;
    int mr;                /* tile height of kern (one panel wide) */
    nn_gemm_tile_fn kern2; /* optional two-panel kernel, tile height mr2 */
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
        const nn_gemm_tile_fn kern = wide ? j->kern2 : j->kern;
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
    const struct nn_op_kernels *ok = nn_op_kernels();
    struct gemm_job j = {
        .kern = ok->gemm[f16],
        .mr = ok->gemm_mr,
        .kern2 = ok->gemm_wide[f16],
        .mr2 = ok->gemm_wide_mr,
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
