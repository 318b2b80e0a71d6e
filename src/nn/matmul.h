/* matmul.h: y = W x for a batch of activation rows, W a (possibly quantised) weight matrix
 * of any matmul type. The activations are converted once to the kernel's vec-dot type, then
 * output rows are split across the pool's threads. */
#ifndef NN_MATMUL_H
#define NN_MATMUL_H

#include "core/vb.h"
#include "nn/scratch.h"
#include "nn/threadpool.h"
#include "nn/types.h"

/* W: {n_in, n_out} (ne[0] = n_in); x: n_tok rows of n_in floats (stride n_in);
 * y: n_tok rows of n_out floats (stride ldy >= n_out). Returns false on OOM for the scratch
 * (the only failure). */
VB_WUR bool nn_matmul(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                      const float *x, int n_tok, float *y, int64_t ldy);

/* Same on a row range [r0, r1) of W (used for e.g. partial vocabularies); y has stride ldy and
 * receives outputs r0..r1-1 at columns 0..r1-r0-1. */
VB_WUR bool nn_matmul_rows(struct nn_pool *pool, struct nn_scratch *scratch,
                           const struct nn_tensor *w, int64_t r0, int64_t r1, const float *x,
                           int n_tok, float *y, int64_t ldy);

/* Reference: dequantise each weight row and accumulate in double (tests). */
void nn_matmul_ref(const struct nn_tensor *w, const float *x, int n_tok, float *y, int64_t ldy);

#endif
