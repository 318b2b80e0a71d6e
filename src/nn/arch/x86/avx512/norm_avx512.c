/* norm_avx512.c: the AVX-512 LayerNorm row of nn_layer_norm_fast (nn/ops.c). */
#include "core/vb.h"
#include "nn/arch/x86/avx512/avx512.h"

#include <immintrin.h>
#include <math.h>

/* LayerNorm of one row, 16 lanes, two passes (mean, then centred variance) in f32 */
__attribute__((target("avx512f"))) void
nn_avx512_layer_norm(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16)
        acc = _mm512_add_ps(acc, _mm512_loadu_ps(x + i));
    float sum = _mm512_reduce_add_ps(acc);
    for (; i < n; i++)
        sum += x[i];
    const float mean = sum / (float)n;
    const __m512 vm = _mm512_set1_ps(mean);
    acc = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), vm);
        acc = _mm512_fmadd_ps(d, d, acc);
    }
    float var = _mm512_reduce_add_ps(acc);
    for (; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    const float rs = 1.0f / sqrtf(var / (float)n + eps);
    const __m512 vr = _mm512_set1_ps(rs);
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm), vr);
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(d, _mm512_loadu_ps(w + i), _mm512_loadu_ps(b + i)));
    }
    for (; i < n; i++)
        y[i] = (x[i] - mean) * rs * w[i] + b[i];
}
