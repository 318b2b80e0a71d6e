/* conv.h: 1-D convolution and transposed convolution over channels-first f32 signals
 * (batch 1, x is (c_in, t) row-major, like a PyTorch (1, C, T) tensor), with stride, zero
 * padding (asymmetric allowed), dilation and groups; weights loaded by checkpoint name with
 * weight-norm folding (W = g * v / ||v||, norm over all dims but 0).
 *
 *   struct nn_conv1d c;
 *   struct nn_conv1d_params p = {.stride = 1, .pad_left = 3, .pad_right = 3, .dilation = 1,
 *                                .groups = 1};
 *   if (nn_conv1d_load(&c, st, "mel2wav.conv_pre", &p, why, sizeof why)) -> error
 *   int64_t t_out = nn_conv1d_out_len(&c, t_in);
 *   if (!nn_conv1d_forward(&c, pool, &ws, x, t_in, y)) -> out of memory
 *   nn_conv1d_release(&c); nn_conv_ws_release(&ws);
 */
#ifndef NN_CONV_H
#define NN_CONV_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/safetensors.h"
#include "nn/threadpool.h"

struct nn_conv1d_params {
    int stride;         /* >= 1 (0 means 1) */
    int pad_left;       /* conv: zeros before x; transposed: outputs cropped at the start */
    int pad_right;      /* conv: zeros after x;  transposed: outputs cropped at the end */
    int dilation;       /* >= 1 (0 means 1) */
    int groups;         /* >= 1 (0 means 1); divides c_in and c_out */
    int output_padding; /* transposed only: extra outputs at the end (PyTorch output_padding) */
};

/* Conv1d:          w (c_out, c_in/groups, k), as nn.Conv1d stores it.
 * ConvTranspose1d: w (c_in, c_out/groups, k), as nn.ConvTranspose1d stores it. */
struct nn_conv1d {
    bool transposed;
    int c_in, c_out, k;
    struct nn_conv1d_params p;
    float *w;  /* owned; layout above (effective weight, weight norm folded in) */
    float *b;  /* owned (c_out), or NULL: no bias */
    float *wp; /* owned; transposed with groups 1: (c_out*k, c_in) packed for nn_gemm; else NULL */
};

/* Scratch reused across calls (caller-owned; zero-initialise; grown on demand). */
struct nn_conv_ws {
    float *buf;
    size_t cap; /* floats */
};
void nn_conv_ws_release(struct nn_conv_ws *ws);

/* Loads the weight of `prefix` into a float array (caller frees with vb_free), accepting
 * "<prefix>.weight", "<prefix>.parametrizations.weight.original0/1" (g, v) or legacy
 * "<prefix>.weight_g/.weight_v", any float dtype; weight norm is folded over all dims but 0.
 * shape/n_dims receive the weight's shape. VB_ERR_NOT_FOUND when none of the names exist,
 * VB_ERR_FORMAT on bad shapes; why names the tensor. */
VB_WUR enum vb_err nn_st_load_weight(const struct nn_safetensors *st, const char *prefix,
                                     float **out, int64_t shape[NN_ST_MAX_DIMS], int *n_dims,
                                     char *why, size_t why_cap);
/* Loads any float tensor by exact name as a new f32 array (caller frees with vb_free), checking
 * its element count against `numel` when numel >= 0. */
VB_WUR enum vb_err nn_st_load_f32(const struct nn_safetensors *st, const char *name, int64_t numel,
                                  float **out, char *why, size_t why_cap);

/* Loads "<prefix>.weight" (or its weight-norm parts) and the optional "<prefix>.bias";
 * channel counts and kernel size come from the weight's shape. On error c is released. */
VB_WUR enum vb_err nn_conv1d_load(struct nn_conv1d *c, const struct nn_safetensors *st,
                                  const char *prefix, const struct nn_conv1d_params *p, char *why,
                                  size_t why_cap);
VB_WUR enum vb_err nn_convt1d_load(struct nn_conv1d *c, const struct nn_safetensors *st,
                                   const char *prefix, const struct nn_conv1d_params *p, char *why,
                                   size_t why_cap);
/* Takes ownership of w (layout above) and b (may be NULL), both from vb_try_malloc; frees them
 * on failure (VB_ERR_INVALID for bad sizes, VB_ERR_NOMEM). */
VB_WUR enum vb_err nn_conv1d_init(struct nn_conv1d *c, bool transposed, int c_in, int c_out, int k,
                                  const struct nn_conv1d_params *p, float *w, float *b);
void nn_conv1d_release(struct nn_conv1d *c);

/* Output length for t_in input frames (0 when the input is too short). */
int64_t nn_conv1d_out_len(const struct nn_conv1d *c, int64_t t_in);
/* y (c_out, t_out) = conv(x (c_in, t_in)); x and y must not overlap. groups 1: im2col blocks
 * through nn_gemm; grouped/depthwise: direct loops threaded over output channels. false only
 * on OOM (of the workspace). */
VB_WUR bool nn_conv1d_forward(const struct nn_conv1d *c, struct nn_pool *pool,
                              struct nn_conv_ws *ws, const float *x, int64_t t_in, float *y);
/* nn_gemm_pack_t (src: K rows of n, row stride ld) split over the pool by panels. */
void nn_gemm_pack_t_pool(struct nn_pool *pool, float *dst, const float *src, int K, int n,
                         int64_t ld);
/* Plain direct-loop reference (double accumulation), for tests. */
void nn_conv1d_forward_ref(const struct nn_conv1d *c, const float *x, int64_t t_in, float *y);

#endif
