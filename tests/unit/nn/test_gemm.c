/* test_gemm.c: nn_gemm (packed-panel F32 GEMM) against a double-precision reference over odd
 * shapes, strides, bias and threads; packing from both layouts. */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/fp16.h"
#include "nn/gemm.h"
#include "nn/threadpool.h"
#include "unit/test.h"

static uint32_t g_rng = 12345;
static float frand(void)
{
    g_rng = g_rng * 1664525u + 1013904223u;
    return (float)((g_rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* y vs sum_i x[t][i] W[o][i] + b[o] in double, W given row-major (n_out x n_in) */
static double check_case(struct nn_pool *pool, int n_in, int n_out, int n_tok, int ldx_pad,
                         int ldy_pad, bool bias, bool transposed)
{
    int64_t ldx = n_in + ldx_pad, ldy = n_out + ldy_pad;
    float *w = vb_xmalloc((size_t)n_in * n_out * sizeof *w);
    float *wt = vb_xmalloc((size_t)n_in * n_out * sizeof *wt);
    float *x = vb_xmalloc((size_t)n_tok * ldx * sizeof *x);
    float *y = vb_xmalloc((size_t)n_tok * ldy * sizeof *y);
    float *y16 = vb_xmalloc((size_t)n_tok * ldy * sizeof *y16);
    float *b = vb_xmalloc((size_t)n_out * sizeof *b);
    float *p = vb_xmalloc(nn_gemm_packed_floats(n_in, n_out) * sizeof *p);
    uint16_t *p16 = vb_xmalloc(nn_gemm_packed_floats(n_in, n_out) * sizeof *p16);
    for (int o = 0; o < n_out; o++)
        for (int i = 0; i < n_in; i++)
            wt[(size_t)i * n_out + o] = w[(size_t)o * n_in + i] = frand();
    for (int64_t i = 0; i < n_tok * ldx; i++)
        x[i] = frand();
    for (int o = 0; o < n_out; o++)
        b[o] = frand();
    for (int64_t i = 0; i < n_tok * ldy; i++)
        y[i] = 12345.0f; /* sentinel: padding columns must stay untouched */
    if (transposed)
        nn_gemm_pack_t(p, wt, n_in, n_out, n_out);
    else
        nn_gemm_pack(p, w, n_in, n_out, n_in);
    nn_gemm(pool, p, n_in, n_out, x, ldx, n_tok, bias ? b : NULL, y, ldy);
    nn_gemm_pack_f16(p16, w, n_in, n_out, n_in);
    nn_gemm_f16(pool, p16, n_in, n_out, x, ldx, n_tok, bias ? b : NULL, y16, ldy);
    uint16_t *pb = vb_xmalloc(nn_gemm_packed_bf16_elems(n_in, n_out) * sizeof *pb);
    void *scr = vb_xmalloc(nn_gemm_bf16_scratch_bytes(n_in, n_tok));
    float *yb = vb_xmalloc((size_t)n_tok * ldy * sizeof *yb);
    nn_gemm_pack_bf16_t(pb, wt, n_in, n_out, n_out);
    uint16_t *pb2 = vb_xmalloc(nn_gemm_packed_bf16_elems(n_in, n_out) * sizeof *pb2);
    nn_gemm_pack_bf16(pb2, w, n_in, n_out, n_in);
    CHECK(memcmp(pb, pb2, nn_gemm_packed_bf16_elems(n_in, n_out) * sizeof *pb) == 0);
    vb_free(pb2);
    nn_gemm_bf16(pool, pb, n_in, n_out, x, ldx, n_tok, bias ? b : NULL, yb, ldy, scr);
    double err = 0;
    for (int t = 0; t < n_tok; t++) {
        for (int o = 0; o < n_out; o++) {
            double s = bias ? b[o] : 0;
            for (int i = 0; i < n_in; i++)
                s += (double)x[(int64_t)t * ldx + i] * w[(size_t)o * n_in + i];
            err = VB_MAX(err, fabs(s - y[(int64_t)t * ldy + o]));
            /* F16 panels: exact against the same sum over binary16-rounded weights */
            double s16 = bias ? b[o] : 0;
            for (int i = 0; i < n_in; i++)
                s16 += (double)x[(int64_t)t * ldx + i] *
                       nn_fp16_to_fp32(nn_fp32_to_fp16(w[(size_t)o * n_in + i]));
            err = VB_MAX(err, fabs(s16 - y16[(int64_t)t * ldy + o]));
            /* BF16: against the same sum over bf16-rounded weights and activations */
            double sb = bias ? b[o] : 0;
            for (int i = 0; i < n_in; i++)
                sb += (double)nn_bf16_to_fp32(nn_fp32_to_bf16(x[(int64_t)t * ldx + i])) *
                      nn_bf16_to_fp32(nn_fp32_to_bf16(w[(size_t)o * n_in + i]));
            err = VB_MAX(err, fabs(sb - yb[(int64_t)t * ldy + o]));
        }
        for (int o = n_out; o < ldy; o++)
            CHECK(y[(int64_t)t * ldy + o] == 12345.0f);
    }
    /* the reference entry point agrees too */
    float *y2 = vb_xmalloc((size_t)n_tok * ldy * sizeof *y2);
    nn_gemm_ref(p, n_in, n_out, x, ldx, n_tok, bias ? b : NULL, y2, ldy);
    for (int t = 0; t < n_tok; t++)
        for (int o = 0; o < n_out; o++)
            err = VB_MAX(err, fabs((double)y2[(int64_t)t * ldy + o] - y[(int64_t)t * ldy + o]));
    vb_free(y2);
    vb_free(y16);
    vb_free(p16);
    vb_free(pb);
    vb_free(scr);
    vb_free(yb);
    vb_free(w);
    vb_free(wt);
    vb_free(x);
    vb_free(y);
    vb_free(b);
    vb_free(p);
    return err;
}

TEST(test_shapes)
{
    static const int cases[][3] = {{1, 1, 1},     {3, 5, 7},     {64, 16, 6},  {64, 17, 13},
                                   {256, 80, 49}, {100, 33, 97}, {512, 64, 1}, {31, 250, 48}};
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(2, &pool) == VB_OK);
    for (size_t c = 0; c < VB_ARRAY_LEN(cases); c++)
        for (int th = 0; th < 2; th++) {
            double e = check_case(th ? pool : NULL, cases[c][0], cases[c][1], cases[c][2],
                                  (int)c % 3, (int)c % 2 * 5, c % 2 == 0, c % 3 == 1);
            CHECK_MSG(e < 1e-4 * sqrt((double)cases[c][0]), "case %zu: err %g", c, e);
        }
    nn_pool_free(pool);
}

TEST(test_empty)
{
    float p[16] = {0}, y = 7.0f;
    nn_gemm(NULL, p, 1, 1, p, 1, 0, NULL, &y, 1); /* no tokens: nothing written */
    CHECK(y == 7.0f);
    CHECK_EQ_INT(nn_gemm_packed_floats(10, 17), 10 * 32);
}

int main(void)
{
    fprintf(stderr, "  AMX %s\n", nn_gemm_amx_available() ? "available" : "not available");
    RUN(test_shapes);
    RUN(test_empty);
    return test_summary();
}
