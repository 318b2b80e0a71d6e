/* conv_tile.c: the plain C direct-convolution tile of the kernel table and the BF16 path's
 * input conversion, store and driver (see conv_tile.h; the AMX tiles are in
 * arch/x86/amx/conv_bf16_amx.c). */
#include "core/vb.h"
#include "nn/conv_tile.h"
#include "nn/fp16.h"

#define MR NN_CONV_TILE_MR
#define NR NN_CONV_TILE_NR
#define KC NN_CONV_TILE_KC
#define BM NN_CONV_BF16_BM
#define BT NN_CONV_BF16_BT
#define BK NN_CONV_BF16_BK

/* One tile: rows x cols outputs; x points at input step (t0 - pad) of channel 0. The sum over
 * (input channel, tap) runs in chunks of KC input channels whose partial sums are added into
 * the tile total: float error grows with the chunk length, not with c_in * k. */
void nn_conv_tile_ref(const struct nn_conv_tile_shape *c, const float *wp, const float *x,
                      int64_t ldx, float *y, int64_t ldy, int rows, int cols, bool accumulate,
                      const float *bias)
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

/* Input rows 2p, 2p+1 -> pair row p (zeros past the readable range and past c_in). */
static void pairs_worker(void *ctx, int ith, int nth)
{
    const struct nn_conv_bf16_job *j = ctx;
    const struct nn_conv_bf16 *c = j->c;
    const int n_pairs = j->n_kb * BK / 2;
    const int64_t valid = j->t_out + (int64_t)(c->k - 1) * c->dilation; /* readable steps */
    for (int p = ith; p < n_pairs; p += nth) {
        uint32_t *d = j->xp + (int64_t)p * j->ldp;
        const int c0 = 2 * p, c1 = 2 * p + 1;
        const float *r0 = c0 < c->c_in ? j->x + (int64_t)c0 * j->ldx - c->pad : NULL;
        const float *r1 = c1 < c->c_in ? j->x + (int64_t)c1 * j->ldx - c->pad : NULL;
        int64_t s = 0;
#ifdef NN_CONV_BF16_AMX
        s = nn_amx_conv_bf16_pairs(d, r0, r1, valid);
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
void nn_conv_bf16_store(const struct nn_conv_bf16_job *j, const float *acc, int co0, int64_t t0)
{
    const struct nn_conv_bf16 *c = j->c;
    const int rows = VB_MIN(BM, c->c_out - co0);
    const int cols = (int)VB_MIN((int64_t)BT, j->t_out - t0);
    for (int r = 0; r < rows; r++) {
        float *yr = j->y + (int64_t)(co0 + r) * j->ldy + t0;
        const float bv = c->b ? c->b[co0 + r] : 0.0f;
        for (int t = 0; t < cols; t++)
            yr[t] = (j->accumulate ? yr[t] : 0.0f) + acc[r * BT + t] + bv;
    }
}

void nn_conv_bf16_run(struct nn_pool *pool, struct nn_conv_bf16_job *j)
{
    nn_pool_run(pool, pairs_worker, j);
#ifdef NN_CONV_BF16_AMX
    atomic_init(&j->next, 0);
    nn_pool_run(pool, nn_amx_conv_bf16_worker, j);
#endif
}
