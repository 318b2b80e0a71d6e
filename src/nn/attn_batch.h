/* attn_batch.h: causal grouped-query attention of a batch of prompt tokens over an F16 or F32
 * KV cache, blocked for AVX-512 (nn_attention_kv's fast path for batches). */
#ifndef NN_ATTN_BATCH_H
#define NN_ATTN_BATCH_H

#include "core/vb.h"
#include "nn/scratch.h"
#include "nn/threadpool.h"
#include "nn/types.h"

/* Same contract as nn_attention_kv (nn/ops.h), except that the query stays F32 for Q.K with
 * an F16 cache (keys and values are widened exactly). Its buffers (the widened cache, ~4 *
 * head_dim * n_head_kv * (pos0 + n_tok) floats, and a score block per thread) come from
 * `scratch` (grown as needed, kept by the caller; NULL: allocated and freed per call).
 * Returns false, writing nothing, where it does not apply (no AVX-512, head_dim not a
 * multiple of 64 or above 512, another cache type) or on OOM; the caller then takes the
 * per-head path. */
bool nn_attn_batch(struct nn_pool *pool, struct nn_scratch *scratch, const float *q, int n_tok,
                   int64_t pos0, const void *k, const void *v, enum nn_type kv_type,
                   int64_t kv_stride, int n_head, int n_head_kv, int head_dim, float *out);

#endif
