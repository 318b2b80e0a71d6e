/* conv_tile_avx512.c: the AVX-512 direct-convolution tile of nn/conv_tile.h (8 output channels x 32
 * steps). */
#include "core/vb.h"
#include "nn/arch/x86/avx512/avx512.h"
#include "nn/conv_tile.h"

#include <immintrin.h>

#define MR NN_CONV_TILE_MR
#define NR NN_CONV_TILE_NR
#define KC NN_CONV_TILE_KC

#define FMA_ROW(r)                                                                                 \
    do {                                                                                           \
        __m512 wv = _mm512_set1_ps(w[r]);                                                          \
        a##r##0 = _mm512_fmadd_ps(wv, x0, a##r##0);                                                \
        a##r##1 = _mm512_fmadd_ps(wv, x1, a##r##1);                                                \
    } while (0)
#define ADD_ROW(r)                                                                                 \
    do {                                                                                           \
        _mm512_storeu_ps(tot[r], _mm512_add_ps(_mm512_loadu_ps(tot[r]), a##r##0));                 \
        _mm512_storeu_ps(tot[r] + 16, _mm512_add_ps(_mm512_loadu_ps(tot[r] + 16), a##r##1));       \
    } while (0)

__attribute__((target("avx512f"))) void nn_avx512_conv_tile(const struct nn_conv_tile_shape *c,
                                                            const float *wp, const float *x,
                                                            int64_t ldx, float *y, int64_t ldy,
                                                            int rows, int cols, bool accumulate,
                                                            const float *bias)
{
    float tot[MR][NR] __attribute__((aligned(64)));
    memset(tot, 0, sizeof tot);
    const int c_in = c->c_in;
    for (int c0 = 0; c0 < c_in; c0 += KC) {
        int c1 = VB_MIN(c_in, c0 + KC);
        __m512 a00 = _mm512_setzero_ps(), a01 = _mm512_setzero_ps();
        __m512 a10 = _mm512_setzero_ps(), a11 = _mm512_setzero_ps();
        __m512 a20 = _mm512_setzero_ps(), a21 = _mm512_setzero_ps();
        __m512 a30 = _mm512_setzero_ps(), a31 = _mm512_setzero_ps();
        __m512 a40 = _mm512_setzero_ps(), a41 = _mm512_setzero_ps();
        __m512 a50 = _mm512_setzero_ps(), a51 = _mm512_setzero_ps();
        __m512 a60 = _mm512_setzero_ps(), a61 = _mm512_setzero_ps();
        __m512 a70 = _mm512_setzero_ps(), a71 = _mm512_setzero_ps();
        for (int j = 0; j < c->k; j++) {
            const float *xj = x + (int64_t)j * c->dilation + (int64_t)c0 * ldx;
            const float *w = wp + ((size_t)j * c_in + c0) * MR;
            for (int ci = c0; ci < c1; ci++, w += MR, xj += ldx) {
                __m512 x0 = _mm512_loadu_ps(xj), x1 = _mm512_loadu_ps(xj + 16);
                FMA_ROW(0);
                FMA_ROW(1);
                FMA_ROW(2);
                FMA_ROW(3);
                FMA_ROW(4);
                FMA_ROW(5);
                FMA_ROW(6);
                FMA_ROW(7);
            }
        }
        ADD_ROW(0);
        ADD_ROW(1);
        ADD_ROW(2);
        ADD_ROW(3);
        ADD_ROW(4);
        ADD_ROW(5);
        ADD_ROW(6);
        ADD_ROW(7);
    }
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1u);
    int c1 = cols - 16;
    __mmask16 m1 = c1 >= 16 ? (__mmask16)0xFFFF : c1 > 0 ? (__mmask16)((1u << c1) - 1u) : 0;
    for (int r = 0; r < rows; r++) {
        __m512 bv = _mm512_set1_ps(bias ? bias[r] : 0.0f);
        float *yr = y + (int64_t)r * ldy;
        __m512 v0 = _mm512_add_ps(_mm512_load_ps(tot[r]), bv);
        __m512 v1 = _mm512_add_ps(_mm512_load_ps(tot[r] + 16), bv);
        if (accumulate) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yr), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yr + 16), v1);
        }
        _mm512_mask_storeu_ps(yr, m0, v0);
        _mm512_mask_storeu_ps(yr + 16, m1, v1);
    }
}
