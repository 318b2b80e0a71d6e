/* gemm_bf16.c: the BF16-panel GEMM of gemm.h: packing, the activation conversion and the
 * threaded driver, with plain C tiles where the CPU has no AMX (the AMX tiles and packers are
 * in arch/x86/amx/gemm_bf16_amx.c). */
#include "core/vb.h"
#include "nn/gemm.h"
#include "nn/fp16.h"
#include "nn/gemm_bf16_internal.h"
#include "nn/threadpool.h"

/* ===== BF16 panels on AMX =====
 * Weights: panels of NR outputs, n_in padded to a multiple of 32 (K2), each panel stored as
 * [K2/2][NR][2] bf16 (the VNNI pairs a TDPBF16PS B tile reads, one 64-byte row per k pair);
 * the panel count is rounded up to even so panels always come in pairs. Activations are
 * converted per call into a zero-padded (M2 x K2) bf16 copy, M2 a multiple of 32. A unit is
 * 32 tokens x 32 outputs: 4 C tiles (tmm0-3), 2 A tiles (tmm4-5), 2 B tiles (tmm6-7). */

size_t nn_gemm_packed_bf16_elems(int n_in, int n_out)
{
    return bf16_panels(n_out) * (size_t)bf16_k2(n_in) * NR;
}

void nn_gemm_pack_bf16_c(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw)
{
    const int K2 = bf16_k2(n_in);
    const size_t panels = bf16_panels(n_out);
    for (size_t p = 0; p < panels; p++) {
        uint16_t *d = dst + p * (size_t)K2 * NR;
        for (int j = 0; j < NR; j++) {
            const size_t o = p * NR + (size_t)j;
            const float *src = o < (size_t)n_out ? w + (int64_t)o * ldw : NULL;
            for (int k = 0; k < K2; k++)
                d[(size_t)(k / 2) * 2 * NR + (size_t)j * 2 + (size_t)(k % 2)] =
                    src && k < n_in ? nn_fp32_to_bf16(src[k]) : 0;
        }
    }
}

static void pack_bf16_t_c(uint16_t *dst, const float *wt, int n_in, int n_out, int64_t ldwt)
{
    const int K2 = bf16_k2(n_in);
    const size_t panels = bf16_panels(n_out);
    for (size_t p = 0; p < panels; p++) {
        uint16_t *d = dst + p * (size_t)K2 * NR;
        const size_t o0 = p * NR;
        const int nc = o0 < (size_t)n_out ? (int)VB_MIN((size_t)NR, (size_t)n_out - o0) : 0;
        for (int k = 0; k < K2; k++) {
            uint16_t *dk = d + (size_t)(k / 2) * 2 * NR + (size_t)(k % 2);
            const float *src = k < n_in ? wt + (int64_t)k * ldwt + (int64_t)o0 : NULL;
            for (int j = 0; j < NR; j++)
                dk[(size_t)j * 2] = src && j < nc ? nn_fp32_to_bf16(src[j]) : 0;
        }
    }
}

size_t nn_gemm_bf16_scratch_bytes(int n_in, int n_tok)
{
    size_t m2 = ((size_t)VB_MAX(n_tok, 1) + AMX_M - 1) / AMX_M * AMX_M;
    return m2 * (size_t)bf16_k2(n_in) * sizeof(uint16_t);
}

void nn_gemm_pack_bf16(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw)
{
#ifdef NN_GEMM_AMX
    if (nn_gemm_amx_available()) {
        nn_amx_pack_bf16(dst, w, n_in, n_out, ldw);
        return;
    }
#endif
    nn_gemm_pack_bf16_c(dst, w, n_in, n_out, ldw);
}

void nn_gemm_pack_bf16_t(uint16_t *dst, const float *wt, int n_in, int n_out, int64_t ldwt)
{
#ifdef NN_GEMM_AMX
    if (nn_gemm_amx_available()) {
        nn_amx_pack_bf16_t(dst, wt, n_in, n_out, ldwt);
        return;
    }
#endif
    pack_bf16_t_c(dst, wt, n_in, n_out, ldwt);
}

/* Writes the 32 x 32 block acc (row stride 32) into y rows t0.., columns o0.. (clipped). */
/* (with_bias: + the bias, for sums that do not include it yet) */
void nn_gemm_bf16_store(const struct bf16_job *j, const float *acc, int t0, int o0, bool with_bias)
{
    const int mr = VB_MIN(AMX_M, j->n_tok - t0), nc = VB_MIN(AMX_PAIRS * NR, j->n_out - o0);
    for (int r = 0; r < mr; r++) {
        float *yr = j->y + (int64_t)(t0 + r) * j->ldy + o0;
        const float *ar = acc + r * AMX_PAIRS * NR;
        for (int c = 0; c < nc; c++)
            yr[c] = ar[c] + (with_bias && j->b ? j->b[o0 + c] : 0.0f);
    }
}

static void bf16_unit_generic(const struct bf16_job *j, int mb, int pp, float *acc)
{
    const int t0 = mb * AMX_M, o0 = pp * AMX_PAIRS * NR;
    for (int r = 0; r < AMX_M; r++)
        for (int c = 0; c < AMX_PAIRS * NR; c++) {
            const uint16_t *p = j->packed + (size_t)(pp * AMX_PAIRS + c / NR) * j->K2 * NR;
            const uint16_t *x = j->xb + (size_t)(t0 + r) * j->K2;
            float s = 0;
            for (int k = 0; k < j->K2; k++)
                s += nn_bf16_to_fp32(x[k]) *
                     nn_bf16_to_fp32(p[(size_t)(k / 2) * 2 * NR + (size_t)(c % NR) * 2 + (k % 2)]);
            acc[r * AMX_PAIRS * NR + c] = s;
        }
    nn_gemm_bf16_store(j, acc, t0, o0, true);
}

static void bf16_worker_generic(void *ctx, int ith, int nth)
{
    struct bf16_job *j = ctx;
    (void)ith;
    (void)nth;
    float acc[AMX_M * AMX_PAIRS * NR];
    const int64_t units = (int64_t)j->n_mb * j->n_pp;
    for (;;) {
        int64_t u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= units)
            break;
        bf16_unit_generic(j, (int)(u % j->n_mb), (int)(u / j->n_mb), acc);
    }
}

struct cvt_job {
    bool fast; /* AVX512-BF16 conversion */
    const float *x;
    int64_t ldx;
    uint16_t *xb;
    int n_in, K2, n_tok, m2;
};

static void cvt_worker(void *ctx, int ith, int nth)
{
    const struct cvt_job *c = ctx;
    for (int r = ith; r < c->m2; r += nth) {
        uint16_t *d = c->xb + (size_t)r * c->K2;
        int k = 0;
        if (r < c->n_tok) {
            const float *s = c->x + (int64_t)r * c->ldx;
#ifdef NN_GEMM_AMX
            if (c->fast) {
                nn_amx_bf16_cvt_row(d, s, c->n_in);
                k = c->n_in;
            }
#endif
            for (; k < c->n_in; k++)
                d[k] = nn_fp32_to_bf16(s[k]);
        }
        for (; k < c->K2; k++)
            d[k] = 0;
    }
}

void nn_gemm_bf16(struct nn_pool *pool, const uint16_t *packed, int n_in, int n_out, const float *x,
                  int64_t ldx, int n_tok, const float *b, float *y, int64_t ldy, void *scratch)
{
    if (n_tok <= 0 || n_out <= 0)
        return;
    const int K2 = bf16_k2(n_in), m2 = (n_tok + AMX_M - 1) / AMX_M * AMX_M;
    struct cvt_job c = {.fast = nn_gemm_amx_available(),
                        .x = x,
                        .ldx = ldx,
                        .xb = scratch,
                        .n_in = n_in,
                        .K2 = K2,
                        .n_tok = n_tok,
                        .m2 = m2};
    if ((int64_t)m2 * K2 >= 16384)
        nn_pool_run(pool, cvt_worker, &c);
    else
        cvt_worker(&c, 0, 1);
    struct bf16_job j = {
        .packed = packed,
        .xb = scratch,
        .b = b,
        .y = y,
        .n_in = n_in,
        .K2 = K2,
        .n_out = n_out,
        .n_tok = n_tok,
        .ldy = ldy,
        .n_mb = m2 / AMX_M,
        .n_pp = (int)(bf16_panels(n_out) / AMX_PAIRS),
    };
    atomic_init(&j.next, 0);
    nn_pool_fn fn = bf16_worker_generic;
#ifdef NN_GEMM_AMX
    if (nn_gemm_amx_available())
        fn = nn_amx_gemm_bf16_worker;
#endif
    if ((int64_t)j.n_mb * j.n_pp == 1)
        fn(&j, 0, 1);
    else
        nn_pool_run(pool, fn, &j);
}