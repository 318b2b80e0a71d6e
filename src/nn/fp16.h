/* fp16.h: exact IEEE binary16 and bfloat16 <-> binary32 conversions (round to nearest even),
 * plus a 64K-entry f16 -> f32 table for the scalar kernels. */
#ifndef NN_FP16_H
#define NN_FP16_H

#include "core/vb.h"

#include <math.h>

static inline uint32_t nn_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float nn_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float nn_fp16_to_fp32_calc(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in binary32 */
        float v = (float)mant * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31)
        return nn_f32_from_bits(sign | 0x7f800000u | (mant << 13));
    return nn_f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

static inline uint16_t nn_fp32_to_fp16(float f)
{
    uint32_t x = nn_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or NaN */
        return (uint16_t)(sign | (ax > 0x7f800000u ? 0x7e00 : 0x7c00));
    if (ax >= 0x477ff000u) /* >= 65520 rounds to infinity */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) {                           /* below 2^-14: subnormal half (or zero) */
        float v = nn_f32_from_bits(ax) * 16777216.0f; /* exact scaling by 2^24 */
        uint32_t r = (uint32_t)nearbyintf(v);         /* round half to even */
        return (uint16_t)(sign | r);
    }
    uint32_t r = ax - 0x38000000u; /* rebias the exponent from 127 to 15 */
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

static inline float nn_bf16_to_fp32(uint16_t h)
{
    return nn_f32_from_bits((uint32_t)h << 16);
}

static inline uint16_t nn_fp32_to_bf16(float f)
{
    uint32_t u = nn_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it quiet */
        return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* Table of all 65536 f16 values as f32; filled by nn_fp16_table_init (idempotent, thread-safe). */
extern float nn_fp16_table[65536];
void nn_fp16_table_init(void);

static inline float nn_fp16_to_fp32(uint16_t h)
{
    return nn_fp16_table[h];
}

/* Reads an unaligned little-endian f16 field. */
static inline float nn_load_fp16(const void *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return nn_fp16_table[h];
}

#endif
