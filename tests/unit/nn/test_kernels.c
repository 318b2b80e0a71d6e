/* test_kernels.c: every SIMD dot product against the portable C reference on random blocks
 * (integer block sums are exact, so only float summation order may differ), the reference
 * dot products against dequantise-then-multiply, activation quantisers, f16/bf16 conversion,
 * and the threaded matmul against a double-precision reference. */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/fp16.h"
#include "nn/kernels.h"
#include "nn/matmul.h"
#include "nn/quant.h"
#include "unit/test.h"

#include <math.h>

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}
static float frand(void)
{
    return (float)(rnd() >> 8) / 8388608.0f - 1.0f; /* [-1, 1) */
}

static const enum nn_type types[] = {
    NN_TYPE_F32,  NN_TYPE_F16,  NN_TYPE_BF16, NN_TYPE_Q8_0, NN_TYPE_Q4_0, NN_TYPE_Q4_1,
    NN_TYPE_Q5_0, NN_TYPE_Q5_1, NN_TYPE_Q4_K, NN_TYPE_Q5_K, NN_TYPE_Q6_K,
};

static void put_f16(void *p, float v)
{
    uint16_t h = nn_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}

/* Random weight row of n elements of type t (random codes, sane scales). */
static void random_row(enum nn_type t, void *dst, int n)
{
    size_t bytes = nn_row_bytes(t, n);
    uint8_t *p = dst;
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)rnd();
    const struct nn_type_info *ti = nn_type_info(t);
    int nb = n / ti->block;
    switch (t) {
    case NN_TYPE_F32:
        for (int i = 0; i < n; i++)
            ((float *)dst)[i] = frand();
        break;
    case NN_TYPE_F16:
        for (int i = 0; i < n; i++)
            put_f16(p + 2 * i, frand());
        break;
    case NN_TYPE_BF16:
        for (int i = 0; i < n; i++) {
            uint16_t h = nn_fp32_to_bf16(frand());
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    case NN_TYPE_Q4_1:
    case NN_TYPE_Q5_1:
        for (int b = 0; b < nb; b++) {
            put_f16(p + b * ti->block_bytes, 0.01f * frand());
            put_f16(p + b * ti->block_bytes + 2, 0.1f * frand());
        }
        break;
    case NN_TYPE_Q4_K:
    case NN_TYPE_Q5_K:
        for (int b = 0; b < nb; b++) {
            put_f16(p + b * ti->block_bytes, 0.001f * frand());
            put_f16(p + b * ti->block_bytes + 2, 0.001f * frand());
        }
        break;
    case NN_TYPE_Q6_K:
        for (int b = 0; b < nb; b++)
            put_f16(p + b * ti->block_bytes + 208, 0.001f * frand());
        break;
    default: /* q8_0, q4_0, q5_0: d first */
        for (int b = 0; b < nb; b++)
            put_f16(p + b * ti->block_bytes, 0.01f * frand());
        break;
    }
}

TEST(fp16_conversions)
{
    nn_fp16_table_init();
    /* every half round-trips through f32 */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue; /* NaN payloads */
        CHECK_EQ_INT(nn_fp32_to_fp16(nn_fp16_to_fp32((uint16_t)h)), h);
    }
    CHECK_EQ_INT(nn_fp32_to_fp16(65520.0f), 0x7c00);
    CHECK_EQ_INT(nn_fp32_to_fp16(65519.0f), 0x7bff);
    CHECK_EQ_INT(nn_fp32_to_fp16(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    CHECK_EQ_INT(nn_fp32_to_fp16(1.0f + 3.0f / 2048), 0x3c02);
    CHECK_EQ_INT(nn_fp32_to_fp16(5.9604644775390625e-8f), 1);
    CHECK_EQ_INT(nn_fp32_to_fp16(2.98e-8f), 0);
    CHECK_EQ_INT(nn_fp32_to_bf16(1.0f), 0x3f80);
    CHECK(nn_bf16_to_fp32(0x3f80) == 1.0f);
}

TEST(simd_dot_matches_reference)
{
    enum nn_isa cpu = nn_cpu_isa();
    if (cpu == NN_ISA_GENERIC) {
        SKIP(simd_dot_matches_reference, "no AVX2 on this CPU");
        return;
    }
    const int n = 1024;
    uint8_t *w = vb_xmalloc(nn_row_bytes(NN_TYPE_F32, n));
    uint8_t *a = vb_xmalloc(nn_row_bytes(NN_TYPE_F32, n));
    float *x = vb_xmalloc(n * sizeof *x);
    for (size_t ti = 0; ti < VB_ARRAY_LEN(types); ti++) {
        enum nn_type t = types[ti];
        const struct nn_kernel *ref = nn_kernel_for_isa(t, NN_ISA_GENERIC);
        for (int isa = NN_ISA_AVX2; isa <= (int)cpu; isa++) {
            const struct nn_kernel *k = nn_kernel_for_isa(t, (enum nn_isa)isa);
            CHECK(ref && k);
            if (!ref || !k)
                continue;
            double worst = 0;
            for (int trial = 0; trial < 50; trial++) {
                int len = trial % 2 ? n : nn_type_info(t)->block * (1 + trial % 4);
                random_row(t, w, len);
                for (int i = 0; i < len; i++)
                    x[i] = frand() * (trial % 3 ? 1.0f : 100.0f);
                if (trial % 5 == 4) { /* equal magnitudes: Q8_K takes the first one's sign */
                    x[7] = trial % 2 ? -5.0f : 5.0f;
                    x[(7 + 64 * trial) % len] = -x[7];
                }
                /* both paths convert the activations; the SIMD converter must agree too */
                float s_ref, s_simd;
                if (ref->from_float) {
                    ref->from_float(x, a, len);
                    ref->vec_dot(len, &s_ref, w, a);
                    uint8_t *a2 = vb_xmalloc(nn_row_bytes(NN_TYPE_F32, n));
                    k->from_float(x, a2, len);
                    CHECK_MSG(memcmp(a, a2, nn_row_bytes(ref->vec_dot_type, len)) == 0,
                              "%s: %s activation conversion differs", nn_type_name(t),
                              nn_isa_name((enum nn_isa)isa));
                    k->vec_dot(len, &s_simd, w, a2);
                    vb_free(a2);
                } else {
                    ref->vec_dot(len, &s_ref, w, x);
                    k->vec_dot(len, &s_simd, w, x);
                }
                double rel = fabs((double)s_ref - s_simd) / (fabs((double)s_ref) + 1e-3);
                worst = fmax(worst, rel);
            }
            CHECK_MSG(worst < 2e-4, "%s %s: relative difference %g", nn_type_name(t),
                      nn_isa_name((enum nn_isa)isa), worst);
        }
    }
    vb_free(w);
    vb_free(a);
    vb_free(x);
}

/* Multi-row kernels (one weight row x up to NN_MULTI_MAX activation rows) equal the
 * reference dot of each pair. */
TEST(multi_row_dot_matches_reference)
{
    enum nn_isa cpu = nn_cpu_isa();
    const int n = 512;
    uint8_t *w = vb_xmalloc(nn_row_bytes(NN_TYPE_F32, n));
    size_t stride = nn_row_bytes(NN_TYPE_F32, n);
    uint8_t *a = vb_xmalloc(stride * NN_MULTI_MAX);
    float *x = vb_xmalloc(n * sizeof *x);
    int tested = 0;
    for (size_t ti = 0; ti < VB_ARRAY_LEN(types); ti++) {
        enum nn_type t = types[ti];
        const struct nn_kernel *ref = nn_kernel_for_isa(t, NN_ISA_GENERIC);
        const struct nn_kernel *k = nn_kernel_for_isa(t, cpu);
        if (!k || !k->vec_dot_multi)
            continue;
        tested++;
        random_row(t, w, n);
        for (int r = 0; r < NN_MULTI_MAX; r++) {
            for (int i = 0; i < n; i++)
                x[i] = frand() * (float)(r + 1);
            ref->from_float(x, a + r * stride, n);
        }
        for (int ny = 1; ny <= NN_MULTI_MAX; ny++) {
            float s[2 * NN_MULTI_MAX];
            k->vec_dot_multi(n, w, a, stride, ny, s, 2);
            for (int r = 0; r < ny; r++) {
                float want;
                ref->vec_dot(n, &want, w, a + r * stride);
                CHECK_MSG(fabs((double)want - s[2 * r]) <= 1e-4 * (fabs((double)want) + 1e-2),
                          "%s ny %d row %d: %g vs %g", nn_type_name(t), ny, r, s[2 * r], want);
            }
        }
        float one;
        k->vec_dot(n, &one, w, a);
        float want;
        ref->vec_dot(n, &want, w, a);
        CHECK(fabs((double)want - one) <= 1e-4 * (fabs((double)want) + 1e-2));
    }
    if (!tested)
        SKIP(multi_row_dot_matches_reference, "no multi-row kernels on this CPU");
    vb_free(w);
    vb_free(a);
    vb_free(x);
}

/* Decode kernels (many weight rows x one activation row in the kernel's own layout) equal
 * the reference dot of each row with the reference activation conversion: every block count
 * from 1 up (odd ones, partial scale groups), several rows, large and small activations. */
TEST(gemv_matches_reference)
{
    const int max_blocks = 40, max_rows = 5;
    int tested = 0;
    for (size_t ti = 0; ti < VB_ARRAY_LEN(types); ti++) {
        enum nn_type t = types[ti];
        const struct nn_kernel *ref = nn_kernel_for_isa(t, NN_ISA_GENERIC);
        const struct nn_kernel *k = nn_kernel_for_isa(t, nn_cpu_isa());
        if (!k || !k->gemv.run)
            continue;
        tested++;
        const int blk = nn_type_info(t)->block;
        const int nmax = blk * max_blocks;
        const size_t rbmax = nn_row_bytes(t, nmax);
        uint8_t *w = vb_xmalloc(rbmax * max_rows);
        uint8_t *a = vb_xmalloc(nn_row_bytes(NN_TYPE_F32, nmax));
        uint8_t *act = vb_xmalloc(k->gemv.act_bytes(nmax));
        float *x = vb_xmalloc(nmax * sizeof *x);
        double worst = 0;
        /* float accumulation of block terms: rows whose random signed scales make the blocks
         * cancel lose low digits in a different order here and in the reference. Q6_K
         * accumulates its (exact) block terms in double in both, so only the final rounding
         * to float may differ (measured: bit-identical). */
        const double tol = t == NN_TYPE_Q6_K ? 1e-6 : 1e-4;
        for (int nb = 1; nb <= max_blocks; nb += (nb < 20 ? 1 : 7)) {
            const int n = nb * blk;
            const size_t rb = nn_row_bytes(t, n);
            const int nr = 1 + nb % max_rows;
            for (int r = 0; r < nr; r++)
                random_row(t, w + r * rb, n);
            for (int i = 0; i < n; i++)
                x[i] = frand() * (nb % 3 ? 1.0f : 300.0f) * (i % 61 == 7 ? 0.0f : 1.0f);
            if (nb == 2) /* an all-zero block */
                memset(x, 0, (size_t)blk * sizeof *x);
            k->gemv.prep(x, act, n);
            ref->from_float(x, a, n);
            float y[5];
            k->gemv.run(n, w, rb, nr, act, y);
            for (int r = 0; r < nr; r++) {
                float want;
                ref->vec_dot(n, &want, w + r * rb, a);
                double err = fabs((double)want - y[r]) / (fabs((double)want) + 1e-2);
                worst = fmax(worst, err);
                CHECK_MSG(err <= tol, "%s n %d row %d: %g vs %g", nn_type_name(t), n, r, y[r],
                          want);
            }
        }
        printf("  gemv %s: worst relative difference %g\n", nn_type_name(t), worst);
        vb_free(w);
        vb_free(a);
        vb_free(act);
        vb_free(x);
    }
    if (!tested)
        SKIP(gemv_matches_reference, "no decode kernels on this CPU");
}

/* nn_matmul with one activation row (the decode path) on 1-3 threads and odd matrix sizes
 * equals the per-row reference dot products for every type. */
TEST(decode_matmul_matches_rows)
{
    static const int outs[] = {1, 7, 67, 300};
    const int n_in = 768;
    float *x = vb_xmalloc(n_in * sizeof *x);
    uint8_t *a = vb_xmalloc(nn_row_bytes(NN_TYPE_F32, n_in));
    float *y = vb_xmalloc(300 * sizeof *y);
    for (int i = 0; i < n_in; i++)
        x[i] = frand();
    for (int nth = 1; nth <= 3; nth++) {
        struct nn_pool *pool = NULL;
        CHECK(nn_pool_new(nth, &pool) == VB_OK);
        struct nn_scratch scr = {0};
        for (size_t ti = 0; ti < VB_ARRAY_LEN(types); ti++) {
            enum nn_type t = types[ti];
            const struct nn_kernel *ref = nn_kernel_for_isa(t, NN_ISA_GENERIC);
            const size_t rb = nn_row_bytes(t, n_in);
            uint8_t *w = vb_xmalloc(rb * 300);
            for (int r = 0; r < 300; r++)
                random_row(t, w + r * rb, n_in);
            if (ref->from_float)
                ref->from_float(x, a, n_in);
            else
                memcpy(a, x, n_in * sizeof *x);
            for (size_t o = 0; o < VB_ARRAY_LEN(outs); o++) {
                struct nn_tensor T = {.name = "w",
                                      .type = t,
                                      .n_dims = 2,
                                      .ne = {n_in, outs[o], 1, 1},
                                      .row_bytes = rb,
                                      .nbytes = rb * (size_t)outs[o],
                                      .data = w};
                for (int i = 0; i < outs[o]; i++)
                    y[i] = NAN;
                CHECK(nn_matmul(pool, &scr, &T, x, 1, y, outs[o]));
                int bad = 0;
                float want[300];
                double mag = 0;
                for (int r = 0; r < outs[o]; r++) {
                    ref->vec_dot(n_in, &want[r], w + r * rb, a);
                    mag = fmax(mag, fabs((double)want[r]));
                }
                /* float summation order: relative to the row, or to the largest row where the
                 * row's own sum cancels */
                for (int r = 0; r < outs[o]; r++) {
                    double tol = 1e-4 * (fabs((double)want[r]) + 0.01 * mag);
                    if (!(fabs((double)want[r] - y[r]) <= tol)) {
                        if (!bad)
                            printf("  %s row %d: %g vs %g\n", nn_type_name(t), r, y[r], want[r]);
                        bad++;
                    }
                }
                CHECK_MSG(bad == 0, "%s %d rows, %d threads: %d rows differ", nn_type_name(t),
                          outs[o], nth, bad);
            }
            vb_free(w);
        }
        nn_scratch_release(&scr);
        nn_pool_free(pool);
    }
    vb_free(x);
    vb_free(a);
    vb_free(y);
}

/* The reference integer dot equals dequantise(w) . dequantise(quantise(x)) up to float error. */
TEST(reference_dot_is_dequantised_dot)
{
    const int n = 512;
    uint8_t *w = vb_xmalloc(nn_row_bytes(NN_TYPE_F32, n));
    uint8_t *a = vb_xmalloc(nn_row_bytes(NN_TYPE_F32, n));
    float *x = vb_xmalloc(n * sizeof *x), *wd = vb_xmalloc(n * sizeof *wd),
          *xd = vb_xmalloc(n * sizeof *xd);
    for (size_t ti = 0; ti < VB_ARRAY_LEN(types); ti++) {
        enum nn_type t = types[ti];
        const struct nn_kernel *ref = nn_kernel_for_isa(t, NN_ISA_GENERIC);
        random_row(t, w, n);
        for (int i = 0; i < n; i++)
            x[i] = frand();
        float s;
        if (ref->from_float) {
            ref->from_float(x, a, n);
            ref->vec_dot(n, &s, w, a);
            if (ref->vec_dot_type == NN_TYPE_Q8_1) { /* dequantise as q8_0: same d and qs */
                const struct nn_block_q8_1 *b = (const void *)a;
                for (int i = 0; i < n; i++)
                    xd[i] = nn_fp16_to_fp32(b[i / 32].d) * b[i / 32].qs[i % 32];
            } else if (ref->vec_dot_type == NN_TYPE_Q8_K) {
                const struct nn_block_q8_k *b = (const void *)a;
                for (int i = 0; i < n; i++)
                    xd[i] = b[i / 256].d * b[i / 256].qs[i % 256];
            } else {
                CHECK(nn_dequantize_row(ref->vec_dot_type, a, xd, n));
            }
        } else {
            ref->vec_dot(n, &s, w, x);
            memcpy(xd, x, n * sizeof *x);
        }
        CHECK(nn_dequantize_row(t, w, wd, n));
        double d = 0, mag = 0;
        for (int i = 0; i < n; i++) {
            d += (double)wd[i] * xd[i];
            mag += fabs((double)wd[i] * xd[i]);
        }
        /* Q4_1/Q5_1 use the f16-rounded block sum s = d*sum(q): allow its rounding */
        double tol = 1e-5 * mag + (ref->vec_dot_type == NN_TYPE_Q8_1 ? 2e-3 * mag : 0);
        CHECK_MSG(fabs(d - s) <= tol + 1e-6, "%s: %g vs %g", nn_type_name(t), s, d);
    }
    vb_free(w);
    vb_free(a);
    vb_free(x);
    vb_free(wd);
    vb_free(xd);
}

TEST(q8_activation_quantisers)
{
    float x[256];
    for (int i = 0; i < 256; i++)
        x[i] = frand() * 3;
    x[17] = -4.0f;
    struct nn_block_q8_k k;
    nn_quantize_row_q8_k(x, &k, 256);
    CHECK_EQ_INT(k.qs[17], -127);
    CHECK_NEAR(k.d, 4.0f / 127, 1e-7);
    int s = 0;
    for (int i = 0; i < 16; i++)
        s += k.qs[i];
    CHECK_EQ_INT(k.bsums[0], s);
    struct nn_block_q8_0 q[8];
    nn_quantize_row_q8_0(x, q, 256);
    for (int i = 0; i < 256; i++)
        CHECK(fabsf(nn_fp16_to_fp32(q[i / 32].d) * q[i / 32].qs[i % 32] - x[i]) <= 0.02f);
    float z[32] = {0};
    nn_quantize_row_q8_0(z, q, 32);
    CHECK_EQ_INT(q[0].d, 0);
    nn_quantize_row_q8_k(z, &k, 0);
}

TEST(threaded_matmul_matches_reference)
{
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(3, &pool) == VB_OK);
    struct nn_scratch scr = {0};
    const int n_in = 512, n_out = 67, n_tok = 5;
    float *x = vb_xmalloc(n_in * n_tok * sizeof *x);
    float *y = vb_xmalloc(n_out * n_tok * sizeof *y), *yr = vb_xmalloc(n_out * n_tok * sizeof *y);
    for (int i = 0; i < n_in * n_tok; i++)
        x[i] = frand();
    for (size_t ti = 0; ti < VB_ARRAY_LEN(types); ti++) {
        enum nn_type t = types[ti];
        size_t rb = nn_row_bytes(t, n_in);
        uint8_t *w = vb_xmalloc(rb * n_out);
        for (int r = 0; r < n_out; r++)
            random_row(t, w + r * rb, n_in);
        struct nn_tensor T = {.name = "w",
                              .type = t,
                              .n_dims = 2,
                              .ne = {n_in, n_out, 1, 1},
                              .row_bytes = rb,
                              .nbytes = rb * n_out,
                              .data = w};
        CHECK(nn_matmul(pool, &scr, &T, x, n_tok, y, n_out));
        nn_matmul_ref(&T, x, n_tok, yr, n_out);
        double worst = 0, mag = 0;
        for (int i = 0; i < n_out * n_tok; i++) {
            worst = fmax(worst, fabs((double)y[i] - yr[i]));
            mag = fmax(mag, fabs((double)yr[i]));
        }
        /* activation quantisation error only (~1% of the magnitude for 8-bit) */
        CHECK_MSG(worst <= 0.02 * mag + 1e-6, "%s: max diff %g (magnitude %g)", nn_type_name(t),
                  worst, mag);
        vb_free(w);
    }
    nn_scratch_release(&scr);
    nn_pool_free(pool);
    vb_free(x);
    vb_free(y);
    vb_free(yr);
}

/* Weight quantisers: dequantise(quantise(x)) stays close to x (relative RMS per type). */
TEST(weight_quantisers_round_trip)
{
    static const struct {
        enum nn_type t;
        double max_rel_rms;
    } cases[] = {
        {NN_TYPE_F16, 1e-3},  {NN_TYPE_BF16, 6e-3}, {NN_TYPE_Q8_0, 0.01}, {NN_TYPE_Q6_K, 0.03},
        {NN_TYPE_Q5_0, 0.05}, {NN_TYPE_Q5_1, 0.05}, {NN_TYPE_Q5_K, 0.05}, {NN_TYPE_Q4_0, 0.1},
        {NN_TYPE_Q4_1, 0.1},  {NN_TYPE_Q4_K, 0.1},
    };
    const int n = 4096;
    float *x = vb_xmalloc(n * sizeof *x), *y = vb_xmalloc(n * sizeof *y);
    uint8_t *q = vb_xmalloc(n * 4);
    for (int i = 0; i < n; i++)
        x[i] = frand() * (i % 97 == 0 ? 4.0f : 1.0f);
    for (size_t c = 0; c < VB_ARRAY_LEN(cases); c++) {
        CHECK(nn_quantize_row(cases[c].t, x, q, n));
        CHECK(nn_dequantize_row(cases[c].t, q, y, n));
        double e = 0, m = 0;
        for (int i = 0; i < n; i++) {
            e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            m += (double)x[i] * x[i];
        }
        double rel = sqrt(e / m);
        CHECK_MSG(rel <= cases[c].max_rel_rms, "%s: relative RMS error %g",
                  nn_type_name(cases[c].t), rel);
    }
    /* all-zero input stays zero */
    memset(x, 0, n * sizeof *x);
    for (size_t c = 0; c < VB_ARRAY_LEN(cases); c++) {
        CHECK(nn_quantize_row(cases[c].t, x, q, n));
        CHECK(nn_dequantize_row(cases[c].t, q, y, n));
        for (int i = 0; i < n; i++)
            CHECK(y[i] == 0);
    }
    CHECK(!nn_quantize_row(NN_TYPE_Q4_K, x, q, 100));
    vb_free(x);
    vb_free(y);
    vb_free(q);
}

int main(void)
{
    RUN(weight_quantisers_round_trip);
    RUN(fp16_conversions);
    RUN(simd_dot_matches_reference);
    RUN(multi_row_dot_matches_reference);
    RUN(gemv_matches_reference);
    RUN(decode_matmul_matches_rows);
    RUN(reference_dot_is_dequantised_dot);
    RUN(q8_activation_quantisers);
    RUN(threaded_matmul_matches_reference);
    return test_summary();
}
