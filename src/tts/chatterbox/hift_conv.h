/* hift_conv.h: the 1-D convolutions of the HiFT vocoder as register-tiled direct convolutions
 * (8 output channels x 32 time steps per tile: the kernel table's, nn/conv_tile.h) over
 * channel-major activations with zeroed margins, threaded over (time block, channel block) pairs;
 * plus a transposed convolution (GEMM then overlap-add) and a strided one (im2col then GEMM). */
#ifndef CB_HIFT_CONV_H
#define CB_HIFT_CONV_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/conv_tile.h"
#include "nn/threadpool.h"

#define CB_HIFT_CONV_MR NN_CONV_TILE_MR /* output channels per tile */
#define CB_HIFT_CONV_NR NN_CONV_TILE_NR /* time steps per tile */

/* Stride-1 convolution with packed weights. */
struct cb_hift_conv {
    int c_in, c_out, k, dilation, pad;
    int n_blk; /* ceil(c_out / MR) */
    float *w;  /* packed (n_blk, k, c_in, MR); rows past c_out are zero; owned */
    float *b;  /* (c_out) or NULL; owned */
    /* Optional BF16 copy for Intel AMX (cb_hift_conv_use_bf16): per block of 32 output
     * channels, tap and block of 32 input channels, two 16 x 32 tiles; NULL = F32 only. */
    uint16_t *wb;
};

/* Packs w (c_out, c_in, k) in PyTorch layout and bias b (c_out, may be NULL). Release with
 * cb_hift_conv_release. VB_ERR_NOMEM if the packed copy cannot be allocated. */
VB_WUR enum vb_err cb_hift_conv_init(struct cb_hift_conv *c, const float *w, const float *b,
                                     int c_out, int c_in, int k, int dilation, int pad);
void cb_hift_conv_release(struct cb_hift_conv *c);
/* Makes cb_hift_conv_run compute this convolution in BF16 on Intel AMX (weights and inputs
 * rounded to bf16, F32 sums: ~3 significant digits) when the CPU has it, and frees the F32
 * weights (w = NULL; cb_hift_conv_run_ref then uses the bf16 values); otherwise, or for
 * fewer than 32 input or output channels, it stays F32 and this returns VB_OK doing nothing.
 * VB_ERR_NOMEM if the copy cannot be allocated (the F32 path still works). */
VB_WUR enum vb_err cb_hift_conv_use_bf16(struct cb_hift_conv *c);

/* Per-thread packing buffers of cb_hift_conv_run, grown on demand (caller-owned struct,
 * zero-initialised; release with cb_hift_scratch_release). */
struct cb_hift_scratch {
    float *data;
    size_t cap;    /* floats */
    void *bf;      /* BF16 path: the input as channel pairs */
    size_t bf_cap; /* bytes */
};
void cb_hift_scratch_release(struct cb_hift_scratch *s);

/* y[co][t] = (accumulate ? y[co][t] : 0) + b[co] + sum_ci,j w[co][ci][j] * x[ci][t - pad + j*dil]
 * for t in [0, t_out). x rows have stride ldx and must be readable (zero where the input is
 * padding) at offsets [-pad, t_out - pad + (k-1)*dil + NR) - the NR tail may be garbage, it
 * only feeds discarded lanes. y rows have stride ldy; only [0, t_out) is written. */
/* ws: with a scratch, each thread first copies its block of input rows contiguously (faster
 * for long rows); NULL reads x in place. VB_ERR_NOMEM only when the scratch cannot grow. */
VB_WUR enum vb_err cb_hift_conv_run(struct nn_pool *pool, const struct cb_hift_conv *c,
                                    const float *x, int64_t ldx, int64_t t_out, float *y,
                                    int64_t ldy, bool accumulate, struct cb_hift_scratch *ws);
/* Plain reference: same contract, no tiling (tests). */
void cb_hift_conv_run_ref(const struct cb_hift_conv *c, const float *x, int64_t ldx, int64_t t_out,
                          float *y, int64_t ldy, bool accumulate);

/* Transposed convolution y[o][t] = b[o] + sum_i,j x[i][s] w[i][o][j], t = s*stride + j - pad. */
struct cb_hift_convt {
    int c_in, c_out, k, stride, pad;
    struct cb_hift_conv gemm; /* (c_out*k) x c_in, kernel 1: z[(o,j)][s] */
    float *b;                 /* (c_out); owned */
};
/* w (c_in, c_out, k) in PyTorch ConvTranspose1d layout. */
VB_WUR enum vb_err cb_hift_convt_init(struct cb_hift_convt *c, const float *w, const float *b,
                                      int c_in, int c_out, int k, int stride, int pad);
void cb_hift_convt_release(struct cb_hift_convt *c);
/* Output length for t_in input steps. */
int64_t cb_hift_convt_len(const struct cb_hift_convt *c, int64_t t_in);
/* x (c_in rows, stride ldx, t_in valid, NR readable slack past t_in); z scratch of
 * cb_hift_convt_scratch floats; y (c_out rows, stride ldy). */
size_t cb_hift_convt_scratch(const struct cb_hift_convt *c, int64_t t_in);
VB_WUR enum vb_err cb_hift_convt_run(struct nn_pool *pool, const struct cb_hift_convt *c,
                                     const float *x, int64_t ldx, int64_t t_in, float *z, float *y,
                                     int64_t ldy, struct cb_hift_scratch *ws);

/* Strided convolution with zero padding: im2col into scratch, then a kernel-1 GEMM. */
struct cb_hift_convs {
    int c_in, c_out, k, stride, pad;
    struct cb_hift_conv gemm; /* c_out x (c_in*k), kernel 1 */
};
/* w (c_out, c_in, k). */
VB_WUR enum vb_err cb_hift_convs_init(struct cb_hift_convs *c, const float *w, const float *b,
                                      int c_out, int c_in, int k, int stride, int pad);
void cb_hift_convs_release(struct cb_hift_convs *c);
int64_t cb_hift_convs_len(const struct cb_hift_convs *c, int64_t t_in);
size_t cb_hift_convs_scratch(const struct cb_hift_convs *c, int64_t t_in);
/* x (c_in rows, stride ldx, t_in valid; no margins needed); y (c_out rows, stride ldy). */
VB_WUR enum vb_err cb_hift_convs_run(struct nn_pool *pool, const struct cb_hift_convs *c,
                                     const float *x, int64_t ldx, int64_t t_in, float *col,
                                     float *y, int64_t ldy, struct cb_hift_scratch *ws);

#endif
