/* attn_batch_avx512.c: causal grouped-query attention for a batch of prompt tokens over the KV
 * cache (nn/attn_batch.h checks the shapes and calls it through the kernel table). The cache
 * is converted once per call to F32 (keys transposed), then each work item, one KV head and a
 * few tokens (every query head of the group), computes its scores against 16 keys at a time,
 * a softmax per row, and P.V with 4 rows x 64 dimensions held in registers. */
#include "core/vb.h"
#include "nn/arch/x86/avx512/avx512.h"
#include "nn/attn_batch.h"

#include "core/alloc.h"
#include "nn/attention.h"
#include "nn/fp16.h"
#include "nn/kernels.h"
#include "nn/matmul.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include <immintrin.h>

#define AB_TGT    __attribute__((target("avx512f,f16c")))
#define AB_TOKENS 4 /* tokens per work item */
#define AB_KEYS   16

struct ab_job {
    const float *q;
    const uint8_t *k, *v;
    bool f16;
    int64_t kv_stride; /* cache row stride in elements */
    int n_tok, n_head, n_head_kv, head_dim, gqa;
    int64_t pos0, n_kv, n_kvp; /* keys; padded to AB_KEYS */
    float *kt;                 /* [n_head_kv][head_dim][n_kvp] */
    float *vf;                 /* [n_head_kv][n_kvp][head_dim] */
    float *s;                  /* per thread: [rows per item][n_kvp] */
    size_t s_floats;
    float *out;
    atomic_llong next;
    int64_t n_items;
};

/* Row p of the cache at base, from head g's first element. */
static inline const uint8_t *cache_at(const struct ab_job *j, const uint8_t *base, int64_t p, int g)
{
    const size_t esz = j->f16 ? 2 : 4;
    return base + ((size_t)p * (size_t)j->kv_stride + (size_t)g * (size_t)j->head_dim) * esz;
}

AB_TGT static void row_to_f32(const struct ab_job *j, const uint8_t *src, float *dst)
{
    for (int d = 0; d < j->head_dim; d += 16)
        _mm512_storeu_ps(
            dst + d, j->f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + 2 * d)))
                            : _mm512_loadu_ps((const float *)src + d));
}

/* Keys transposed and values as F32, key rows split over the threads in whole blocks of
 * AB_KEYS (no two threads write one cache line); padding keys zero. */
AB_TGT static void convert_worker(void *ctx, int ith, int nth)
{
    struct ab_job *j = ctx;
    float row[512];
    const int D = j->head_dim;
    const int64_t n_blk = j->n_kvp / AB_KEYS, per = (n_blk + nth - 1) / nth;
    const int64_t p0 = VB_MIN(n_blk, ith * per) * AB_KEYS;
    const int64_t p1 = VB_MIN(n_blk, (ith + 1) * per) * AB_KEYS;
    for (int g = 0; g < j->n_head_kv; g++) {
        float *kt = j->kt + (size_t)g * D * j->n_kvp, *vf = j->vf + (size_t)g * j->n_kvp * D;
        for (int64_t p = p0; p < p1; p++) {
            if (p >= j->n_kv) {
                for (int d = 0; d < D; d++)
                    kt[(size_t)d * j->n_kvp + p] = 0;
                memset(vf + p * D, 0, (size_t)D * sizeof *vf);
                continue;
            }
            row_to_f32(j, cache_at(j, j->k, p, g), row);
            for (int d = 0; d < D; d++)
                kt[(size_t)d * j->n_kvp + p] = row[d];
            row_to_f32(j, cache_at(j, j->v, p, g), vf + p * D);
        }
    }
}

/* Offset in q and out of row r of item (g, t0): token t0 + r / gqa, head g * gqa + r % gqa. */
static inline int64_t row_off(const struct ab_job *j, int g, int t0, int r)
{
    return (int64_t)(t0 + r / j->gqa) * j->n_head * j->head_dim +
           (int64_t)(g * j->gqa + r % j->gqa) * j->head_dim;
}

/* s[i][p] = q_i . k_p for 4 rows (rows past nq repeat the last) and keys [0, nk). */
AB_TGT static void scores4(const struct ab_job *j, const float *kt, const float *q[4], float *s[4],
                           int64_t nk)
{
    const int D = j->head_dim;
    for (int64_t p = 0; p < nk; p += AB_KEYS) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *kp = kt + p;
        for (int d = 0; d < D; d++) {
            const __m512 kv = _mm512_loadu_ps(kp + (size_t)d * j->n_kvp);
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(q[0][d]), kv, a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(q[1][d]), kv, a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(q[2][d]), kv, a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(q[3][d]), kv, a3);
        }
        _mm512_storeu_ps(s[0] + p, a0);
        _mm512_storeu_ps(s[1] + p, a1);
        _mm512_storeu_ps(s[2] + p, a2);
        _mm512_storeu_ps(s[3] + p, a3);
    }
}

/* out_i = sum_p s_i[p] v_p over keys [0, nk) for 4 rows, 64 dimensions at a time. */
AB_TGT static void pv4(const struct ab_job *j, const float *vf, float *const s[4], float *o[4],
                       int64_t nk)
{
    const int D = j->head_dim;
    for (int d0 = 0; d0 < D; d0 += 64) {
        __m512 acc[4][4];
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < 4; c++)
                acc[i][c] = _mm512_setzero_ps();
        for (int64_t p = 0; p < nk; p++) {
            const float *vp = vf + p * D + d0;
            const __m512 v0 = _mm512_loadu_ps(vp), v1 = _mm512_loadu_ps(vp + 16);
            const __m512 v2 = _mm512_loadu_ps(vp + 32), v3 = _mm512_loadu_ps(vp + 48);
            for (int i = 0; i < 4; i++) {
                const __m512 w = _mm512_set1_ps(s[i][p]);
                acc[i][0] = _mm512_fmadd_ps(w, v0, acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(w, v1, acc[i][1]);
                acc[i][2] = _mm512_fmadd_ps(w, v2, acc[i][2]);
                acc[i][3] = _mm512_fmadd_ps(w, v3, acc[i][3]);
            }
        }
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < 4; c++)
                _mm512_storeu_ps(o[i] + d0 + 16 * c, acc[i][c]);
    }
}

static void item_worker(void *ctx, int ith, int nth)
{
    struct ab_job *j = ctx;
    (void)nth;
    const int D = j->head_dim;
    const float scale = 1.0f / sqrtf((float)D);
    float *sbuf = j->s + (size_t)ith * j->s_floats;
    float scratch_out[4][512];
    for (;;) {
        const int64_t it = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (it >= j->n_items)
            break;
        const int64_t n_tb = (j->n_tok + AB_TOKENS - 1) / AB_TOKENS;
        const int g = (int)(it / n_tb), t0 = (int)(it % n_tb) * AB_TOKENS;
        const int nt = VB_MIN(AB_TOKENS, j->n_tok - t0), rows = nt * j->gqa;
        const float *kt = j->kt + (size_t)g * D * j->n_kvp;
        const float *vf = j->vf + (size_t)g * j->n_kvp * D;
        for (int r0 = 0; r0 < rows; r0 += 4) {
            const float *q[4];
            float *s[4], *o[4];
            int64_t nk_max = 0;
            for (int i = 0; i < 4; i++) {
                const int r = VB_MIN(r0 + i, rows - 1);
                q[i] = j->q + row_off(j, g, t0, r);
                s[i] = sbuf + (size_t)i * j->n_kvp;
                o[i] = r0 + i < rows ? j->out + row_off(j, g, t0, r) : scratch_out[i];
                nk_max = VB_MAX(nk_max, j->pos0 + t0 + r / j->gqa + 1);
            }
            const int64_t nk_pad = (nk_max + AB_KEYS - 1) / AB_KEYS * AB_KEYS;
            scores4(j, kt, q, s, nk_pad);
            for (int i = 0; i < 4; i++) {
                const int r = VB_MIN(r0 + i, rows - 1);
                const int64_t nk = j->pos0 + t0 + r / j->gqa + 1; /* causal */
                nn_softmax_scaled(s[i], (int)nk, scale);
                for (int64_t p = nk; p < nk_max; p++)
                    s[i][p] = 0;
            }
            pv4(j, vf, s, o, nk_max);
        }
    }
}

bool nn_avx512_attn_batch(struct nn_pool *pool, struct nn_scratch *scratch, const float *q,
                          int n_tok, int64_t pos0, const void *k, const void *v,
                          enum nn_type kv_type, int64_t kv_stride, int n_head, int n_head_kv,
                          int head_dim, float *out)
{
    struct ab_job j = {
        .q = q,
        .k = k,
        .v = v,
        .f16 = kv_type == NN_TYPE_F16,
        .kv_stride = kv_stride,
        .n_tok = n_tok,
        .n_head = n_head,
        .n_head_kv = n_head_kv,
        .head_dim = head_dim,
        .gqa = n_head / n_head_kv,
        .pos0 = pos0,
        .n_kv = pos0 + n_tok,
        .out = out,
    };
    j.n_kvp = (j.n_kv + AB_KEYS - 1) / AB_KEYS * AB_KEYS;
    j.s_floats = 4 * (size_t)j.n_kvp;
    const int nth = pool ? nn_pool_threads(pool) : 1;
    const size_t cache_floats = 2 * (size_t)n_head_kv * (size_t)head_dim * (size_t)j.n_kvp;
    const size_t bytes = (cache_floats + (size_t)nth * j.s_floats) * sizeof(float);
    float *buf = scratch ? (nn_scratch_reserve(scratch, bytes) ? scratch->data : NULL)
                         : vb_try_malloc(bytes);
    if (!buf)
        return false;
    j.kt = buf;
    j.vf = buf + cache_floats / 2;
    j.s = buf + cache_floats;
    nn_pool_run(pool, convert_worker, &j);
    j.n_items = (int64_t)n_head_kv * ((n_tok + AB_TOKENS - 1) / AB_TOKENS);
    atomic_init(&j.next, 0);
    nn_pool_run(pool, item_worker, &j);
    if (!scratch)
        vb_free(buf);
    return true;
}
