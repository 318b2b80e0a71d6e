/* gemm_avx512.c: the AVX-512 register tiles of the packed-panel GEMM (nn/gemm.c): 14 tokens x
 * 16 outputs, and 12 tokens x 32 outputs over two adjacent panels; F32 or F16 panels. */
#include "core/vb.h"
#include "nn/arch/x86/avx512/avx512.h"
#include "nn/gemm.h"

#include <immintrin.h>

#define MR_MAX NN_GEMM_MR_MAX
#define NR     NN_GEMM_NR

/* 14 x 16 with one zmm weight vector per k */
#define AVX512_KERNEL(name, T, W)                                                                  \
    __attribute__((target("avx512f"))) void name(int K, const float *const xr[MR_MAX],             \
                                                 const void *pv, float *tile, int64_t ldt)         \
    {                                                                                              \
        const T *p = pv;                                                                           \
        __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;              \
        __m512 c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0;         \
        for (int k = 0; k < K; k++) {                                                              \
            const T *pk = p + (size_t)k * NR;                                                      \
            const __m512 w = W;                                                                    \
            AVX512_ROW(0);                                                                         \
            AVX512_ROW(1);                                                                         \
            AVX512_ROW(2);                                                                         \
            AVX512_ROW(3);                                                                         \
            AVX512_ROW(4);                                                                         \
            AVX512_ROW(5);                                                                         \
            AVX512_ROW(6);                                                                         \
            AVX512_ROW(7);                                                                         \
            AVX512_ROW(8);                                                                         \
            AVX512_ROW(9);                                                                         \
            AVX512_ROW(10);                                                                        \
            AVX512_ROW(11);                                                                        \
            AVX512_ROW(12);                                                                        \
            AVX512_ROW(13);                                                                        \
        }                                                                                          \
        _mm512_storeu_ps(tile + 0 * ldt, c0);                                                      \
        _mm512_storeu_ps(tile + 1 * ldt, c1);                                                      \
        _mm512_storeu_ps(tile + 2 * ldt, c2);                                                      \
        _mm512_storeu_ps(tile + 3 * ldt, c3);                                                      \
        _mm512_storeu_ps(tile + 4 * ldt, c4);                                                      \
        _mm512_storeu_ps(tile + 5 * ldt, c5);                                                      \
        _mm512_storeu_ps(tile + 6 * ldt, c6);                                                      \
        _mm512_storeu_ps(tile + 7 * ldt, c7);                                                      \
        _mm512_storeu_ps(tile + 8 * ldt, c8);                                                      \
        _mm512_storeu_ps(tile + 9 * ldt, c9);                                                      \
        _mm512_storeu_ps(tile + 10 * ldt, c10);                                                    \
        _mm512_storeu_ps(tile + 11 * ldt, c11);                                                    \
        _mm512_storeu_ps(tile + 12 * ldt, c12);                                                    \
        _mm512_storeu_ps(tile + 13 * ldt, c13);                                                    \
    }
#define AVX512_ROW(r) c##r = _mm512_fmadd_ps(_mm512_set1_ps(xr[r][k]), w, c##r)

AVX512_KERNEL(nn_avx512_gemm_tile, float, _mm512_loadu_ps(pk))
AVX512_KERNEL(nn_avx512_gemm_tile_f16, uint16_t,
              _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pk)))

/* 12 x 32: two adjacent panels (the second starts K rows after the first) */
#define AVX512W_KERNEL(name, T, LOAD)                                                              \
    __attribute__((target("avx512f"))) void name(int K, const float *const xr[MR_MAX],             \
                                                 const void *pv, float *tile, int64_t ldt)         \
    {                                                                                              \
        const T *p0 = pv, *p1 = p0 + (size_t)K * NR;                                               \
        __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00;              \
        __m512 c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;        \
        __m512 c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00, c90 = c00;        \
        __m512 c91 = c00, cA0 = c00, cA1 = c00, cB0 = c00, cB1 = c00;                              \
        for (int k = 0; k < K; k++) {                                                              \
            const __m512 w0 = LOAD(p0 + (size_t)k * NR), w1 = LOAD(p1 + (size_t)k * NR);           \
            __m512 a;                                                                              \
            W_ROW(0, 0);                                                                           \
            W_ROW(1, 1);                                                                           \
            W_ROW(2, 2);                                                                           \
            W_ROW(3, 3);                                                                           \
            W_ROW(4, 4);                                                                           \
            W_ROW(5, 5);                                                                           \
            W_ROW(6, 6);                                                                           \
            W_ROW(7, 7);                                                                           \
            W_ROW(8, 8);                                                                           \
            W_ROW(9, 9);                                                                           \
            W_ROW(A, 10);                                                                          \
            W_ROW(B, 11);                                                                          \
        }                                                                                          \
        W_STORE(0, 0);                                                                             \
        W_STORE(1, 1);                                                                             \
        W_STORE(2, 2);                                                                             \
        W_STORE(3, 3);                                                                             \
        W_STORE(4, 4);                                                                             \
        W_STORE(5, 5);                                                                             \
        W_STORE(6, 6);                                                                             \
        W_STORE(7, 7);                                                                             \
        W_STORE(8, 8);                                                                             \
        W_STORE(9, 9);                                                                             \
        W_STORE(A, 10);                                                                            \
        W_STORE(B, 11);                                                                            \
    }
#define W_ROW(n, r)                                                                                \
    a = _mm512_set1_ps(xr[r][k]);                                                                  \
    c##n##0 = _mm512_fmadd_ps(a, w0, c##n##0);                                                     \
    c##n##1 = _mm512_fmadd_ps(a, w1, c##n##1)
#define W_STORE(n, r)                                                                              \
    _mm512_storeu_ps(tile + (r)*ldt, c##n##0);                                                     \
    _mm512_storeu_ps(tile + (r)*ldt + NR, c##n##1)
#define LOAD_F32(q) _mm512_loadu_ps(q)
#define LOAD_F16(q) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(q)))

AVX512W_KERNEL(nn_avx512_gemm_tile_wide, float, LOAD_F32)
AVX512W_KERNEL(nn_avx512_gemm_tile_wide_f16, uint16_t, LOAD_F16)
