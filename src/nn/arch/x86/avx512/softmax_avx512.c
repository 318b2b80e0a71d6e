/* softmax_avx512.c: the AVX-512 attention row softmax, s = softmax(scale * (s + b))
 * (nn/attention.c), on the vectorised exp of vmath.h; sums in double as the plain C row. */
#include "core/vb.h"
#include "nn/arch/x86/avx512/avx512.h"
#include "nn/arch/x86/vmath.h"

#include <math.h>

__attribute__((target("avx512f"))) void nn_avx512_softmax_row(float *s, const float *b, int n,
                                                              float scale)
{
    const __m512 sc = _mm512_set1_ps(scale);
    __m512 vmx = _mm512_set1_ps(-INFINITY);
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 v = _mm512_loadu_ps(s + k);
        if (b)
            v = _mm512_add_ps(v, _mm512_loadu_ps(b + k));
        v = _mm512_mul_ps(v, sc);
        _mm512_storeu_ps(s + k, v);
        vmx = _mm512_max_ps(vmx, v);
    }
    float mx = _mm512_reduce_max_ps(vmx);
    for (; k < n; k++) {
        s[k] = (s[k] + (b ? b[k] : 0.0f)) * scale;
        mx = s[k] > mx ? s[k] : mx;
    }
    const __m512 vm = _mm512_set1_ps(mx);
    __m512 vs = _mm512_setzero_ps();
    for (k = 0; k + 16 <= n; k += 16) {
        __m512 e = nn_vexp_avx512(_mm512_sub_ps(_mm512_loadu_ps(s + k), vm));
        _mm512_storeu_ps(s + k, e);
        vs = _mm512_add_ps(vs, e);
    }
    double sum = _mm512_reduce_add_ps(vs);
    for (; k < n; k++) {
        s[k] = expf(s[k] - mx);
        sum += s[k];
    }
    const float inv = (float)(1.0 / sum);
    const __m512 vi = _mm512_set1_ps(inv);
    for (k = 0; k + 16 <= n; k += 16)
        _mm512_storeu_ps(s + k, _mm512_mul_ps(_mm512_loadu_ps(s + k), vi));
    for (; k < n; k++)
        s[k] *= inv;
}
