/* test_matmul_amx.c: the AMX token-batch matmul against nn_matmul_ref (double sums over the
 * dequantised weights) for every weight type it supports, odd token and row counts, row
 * sub-ranges and wide output strides; the dispatch from nn_matmul_rows; SKIPPED loudly when
 * this CPU or kernel has no AMX. */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/matmul.h"
#include "nn/matmul_amx.h"
#include "nn/quant.h"
#include "unit/test.h"

#include <math.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float uniform(void) /* [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(rng >> 40) / 8388608.0f - 1.0f;
}

static const enum nn_type types[] = {
    NN_TYPE_F16,  NN_TYPE_BF16, NN_TYPE_Q8_0, NN_TYPE_Q4_0, NN_TYPE_Q4_1,
    NN_TYPE_Q5_0, NN_TYPE_Q5_1, NN_TYPE_Q4_K, NN_TYPE_Q5_K, NN_TYPE_Q6_K,
};

/* n_out rows of n_in weights of type t, quantised from uniform floats with a per-row offset
 * (so Q4_1/Q5_1/K-quant minimums are exercised); caller frees t->data with vb_free. */
static struct nn_tensor make_weights(enum nn_type t, int n_in, int n_out)
{
    const size_t rb = nn_row_bytes(t, n_in);
    uint8_t *w = vb_xmalloc(rb * (size_t)n_out);
    float *row = vb_xmalloc((size_t)n_in * sizeof *row);
    for (int r = 0; r < n_out; r++) {
        const float off = 0.3f * uniform();
        for (int i = 0; i < n_in; i++)
            row[i] = 0.05f * (uniform() + off);
        CHECK(nn_quantize_row(t, row, w + (size_t)r * rb, n_in));
    }
    vb_free(row);
    return (struct nn_tensor){.name = "w",
                              .type = t,
                              .n_dims = 2,
                              .ne = {n_in, n_out, 1, 1},
                              .row_bytes = rb,
                              .nbytes = rb * (size_t)n_out,
                              .data = w};
}

/* sum_i |w[r][i] x[t][i]| for the error bound */
static void abs_products(const struct nn_tensor *w, const float *x, int n_tok, double *out)
{
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    float *row = vb_xmalloc((size_t)n_in * sizeof *row);
    for (int64_t r = 0; r < n_out; r++) {
        CHECK(nn_dequantize_row(w->type, (const uint8_t *)w->data + r * w->row_bytes, row, n_in));
        for (int t = 0; t < n_tok; t++) {
            double s = 0;
            for (int64_t i = 0; i < n_in; i++)
                s += fabs((double)row[i] * x[t * n_in + i]);
            out[t * n_out + r] = s;
        }
    }
    vb_free(row);
}

#define SENTINEL 1234.5f

/* Types the AMX path runs on INT8 tiles (mode EXACT) with the kernels' activation
 * quantisation. */
static const enum nn_type int8_types[] = {NN_TYPE_Q8_0, NN_TYPE_Q4_0, NN_TYPE_Q5_0,
                                          NN_TYPE_Q4_K, NN_TYPE_Q5_K, NN_TYPE_Q6_K};

static bool int8_type(enum nn_type t)
{
    for (size_t i = 0; i < VB_ARRAY_LEN(int8_types); i++)
        if (int8_types[i] == t)
            return true;
    return false;
}

/* One product on rows [r0, r1) into y with stride ldy, checked against:
 * - BF16 tiles: the reference. Weights and activations each rounded to BF16 (relative error
 *   <= 2^-8), so |y - ref| <= (2 * 2^-8 + 2^-16) * sum|w x|, plus F32 summation
 *   (n_in * 2^-24 * sum|w x|); relative RMS ~0.3%, allowed 1%.
 * - INT8 tiles: the dot-product kernels (NN_AMX_OFF), which quantise the activations the same
 *   way: the integer block sums are equal, so only F32 rounding differs (a few ulps per
 *   block: (n_in / 16 + 16) * 2^-24 * sum|w x|); against the reference only the relative
 *   RMS (8-bit activations: ~2%, allowed 5%).
 * A wrong layout, scale or code misses these by orders of magnitude. */
static void check_case(struct nn_pool *pool, struct nn_scratch *scr, const struct nn_tensor *w,
                       int n_tok, int64_t r0, int64_t r1, int64_t ldy, const float *x,
                       const float *yref, const double *absp, bool via_dispatch)
{
    const int64_t n_out = w->ne[1], n_in = w->ne[0], cols = r1 - r0;
    const bool i8 = nn_matmul_amx_mode() != NN_AMX_ALL && int8_type(w->type);
    float *y = vb_xmalloc((size_t)(n_tok * ldy + 1) * sizeof *y);
    float *yk = i8 ? vb_xmalloc((size_t)(n_tok * ldy) * sizeof *yk) : NULL;
    for (int64_t i = 0; i < n_tok * ldy + 1; i++)
        y[i] = SENTINEL;
    bool ok = via_dispatch ? nn_matmul_rows(pool, scr, w, r0, r1, x, n_tok, y, ldy)
                           : nn_matmul_amx_rows(pool, scr, w, r0, r1, x, n_tok, y, ldy);
    CHECK_MSG(ok, "%s n_tok %d", nn_type_name(w->type), n_tok);
    if (i8) {
        const enum nn_amx_mode saved = nn_matmul_amx_mode();
        nn_matmul_amx_set_mode(NN_AMX_OFF);
        CHECK(nn_matmul_rows(pool, scr, w, r0, r1, x, n_tok, yk, ldy));
        nn_matmul_amx_set_mode(saved);
    }
    const double u = 1.0 / 256;
    const double bound_rel =
        i8 ? ((double)n_in / 16 + 16) / 16777216.0 : 2 * u + u * u + (double)n_in / 16777216.0;
    double worst = 0, err2 = 0, ref2 = 0;
    long bad = 0, touched = 0;
    for (int t = 0; t < n_tok; t++)
        for (int64_t c = 0; c < ldy; c++) {
            const float v = y[t * ldy + c];
            if (c >= cols) {
                touched += v != SENTINEL;
                continue;
            }
            const double ref = yref[t * n_out + r0 + c];
            const double d = fabs((double)v - (i8 ? yk[t * ldy + c] : ref));
            const double lim = bound_rel * absp[t * n_out + r0 + c] + 1e-6;
            bad += !(d <= lim);
            worst = fmax(worst, d / lim);
            err2 += ((double)v - ref) * ((double)v - ref);
            ref2 += ref * ref;
        }
    touched += y[n_tok * ldy] != SENTINEL;
    const double rel_rms = ref2 > 0 ? sqrt(err2 / ref2) : 0;
    CHECK_MSG(bad == 0,
              "%s n_in %lld rows [%lld,%lld) n_tok %d: %ld outputs over the bound (worst %.2fx)",
              nn_type_name(w->type), (long long)n_in, (long long)r0, (long long)r1, n_tok, bad,
              worst);
    CHECK_MSG(rel_rms <= (i8 ? 0.05 : 0.01), "%s n_tok %d: relative rms error %g",
              nn_type_name(w->type), n_tok, rel_rms);
    CHECK_MSG(touched == 0, "%s n_tok %d: %ld values written outside the output",
              nn_type_name(w->type), n_tok, touched);
    vb_free(yk);
    vb_free(y);
}

static void check_type(struct nn_pool *pool, enum nn_type t, int n_in, int n_out, bool few)
{
    static const int all_toks[] = {1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 70};
    static const int few_toks[] = {33, 70};
    const int *toks = few ? few_toks : all_toks;
    const size_t n_toks = few ? VB_ARRAY_LEN(few_toks) : VB_ARRAY_LEN(all_toks);
    const int max_tok = 70;
    struct nn_tensor w = make_weights(t, n_in, n_out);
    float *x = vb_xmalloc((size_t)max_tok * n_in * sizeof *x);
    for (int i = 0; i < max_tok * n_in; i++)
        x[i] = uniform() * (i % 97 == 0 ? 8.0f : 1.0f);
    float *yref = vb_xmalloc((size_t)max_tok * n_out * sizeof *yref);
    double *absp = vb_xmalloc((size_t)max_tok * n_out * sizeof *absp);
    nn_matmul_ref(&w, x, max_tok, yref, n_out);
    abs_products(&w, x, max_tok, absp);
    struct nn_scratch scr = {0};
    for (size_t k = 0; k < n_toks; k++) {
        const int nt = toks[k];
        check_case(pool, &scr, &w, nt, 0, n_out, n_out, x, yref, absp, false);
        /* a sub-range of rows into a wider output; odd start, odd length */
        const int64_t r0 = 3 + (int64_t)k % 5, r1 = n_out - 1 - (int64_t)k % 3;
        check_case(pool, &scr, &w, nt, r0, r1, r1 - r0 + 13, x, yref, absp, false);
    }
    /* through nn_matmul_rows: the AMX path above its token threshold, the kernels below */
    check_case(pool, &scr, &w, 40, 0, n_out, n_out + 1, x, yref, absp, true);
    check_case(NULL, &scr, &w, 19, 1, n_out, n_out, x, yref, absp, true);
    nn_scratch_release(&scr);
    vb_free(absp);
    vb_free(yref);
    vb_free(x);
    vb_free((void *)w.data);
}

/* Every supported type on BF16 tiles (mode ALL). */
TEST(amx_bf16_matches_reference)
{
    if (!nn_matmul_amx_supported(NN_TYPE_Q4_K)) {
        SKIP(amx_bf16_matches_reference, "no AMX on this CPU/kernel (or NN_ISA below amx): "
                                         "the AMX matmul path is NOT tested");
        return;
    }
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(3, &pool) == VB_OK);
    const enum nn_amx_mode saved = nn_matmul_amx_mode();
    nn_matmul_amx_set_mode(NN_AMX_ALL); /* the nn_matmul_rows cases go to AMX too */
    for (size_t i = 0; i < VB_ARRAY_LEN(types); i++) {
        const enum nn_type t = types[i];
        CHECK_MSG(nn_matmul_amx_supported(t), "%s", nn_type_name(t));
        const int blk = nn_type_info(t)->block;
        /* K a multiple of the block but not of 64; rows not a multiple of 16 or 32 */
        check_type(pool, t, blk == 1 ? 100 : blk == 32 ? 96 : 512, 75, false);
        check_type(pool, t, blk == 1 ? 520 : blk == 32 ? 544 : 256, 37, false);
        /* long rows: with 70 tokens the product runs in K chunks, added up in y */
        check_type(pool, t, blk == 1 ? 20487 : 20480, 37, true);
    }
    nn_matmul_amx_set_mode(saved);
    nn_pool_free(pool);
}

/* The INT8 types on INT8 tiles (mode EXACT) against the kernels, and BF16 weights. */
TEST(amx_int8_matches_kernels)
{
    if (!nn_matmul_amx_supported(NN_TYPE_Q4_K)) {
        SKIP(amx_int8_matches_kernels, "no AMX on this CPU/kernel: INT8 path NOT tested");
        return;
    }
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(3, &pool) == VB_OK);
    const enum nn_amx_mode saved = nn_matmul_amx_mode();
    nn_matmul_amx_set_mode(NN_AMX_EXACT);
    for (size_t i = 0; i <= VB_ARRAY_LEN(int8_types); i++) {
        const enum nn_type t = i < VB_ARRAY_LEN(int8_types) ? int8_types[i] : NN_TYPE_BF16;
        const int blk = nn_type_info(t)->block;
        check_type(pool, t, blk == 32 ? 96 : 512, 75, false);
        check_type(pool, t, blk == 32 ? 544 : 256, 37, false);
        check_type(pool, t, 20480, 37, true);
    }
    nn_matmul_amx_set_mode(saved);
    nn_pool_free(pool);
}

/* One nn_matmul of nt tokens; whether the dispatch sent it to AMX. */
static bool dispatched(struct nn_pool *pool, struct nn_scratch *scr, const struct nn_tensor *w,
                       const float *x, int nt, float *y)
{
    const uint64_t before = nn_matmul_amx_taken();
    CHECK(nn_matmul(pool, scr, w, x, nt, y, w->ne[1]));
    return nn_matmul_amx_taken() == before + 1;
}

/* The dispatch: ALL sends batches of NN_AMX_MIN_TOKENS or more to AMX for every supported
 * type, never single tokens (decode) nor F32; EXACT (the default) BF16 weights and the INT8
 * types; OFF nothing. Outputs bit-identical to the direct call. nn_matmul_amx_rows_mode's
 * explicit mode overrides the global one. */
TEST(amx_dispatch_taken)
{
    if (!nn_matmul_amx_supported(NN_TYPE_Q8_0)) {
        SKIP(amx_dispatch_taken, "no AMX-BF16 on this CPU/kernel: dispatch NOT tested");
        return;
    }
    const enum nn_amx_mode saved = nn_matmul_amx_mode();
    struct nn_pool *pool = NULL;
    CHECK(nn_pool_new(2, &pool) == VB_OK);
    struct nn_scratch scr = {0};
    const int n_in = 256, n_out = 48, nt = NN_AMX_MIN_TOKENS + 3;
    float *x = vb_xmalloc((size_t)nt * n_in * sizeof *x);
    for (int i = 0; i < nt * n_in; i++)
        x[i] = uniform();
    float *y1 = vb_xmalloc((size_t)nt * n_out * sizeof *y1);
    float *y2 = vb_xmalloc((size_t)nt * n_out * sizeof *y2);
    const enum nn_type ts[] = {NN_TYPE_Q8_0, NN_TYPE_Q4_0, NN_TYPE_Q4_K, NN_TYPE_Q6_K,
                               NN_TYPE_BF16};
    /* EXACT leaves the types without INT8 tiles to the kernels */
    nn_matmul_amx_set_mode(NN_AMX_EXACT);
    {
        struct nn_tensor w = make_weights(NN_TYPE_Q4_1, n_in, n_out);
        CHECK(!dispatched(pool, &scr, &w, x, nt, y1));
        nn_matmul_amx_set_mode(NN_AMX_ALL);
        CHECK(dispatched(pool, &scr, &w, x, nt, y1));
        vb_free((void *)w.data);
    }
    for (size_t i = 0; i < VB_ARRAY_LEN(ts); i++) {
        struct nn_tensor w = make_weights(ts[i], n_in, n_out);
        nn_matmul_amx_set_mode(NN_AMX_ALL);
        CHECK_MSG(dispatched(pool, &scr, &w, x, nt, y1), "%s", nn_type_name(ts[i]));
        CHECK(nn_matmul_amx_rows(pool, &scr, &w, 0, n_out, x, nt, y2, n_out));
        CHECK(memcmp(y1, y2, (size_t)nt * n_out * sizeof *y1) == 0);
        CHECK(!dispatched(pool, &scr, &w, x, 1, y1));
        CHECK(!dispatched(pool, &scr, &w, x, NN_AMX_MIN_TOKENS - 1, y1));
        nn_matmul_amx_set_mode(NN_AMX_EXACT);
        CHECK(dispatched(pool, &scr, &w, x, nt, y1)); /* BF16 and the INT8 types */
        nn_matmul_amx_set_mode(NN_AMX_OFF);
        CHECK(!dispatched(pool, &scr, &w, x, nt, y1));
        /* the explicit mode wins over the global one: bit-identical to the global mode's
         * product, and ALL (BF16 tiles) differs from EXACT (INT8 tiles) for the INT8 types */
        nn_matmul_amx_set_mode(NN_AMX_ALL);
        CHECK(nn_matmul_amx_rows(pool, &scr, &w, 0, n_out, x, nt, y1, n_out));
        nn_matmul_amx_set_mode(NN_AMX_EXACT);
        CHECK(nn_matmul_amx_rows_mode(pool, &scr, &w, NN_AMX_ALL, 0, n_out, x, nt, y2, n_out));
        CHECK_MSG(memcmp(y1, y2, (size_t)nt * n_out * sizeof *y1) == 0, "%s", nn_type_name(ts[i]));
        CHECK(nn_matmul_amx_rows(pool, &scr, &w, 0, n_out, x, nt, y1, n_out));
        CHECK_MSG((memcmp(y1, y2, (size_t)nt * n_out * sizeof *y1) != 0) == (ts[i] != NN_TYPE_BF16),
                  "%s", nn_type_name(ts[i]));
        nn_matmul_amx_set_mode(NN_AMX_ALL);
        CHECK(nn_matmul_amx_rows_mode(pool, &scr, &w, NN_AMX_EXACT, 0, n_out, x, nt, y2, n_out));
        CHECK_MSG(memcmp(y1, y2, (size_t)nt * n_out * sizeof *y1) == 0, "%s", nn_type_name(ts[i]));
        vb_free((void *)w.data);
    }
    nn_matmul_amx_set_mode(NN_AMX_ALL);
    struct nn_tensor wf = make_weights(NN_TYPE_F32, n_in, n_out);
    CHECK(!dispatched(pool, &scr, &wf, x, nt, y1));
    CHECK(!nn_matmul_amx_supported(NN_TYPE_F32));
    CHECK(!nn_matmul_amx_rows(pool, &scr, &wf, 0, n_out, x, nt, y1, n_out));
    vb_free((void *)wf.data);
    nn_matmul_amx_set_mode(saved);
    nn_scratch_release(&scr);
    nn_pool_free(pool);
    vb_free(x);
    vb_free(y1);
    vb_free(y2);
}

int main(void)
{
    RUN(amx_bf16_matches_reference);
    RUN(amx_int8_matches_kernels);
    RUN(amx_dispatch_taken);
    return test_summary();
}
