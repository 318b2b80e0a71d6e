/* vmath.h: vectorised exp shared by the nn kernels that need it (softmax, GELU): Cephes expf
 * polynomial after range reduction, ~1 ulp, for x <= 88 (0 below -87.3). x86 only; each
 * function carries its own target attribute, so no special build flags are needed. */
#ifndef NN_VMATH_H
#define NN_VMATH_H

#if defined(__x86_64__) || defined(__i386__)
#    include <immintrin.h>
#    define NN_VMATH_X86 1

#    define NN_EXP_POLY(T, FMA, MUL, ADD, SET, r)                                                  \
        FMA(FMA(FMA(FMA(FMA(FMA(SET(1.9875691500e-4f), r, SET(1.3981999507e-3f)), r,               \
                            SET(8.3334519073e-3f)),                                                \
                        r, SET(4.1665795894e-2f)),                                                 \
                    r, SET(1.6666665459e-1f)),                                                     \
                r, SET(5.0000001201e-1f)),                                                         \
            MUL(r, r), ADD(r, SET(1.0f)))

__attribute__((target("avx2,fma"))) static inline __m256 nn_vexp_avx2(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.3f);
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p =
        NN_EXP_POLY(__m256, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_add_ps, _mm256_set1_ps, r);
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    p = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, p);
}

/* 16 lanes: e^x = 2^n * e^r, |r| <= ln2/2, scalef applies 2^n */
__attribute__((target("avx512f"))) static inline __m512 nn_vexp_avx512(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    const __m512 p =
        NN_EXP_POLY(__m512, _mm512_fmadd_ps, _mm512_mul_ps, _mm512_add_ps, _mm512_set1_ps, r);
    return _mm512_scalef_ps(p, n);
}
#endif

#endif
