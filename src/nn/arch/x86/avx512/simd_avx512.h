/* simd_avx512.h: small AVX-512 helpers shared by the kernels of this directory (compiled
 * with its -mavx512* flags only; the horizontal sums come from nn/arch/x86/simd_x86.h), and
 * the Q8_K activation quantiser they share. */
#ifndef NN_SIMD_AVX512_H
#define NN_SIMD_AVX512_H

#include "core/vb.h"
#include "nn/arch/x86/simd_x86.h"

#include <immintrin.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE __m512i cat256(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* The sum of the two 256-bit halves of v, per int32 lane. */
static ALWAYS_INLINE __m256i halves(__m512i v)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* 16 F16 (bf: BF16) values as F32, exactly */
static ALWAYS_INLINE __m512 widen_half(bool bf, __m256i h)
{
    return bf ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
              : _mm512_cvtph_ps(h);
}

/* f32 row (n a multiple of 256) -> Q8_K blocks at dst, byte-identical to
 * nn_quantize_row_q8_k (gemv_avx512.c). */
void nn_avx512_quantize_row_q8_k(const float *x, void *dst, int64_t n);

#endif
