/* conv_tile_avx2.c: the AVX2/FMA direct-convolution tile of nn/conv_tile.h (8 output channels x 32
 * steps). */
#include "core/vb.h"
#include "nn/arch/x86/avx2/avx2.h"
#include "nn/conv_tile.h"

#include <immintrin.h>

#define MR NN_CONV_TILE_MR
#define NR NN_CONV_TILE_NR
#define KC NN_CONV_TILE_KC

/* AVX2/FMA: the 8 x 32 tile as four 4-row x 16-step passes (11 of the 16 ymm registers). */
__attribute__((target("avx2,fma"))) void
nn_avx2_conv_tile(const struct nn_conv_tile_shape *c, const float *wp, const float *x, int64_t ldx,
                  float *y, int64_t ldy, int rows, int cols, bool accumulate, const float *bias)
{
    float tot[MR][NR] __attribute__((aligned(32)));
    memset(tot, 0, sizeof tot);
    const int c_in = c->c_in;
    for (int rh = 0; rh < MR; rh += 4) {
        for (int ch = 0; ch < NR; ch += 16) {
            for (int c0 = 0; c0 < c_in; c0 += KC) {
                int c1 = VB_MIN(c_in, c0 + KC);
                __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps();
                __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
                __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps();
                __m256 a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
                for (int j = 0; j < c->k; j++) {
                    const float *xj = x + (int64_t)j * c->dilation + (int64_t)c0 * ldx + ch;
                    const float *w = wp + ((size_t)j * c_in + c0) * MR + rh;
                    for (int ci = c0; ci < c1; ci++, w += MR, xj += ldx) {
                        __m256 x0 = _mm256_loadu_ps(xj), x1 = _mm256_loadu_ps(xj + 8);
                        __m256 wv = _mm256_broadcast_ss(w);
                        a00 = _mm256_fmadd_ps(wv, x0, a00);
                        a01 = _mm256_fmadd_ps(wv, x1, a01);
                        wv = _mm256_broadcast_ss(w + 1);
                        a10 = _mm256_fmadd_ps(wv, x0, a10);
                        a11 = _mm256_fmadd_ps(wv, x1, a11);
                        wv = _mm256_broadcast_ss(w + 2);
                        a20 = _mm256_fmadd_ps(wv, x0, a20);
                        a21 = _mm256_fmadd_ps(wv, x1, a21);
                        wv = _mm256_broadcast_ss(w + 3);
                        a30 = _mm256_fmadd_ps(wv, x0, a30);
                        a31 = _mm256_fmadd_ps(wv, x1, a31);
                    }
                }
                __m256 acc[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
                for (int r = 0; r < 4; r++)
                    for (int h = 0; h < 2; h++) {
                        float *tp = &tot[rh + r][ch + 8 * h];
                        _mm256_store_ps(tp, _mm256_add_ps(_mm256_load_ps(tp), acc[r][h]));
                    }
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        float bv = bias ? bias[r] : 0.0f;
        float *yr = y + (int64_t)r * ldy;
        for (int t = 0; t < cols; t++)
            yr[t] = (accumulate ? yr[t] : 0.0f) + (tot[r][t] + bv);
    }
}
