/* ops_vec_avx512.c: the AVX-512 GELU (tanh and erf forms), SwiGLU/SiLU and Mish (nn_mish_fast), on
 * the vectorised exp of vmath.h. */
#include "core/vb.h"
#include "nn/arch/x86/avx512/avx512.h"
#include "nn/arch/x86/act_vec.h"
#include "nn/arch/x86/vmath.h"

__attribute__((target("avx512f"))) void nn_avx512_gelu(float *x, int64_t n)
{
    GELU_VEC(__m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_mul_ps,
             _mm512_fmadd_ps, _mm512_add_ps, _mm512_div_ps, _mm512_min_ps, _mm512_max_ps,
             nn_vexp_avx512);
}

__attribute__((target("avx512f"))) static inline __m512 neg_clamped512(__m512 v)
{
    return _mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), v), _mm512_set1_ps(88.0f));
}

__attribute__((target("avx512f"))) void nn_avx512_swiglu(float *gate, const float *up, int64_t n)
{
    SWIGLU_VEC(__m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_mul_ps,
               _mm512_add_ps, _mm512_div_ps, neg_clamped512, nn_vexp_avx512);
}

#define VEXP nn_vexp_avx512
#define KEEP_AVX512(v, y)                                                                          \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(20.0f), _CMP_GT_OQ), y, v)
__attribute__((target("avx512f,avx512dq"))) void nn_avx512_gelu_erf(float *x, int64_t n)
{
    GELU_ERF_VEC(__m512, 16, _mm512);
}
__attribute__((target("avx512f"))) void nn_avx512_mish_fast(float *x, int64_t n)
{
    MISH_VEC(__m512, 16, _mm512, KEEP_AVX512);
}
#undef VEXP
