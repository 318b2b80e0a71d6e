/* attn_cache.h: causal multi-head attention of a batch of query rows over a KV cache whose
 * rows hold all heads side by side (row stride n_head * head_dim): T3's decode and small-batch
 * path. Query row t sits at position pos0 + t and sees cache rows 0..pos0+t; scores are
 * scaled by 1/sqrt(head_dim), the softmax sums in double and the weights are the exponentials
 * times 1/sum. Two caches:
 *   f32: one (row, head) item per iteration, 4-wide vector dot products and axpy;
 *   f16: items of (row, group of heads) claimed dynamically; per head the plain C reference,
 *        the AVX2/F16C head kernel (head_dim a multiple of 8, at most 256), or the AVX-512
 *        position-major kernel (head_dim a multiple of 16, at most 64), as NN_ISA allows.
 *
 *   struct nn_attn_cache a = {.q = qkv, .ldq = 3 * E, .k = k_layer, .v = v_layer, .out = att,
 *                             .work = work, .work_stride = n_ctx, .pos0 = n_past, .n = n,
 *                             .n_head = H, .head_dim = E / H};
 *   nn_attn_cache_f16(pool, &a);
 */
#ifndef NN_ATTN_CACHE_H
#define NN_ATTN_CACHE_H

#include "core/vb.h"
#include "nn/threadpool.h"

struct nn_attn_cache {
    const float *q; /* n rows of stride ldq; head h reads columns h*head_dim.. */
    int64_t ldq;
    const void *k, *v; /* the layer's cache (float or f16 bits), rows of n_head*head_dim */
    float *out;        /* n rows of n_head*head_dim */
    /* scratch: f32 cache nn_pool_threads * work_stride floats, f16 cache
     * nn_pool_threads * n_head * work_stride floats */
    float *work;
    int64_t work_stride; /* >= pos0 + n */
    int64_t pos0;
    int n, n_head, head_dim;
};

/* Over an f32 cache. */
void nn_attn_cache_f32(struct nn_pool *pool, const struct nn_attn_cache *a);
/* Over an f16 cache (uint16_t halves). */
void nn_attn_cache_f16(struct nn_pool *pool, const struct nn_attn_cache *a);

/* d[i] = s[i] widened from f16 for n values (exact; F16C where the CPU has it). */
void nn_f16_to_f32_row(float *d, const uint16_t *s, int64_t n);

/* ---- the f16 head kernels (C reference here, SIMD in nn/arch/x86) ---- */

/* s[p] = exp(s[p] - mx) for p < n; returns 1 / sum (sum in double). */
float nn_exp_shifted(float *s, int64_t n, float mx);

/* One head of one query row over n_kv f16 cache rows of stride `stride`: s (n_kv) scratch,
 * o (D) output. */
void nn_attn_head_f16_ref(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride,
                          int64_t n_kv, int D, float scale, float *s, float *o);
/* Same with AVX2/FMA/F16C; D % 8 == 0, D <= NN_ATTN_HEAD_AVX2_MAX_D. */
#define NN_ATTN_HEAD_AVX2_MAX_D 256
void nn_attn_head_f16_avx2(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride,
                           int64_t n_kv, int D, float scale, float *s, float *o);
/* nh adjacent heads (head_dim 16 * n16, n16 <= 4) of one query row, AVX-512, position-major:
 * each K row's slice of these heads is read once for all of them; s: nh rows of ls scores. */
void nn_attn_heads_f16_avx512(const float *q, const uint16_t *k, const uint16_t *v, int64_t E,
                              int64_t n_kv, int nh, int n16, float scale, float *s, int64_t ls,
                              float *o);
/* nn_f16_to_f32_row with F16C. */
void nn_f16_to_f32_row_avx2(float *d, const uint16_t *s, int64_t n);

#endif
