/* attention.c: whole-sequence multi-head attention (bidirectional/causal, optional ESPnet
 * relative-position term) threaded over (head, query) pairs; dot products use the F32
 * vec_dot kernel of the best ISA. */
#include "core/vb.h"
#include "nn/attention.h"
#include "nn/kernels.h"
#include "nn/ops.h"

struct mha_job {
    const struct nn_mha *a;
    float *work;
    size_t per_thread;
    nn_vec_dot_fn dot;
};

static void mha_worker(void *ctx, int ith, int nth)
{
    const struct mha_job *j = ctx;
    const struct nn_mha *a = j->a;
    const int D = a->head_dim;
    float *scores = j->work + (size_t)ith * j->per_thread;
    float *qu = scores + a->n_kv;
    float *qv = qu + D;
    int64_t total = (int64_t)a->n_head * a->n_q;
    int64_t u0 = total * ith / nth, u1 = total * (ith + 1) / nth;
    for (int64_t u = u0; u < u1; u++) {
        int h = (int)(u / a->n_q);
        int i = (int)(u % a->n_q);
        const float *qi = a->q + (int64_t)i * a->ldq + (int64_t)h * D;
        int n_keys = a->n_kv;
        if (a->causal)
            n_keys = (int)VB_MIN((int64_t)a->n_kv, a->q_pos0 + i + 1);
        /* content term */
        const float *qc = qi;
        if (a->bias_u) {
            for (int d = 0; d < D; d++)
                qu[d] = qi[d] + a->bias_u[(int64_t)h * D + d];
            qc = qu;
        }
        for (int k = 0; k < n_keys; k++)
            j->dot(D, &scores[k], a->k + (int64_t)k * a->ldk + (int64_t)h * D, qc);
        /* relative-position term: key k uses row (n_kv-1) - i + k */
        if (a->rel) {
            const float *qp = qi;
            if (a->bias_v) {
                for (int d = 0; d < D; d++)
                    qv[d] = qi[d] + a->bias_v[(int64_t)h * D + d];
                qp = qv;
            }
            const float *base = a->rel + (int64_t)(a->n_kv - 1 - i) * a->ld_rel + (int64_t)h * D;
            for (int k = 0; k < n_keys; k++) {
                float s;
                j->dot(D, &s, base + (int64_t)k * a->ld_rel, qp);
                scores[k] += s;
            }
        }
        for (int k = 0; k < n_keys; k++)
            scores[k] *= a->scale;
        nn_softmax(scores, n_keys);
        float *o = a->out + (int64_t)i * a->ldo + (int64_t)h * D;
        memset(o, 0, (size_t)D * sizeof *o);
        for (int k = 0; k < n_keys; k++) {
            const float *vk = a->v + (int64_t)k * a->ldv + (int64_t)h * D;
            const float w = scores[k];
            for (int d = 0; d < D; d++)
                o[d] += w * vk[d];
        }
    }
}

size_t nn_mha_work_floats(const struct nn_mha *a, int n_threads)
{
    size_t per = (size_t)a->n_kv + 2 * (size_t)a->head_dim;
    return per * (size_t)VB_MAX(n_threads, 1);
}

void nn_mha(struct nn_pool *pool, const struct nn_mha *a, float *work)
{
    struct mha_job j = {
        .a = a,
        .work = work,
        .per_thread = (size_t)a->n_kv + 2 * (size_t)a->head_dim,
        .dot = nn_kernel_for(NN_TYPE_F32)->vec_dot,
    };
    nn_pool_run(pool, mha_worker, &j);
}

void nn_rotary_half(float *x, int n_head, int head_dim, const float *cos, const float *sin)
{
    const int half = head_dim / 2;
    for (int h = 0; h < n_head; h++) {
        float *v = x + (int64_t)h * head_dim;
        for (int j = 0; j < half; j++) {
            float x0 = v[j], x1 = v[j + half];
            v[j] = x0 * cos[j] - x1 * sin[j];
            v[j + half] = x1 * cos[j + half] + x0 * sin[j + half];
        }
    }
}
