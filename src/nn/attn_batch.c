/* attn_batch.c: causal grouped-query attention for a batch of prompt tokens over the KV cache
 * (see attn_batch.h): the shapes the kernel takes, then the kernel table's batch kernel
 * (AVX-512 only: nn/arch/x86/avx512/attn_batch_avx512.c). */
#include "core/vb.h"
#include "nn/attn_batch.h"
#include "nn/kernels.h"

bool nn_attn_batch(struct nn_pool *pool, struct nn_scratch *scratch, const float *q, int n_tok,
                   int64_t pos0, const void *k, const void *v, enum nn_type kv_type,
                   int64_t kv_stride, int n_head, int n_head_kv, int head_dim, float *out)
{
    const struct nn_op_kernels *ok = nn_op_kernels();
    if (!ok->attn_batch || (kv_type != NN_TYPE_F16 && kv_type != NN_TYPE_F32) || head_dim % 64 ||
        head_dim > 512 || n_head_kv <= 0 || n_head % n_head_kv || n_tok <= 0)
        return false;
    return ok->attn_batch(pool, scratch, q, n_tok, pos0, k, v, kv_type, kv_stride, n_head,
                          n_head_kv, head_dim, out);
}
