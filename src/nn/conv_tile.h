/* conv_tile.h: the kernels of register-tiled direct 1-D convolutions (the HiFT convolutions of
 * tts/chatterbox/hift_conv.c): an NN_CONV_TILE_MR x NN_CONV_TILE_NR output tile over packed
 * weights (kernel table: plain C, AVX2, AVX-512), and the BF16 path on Intel AMX units. */
#ifndef NN_CONV_TILE_H
#define NN_CONV_TILE_H

#include "core/vb.h"
#include "nn/threadpool.h"

#include <stdatomic.h>

#define NN_CONV_TILE_MR 8  /* output channels per tile */
#define NN_CONV_TILE_NR 32 /* time steps per tile */
#define NN_CONV_TILE_KC 64 /* input channels per partial sum */

/* What a tile needs of its convolution. */
struct nn_conv_tile_shape {
    int c_in, k, dilation;
};

/* One tile: rows x cols outputs of a block of NN_CONV_TILE_MR output channels with packed
 * weights wp ((k, c_in, MR) floats); x points at input step (t0 - pad) of channel 0, rows ldx
 * apart; y[r * ldy + t] = (accumulate ? y : 0) + (sum + bias[r]) (bias may be NULL). The sum
 * over (input channel, tap) runs in chunks of NN_CONV_TILE_KC input channels whose partial
 * sums are added into the tile total: float error grows with the chunk, not with c_in * k. */
typedef void (*nn_conv_tile_fn)(const struct nn_conv_tile_shape *c, const float *wp, const float *x,
                                int64_t ldx, float *y, int64_t ldy, int rows, int cols,
                                bool accumulate, const float *bias);
void nn_conv_tile_ref(const struct nn_conv_tile_shape *c, const float *wp, const float *x,
                      int64_t ldx, float *y, int64_t ldy, int rows, int cols, bool accumulate,
                      const float *bias);

/* ---- BF16 on AMX -----------------------------------------------------------------------
 * Output tile C[co][t] (16 x 16 F32) += A[co][ci] (16 x 32 bf16, one tap) . B[ci][t], with B
 * read straight from the input stored as channel pairs: B row p of a tile is the 16 steps of
 * the pair (2p, 2p+1) as bf16 pairs (64 bytes), so a tap is just an offset of j*dil steps. A
 * unit is 32 output channels x 32 steps: 4 C tiles, 2 A tiles, 2 B tiles per (tap, 32 input
 * channels). Weights wb: per block of BM output channels, tap and block of BK input channels,
 * BM x BK bf16. */
#define NN_CONV_BF16_BM 32 /* output channels per unit (two A tiles) */
#define NN_CONV_BF16_BT 32 /* steps per unit (two B tiles) */
#define NN_CONV_BF16_BK 32 /* input channels per K step */

struct nn_conv_bf16 {
    int c_in, c_out, k, dilation, pad;
    const uint16_t *wb;
    const float *b; /* (c_out) or NULL */
};

struct nn_conv_bf16_job {
    const struct nn_conv_bf16 *c;
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

/* Converts the input into channel pairs (j->xp), then runs every unit on the AMX tiles. Only
 * where nn_gemm_amx_available(). */
void nn_conv_bf16_run(struct nn_pool *pool, struct nn_conv_bf16_job *j);

#if defined(__x86_64__) && defined(__linux__)
#    define NN_CONV_BF16_AMX 1
/* arch/x86/amx/conv_bf16_amx.c */
/* 16 steps of two rows at a time -> bf16 pairs (round to nearest even); returns steps done */
int64_t nn_amx_conv_bf16_pairs(uint32_t *d, const float *r0, const float *r1, int64_t n);
/* y = (accumulate ? y : 0) + conv + b over the units of j (nn_pool worker) */
void nn_amx_conv_bf16_worker(void *ctx, int ith, int nth);
#endif
/* y = (accumulate ? y : 0) + acc + b for one unit, clipped (the same sums, in the same order,
 * wherever the unit lies) */
void nn_conv_bf16_store(const struct nn_conv_bf16_job *j, const float *acc, int co0, int64_t t0);

#endif
