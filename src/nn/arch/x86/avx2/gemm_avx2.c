/* gemm_avx2.c: the AVX2/FMA register tiles of the packed-panel GEMM (nn/gemm.c): 6 tokens x
 * 16 outputs, F32 or F16 panels. */
#include "core/vb.h"
#include "nn/arch/x86/avx2/avx2.h"
#include "nn/gemm.h"

#include <immintrin.h>

#define MR_MAX NN_GEMM_MR_MAX
#define NR     NN_GEMM_NR

/* 6 x 16 with two ymm weight vectors per k; W0/W1 load the k-th panel row */
#define AVX2_KERNEL(name, tgt, T, W0, W1)                                                          \
    __attribute__((target(tgt))) void name(int K, const float *const xr[MR_MAX], const void *pv,   \
                                           float *tile, int64_t ldt)                               \
    {                                                                                              \
        const T *p = pv;                                                                           \
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00;              \
        __m256 c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;        \
        for (int k = 0; k < K; k++) {                                                              \
            const T *pk = p + (size_t)k * NR;                                                      \
            const __m256 w0 = W0, w1 = W1;                                                         \
            __m256 a;                                                                              \
            AVX2_ROW(0);                                                                           \
            AVX2_ROW(1);                                                                           \
            AVX2_ROW(2);                                                                           \
            AVX2_ROW(3);                                                                           \
            AVX2_ROW(4);                                                                           \
            AVX2_ROW(5);                                                                           \
        }                                                                                          \
        AVX2_STORE(0);                                                                             \
        AVX2_STORE(1);                                                                             \
        AVX2_STORE(2);                                                                             \
        AVX2_STORE(3);                                                                             \
        AVX2_STORE(4);                                                                             \
        AVX2_STORE(5);                                                                             \
    }
#define AVX2_ROW(r)                                                                                \
    a = _mm256_broadcast_ss(xr[r] + k);                                                            \
    c##r##0 = _mm256_fmadd_ps(a, w0, c##r##0);                                                     \
    c##r##1 = _mm256_fmadd_ps(a, w1, c##r##1)
#define AVX2_STORE(r)                                                                              \
    _mm256_storeu_ps(tile + (r)*ldt, c##r##0);                                                     \
    _mm256_storeu_ps(tile + (r)*ldt + 8, c##r##1)

AVX2_KERNEL(nn_avx2_gemm_tile, "avx2,fma", float, _mm256_loadu_ps(pk), _mm256_loadu_ps(pk + 8))
AVX2_KERNEL(nn_avx2_gemm_tile_f16, "avx2,fma,f16c", uint16_t,
            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)pk)),
            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pk + 8))))
