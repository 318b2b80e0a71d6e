/* activations_avx512.c: the AVX-512 Snake, x + sin^2(alpha x) / alpha: Cody-Waite reduction by
 * pi and a polynomial sine (sin^2 ignores the sign of the reduced argument). */
#include "core/vb.h"
#include "nn/activations.h"
#include "nn/arch/x86/avx512/avx512.h"

#include <immintrin.h>

/* pi split in three for the reduction a - j*pi (cephes DP1..3 scaled by 4). */
#define PI_A 3.140625f
#define PI_B 9.67502593994140625e-4f
#define PI_C 1.509957990978376432e-7f

__attribute__((target("avx512f"))) void nn_avx512_snake(float *y, const float *x, int64_t n,
                                                        float alpha)
{
    const __m512 va = _mm512_set1_ps(alpha);
    const __m512 vinv = _mm512_set1_ps(1.0f / (alpha + 1e-9f));
    const __m512 inv_pi = _mm512_set1_ps(0.31830988618379067154f);
    const __m512 pa = _mm512_set1_ps(PI_A), pb = _mm512_set1_ps(PI_B), pc = _mm512_set1_ps(PI_C);
    /* Taylor coefficients of sin(r)/r in r^2 up to r^12: error < 1e-9 on [-pi/2, pi/2]. */
    const __m512 c6 = _mm512_set1_ps(1.6059043836821614e-10f);
    const __m512 c5 = _mm512_set1_ps(-2.5052108385441720e-08f);
    const __m512 c4 = _mm512_set1_ps(2.7557319223985893e-06f);
    const __m512 c3 = _mm512_set1_ps(-1.9841269841269841e-04f);
    const __m512 c2 = _mm512_set1_ps(8.3333333333333333e-03f);
    const __m512 c1 = _mm512_set1_ps(-1.6666666666666667e-01f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 vx = _mm512_maskz_loadu_ps(m, x + i);
        __m512 a = _mm512_mul_ps(vx, va);
        __m512 j = _mm512_roundscale_ps(_mm512_mul_ps(a, inv_pi),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_fnmadd_ps(j, pa, a);
        r = _mm512_fnmadd_ps(j, pb, r);
        r = _mm512_fnmadd_ps(j, pc, r);
        __m512 r2 = _mm512_mul_ps(r, r);
        __m512 p = _mm512_fmadd_ps(c6, r2, c5);
        p = _mm512_fmadd_ps(p, r2, c4);
        p = _mm512_fmadd_ps(p, r2, c3);
        p = _mm512_fmadd_ps(p, r2, c2);
        p = _mm512_fmadd_ps(p, r2, c1);
        p = _mm512_fmadd_ps(p, r2, one);
        __m512 s = _mm512_mul_ps(r, p);
        __m512 out = _mm512_fmadd_ps(vinv, _mm512_mul_ps(s, s), vx);
        _mm512_mask_storeu_ps(y + i, m, out);
    }
}
