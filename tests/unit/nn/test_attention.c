/* test_attention.c: nn_mha against a direct double-precision implementation: plain,
 * causal with an offset, query biases and the ESPnet relative-position term; rotary helper. */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/attention.h"
#include "nn/gemm.h"
#include "nn/threadpool.h"
#include "unit/test.h"

static uint32_t g_rng = 777;
static float frand(void)
{
    g_rng = g_rng * 1664525u + 1013904223u;
    return (float)((g_rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *rnd(size_t n)
{
    float *p = vb_xmalloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static double run_case(struct nn_pool *pool, int n_q, int n_kv, int H, int D, bool causal,
                       int64_t pos0, bool biases, bool rel, bool bf16)
{
    const int W = H * D, ld = W + 3; /* strided rows */
    float *q = rnd((size_t)n_q * ld), *k = rnd((size_t)n_kv * ld), *v = rnd((size_t)n_kv * ld);
    float *u = rnd((size_t)W), *bv = rnd((size_t)W), *r = rnd((size_t)(2 * n_kv - 1) * W);
    float *out = vb_xmalloc((size_t)n_q * W * sizeof *out);
    struct nn_mha a = {.q = q,
                       .k = k,
                       .v = v,
                       .ldq = ld,
                       .ldk = ld,
                       .ldv = ld,
                       .out = out,
                       .ldo = W,
                       .n_q = n_q,
                       .n_kv = n_kv,
                       .n_head = H,
                       .head_dim = D,
                       .scale = 1.0f / sqrtf((float)D),
                       .causal = causal,
                       .q_pos0 = pos0,
                       .bias_u = biases ? u : NULL,
                       .rel = rel ? r : NULL,
                       .ld_rel = W,
                       .bias_v = biases ? bv : NULL,
                       .bf16 = bf16};
    float *work = vb_xmalloc(nn_mha_work_floats(&a, nn_pool_threads(pool)) * sizeof *work);
    nn_mha(pool, &a, work);
    double err = 0, *s = vb_xmalloc((size_t)n_kv * sizeof *s);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < n_q; i++) {
            int nk = causal ? (int)VB_MIN((int64_t)n_kv, pos0 + i + 1) : n_kv;
            double mx = -1e300, sum = 0;
            for (int j = 0; j < nk; j++) {
                double acc = 0;
                for (int d = 0; d < D; d++) {
                    double qd = q[(size_t)i * ld + h * D + d];
                    acc += (qd + (biases ? u[h * D + d] : 0)) * k[(size_t)j * ld + h * D + d];
                    if (rel)
                        acc += (qd + (biases ? bv[h * D + d] : 0)) *
                               r[(size_t)(n_kv - 1 - i + j) * W + h * D + d];
                }
                s[j] = acc / sqrt((double)D);
                mx = VB_MAX(mx, s[j]);
            }
            for (int j = 0; j < nk; j++)
                sum += (s[j] = exp(s[j] - mx));
            for (int d = 0; d < D; d++) {
                double o = 0;
                for (int j = 0; j < nk; j++)
                    o += s[j] / sum * v[(size_t)j * ld + h * D + d];
                err = VB_MAX(err, fabs(o - out[(size_t)i * W + h * D + d]));
            }
        }
    vb_free(s);
    vb_free(q);
    vb_free(k);
    vb_free(v);
    vb_free(u);
    vb_free(bv);
    vb_free(r);
    vb_free(out);
    vb_free(work);
    return err;
}

TEST(test_cases)
{
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(2, &pool) == VB_OK);
    for (int th = 0; th < 2; th++) {
        struct nn_pool *p = th ? pool : NULL;
        CHECK(run_case(p, 7, 7, 2, 8, false, 0, false, false, false) < 1e-5);
        CHECK(run_case(p, 200, 200, 3, 64, false, 0, true, true, false) <
              1e-5); /* > one query block */
        CHECK(run_case(p, 33, 33, 2, 32, false, 0, false, true, false) < 1e-5);
        CHECK(run_case(p, 9, 9, 4, 16, true, 0, false, false, false) < 1e-5);
        CHECK(run_case(p, 3, 12, 2, 16, true, 9, true, false, false) <
              1e-5); /* decode with a cache */
        CHECK(run_case(p, 1, 1, 1, 4, false, 0, false, false, false) < 1e-6);
        /* bf16 products on AMX (F32 where AMX is missing): ~3 significant digits */
        double e1 = run_case(p, 200, 200, 3, 64, false, 0, true, true, true);
        double e2 = run_case(p, 9, 9, 4, 16, true, 0, false, false, true);
        CHECK_MSG(e1 < 3e-2 && e2 < 3e-2, "bf16 errors %g %g", e1, e2);
        if (th == 0)
            fprintf(stderr, "  bf16 (%s) max abs err %.3g / %.3g\n",
                    nn_gemm_amx_available() ? "AMX" : "F32 fallback", e1, e2);
    }
    nn_pool_free(pool);
}

TEST(test_rotary_half)
{
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, c[4], s[4];
    for (int j = 0; j < 4; j++) {
        c[j] = cosf(0.3f * (float)(j % 2 + 1));
        s[j] = sinf(0.3f * (float)(j % 2 + 1));
    }
    nn_rotary_half(x, 2, 4, c, s);
    /* head 0: pairs (1,3) and (2,4) rotated by the j-th angle */
    CHECK_NEAR(x[0], 1 * c[0] - 3 * s[0], 1e-6);
    CHECK_NEAR(x[2], 3 * c[2] + 1 * s[2], 1e-6);
    CHECK_NEAR(x[1], 2 * c[1] - 4 * s[1], 1e-6);
    CHECK_NEAR(x[7], 8 * c[3] + 6 * s[3], 1e-6);
}

int main(void)
{
    RUN(test_cases);
    RUN(test_rotary_half);
    return test_summary();
}
