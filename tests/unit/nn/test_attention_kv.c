/* test_attention_kv.c: causal grouped-query attention over the KV cache (nn_attention_kv and
 * its batch path nn_attn_batch) against a double-precision implementation on the same cache
 * values: F32 and F16 caches, prompt batches at position 0 and after earlier tokens, GQA
 * groups of 1, 7 and 8, head sizes 64 and 128, single tokens (decode). */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/attn_batch.h"
#include "nn/fp16.h"
#include "nn/matmul.h"
#include "nn/ops.h"
#include "nn/quant.h"
#include "nn/threadpool.h"
#include "unit/test.h"

#include <math.h>

static uint32_t g_rng = 4242;
static float frand(void)
{
    g_rng = g_rng * 1664525u + 1013904223u;
    return (float)((g_rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

struct shape {
    int n_head, n_head_kv, head_dim;
};

/* out for n_tok queries at pos0.. in double from the cache values (kc, vc as F32). */
static void reference(const float *q, int n_tok, int64_t pos0, const float *kc, const float *vc,
                      int64_t stride, struct shape sh, double *out)
{
    const int D = sh.head_dim, gqa = sh.n_head / sh.n_head_kv;
    double *s = vb_xmalloc((size_t)(pos0 + n_tok) * sizeof *s);
    for (int t = 0; t < n_tok; t++)
        for (int h = 0; h < sh.n_head; h++) {
            const float *qh = q + ((int64_t)t * sh.n_head + h) * D;
            const int64_t nk = pos0 + t + 1, off = (int64_t)(h / gqa) * D;
            double mx = -INFINITY, sum = 0;
            for (int64_t p = 0; p < nk; p++) {
                double d = 0;
                for (int i = 0; i < D; i++)
                    d += (double)qh[i] * kc[p * stride + off + i];
                s[p] = d / sqrt((double)D);
                mx = fmax(mx, s[p]);
            }
            for (int64_t p = 0; p < nk; p++)
                sum += s[p] = exp(s[p] - mx);
            double *o = out + ((int64_t)t * sh.n_head + h) * D;
            for (int i = 0; i < D; i++) {
                double acc = 0;
                for (int64_t p = 0; p < nk; p++)
                    acc += s[p] * vc[p * stride + off + i];
                o[i] = acc / sum;
            }
        }
    vb_free(s);
}

/* One case through nn_attention_kv (batch: through nn_attn_batch directly); max error relative
 * to the largest |value| of the output. */
static double run_case(struct nn_pool *pool, struct nn_scratch *scr, struct shape sh, int n_tok,
                       int64_t pos0, bool f16, bool batch)
{
    const int D = sh.head_dim;
    const int64_t stride = (int64_t)sh.n_head_kv * D + 3; /* rows wider than the heads */
    const int64_t n_kv = pos0 + n_tok, qd = (int64_t)sh.n_head * D;
    float *kc = vb_xmalloc((size_t)(n_kv * stride) * sizeof *kc);
    float *vc = vb_xmalloc((size_t)(n_kv * stride) * sizeof *vc);
    uint16_t *k16 = vb_xmalloc((size_t)(n_kv * stride) * 2),
             *v16 = vb_xmalloc((size_t)(n_kv * stride) * 2);
    float *q = vb_xmalloc((size_t)(n_tok * qd) * sizeof *q),
          *out = vb_xmalloc((size_t)(n_tok * qd) * sizeof *out);
    double *ref = vb_xmalloc((size_t)(n_tok * qd) * sizeof *ref);
    for (int64_t i = 0; i < n_kv * stride; i++) {
        kc[i] = 2.0f * frand();
        vc[i] = frand();
        if (f16) { /* the reference sees the values the F16 cache holds */
            k16[i] = nn_fp32_to_fp16(kc[i]);
            v16[i] = nn_fp32_to_fp16(vc[i]);
            kc[i] = nn_fp16_to_fp32(k16[i]);
            vc[i] = nn_fp16_to_fp32(v16[i]);
        }
    }
    for (int64_t i = 0; i < n_tok * qd; i++)
        q[i] = 2.0f * frand();
    reference(q, n_tok, pos0, kc, vc, stride, sh, ref);
    const void *k = f16 ? (const void *)k16 : kc, *v = f16 ? (const void *)v16 : vc;
    const enum nn_type kt = f16 ? NN_TYPE_F16 : NN_TYPE_F32;
    if (batch) {
        CHECK(nn_attn_batch(pool, scr, q, n_tok, pos0, k, v, kt, stride, sh.n_head, sh.n_head_kv, D,
                            out));
    } else {
        float *work = vb_xmalloc((size_t)nn_pool_threads(pool) * (size_t)(n_kv + D) * sizeof *work);
        nn_attention_kv(pool, scr, q, n_tok, pos0, k, v, kt, stride, sh.n_head, sh.n_head_kv, D,
                        out, work);
        vb_free(work);
    }
    double err = 0, mag = 0;
    for (int64_t i = 0; i < n_tok * qd; i++) {
        err = fmax(err, fabs(out[i] - ref[i]));
        mag = fmax(mag, fabs(ref[i]));
    }
    vb_free(kc);
    vb_free(vc);
    vb_free(k16);
    vb_free(v16);
    vb_free(q);
    vb_free(out);
    vb_free(ref);
    return err / mag;
}

static const struct shape shapes[] = {{4, 4, 64}, {14, 2, 64}, {16, 2, 128}};

/* The dispatch (batch path for 4+ tokens, per head otherwise): F32 cache within F32 rounding;
 * F16 within the f16 rounding of the query that the per-head path applies (2^-11 relative on
 * each score). */
TEST(attention_kv_matches_reference)
{
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(2, &pool) == VB_OK);
    struct nn_scratch scr = {0};
    static const int toks[] = {1, 3, 4, 9, 33};
    for (size_t si = 0; si < VB_ARRAY_LEN(shapes); si++)
        for (size_t ti = 0; ti < VB_ARRAY_LEN(toks); ti++)
            for (int64_t pos0 = 0; pos0 <= 21; pos0 += 21)
                for (int f16 = 0; f16 < 2; f16++) {
                    const double e = run_case(pool, &scr, shapes[si], toks[ti], pos0, f16, false);
                    CHECK_MSG(e < (f16 ? 3e-3 : 1e-5), "heads %d/%d dim %d n_tok %d pos0 %d %s: %g",
                              shapes[si].n_head, shapes[si].n_head_kv, shapes[si].head_dim,
                              toks[ti], (int)pos0, f16 ? "f16" : "f32", e);
                }
    nn_scratch_release(&scr);
    nn_pool_free(pool);
}

/* The batch path itself, with and without a pool, every remainder of its 4-token items and
 * 16-key blocks: the query stays F32, so both caches are within F32 rounding. */
TEST(attention_batch_matches_reference)
{
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(3, &pool) == VB_OK);
    struct nn_scratch scr = {0};
    const struct shape one = {4, 4, 64};
    float q[4 * 64] = {0}, kv[4 * 64] = {0}, o[4 * 64];
    if (!nn_attn_batch(pool, NULL, q, 1, 0, kv, kv, NN_TYPE_F32, 4 * 64, one.n_head, one.n_head_kv,
                       64, o)) {
        SKIP(attention_batch_matches_reference,
             "no AVX-512: the batch attention path is NOT tested");
        nn_pool_free(pool);
        return;
    }
    for (size_t si = 0; si < VB_ARRAY_LEN(shapes); si++)
        for (int n_tok = 1; n_tok <= 19; n_tok += 3)
            for (int64_t pos0 = 0; pos0 <= 30; pos0 += 15)
                for (int f16 = 0; f16 < 2; f16++) {
                    struct nn_pool *p = n_tok % 2 ? pool : NULL;
                    const double e =
                        run_case(p, n_tok % 3 ? &scr : NULL, shapes[si], n_tok, pos0, f16, true);
                    CHECK_MSG(e < 1e-5, "heads %d/%d dim %d n_tok %d pos0 %d %s: %g",
                              shapes[si].n_head, shapes[si].n_head_kv, shapes[si].head_dim, n_tok,
                              (int)pos0, f16 ? "f16" : "f32", e);
                }
    /* shapes it does not take: the caller falls back */
    CHECK(!nn_attn_batch(pool, NULL, q, 1, 0, kv, kv, NN_TYPE_BF16, 4 * 64, 4, 4, 64, o));
    CHECK(!nn_attn_batch(pool, NULL, q, 1, 0, kv, kv, NN_TYPE_F32, 4 * 64, 4, 4, 48, o));
    CHECK(!nn_attn_batch(pool, NULL, q, 1, 0, kv, kv, NN_TYPE_F32, 4 * 64, 4, 3, 64, o));
    nn_scratch_release(&scr);
    nn_pool_free(pool);
}

int main(void)
{
    nn_fp16_table_init();
    RUN(attention_kv_matches_reference);
    RUN(attention_batch_matches_reference);
    return test_summary();
}
