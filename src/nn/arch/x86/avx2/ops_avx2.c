/* ops_avx2.c: the AVX2/FMA row of the kernel table's other kernels (nn_op_kernels). */
#include "core/vb.h"
#include "nn/arch/x86/avx2/avx2.h"
#include "nn/kernels.h"

void nn_avx2_op_kernels(struct nn_op_kernels *o)
{
    o->gemm[0] = nn_avx2_gemm_tile;
    o->gemm[1] = nn_avx2_gemm_tile_f16;
    o->snake = nn_avx2_snake;
    o->gelu = nn_avx2_gelu;
    o->swiglu = nn_avx2_swiglu;
    o->gelu_erf = nn_avx2_gelu_erf;
    o->mish_fast = nn_avx2_mish_fast;
    o->conv_tile = nn_avx2_conv_tile;
    o->softmax_row = nn_avx2_softmax_row;
}
