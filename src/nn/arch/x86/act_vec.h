/* act_vec.h: the GELU (tanh and erf forms), SwiGLU and Mish loops written once over a vector
 * width (the AVX2 and AVX-512 files instantiate them with their intrinsics); tails in plain C. */
#ifndef NN_ARCH_X86_ACT_VEC_H
#define NN_ARCH_X86_ACT_VEC_H

#include "nn/activations.h"
#include "nn/ops.h"

/* 0.5 v (1 + tanh(u)) = v e / (e + 1) with e = exp(2u); 2u clamped to [-88, 18], where
 * v e / (e + 1) is 0 or v in f32 */
#define GELU_VEC(T, W, LOAD, STORE, SET, MUL, FMA, ADD, DIV, MIN, MAX, EXP)                        \
    int64_t i = 0;                                                                                 \
    const T k0 = SET(2.0f * 0.79788456080286535587989211986876f), k1 = SET(0.044715f);             \
    for (; i + (W) <= n; i += (W)) {                                                               \
        const T v = LOAD(x + i);                                                                   \
        T u = MUL(MUL(k0, v), FMA(MUL(k1, v), v, SET(1.0f)));                                      \
        u = MIN(MAX(u, SET(-88.0f)), SET(18.0f));                                                  \
        const T e = EXP(u);                                                                        \
        STORE(x + i, DIV(MUL(v, e), ADD(e, SET(1.0f))));                                           \
    }                                                                                              \
    nn_gelu_ref(x + i, n - i)

/* g / (1 + e^-g) * u (u = 1 when up is NULL); -g is clamped to 88 (the vector exps are only
 * valid up to there): for g < -88 the quotient is below 1e-36 in size instead of smaller */
#define SWIGLU_VEC(T, W, LOAD, STORE, SET, MUL, ADD, DIV, NEG, EXP)                                \
    int64_t i = 0;                                                                                 \
    for (; i + (W) <= n; i += (W)) {                                                               \
        const T g = LOAD(gate + i);                                                                \
        const T s = DIV(g, ADD(SET(1.0f), EXP(NEG(g))));                                           \
        STORE(gate + i, up ? MUL(s, LOAD(up + i)) : s);                                            \
    }                                                                                              \
    nn_swiglu_ref(gate + i, up ? up + i : NULL, n - i)

/* x * 0.5 * (1 + erf(x / sqrt 2)), erf by Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7); W lanes
 * of vector type T with the matching intrinsics (AVX2 and AVX-512 instances below) */
#define GELU_ERF_VEC(T, W, P)                                                                      \
    const T sign = P##_set1_ps(-0.0f), one = P##_set1_ps(1.0f);                                    \
    int64_t i = 0;                                                                                 \
    for (; i + (W) <= n; i += (W)) {                                                               \
        const T v = P##_loadu_ps(x + i);                                                           \
        const T z = P##_mul_ps(P##_andnot_ps(sign, v), P##_set1_ps(0.70710678118654752f));         \
        const T t = P##_div_ps(one, P##_fmadd_ps(P##_set1_ps(0.3275911f), z, one));                \
        T q = P##_set1_ps(1.061405429f);                                                           \
        q = P##_fmadd_ps(q, t, P##_set1_ps(-1.453152027f));                                        \
        q = P##_fmadd_ps(q, t, P##_set1_ps(1.421413741f));                                         \
        q = P##_fmadd_ps(q, t, P##_set1_ps(-0.284496736f));                                        \
        q = P##_fmadd_ps(q, t, P##_set1_ps(0.254829592f));                                         \
        q = P##_mul_ps(q, t);                                                                      \
        const T ez = VEXP(P##_sub_ps(P##_setzero_ps(), P##_mul_ps(z, z)));                         \
        T erf = P##_fnmadd_ps(q, ez, one);         /* erf(|x|/sqrt2) */                            \
        erf = P##_or_ps(erf, P##_and_ps(v, sign)); /* odd function */                              \
        const T h = P##_mul_ps(P##_set1_ps(0.5f), v);                                              \
        P##_storeu_ps(x + i, P##_fmadd_ps(h, erf, h));                                             \
    }                                                                                              \
    if (i < n)                                                                                     \
    nn_gelu_erf(x + i, n - i)

/* Mish as s3_mish: x m / (m + 2), m = e^x (e^x + 2), x kept above 20 */
#define MISH_VEC(T, W, P, KEEP)                                                                    \
    int64_t i = 0;                                                                                 \
    for (; i + (W) <= n; i += (W)) {                                                               \
        const T v = P##_loadu_ps(x + i);                                                           \
        const T e = VEXP(P##_min_ps(v, P##_set1_ps(20.0f)));                                       \
        const T m = P##_mul_ps(e, P##_add_ps(e, P##_set1_ps(2.0f)));                               \
        const T y = P##_div_ps(P##_mul_ps(v, m), P##_add_ps(m, P##_set1_ps(2.0f)));                \
        P##_storeu_ps(x + i, KEEP(v, y));                                                          \
    }                                                                                              \
    if (i < n)                                                                                     \
    nn_mish_fast_ref(x + i, n - i)

#endif
