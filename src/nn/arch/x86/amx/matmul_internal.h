/* matmul_internal.h: what the AMX matmul files of this folder share (matmul_amx.c: BF16
 * tiles and the entry points; deq.c: the BF16 panel dequantisers; int8.c: Q8_0/Q4_0/Q5_0 on
 * INT8 tiles; kquant.c: Q4_K/Q5_K/Q6_K on INT8 tiles). Every function that runs vector or
 * tile instructions carries its own target attribute (AVX_TGT, AMX_TGT): the entry points run
 * on every CPU, so the folder has no ISA build flags. */
#ifndef NN_ARCH_AMX_MATMUL_INTERNAL_H
#define NN_ARCH_AMX_MATMUL_INTERNAL_H

#include "core/vb.h"
#include "nn/matmul_amx.h"

#include "core/alloc.h"
#include "nn/fp16.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "nn/quant.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__linux__)
#    define MM_AMX 1
#    include "nn/arch/x86/amx/tile_config.h"
#    include <immintrin.h>
#endif
#ifdef MM_AMX

#    define PR          32        /* weight rows per panel: two A tiles */
#    define TT          16        /* tokens per B tile */
#    define KS          32        /* bf16 per A-tile row: one K step */
#    define CS          (PR * KS) /* panel elements per K step: the panel is [K2/KS][PR][KS] */
#    define BT          (TT * KS) /* elements per B tile: [KS/2 pairs][TT tokens][2] */
#    define ALIGN       64
#    define CHUNK_BYTES (1280 * 1024) /* activation bytes (all tokens) of one K chunk */

#    define AVX_TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,f16c")))
#    define AMX_TGT                                                                                \
        __attribute__((target(                                                                     \
            "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,f16c,amx-tile,amx-bf16,amx-int8")))

/* Dequantises groups [g0, g1) of a row of n weights to BF16: element k at * dst[(k / KS) * CS + k %
 * KS], the last step zero-padded to KS. A group is a block (32 elements; 256 for the K-quants; 32
 * for F16/BF16, the last one possibly partial). */
typedef void (*deq_fn)(const uint8_t *row, uint16_t *dst, int n, int g0, int g1);

/* An unaligned f16 field as F32 (F16C: no table lookup in the unpacking loops) */
AVX_TGT static inline float f16_at(const void *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Column tt of a B tile (rows x 64 bytes: TT tokens x 4 codes each) from 4 * rows consecutive
 * codes (NULL: zeros, for the rows past the last token). */
static inline void b_tile_column(int8_t *tile, int tt, const int8_t *codes, int rows)
{
    for (int r = 0; r < rows; r++) {
        if (codes)
            memcpy(tile + r * 64 + tt * 4, codes + 4 * r, 4);
        else
            memset(tile + r * 64 + tt * 4, 0, 4);
    }
}
/* deq.c: the panel dequantiser of type t, or NULL. */
deq_fn nn_amx_deq_for(enum nn_type t);

/* matmul_amx.c: tile stores into y and the shared scratch and panel helpers. */
/* Writes (add: adds) a 16 (weight rows) x 16 (tokens) tile c, row stride 16, into y
 * transposed (nr valid weight rows from column col, nt valid tokens from t0). */
AVX_TGT void nn_amx_store_tile_y(float *y, int64_t ldy, const float *c, int t0, int nt, int64_t col,
                                 int nr, bool add);
/* The four 16 x 16 sums acc of a panel and a token pair into y (see matmul_amx.c). */
void nn_amx_store_pair_y(float *y, int64_t ldy, const float *acc, int t0, int n_tok, int col,
                         int nr, bool two, bool add);
/* Grows s to n bytes plus alignment; *out: its first ALIGN-aligned byte. false on OOM. */
bool nn_amx_reserve_aligned(struct nn_scratch *s, size_t n, void **out);
/* Claims the next panel *p of n_panels; loads the tile config at the first claim. */
AMX_TGT bool nn_amx_claim_panel(atomic_llong *next, int64_t n_panels, const struct nn_amx_cfg *cfg,
                                bool *configured, int64_t *p);

/* int8.c: whether type t has an INT8-tile path (the kernels' own integer sums), and
 * nn_matmul_rows on those tiles (false on OOM or a kernel whose activation type differs). */
bool nn_amx_i8_exact(enum nn_type t);
bool nn_amx_i8_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                    int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy);

/* kquant.c: Q4_K / Q5_K / Q6_K products on the super-block path; false on OOM. */
bool nn_amx_k4_rows(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                    const nn_from_float_fn quantise, int64_t r0, int64_t r1, const float *x,
                    int n_tok, float *y, int64_t ldy);

#endif /* MM_AMX */

#endif
