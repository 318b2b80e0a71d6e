/* ops.c: norms, RoPE, softmax, activations, embeddings and attention (portable C). */
#include "core/vb.h"
#include "nn/ops.h"
#include "nn/attn_batch.h"
#include "nn/kernels.h"
#include "nn/quant.h"

#include <math.h>
#include <stdatomic.h>

void nn_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * scale;
    if (w)
        for (int64_t i = 0; i < n; i++)
            y[i] *= w[i];
}

void nn_layer_norm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)x[i];
    const float mean = (float)(sum / (double)n);
    double var = 0;
    for (int64_t i = 0; i < n; i++) {
        float d = x[i] - mean;
        y[i] = d;
        var += (double)(d * d);
    }
    const float scale = 1.0f / sqrtf((float)(var / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) {
        y[i] *= scale;
        if (w)
            y[i] *= w[i];
        if (b)
            y[i] += b[i];
    }
}

void nn_rope(float *x, int n_heads, int head_dim, int n_rot, int64_t pos, float base,
             enum nn_rope_mode mode)
{
    float cs[1024];
    if (n_rot > 1024 || n_rot > head_dim || n_rot % 2)
        return; /* callers validate shapes at load time */
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i = 0; i < n_rot; i += 2) {
        cs[i] = cosf(theta);
        cs[i + 1] = sinf(theta);
        theta *= theta_scale;
    }
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (int64_t)h * head_dim;
        if (mode == NN_ROPE_NEOX) {
            int half = n_rot / 2;
            for (int i = 0; i < half; i++) {
                float c = cs[2 * i], s = cs[2 * i + 1];
                float x0 = v[i], x1 = v[i + half];
                v[i] = x0 * c - x1 * s;
                v[i + half] = x0 * s + x1 * c;
            }
        } else {
            for (int i = 0; i < n_rot; i += 2) {
                float c = cs[i], s = cs[i + 1];
                float x0 = v[i], x1 = v[i + 1];
                v[i] = x0 * c - x1 * s;
                v[i + 1] = x0 * s + x1 * c;
            }
        }
    }
}

void nn_softmax(float *x, int64_t n)
{
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        max = fmaxf(max, x[i]);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(x[i] - max);
        sum += (double)e;
        x[i] = e;
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

static void swiglu_c(float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        gate[i] = gate[i] / (1.0f + expf(-gate[i])) * (up ? up[i] : 1.0f);
}

static void gelu_c(float *x, int64_t n)
{
    const float c = 0.79788456080286535587989211986876f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * v * (1.0f + 0.044715f * v * v)));
    }
}

void nn_silu(float *x, int64_t n)
{
    nn_op_kernels()->swiglu(x, NULL, n);
}

void nn_swiglu(float *gate, const float *up, int64_t n)
{
    nn_op_kernels()->swiglu(gate, up, n);
}

void nn_swiglu_ref(float *gate, const float *up, int64_t n)
{
    swiglu_c(gate, up, n);
}

void nn_gelu(float *x, int64_t n)
{
    nn_op_kernels()->gelu(x, n);
}

void nn_gelu_ref(float *x, int64_t n)
{
    gelu_c(x, n);
}

void nn_gelu_erf(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752440f));
}

void nn_add(float *x, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] += b[i];
}

bool nn_get_row(const struct nn_tensor *t, int64_t row, float *out)
{
    if (row < 0 || row >= nn_tensor_rows(t))
        return false;
    return nn_dequantize_row(t->type, (const uint8_t *)t->data + (size_t)row * t->row_bytes, out,
                             t->ne[0]);
}

struct attn_job {
    atomic_llong next; /* next (token, head) item to claim */
    const float *q;
    const uint8_t *k, *v;
    size_t esz; /* bytes per cache element */
    const struct nn_kernel *kq;
    nn_axpy_fn axpy;
    float *out, *work;
    int n_tok, n_head, n_head_kv, head_dim;
    int64_t pos0, kv_stride, work_stride;
};

static void attn_worker(void *ctx, int ith, int nth)
{
    struct attn_job *j = ctx;
    const int q_dim = j->n_head * j->head_dim;
    const int gqa = j->n_head / j->n_head_kv;
    const float scale = 1.0f / sqrtf((float)j->head_dim);
    float *s = j->work + (int64_t)ith * j->work_stride;
    float *qconv = s + j->pos0 + j->n_tok; /* head_dim floats: q in the cache's dot type */
    int64_t n_items = (int64_t)j->n_tok * j->n_head;
    (void)nth;
    for (;;) {
        int64_t it = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (it >= n_items)
            break;
        int t = (int)(it / j->n_head), h = (int)(it % j->n_head);
        int g = h / gqa;
        const float *qh = j->q + (int64_t)t * q_dim + (int64_t)h * j->head_dim;
        const void *qd = qh;
        if (j->kq->from_float) {
            j->kq->from_float(qh, qconv, j->head_dim);
            qd = qconv;
        }
        int64_t n_kv = j->pos0 + t + 1; /* causal: positions 0..pos0+t */
        const size_t row = (size_t)j->kv_stride * j->esz, off = (size_t)g * j->head_dim * j->esz;
        for (int64_t p = 0; p < n_kv; p++) {
            float d;
            j->kq->vec_dot(j->head_dim, &d, j->k + (size_t)p * row + off, qd);
            s[p] = d * scale;
        }
        nn_softmax(s, n_kv);
        float *o = j->out + (int64_t)t * q_dim + (int64_t)h * j->head_dim;
        memset(o, 0, (size_t)j->head_dim * sizeof *o);
        for (int64_t p = 0; p < n_kv; p++)
            j->axpy(j->head_dim, s[p], j->v + (size_t)p * row + off, o);
    }
}

void nn_attention_kv(struct nn_pool *pool, struct nn_scratch *scratch, const float *q, int n_tok,
                     int64_t pos0, const void *k, const void *v, enum nn_type kv_type,
                     int64_t kv_stride, int n_head, int n_head_kv, int head_dim, float *out,
                     float *work)
{
    struct attn_job j = {
        .q = q,
        .k = k,
        .v = v,
        .esz = kv_type == NN_TYPE_F16 ? 2 : 4,
        .kq = nn_kernel_for(kv_type),
        .axpy = nn_axpy_for(kv_type),
        .out = out,
        .work = work,
        .n_tok = n_tok,
        .n_head = n_head,
        .n_head_kv = n_head_kv,
        .head_dim = head_dim,
        .pos0 = pos0,
        .kv_stride = kv_stride,
        .work_stride = pos0 + n_tok + head_dim,
    };
    if (!j.kq || !j.axpy)
        return; /* callers only pass F32 or F16 */
    if (n_tok >= NN_ATTN_BATCH_MIN && nn_attn_batch(pool, scratch, q, n_tok, pos0, k, v, kv_type,
                                                    kv_stride, n_head, n_head_kv, head_dim, out))
        return;
    atomic_init(&j.next, 0);
    nn_pool_run(pool, attn_worker, &j);
}

void nn_attention(struct nn_pool *pool, const float *q, int n_tok, int64_t pos0, const float *k,
                  const float *v, int64_t kv_stride, int n_head, int n_head_kv, int head_dim,
                  float *out, float *work)
{
    nn_attention_kv(pool, NULL, q, n_tok, pos0, k, v, NN_TYPE_F32, kv_stride, n_head, n_head_kv,
                    head_dim, out, work);
}

void nn_gelu_erf_fast(float *x, int64_t n)
{
    nn_op_kernels()->gelu_erf(x, n);
}

void nn_layer_norm_fast(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
    const struct nn_op_kernels *ok = nn_op_kernels();
    if (w && b && ok->layer_norm) {
        ok->layer_norm(y, x, w, b, n, eps);
        return;
    }
    nn_layer_norm(y, x, w, b, n, eps);
}
