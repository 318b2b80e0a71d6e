/* avx512.h: the AVX-512 kernels of this folder that ops_avx512.c puts into the kernel table
 * (private to nn/arch/x86/avx512). */
#ifndef NN_ARCH_AVX512_H
#define NN_ARCH_AVX512_H

#include "core/vb.h"
#include "nn/conv_tile.h"
#include "nn/gemm.h"
#include "nn/scratch.h"
#include "nn/threadpool.h"
#include "nn/types.h"

/* gemm_avx512.c: 14 x 16 tiles and 12 x 32 two-panel tiles, F32 and F16 panels */
void nn_avx512_gemm_tile(int K, const float *const xr[NN_GEMM_MR_MAX], const void *pv, float *tile,
                         int64_t ldt);
void nn_avx512_gemm_tile_f16(int K, const float *const xr[NN_GEMM_MR_MAX], const void *pv,
                             float *tile, int64_t ldt);
void nn_avx512_gemm_tile_wide(int K, const float *const xr[NN_GEMM_MR_MAX], const void *pv,
                              float *tile, int64_t ldt);
void nn_avx512_gemm_tile_wide_f16(int K, const float *const xr[NN_GEMM_MR_MAX], const void *pv,
                                  float *tile, int64_t ldt);

/* activations_avx512.c, ops_vec_avx512.c, softmax_avx512.c: the element-wise kernels
 * (nn_op_kernels) */
void nn_avx512_snake(float *y, const float *x, int64_t n, float alpha);
void nn_avx512_gelu(float *x, int64_t n);
void nn_avx512_swiglu(float *gate, const float *up, int64_t n);
void nn_avx512_gelu_erf(float *x, int64_t n);
void nn_avx512_mish_fast(float *x, int64_t n);
/* norm_avx512.c */
void nn_avx512_layer_norm(float *y, const float *x, const float *w, const float *b, int n,
                          float eps);
void nn_avx512_softmax_row(float *s, const float *b, int n, float scale);
/* attn_batch_avx512.c: nn_attn_batch once its shapes are checked */
bool nn_avx512_attn_batch(struct nn_pool *pool, struct nn_scratch *scratch, const float *q,
                          int n_tok, int64_t pos0, const void *k, const void *v,
                          enum nn_type kv_type, int64_t kv_stride, int n_head, int n_head_kv,
                          int head_dim, float *out);
/* conv_tile_avx512.c */
void nn_avx512_conv_tile(const struct nn_conv_tile_shape *c, const float *wp, const float *x,
                         int64_t ldx, float *y, int64_t ldy, int rows, int cols, bool accumulate,
                         const float *bias);

#endif
