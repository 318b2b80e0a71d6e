/* simd_x86.h: horizontal sums shared by the AVX2 and AVX-512 kernels (the avx2 and avx512
 * directories of nn/arch/x86 are both compiled with at least -mavx2). */
#ifndef NN_SIMD_X86_H
#define NN_SIMD_X86_H

#include <immintrin.h>

static inline float hsum128(__m128 v)
{
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}

static inline float hsum256(__m256 v)
{
    return hsum128(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

#endif
