/* quant.h: ggml-compatible block layouts, dequantisation of rows, quantisation of activation
 * rows (Q8_0, Q8_1, Q8_K, F16, BF16) and the portable C dot products "weights x activations".
 * The SIMD versions live in nn/arch/ and are reached through nn/kernels.h. */
#ifndef NN_QUANT_H
#define NN_QUANT_H

#include "core/vb.h"
#include "nn/types.h"

/* Block layouts, byte-identical to ggml's (all sizes are even, so the uint16_t fields are
 * 2-byte aligned whenever a row starts 2-byte aligned). f16 fields hold IEEE half bits. */
struct nn_block_q4_0 {
    uint16_t d;
    uint8_t qs[NN_QK / 2];
};
struct nn_block_q4_1 {
    uint16_t d, m;
    uint8_t qs[NN_QK / 2];
};
struct nn_block_q5_0 {
    uint16_t d;
    uint8_t qh[4]; /* one little-endian u32: bit k = fifth bit of element k */
    uint8_t qs[NN_QK / 2];
};
struct nn_block_q5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[NN_QK / 2];
};
struct nn_block_q8_0 {
    uint16_t d;
    int8_t qs[NN_QK];
};
struct nn_block_q8_1 {
    uint16_t d, s; /* s = d * sum(qs) */
    int8_t qs[NN_QK];
};
struct nn_block_q4_k {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[NN_QK_K / 2];
};
struct nn_block_q5_k {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[NN_QK_K / 8];
    uint8_t qs[NN_QK_K / 2];
};
struct nn_block_q6_k {
    uint8_t ql[NN_QK_K / 2];
    uint8_t qh[NN_QK_K / 4];
    int8_t scales[NN_QK_K / 16];
    uint16_t d;
};
struct nn_block_q8_k {
    float d;
    int8_t qs[NN_QK_K];
    int16_t bsums[NN_QK_K / 16];
};

_Static_assert(sizeof(struct nn_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(struct nn_block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(struct nn_block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(struct nn_block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(struct nn_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(struct nn_block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(struct nn_block_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(struct nn_block_q5_k) == 176, "q5_k layout");
_Static_assert(sizeof(struct nn_block_q6_k) == 210, "q6_k layout");
_Static_assert(sizeof(struct nn_block_q8_k) == 292, "q8_k layout");

/* Unpacks the 6-bit scales and mins of a Q4_K/Q5_K super-block (inline: the kernels call it
 * once per super-block). */
static inline void nn_unpack_scales_k4(const uint8_t s[12], uint8_t sc[8], uint8_t mn[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        sc[j] = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        mn[j] = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Dequantises `n` elements of a row of type `t` into `dst`. `n` must be a multiple of the
 * block size; types without a dequantiser (integers, q2_k, q3_k) return false. */
bool nn_dequantize_row(enum nn_type t, const void *src, float *dst, int64_t n);

/* Activation quantisers, exactly as ggml's CPU back end computes them on x86
 * (n a multiple of the block size). */
void nn_quantize_row_q8_0(const float *x, void *dst, int64_t n);
void nn_quantize_row_q8_1(const float *x, void *dst, int64_t n);
void nn_quantize_row_q8_k(const float *x, void *dst, int64_t n);
void nn_quantize_row_f16(const float *x, void *dst, int64_t n);
void nn_quantize_row_bf16(const float *x, void *dst, int64_t n);

/* Dot product of one weight row `x` (type of the kernel) with one activation row `y` in the
 * type's vec-dot type, `n` elements. */
typedef void (*nn_vec_dot_fn)(int n, float *s, const void *x, const void *y);
typedef void (*nn_from_float_fn)(const float *x, void *dst, int64_t n);

void nn_vec_dot_f32_ref(int n, float *s, const void *x, const void *y);
void nn_vec_dot_f16_ref(int n, float *s, const void *x, const void *y);
void nn_vec_dot_bf16_ref(int n, float *s, const void *x, const void *y);
void nn_vec_dot_q4_0_ref(int n, float *s, const void *x, const void *y);
void nn_vec_dot_q4_1_ref(int n, float *s, const void *x, const void *y);
void nn_vec_dot_q5_0_ref(int n, float *s, const void *x, const void *y);
void nn_vec_dot_q5_1_ref(int n, float *s, const void *x, const void *y);
void nn_vec_dot_q8_0_ref(int n, float *s, const void *x, const void *y);
void nn_vec_dot_q4_k_ref(int n, float *s, const void *x, const void *y);
void nn_vec_dot_q5_k_ref(int n, float *s, const void *x, const void *y);
void nn_vec_dot_q6_k_ref(int n, float *s, const void *x, const void *y);

/* Reference weight quantisers (llama.cpp's *_ref algorithms), for writing model files.
 * Return false for types without a quantiser. */
bool nn_quantize_row(enum nn_type t, const float *x, void *dst, int64_t n);

#endif
