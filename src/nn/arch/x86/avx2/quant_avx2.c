/* quant_avx2.c: AVX2/FMA/F16C dot products and activation quantisers. */
#include "core/vb.h"
#include "nn/kernels.h"

nn_vec_dot_fn nn_avx2_vec_dot(enum nn_type t)
{
    (void)t;
    return NULL;
}

nn_from_float_fn nn_avx2_from_float(enum nn_type t)
{
    (void)t;
    return NULL;
}
