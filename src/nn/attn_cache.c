/* attn_cache.c: causal attention of query rows over an f32 or f16 KV cache, with the portable
 * f16 head kernel; the SIMD head kernels are in nn/arch/x86 (see attn_cache.h). */
#include "core/vb.h"
#include "nn/attn_cache.h"
#include "nn/fp16.h"
#include "nn/kernels.h"

#include <math.h>
#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#    define HAVE_X86_KERNELS 1
#endif

typedef float v4f __attribute__((vector_size(16))); /* baseline SSE width on x86-64 */

static inline v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static float dot(const float *a, const float *b, int n)
{
    int i = 0;
    float r = 0;
    if (n >= 16) {
        v4f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
        for (; i + 16 <= n; i += 16) {
            s0 += load4(a + i) * load4(b + i);
            s1 += load4(a + i + 4) * load4(b + i + 4);
            s2 += load4(a + i + 8) * load4(b + i + 8);
            s3 += load4(a + i + 12) * load4(b + i + 12);
        }
        s0 = (s0 + s1) + (s2 + s3);
        r = (s0[0] + s0[2]) + (s0[1] + s0[3]);
    }
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

/* y += a * x */
static void axpy(float *y, float a, const float *x, int n)
{
    int i = 0;
    const v4f av = {a, a, a, a};
    for (; i + 4 <= n; i += 4) {
        v4f r = load4(y + i) + av * load4(x + i);
        memcpy(y + i, &r, sizeof r);
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

float nn_exp_shifted(float *s, int64_t n, float mx)
{
    double sum = 0;
    for (int64_t p = 0; p < n; p++) {
        s[p] = expf(s[p] - mx);
        sum += (double)s[p];
    }
    return (float)(1.0 / sum);
}

/* f32 cache: one (query row, head) item per iteration: scores over positions 0..pos0+t,
 * softmax, weighted sum of the values. */
static void f32_worker(void *ctx, int ith, int nth)
{
    const struct nn_attn_cache *j = ctx;
    const int64_t E = (int64_t)j->n_head * j->head_dim;
    const float *k = j->k, *v = j->v;
    const float scale = 1.0f / sqrtf((float)j->head_dim);
    float *s = j->work + (int64_t)ith * j->work_stride;
    const int64_t items = (int64_t)j->n * j->n_head;
    for (int64_t it = ith; it < items; it += nth) {
        const int t = (int)(it / j->n_head), h = (int)(it % j->n_head);
        const float *q = j->q + t * j->ldq + (int64_t)h * j->head_dim;
        const int64_t n_kv = j->pos0 + t + 1;
        float mx = -INFINITY;
        for (int64_t p = 0; p < n_kv; p++) {
            s[p] = dot(q, k + p * E + (int64_t)h * j->head_dim, j->head_dim) * scale;
            mx = fmaxf(mx, s[p]);
        }
        const float inv = nn_exp_shifted(s, n_kv, mx);
        float *o = j->out + (int64_t)t * E + (int64_t)h * j->head_dim;
        memset(o, 0, (size_t)j->head_dim * sizeof *o);
        for (int64_t p = 0; p < n_kv; p++)
            axpy(o, s[p] * inv, v + p * E + (int64_t)h * j->head_dim, j->head_dim);
    }
}

void nn_attn_cache_f32(struct nn_pool *pool, const struct nn_attn_cache *a)
{
    nn_pool_run(pool, f32_worker, (void *)a);
}

void nn_attn_head_f16_ref(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride,
                          int64_t n_kv, int D, float scale, float *s, float *o)
{
    float mx = -INFINITY;
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *kr = k + p * stride;
        float d = 0;
        for (int i = 0; i < D; i++)
            d += q[i] * nn_fp16_to_fp32(kr[i]);
        s[p] = d * scale;
        mx = fmaxf(mx, s[p]);
    }
    const float inv = nn_exp_shifted(s, n_kv, mx);
    memset(o, 0, (size_t)D * sizeof *o);
    for (int64_t p = 0; p < n_kv; p++) {
        const uint16_t *vr = v + p * stride;
        const float a = s[p] * inv;
        for (int i = 0; i < D; i++)
            o[i] += a * nn_fp16_to_fp32(vr[i]);
    }
}

struct f16_job {
    const struct nn_attn_cache *a;
    int hg; /* heads per work item (divides n_head) */
    bool avx2, avx512;
    atomic_int next; /* next (row, head group) item */
};

/* f16 cache: items of (query row, group of hg heads), claimed dynamically. */
static void f16_worker(void *ctx, int ith, int nth)
{
    struct f16_job *j = ctx;
    const struct nn_attn_cache *a = j->a;
    const int D = a->head_dim;
    const int64_t E = (int64_t)a->n_head * D;
    const uint16_t *k = a->k, *v = a->v;
    (void)nth;
    const float scale = 1.0f / sqrtf((float)D);
    float *s = a->work + (int64_t)ith * a->n_head * a->work_stride;
    const int groups = a->n_head / j->hg;
    const int64_t items = (int64_t)a->n * groups;
    for (;;) {
        const int64_t it = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (it >= items)
            break;
        const int t = (int)(it / groups), h0 = (int)(it % groups) * j->hg;
        const int64_t n_kv = a->pos0 + t + 1, off = (int64_t)h0 * D;
        const float *q = a->q + t * a->ldq + off;
        float *o = a->out + (int64_t)t * E + off;
#ifdef HAVE_X86_KERNELS
        if (j->avx512) {
            nn_attn_heads_f16_avx512(q, k + off, v + off, E, n_kv, j->hg, D / 16, scale, s,
                                     a->work_stride, o);
            continue;
        }
#endif
        for (int hh = 0; hh < j->hg; hh++) {
            const int64_t oh = (int64_t)hh * D;
#ifdef HAVE_X86_KERNELS
            if (j->avx2) {
                nn_attn_head_f16_avx2(q + oh, k + off + oh, v + off + oh, E, n_kv, D, scale, s,
                                      o + oh);
                continue;
            }
#endif
            nn_attn_head_f16_ref(q + oh, k + off + oh, v + off + oh, E, n_kv, D, scale, s, o + oh);
        }
    }
}

void nn_attn_cache_f16(struct nn_pool *pool, const struct nn_attn_cache *a)
{
    const int H = a->n_head, D = a->head_dim;
    struct f16_job j = {.a = a};
#ifdef HAVE_X86_KERNELS
    j.avx2 = nn_kernels_isa() >= NN_ISA_AVX2 && D % 8 == 0 && D <= NN_ATTN_HEAD_AVX2_MAX_D;
    j.avx512 = nn_kernels_isa() >= NN_ISA_AVX512 && D % 16 == 0 && D / 16 <= 4;
#endif
    /* a row's heads in one item when there are rows enough for the threads, else the heads
     * split between them */
    const int nth = nn_pool_threads(pool);
    j.hg = a->n >= nth ? H : VB_MAX(1, H / nth);
    while (H % j.hg)
        j.hg--;
    atomic_init(&j.next, 0);
    nn_pool_run(pool, f16_worker, &j);
}

void nn_f16_to_f32_row(float *d, const uint16_t *s, int64_t n)
{
#ifdef HAVE_X86_KERNELS
    if (nn_kernels_isa() >= NN_ISA_AVX2) {
        nn_f16_to_f32_row_avx2(d, s, n);
        return;
    }
#endif
    nn_fp16_table_init();
    for (int64_t i = 0; i < n; i++)
        d[i] = nn_fp16_to_fp32(s[i]);
}
