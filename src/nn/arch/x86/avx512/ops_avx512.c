/* ops_avx512.c: the AVX-512 row of the kernel table's other kernels (nn_op_kernels). */
#include "core/vb.h"
#include "nn/arch/x86/avx512/avx512.h"
#include "nn/kernels.h"

void nn_avx512_op_kernels(struct nn_op_kernels *o)
{
    o->gemm[0] = nn_avx512_gemm_tile;
    o->gemm[1] = nn_avx512_gemm_tile_f16;
    o->gemm_mr = NN_GEMM_MR_MAX;
    o->gemm_wide[0] = nn_avx512_gemm_tile_wide;
    o->gemm_wide[1] = nn_avx512_gemm_tile_wide_f16;
    o->gemm_wide_mr = 12;
    o->snake = nn_avx512_snake;
    o->gelu = nn_avx512_gelu;
    o->swiglu = nn_avx512_swiglu;
    o->gelu_erf = nn_avx512_gelu_erf;
    o->mish_fast = nn_avx512_mish_fast;
    o->layer_norm = nn_avx512_layer_norm;
    o->conv_tile = nn_avx512_conv_tile;
    o->softmax_row = nn_avx512_softmax_row;
    o->attn_batch = nn_avx512_attn_batch;
}
