/* test_ops.c: the vectorised element-wise ops of nn/ops.h and the row softmax of
 * nn/attention.h against their plain C definitions, on every length remainder. */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/attention.h"
#include "nn/kernels.h"
#include "nn/ops.h"
#include "unit/test.h"

#include <math.h>

static uint32_t g_rng = 777;
static float frand(float a)
{
    g_rng = g_rng * 1664525u + 1013904223u;
    return ((float)((g_rng >> 8) & 0xffff) / 32768.0f - 1.0f) * a;
}

/* GELU (tanh form), fast path and plain C, against the same formula in double; errors
 * relative to max(|x|, 1e-3) (the C form loses digits to 1 + tanh(u) where tanh is near -1),
 * over small, large and extreme inputs (saturated tanh both ways). */
TEST(test_gelu)
{
    for (int n = 0; n < 70; n++) {
        float *x = vb_xmalloc((size_t)(n + 1) * sizeof *x);
        float *f = vb_xmalloc((size_t)(n + 1) * sizeof *f),
              *r = vb_xmalloc((size_t)(n + 1) * sizeof *r);
        for (int i = 0; i < n; i++)
            x[i] = i % 7 == 0 ? frand(40.0f) : i % 5 == 0 ? frand(1e-3f) : frand(5.0f);
        memcpy(f, x, (size_t)n * sizeof *x);
        memcpy(r, x, (size_t)n * sizeof *x);
        nn_gelu(f, n);
        nn_gelu_ref(r, n);
        double ef = 0, er = 0;
        for (int i = 0; i < n; i++) {
            const double v = x[i], u = 0.7978845608028654 * v * (1.0 + 0.044715 * v * v);
            const double g = 0.5 * v * (1.0 + tanh(u)), sc = fmax(fabs(v), 1e-3);
            ef = fmax(ef, fabs(f[i] - g) / sc);
            er = fmax(er, fabs(r[i] - g) / sc);
        }
        CHECK_MSG(ef < 1e-6 && er < 1e-6, "n %d: relative error %g (C %g)", n, ef, er);
        vb_free(x);
        vb_free(f);
        vb_free(r);
    }
    float big[3] = {-100.0f, 100.0f, 0.0f};
    nn_gelu(big, 3);
    CHECK(big[0] == 0.0f && big[1] == 100.0f && big[2] == 0.0f);
}

/* SwiGLU and SiLU, fast path (4e-6: a few ulp of the vector exp) and plain C (1e-6), against
 * the same formula in double; errors relative
 * to max(|g u|, 1e-30), every length remainder, saturated gates both ways. */
TEST(test_swiglu)
{
    for (int n = 0; n < 70; n++) {
        float *g = vb_xmalloc((size_t)(n + 1) * sizeof *g),
              *u = vb_xmalloc((size_t)(n + 1) * sizeof *u);
        float *f = vb_xmalloc((size_t)(n + 1) * sizeof *f),
              *r = vb_xmalloc((size_t)(n + 1) * sizeof *r);
        float *s = vb_xmalloc((size_t)(n + 1) * sizeof *s);
        for (int i = 0; i < n; i++) {
            g[i] = i % 7 == 0 ? frand(120.0f) : frand(8.0f);
            u[i] = frand(3.0f);
        }
        memcpy(f, g, (size_t)n * sizeof *g);
        memcpy(r, g, (size_t)n * sizeof *g);
        memcpy(s, g, (size_t)n * sizeof *g);
        nn_swiglu(f, u, n);
        nn_swiglu_ref(r, u, n);
        nn_silu(s, n);
        double ef = 0, er = 0, es = 0;
        for (int i = 0; i < n; i++) {
            const double v = g[i], si = v / (1.0 + exp(-v)), w = si * u[i];
            ef = fmax(ef, fabs(f[i] - w) / fmax(fabs(w), 1e-30));
            er = fmax(er, fabs(r[i] - w) / fmax(fabs(w), 1e-30));
            es = fmax(es, fabs(s[i] - si) / fmax(fabs(si), 1e-30));
        }
        CHECK_MSG(ef < 4e-6 && er < 1e-6 && es < 4e-6, "n %d: relative error %g (C %g, silu %g)", n,
                  ef, er, es);
        vb_free(g);
        vb_free(u);
        vb_free(f);
        vb_free(r);
        vb_free(s);
    }
    float big[4] = {-100.0f, 100.0f, 0.0f, -1000.0f}, one[4] = {2.0f, 2.0f, 2.0f, 2.0f};
    nn_swiglu(big, one, 4);
    CHECK(fabsf(big[0]) < 1e-30f && big[1] == 200.0f && big[2] == 0.0f && fabsf(big[3]) < 1e-30f);
}

/* Scaled softmax: against a double-precision definition; rows sum to 1. */
TEST(test_softmax_scaled)
{
    for (int n = 1; n < 60; n += 3) {
        float *s = vb_xmalloc((size_t)n * sizeof *s);
        double *ref = vb_xmalloc((size_t)n * sizeof *ref), mx = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++) {
            s[i] = frand(30.0f);
            mx = fmax(mx, 0.125 * s[i]);
        }
        for (int i = 0; i < n; i++)
            sum += ref[i] = exp(0.125 * s[i] - mx);
        nn_softmax_scaled(s, n, 0.125f);
        double err = 0, tot = 0;
        for (int i = 0; i < n; i++) {
            err = fmax(err, fabs(s[i] - ref[i] / sum));
            tot += s[i];
        }
        CHECK_MSG(err < 1e-6 && fabs(tot - 1.0) < 1e-5, "n %d: err %g sum %g", n, err, tot);
        vb_free(s);
        vb_free(ref);
    }
}

int main(void)
{
    fprintf(stderr, "  ISA %s\n", nn_isa_name(nn_kernels_isa()));
    RUN(test_gelu);
    RUN(test_swiglu);
    RUN(test_softmax_scaled);
    return test_summary();
}
