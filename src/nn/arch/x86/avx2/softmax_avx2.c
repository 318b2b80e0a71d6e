/* softmax_avx2.c: the AVX2/FMA attention row softmax, s = softmax(scale * (s + b))
 * (nn/attention.c), on the vectorised exp of vmath.h; sums in double as the plain C row. */
#include "core/vb.h"
#include "nn/arch/x86/avx2/avx2.h"
#include "nn/arch/x86/vmath.h"

#include <math.h>

__attribute__((target("avx2,fma"))) void nn_avx2_softmax_row(float *s, const float *b, int n,
                                                             float scale)
{
    const __m256 sc = _mm256_set1_ps(scale);
    __m256 vmx = _mm256_set1_ps(-INFINITY);
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 v = _mm256_loadu_ps(s + k);
        if (b)
            v = _mm256_add_ps(v, _mm256_loadu_ps(b + k));
        v = _mm256_mul_ps(v, sc);
        _mm256_storeu_ps(s + k, v);
        vmx = _mm256_max_ps(vmx, v);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, vmx);
    float mx = -INFINITY;
    for (int l = 0; l < 8; l++)
        mx = lanes[l] > mx ? lanes[l] : mx;
    for (; k < n; k++) {
        s[k] = (s[k] + (b ? b[k] : 0.0f)) * scale;
        mx = s[k] > mx ? s[k] : mx;
    }
    const __m256 vm = _mm256_set1_ps(mx);
    __m256 vs = _mm256_setzero_ps();
    for (k = 0; k + 8 <= n; k += 8) {
        __m256 e = nn_vexp_avx2(_mm256_sub_ps(_mm256_loadu_ps(s + k), vm));
        _mm256_storeu_ps(s + k, e);
        vs = _mm256_add_ps(vs, e);
    }
    _mm256_storeu_ps(lanes, vs);
    double sum = 0;
    for (int l = 0; l < 8; l++)
        sum += lanes[l];
    for (; k < n; k++) {
        s[k] = expf(s[k] - mx);
        sum += s[k];
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (k = 0; k + 8 <= n; k += 8)
        _mm256_storeu_ps(s + k, _mm256_mul_ps(_mm256_loadu_ps(s + k), inv));
    for (; k < n; k++)
        s[k] *= (float)(1.0 / sum);
}
