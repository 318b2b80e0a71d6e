/* ops.h: element-wise and row ops shared by the models: norms, RoPE, softmax, activations,
 * embedding lookup and grouped-query attention over an f32 KV cache. All in f32 with the
 * same formulas (and double accumulations) as ggml's CPU back end. */
#ifndef NN_OPS_H
#define NN_OPS_H

#include "core/vb.h"
#include "nn/threadpool.h"
#include "nn/types.h"

struct nn_scratch; /* nn/scratch.h */

/* y = x / sqrt(mean(x^2) + eps) * w   (w may be NULL: no weight). In place allowed. */
void nn_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps);
/* y = (x - mean) / sqrt(var + eps) * w + b   (w, b may be NULL). In place allowed. */
void nn_layer_norm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps);

enum nn_rope_mode {
    NN_ROPE_NORMAL = 0, /* interleaved pairs (x[2i], x[2i+1]) (llama, GPT-J) */
    NN_ROPE_NEOX = 2,   /* halves (x[i], x[i + n_rot/2]) (qwen2, GPT-NeoX) */
};
/* Rotates the first n_rot dims of each of n_heads heads (stride head_dim) of one token at
 * position pos. */
void nn_rope(float *x, int n_heads, int head_dim, int n_rot, int64_t pos, float base,
             enum nn_rope_mode mode);

/* In-place softmax of n values (max subtracted, sum in double). */
void nn_softmax(float *x, int64_t n);
void nn_silu(float *x, int64_t n);
/* gate[i] = silu(gate[i]) * up[i] */
void nn_swiglu(float *gate, const float *up, int64_t n);
/* nn_swiglu in portable C with libm's expf (up NULL: silu); the tests' reference */
void nn_swiglu_ref(float *gate, const float *up, int64_t n);
/* GELU, tanh approximation (ggml_gelu) and exact erf form. */
void nn_gelu(float *x, int64_t n);
/* Plain C nn_gelu (libm tanhf); the fast paths (AVX2/AVX-512 exp) are tested against it. */
void nn_gelu_ref(float *x, int64_t n);
void nn_gelu_erf(float *x, int64_t n);
/* nn_gelu_erf with the kernel table's vectorised erf (Abramowitz-Stegun 7.1.26, |error| <
 * 1.5e-7) where the ISA has one; nn_gelu_erf otherwise. */
void nn_gelu_erf_fast(float *x, int64_t n);
/* nn_layer_norm on the kernel table's vector row (f32 sums; AVX-512) when w and b are given
 * and the ISA has one; nn_layer_norm otherwise. */
void nn_layer_norm_fast(float *y, const float *x, const float *w, const float *b, int n, float eps);
/* x += b */
void nn_add(float *x, const float *b, int64_t n);

/* Row `row` of a 2-D embedding tensor, dequantised into out[ne0]. false if out of range or
 * the type has no dequantiser. */
VB_WUR bool nn_get_row(const struct nn_tensor *t, int64_t row, float *out);

/* Causal grouped-query attention for n_tok query tokens at positions pos0..pos0+n_tok-1.
 * q:   n_tok rows of n_head*head_dim (already roped)
 * k,v: the layer's cache, rows 0..pos0+n_tok-1 filled, row stride kv_stride floats, each row
 *      n_head_kv*head_dim; query head h reads kv head h / (n_head / n_head_kv)
 * out: n_tok rows of n_head*head_dim
 * work: scratch of at least nn_pool_threads(pool) * (pos0 + n_tok + head_dim) floats. */
void nn_attention(struct nn_pool *pool, const float *q, int n_tok, int64_t pos0, const float *k,
                  const float *v, int64_t kv_stride, int n_head, int n_head_kv, int head_dim,
                  float *out, float *work);
/* Same with the cache in `kv_type` (NN_TYPE_F32 or NN_TYPE_F16; stride in elements). Batches
 * of NN_ATTN_BATCH_MIN tokens or more take nn_attn_batch (nn/attn_batch.h, with `scratch`)
 * where it applies;
 * otherwise, with F16, the query is rounded to f16 for Q.K as llama.cpp does. `work` needs
 * nn_pool_threads(pool) * (pos0 + n_tok + head_dim) floats. */
#define NN_ATTN_BATCH_MIN 4
void nn_attention_kv(struct nn_pool *pool, struct nn_scratch *scratch, const float *q, int n_tok,
                     int64_t pos0, const void *k, const void *v, enum nn_type kv_type,
                     int64_t kv_stride, int n_head, int n_head_kv, int head_dim, float *out,
                     float *work);

#endif
