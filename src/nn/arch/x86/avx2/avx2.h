/* avx2.h: the AVX2/FMA kernels of this folder that ops_avx2.c puts into the kernel table
 * (private to nn/arch/x86/avx2). */
#ifndef NN_ARCH_AVX2_H
#define NN_ARCH_AVX2_H

#include "core/vb.h"
#include "nn/conv_tile.h"
#include "nn/gemm.h"
#include "nn/scratch.h"
#include "nn/threadpool.h"
#include "nn/types.h"

/* gemm_avx2.c: 6 x 16 tiles, F32 and F16 panels */
void nn_avx2_gemm_tile(int K, const float *const xr[NN_GEMM_MR_MAX], const void *pv, float *tile,
                       int64_t ldt);
void nn_avx2_gemm_tile_f16(int K, const float *const xr[NN_GEMM_MR_MAX], const void *pv,
                           float *tile, int64_t ldt);

/* activations_avx2.c, ops_vec_avx2.c, softmax_avx2.c: the element-wise kernels (nn_op_kernels) */
void nn_avx2_snake(float *y, const float *x, int64_t n, float alpha);
void nn_avx2_gelu(float *x, int64_t n);
void nn_avx2_swiglu(float *gate, const float *up, int64_t n);
void nn_avx2_gelu_erf(float *x, int64_t n);
void nn_avx2_mish_fast(float *x, int64_t n);
void nn_avx2_softmax_row(float *s, const float *b, int n, float scale);
/* conv_tile_avx2.c */
void nn_avx2_conv_tile(const struct nn_conv_tile_shape *c, const float *wp, const float *x,
                       int64_t ldx, float *y, int64_t ldy, int rows, int cols, bool accumulate,
                       const float *bias);

#endif
