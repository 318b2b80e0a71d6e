/* attention.h: multi-head scaled dot-product attention over whole sequences (f32, nn_gemm
 * for the products): bidirectional or causal, with optional per-head query biases and
 * the ESPnet/Transformer-XL relative-position term, plus a rotate-half rotary helper.
 *
 *   struct nn_mha a = {.q = q, .ldq = D, .k = k, .ldk = D, .v = v, .ldv = D, .out = o,
 *                      .ldo = D, .n_q = T, .n_kv = T, .n_head = H, .head_dim = D / H,
 *                      .scale = 1 / sqrtf(D / H)};
 *   float *work = malloc(nn_mha_work_floats(&a, nn_pool_threads(pool)) * sizeof(float));
 *   nn_mha(pool, &a, work);
 */
#ifndef NN_ATTENTION_H
#define NN_ATTENTION_H

#include "core/vb.h"
#include "nn/threadpool.h"

struct nn_mha {
    /* q: n_q rows, k/v: n_kv rows; head h reads columns h*head_dim .. h*head_dim+head_dim-1.
     * Row strides in floats. All borrowed for the call. */
    const float *q, *k, *v;
    int64_t ldq, ldk, ldv;
    float *out; /* n_q rows of n_head*head_dim (stride ldo); must not alias q/k/v */
    int64_t ldo;
    int n_q, n_kv, n_head, head_dim;
    float scale; /* multiplies the whole score (content + position terms) */
    /* causal: query i sits at position q_pos0 + i and sees keys 0..q_pos0+i only. */
    bool causal;
    int64_t q_pos0;
    /* Optional (n_head, head_dim): q + bias_u is used for the q.k term (ESPnet pos_bias_u). */
    const float *bias_u;
    /* Optional relative-position term (ESPnet "rel_pos", new variant), requires n_q == n_kv:
     * rel has 2*n_kv-1 rows (stride ld_rel) of n_head*head_dim, row r holding the projected
     * encoding of the signed offset m = (n_kv-1) - r, and query i / key j add
     * (q_i + bias_v[h]) . rel[(n_kv-1) - (i-j)] to the score (bias_v optional). */
    const float *rel;
    int64_t ld_rel;
    const float *bias_v;
    /* Products in bf16 on Intel AMX when the CPU has it (F32 otherwise): ~2x faster, scores and
     * probabilities rounded to ~3 significant digits. */
    bool bf16;
};

/* Floats of scratch nn_mha needs for n_threads threads. */
size_t nn_mha_work_floats(const struct nn_mha *a, int n_threads);
/* out_i = softmax_j(score_ij) . v_j per head. work: nn_mha_work_floats(a, threads of pool). */
void nn_mha(struct nn_pool *pool, const struct nn_mha *a, float *work);

/* Plain C row softmax of the kernel table: s[k] = softmax_k(scale * (s[k] + b[k])) over n
 * values (b may be NULL). */
void nn_softmax_row_ref(float *s, const float *b, int n, float scale);
/* s[k] = softmax_k(scale * s[k]) over n values in place: the row softmax nn_mha uses
 * (vectorised exp on AVX2/AVX-512, ~1 ulp; sum in double on the plain C path). */
void nn_softmax_scaled(float *s, int n, float scale);

/* Rotary embedding, "rotate-half" layout, with caller tables: for each of n_head heads (stride
 * head_dim floats) of one row, y[j] = x[j]*cos[j] - x[j+h]*sin[j] and
 * y[j+h] = x[j+h]*cos[j+h] + x[j]*sin[j+h] for j < h = head_dim/2 (cos/sin hold head_dim
 * values for the row's position). */
void nn_rotary_half(float *x, int n_head, int head_dim, const float *cos, const float *sin);

#endif
