/* activations_avx2.c: the AVX2/FMA Snake, x + sin^2(alpha x) / alpha: Cody-Waite reduction by
 * pi and a polynomial sine (sin^2 ignores the sign of the reduced argument). */
#include "core/vb.h"
#include "nn/activations.h"
#include "nn/arch/x86/avx2/avx2.h"

#include <immintrin.h>

/* pi split in three for the reduction a - j*pi (cephes DP1..3 scaled by 4). */
#define PI_A 3.140625f
#define PI_B 9.67502593994140625e-4f
#define PI_C 1.509957990978376432e-7f

__attribute__((target("avx2,fma"))) void nn_avx2_snake(float *y, const float *x, int64_t n,
                                                       float alpha)
{
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vinv = _mm256_set1_ps(1.0f / (alpha + 1e-9f));
    const __m256 inv_pi = _mm256_set1_ps(0.31830988618379067154f);
    const __m256 pa = _mm256_set1_ps(PI_A), pb = _mm256_set1_ps(PI_B), pc = _mm256_set1_ps(PI_C);
    const __m256 c6 = _mm256_set1_ps(1.6059043836821614e-10f);
    const __m256 c5 = _mm256_set1_ps(-2.5052108385441720e-08f);
    const __m256 c4 = _mm256_set1_ps(2.7557319223985893e-06f);
    const __m256 c3 = _mm256_set1_ps(-1.9841269841269841e-04f);
    const __m256 c2 = _mm256_set1_ps(8.3333333333333333e-03f);
    const __m256 c1 = _mm256_set1_ps(-1.6666666666666667e-01f);
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 vx = _mm256_loadu_ps(x + i);
        __m256 a = _mm256_mul_ps(vx, va);
        __m256 j = _mm256_round_ps(_mm256_mul_ps(a, inv_pi),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 r = _mm256_fnmadd_ps(j, pa, a);
        r = _mm256_fnmadd_ps(j, pb, r);
        r = _mm256_fnmadd_ps(j, pc, r);
        __m256 r2 = _mm256_mul_ps(r, r);
        __m256 p = _mm256_fmadd_ps(c6, r2, c5);
        p = _mm256_fmadd_ps(p, r2, c4);
        p = _mm256_fmadd_ps(p, r2, c3);
        p = _mm256_fmadd_ps(p, r2, c2);
        p = _mm256_fmadd_ps(p, r2, c1);
        p = _mm256_fmadd_ps(p, r2, one);
        __m256 s = _mm256_mul_ps(r, p);
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(vinv, _mm256_mul_ps(s, s), vx));
    }
    nn_snake_ref(y + i, x + i, n - i, alpha);
}
