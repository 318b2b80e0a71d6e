/* ops_vec_avx2.c: the AVX2/FMA GELU (tanh and erf forms), SwiGLU/SiLU and Mish (nn_mish_fast), on
 * the vectorised exp of vmath.h. */
#include "core/vb.h"
#include "nn/arch/x86/avx2/avx2.h"
#include "nn/arch/x86/act_vec.h"
#include "nn/arch/x86/vmath.h"

__attribute__((target("avx2,fma"))) void nn_avx2_gelu(float *x, int64_t n)
{
    GELU_VEC(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_mul_ps,
             _mm256_fmadd_ps, _mm256_add_ps, _mm256_div_ps, _mm256_min_ps, _mm256_max_ps,
             nn_vexp_avx2);
}

__attribute__((target("avx2"))) static inline __m256 neg_clamped256(__m256 v)
{
    return _mm256_min_ps(_mm256_sub_ps(_mm256_setzero_ps(), v), _mm256_set1_ps(88.0f));
}

__attribute__((target("avx2,fma"))) void nn_avx2_swiglu(float *gate, const float *up, int64_t n)
{
    SWIGLU_VEC(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_mul_ps,
               _mm256_add_ps, _mm256_div_ps, neg_clamped256, nn_vexp_avx2);
}

#define VEXP            nn_vexp_avx2
#define KEEP_AVX2(v, y) _mm256_blendv_ps(y, v, _mm256_cmp_ps(v, _mm256_set1_ps(20.0f), _CMP_GT_OQ))
__attribute__((target("avx2,fma"))) void nn_avx2_gelu_erf(float *x, int64_t n)
{
    GELU_ERF_VEC(__m256, 8, _mm256);
}
__attribute__((target("avx2,fma"))) void nn_avx2_mish_fast(float *x, int64_t n)
{
    MISH_VEC(__m256, 8, _mm256, KEEP_AVX2);
}
#undef VEXP
