/* gemm_bf16_internal.h: what the BF16-panel GEMM (gemm_bf16.c, plain C) and its AMX kernels
 * (arch/x86/amx/gemm_bf16_amx.c) share: the panel layout, the job of the tile workers and the
 * entry points of the AMX file (x86-64 Linux only: NN_GEMM_AMX). */
#ifndef NN_GEMM_BF16_INTERNAL_H
#define NN_GEMM_BF16_INTERNAL_H

#include "core/vb.h"
#include "nn/gemm.h"

#include <stdatomic.h>

#if defined(__x86_64__) && defined(__linux__)
#    define NN_GEMM_AMX 1
#endif

#define NR        NN_GEMM_NR
#define AMX_K     32 /* bf16 per A-tile row */
#define AMX_M     32 /* tokens per unit */
#define AMX_PAIRS 2  /* panels per unit */

static inline int bf16_k2(int n_in)
{
    return (n_in + AMX_K - 1) / AMX_K * AMX_K;
}

static inline size_t bf16_panels(int n_out)
{
    size_t p = ((size_t)n_out + NR - 1) / NR;
    return (p + 1) / 2 * 2;
}

struct bf16_job {
    const uint16_t *packed, *xb;
    const float *b;
    float *y;
    int n_in, K2, n_out, n_tok;
    int64_t ldy;
    int n_mb, n_pp; /* token blocks, panel pairs */
    atomic_llong next;
    bool amx;
};

/* Writes the 32 x 32 block acc (row stride 32) into y rows t0.., columns o0.. (clipped);
 * with_bias: + the bias, for sums that do not include it yet. */
void nn_gemm_bf16_store(const struct bf16_job *j, const float *acc, int t0, int o0, bool with_bias);
/* Plain C packing (also the AMX packer's fallback for very long rows). */
void nn_gemm_pack_bf16_c(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw);

#ifdef NN_GEMM_AMX
/* arch/x86/amx/gemm_bf16_amx.c; only while nn_gemm_amx_available() */
void nn_amx_pack_bf16(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw);
void nn_amx_pack_bf16_t(uint16_t *dst, const float *wt, int n_in, int n_out, int64_t ldwt);
/* n floats -> bf16, round to nearest even */
void nn_amx_bf16_cvt_row(uint16_t *d, const float *s, int n);
/* nn_pool worker over the units of a struct bf16_job */
void nn_amx_gemm_bf16_worker(void *ctx, int ith, int nth);
#endif

#endif
