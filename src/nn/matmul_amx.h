/* matmul_amx.h: nn_matmul for batches of activation rows (prompt processing) on Intel AMX:
 * each thread dequantises a panel of weight rows to BF16 into a small cache-resident buffer
 * and multiplies it with every token's BF16 activations in TDPBF16PS tiles (F32 sums). No
 * copy of the weights is kept. nn_matmul_rows calls nn_matmul_amx_try first. The code lives in
 * nn/arch/x86/amx (stubs off x86-64 Linux). */
#ifndef NN_MATMUL_AMX_H
#define NN_MATMUL_AMX_H

#include "core/vb.h"
#include "nn/scratch.h"
#include "nn/threadpool.h"
#include "nn/types.h"

/* Batches of fewer tokens keep the per-row dot-product kernels (decode is n_tok = 1). */
#define NN_AMX_MIN_TOKENS 8

/* Whether this CPU runs the AMX path and has a panel dequantiser for weight type t
 * (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K; not F32). */
bool nn_matmul_amx_supported(enum nn_type t);

/* The product of nn_matmul_rows (same arguments and layouts) on AMX, whatever n_tok is: INT8
 * tiles for the EXACT types unless the mode is ALL, BF16 tiles otherwise. False when the
 * path is not supported for w (nothing written) or on OOM for the scratch. */
VB_WUR bool nn_matmul_amx_rows(struct nn_pool *pool, struct nn_scratch *scratch,
                               const struct nn_tensor *w, int64_t r0, int64_t r1, const float *x,
                               int n_tok, float *y, int64_t ldy);

/* Which products nn_matmul_rows sends to AMX, and how.
 * EXACT (default): products whose rounding is the dot-product kernels' (and llama.cpp's), so
 * results differ only in F32 summation order: Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K on INT8
 * tiles (TDPBSSD) with the activations quantised by the kernels' own Q8_0/Q8_K quantiser
 * and a per-block F32 epilogue (Q4_K/Q5_K/Q6_K: integer sums over whole super-blocks,
 * sub-block scale times code split into two int8 tiles); BF16 weights on BF16 tiles (the kernels
 * round activations to BF16 too). Other types keep the kernels. ALL: every supported type on BF16
 * tiles (weights and activations rounded to 8 significant bits; about twice the INT8 speed): logits
 * drift from llama.cpp's by about the "f32 activations" column of qwen2-ref/README §5 (rounding
 * flips), not bit-close. */
enum nn_amx_mode {
    NN_AMX_OFF = 0,
    NN_AMX_EXACT = 1,
    NN_AMX_ALL = 2,
};

/* nn_matmul_amx_rows with an explicit mode instead of the process-wide one: ALL takes BF16
 * tiles, EXACT or OFF the INT8 tiles where w's type has them (BF16 otherwise). For callers
 * without llama.cpp exactness requirements (Chatterbox T3 prefill: BF16 is faster) while the
 * LLM keeps the global EXACT mode. */
VB_WUR bool nn_matmul_amx_rows_mode(struct nn_pool *pool, struct nn_scratch *scratch,
                                    const struct nn_tensor *w, enum nn_amx_mode m, int64_t r0,
                                    int64_t r1, const float *x, int n_tok, float *y, int64_t ldy);
/* The mode: set by nn_matmul_amx_set_mode, else env NN_AMX ("0"/"off", "all"/"1"; unset or
 * anything else: EXACT). */
enum nn_amx_mode nn_matmul_amx_mode(void);
void nn_matmul_amx_set_mode(enum nn_amx_mode m);

/* Dispatch hook of nn_matmul_rows: takes the product when the mode admits w's type, AMX is
 * supported for it and n_tok >= NN_AMX_MIN_TOKENS; then returns true with *ok set to
 * nn_matmul_amx_rows' result. Returns false (nothing done) otherwise. */
bool nn_matmul_amx_try(struct nn_pool *pool, struct nn_scratch *scratch, const struct nn_tensor *w,
                       int64_t r0, int64_t r1, const float *x, int n_tok, float *y, int64_t ldy,
                       bool *ok);

/* Products nn_matmul_amx_try has taken since the start (tests check the dispatch). */
uint64_t nn_matmul_amx_taken(void);

#endif
