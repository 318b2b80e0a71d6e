/* test_attn_cache.c: the KV-cache attention of nn/attn_cache.h. Both caches (f32, f16) against
 * a double-precision attention on the same cache values, for decode rows and batches after
 * earlier positions, with the query rows strided as in a fused QKV buffer; and each SIMD f16
 * head kernel the CPU has (AVX2, AVX-512) against the plain C head on every supported head
 * size, plus the exact f16 widening. */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/attn_cache.h"
#include "nn/fp16.h"
#include "nn/kernels.h"
#include "nn/threadpool.h"
#include "unit/test.h"

#include <math.h>

static uint32_t g_rng = 991;
static float frand(void)
{
    g_rng = g_rng * 1664525u + 1013904223u;
    return (float)((g_rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* out (n rows of H*D) in double: query t at position pos0 + t sees cache rows 0..pos0+t. */
static void reference(const float *q, int64_t ldq, int n, int64_t pos0, const float *k,
                      const float *v, int H, int D, double *out)
{
    const int64_t E = (int64_t)H * D;
    double *s = vb_xmalloc((size_t)(pos0 + n) * sizeof *s);
    for (int t = 0; t < n; t++)
        for (int h = 0; h < H; h++) {
            const int64_t nk = pos0 + t + 1;
            double mx = -INFINITY, sum = 0;
            for (int64_t p = 0; p < nk; p++) {
                double d = 0;
                for (int i = 0; i < D; i++)
                    d += (double)q[t * ldq + h * D + i] * k[p * E + h * D + i];
                s[p] = d / sqrt((double)D);
                mx = fmax(mx, s[p]);
            }
            for (int64_t p = 0; p < nk; p++)
                sum += (s[p] = exp(s[p] - mx));
            for (int i = 0; i < D; i++) {
                double o = 0;
                for (int64_t p = 0; p < nk; p++)
                    o += s[p] / sum * v[p * E + h * D + i];
                out[(t * H + h) * D + i] = o;
            }
        }
    vb_free(s);
}

/* Both caches, (H, D) = (4, 64), (2, 48), (3, 8), n rows at pos0, q of stride 3E. */
TEST(cache_attention_matches_double)
{
    static const int shapes[][2] = {{4, 64}, {2, 48}, {3, 8}};
    static const int runs[][2] = {{1, 0}, {1, 37}, {5, 0}, {9, 20}}; /* n, pos0 */
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(2, &pool) == VB_OK);
    if (!pool)
        return;
    nn_fp16_table_init();
    for (size_t si = 0; si < VB_ARRAY_LEN(shapes); si++)
        for (size_t ri = 0; ri < VB_ARRAY_LEN(runs); ri++) {
            const int H = shapes[si][0], D = shapes[si][1], n = runs[ri][0];
            const int64_t E = (int64_t)H * D, pos0 = runs[ri][1], rows = pos0 + n;
            float *q = vb_xmalloc((size_t)(n * 3 * E) * sizeof *q);
            float *k = vb_xmalloc((size_t)(rows * E) * sizeof *k);
            float *v = vb_xmalloc((size_t)(rows * E) * sizeof *v);
            uint16_t *k16 = vb_xmalloc((size_t)(rows * E) * sizeof *k16);
            uint16_t *v16 = vb_xmalloc((size_t)(rows * E) * sizeof *v16);
            float *out = vb_xmalloc((size_t)(n * E) * sizeof *out);
            float *work = vb_xmalloc((size_t)(2 * H * rows) * sizeof *work);
            double *want = vb_xmalloc((size_t)(n * E) * sizeof *want);
            for (int64_t i = 0; i < n * 3 * E; i++)
                q[i] = 2 * frand();
            for (int64_t i = 0; i < rows * E; i++) {
                /* f16-exact values, so both caches hold the same numbers */
                k16[i] = nn_fp32_to_fp16(frand());
                v16[i] = nn_fp32_to_fp16(frand());
                k[i] = nn_fp16_to_fp32(k16[i]);
                v[i] = nn_fp16_to_fp32(v16[i]);
            }
            reference(q, 3 * E, n, pos0, k, v, H, D, want);
            for (int f16 = 0; f16 < 2; f16++) {
                struct nn_attn_cache a = {
                    .q = q,
                    .ldq = 3 * E,
                    .k = f16 ? (const void *)k16 : (const void *)k,
                    .v = f16 ? (const void *)v16 : (const void *)v,
                    .out = out,
                    .work = work,
                    .work_stride = rows,
                    .pos0 = pos0,
                    .n = n,
                    .n_head = H,
                    .head_dim = D,
                };
                memset(out, 0, (size_t)(n * E) * sizeof *out);
                if (f16)
                    nn_attn_cache_f16(pool, &a);
                else
                    nn_attn_cache_f32(pool, &a);
                double err = 0;
                for (int64_t i = 0; i < n * E; i++)
                    err = fmax(err, fabs(out[i] - want[i]));
                CHECK_MSG(err < 2e-5, "H %d D %d n %d pos0 %d %s cache: max error %g", H, D, n,
                          (int)pos0, f16 ? "f16" : "f32", err);
            }
            vb_free(q);
            vb_free(k);
            vb_free(v);
            vb_free(k16);
            vb_free(v16);
            vb_free(out);
            vb_free(work);
            vb_free(want);
        }
    nn_pool_free(pool);
}

/* The SIMD head kernels against nn_attn_head_f16_ref, head by head. */
TEST(simd_heads_match_reference)
{
    if (nn_cpu_isa() < NN_ISA_AVX2) {
        SKIP(simd_heads_match_reference, "CPU without AVX2");
        return;
    }
    enum { NKV = 29, NH = 5, MAX_D = NN_ATTN_HEAD_AVX2_MAX_D };
    const int64_t E = (int64_t)NH * MAX_D;
    float *q = vb_xmalloc((size_t)E * sizeof *q);
    uint16_t *k = vb_xmalloc((size_t)(NKV * E) * sizeof *k);
    uint16_t *v = vb_xmalloc((size_t)(NKV * E) * sizeof *v);
    float *s = vb_xmalloc((size_t)(NH * NKV) * sizeof *s);
    float *want = vb_xmalloc((size_t)E * sizeof *want), *got = vb_xmalloc((size_t)E * sizeof *got);
    nn_fp16_table_init();
    for (int64_t i = 0; i < E; i++)
        q[i] = 2 * frand();
    for (int64_t i = 0; i < NKV * E; i++) {
        k[i] = nn_fp32_to_fp16(frand());
        v[i] = nn_fp32_to_fp16(frand());
    }
    for (int D = 8; D <= MAX_D; D += 8) {
        const float scale = 1.0f / sqrtf((float)D);
        nn_attn_head_f16_ref(q, k, v, E, NKV, D, scale, s, want);
        nn_attn_head_f16_avx2(q, k, v, E, NKV, D, scale, s, got);
        double err = 0;
        for (int i = 0; i < D; i++)
            err = fmax(err, fabs(got[i] - want[i]));
        CHECK_MSG(err < 1e-5, "AVX2 head D %d: max error %g", D, err);
    }
    if (nn_cpu_isa() >= NN_ISA_AVX512)
        for (int n16 = 1; n16 <= 4; n16++)
            for (int nh = 1; nh <= NH; nh++) {
                const int D = 16 * n16;
                const float scale = 1.0f / sqrtf((float)D);
                for (int h = 0; h < nh; h++)
                    nn_attn_head_f16_ref(q + h * D, k + h * D, v + h * D, E, NKV, D, scale, s,
                                         want + h * D);
                nn_attn_heads_f16_avx512(q, k, v, E, NKV, nh, n16, scale, s, NKV, got);
                double err = 0;
                for (int i = 0; i < nh * D; i++)
                    err = fmax(err, fabs(got[i] - want[i]));
                CHECK_MSG(err < 1e-5, "AVX-512 heads nh %d D %d: max error %g", nh, D, err);
            }
    /* widening is exact */
    nn_f16_to_f32_row_avx2(got, k, 37);
    for (int i = 0; i < 37; i++)
        CHECK(got[i] == nn_fp16_to_fp32(k[i]));
    vb_free(q);
    vb_free(k);
    vb_free(v);
    vb_free(s);
    vb_free(want);
    vb_free(got);
}

int main(void)
{
    RUN(cache_attention_matches_double);
    RUN(simd_heads_match_reference);
    return test_summary();
}
