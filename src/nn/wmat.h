/* wmat.h: a weight matrix of n_out rows of n_in inputs prepared for the products of a
 * transformer layer, and the choice of product for each call. F32 and F16 weights are packed
 * into GEMM panels; other matmul types keep ggml-layout rows (nn_matmul's layout). nn_wmat_mul
 * picks, in this order:
 *   1. F32 panels: nn_gemm;
 *   2. >= NN_WMAT_GEMM_MIN_ROWS activation rows, a type with AMX rows: BF16 tiles on weight
 *      rows dequantised on the fly (whatever nn_matmul's AMX mode: quantised weights are
 *      approximate already);
 *   3. >= NN_WMAT_GEMM_MIN_ROWS rows with a nn_wmat_work: the F32 GEMM on panels of
 *      NN_WMAT_Q_GROUP weight rows that each thread dequantises;
 *   4. F16 panels: nn_gemm_f16;
 *   5. nn_matmul (decode: one or a few activation rows).
 *
 *   struct nn_wmat w;
 *   nn_wmat_init(&w, "fc.weight", rows, n_in, n_out, false, NN_TYPE_Q8_0);
 *   nn_wmat_mul(pool, &scratch, NULL, &w, x, n, bias, y, n_out);
 *   nn_wmat_release(&w);
 */
#ifndef NN_WMAT_H
#define NN_WMAT_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/matmul.h"
#include "nn/threadpool.h"
#include "nn/types.h"

#define NN_WMAT_GEMM_MIN_ROWS 16 /* batches this large use the GEMM for quantised weights too */
#define NN_WMAT_Q_GROUP       32 /* weight rows dequantised per unit of that GEMM */

struct nn_wmat {
    struct nn_tensor t; /* shape {n_in, n_out}, type; data (owned) set for quantised types */
    float *pk;          /* F32 packed panels (owned), or NULL */
    uint16_t *pk16;     /* F16 packed panels (owned), or NULL */
};

/* Builds w of `type` (NN_TYPE_F32, NN_TYPE_F16 or a matmul type whose block divides n_in) from
 * n_in * n_out floats stored input-major [n_in][n_out] (GPT-2 Conv1D) or output-major
 * [n_out][n_in]. name is borrowed for w's lifetime. VB_ERR_NOMEM, or VB_ERR_FORMAT when a row
 * cannot be quantised; w is left empty (nn_wmat_release is safe) on failure. */
VB_WUR enum vb_err nn_wmat_init(struct nn_wmat *w, const char *name, const float *src, int64_t n_in,
                                int64_t n_out, bool input_major, enum nn_type type);
/* Bytes w owns. */
size_t nn_wmat_bytes(const struct nn_wmat *w);
void nn_wmat_release(struct nn_wmat *w);

/* Per-thread panels for product 3 (caller-owned struct). */
struct nn_wmat_work {
    float *pk;   /* (n_threads) panels of NN_WMAT_Q_GROUP rows of up to max_in inputs */
    float *rows; /* (n_threads, NN_WMAT_Q_GROUP, max_in) dequantised rows */
    int64_t max_in;
};
/* Whether weights of `type` take product 3 (quantised, no AMX rows for the type). */
bool nn_wmat_work_wanted(enum nn_type type);
/* For matrices of at most max_in inputs on n_threads threads; VB_ERR_NOMEM. */
VB_WUR enum vb_err nn_wmat_work_init(struct nn_wmat_work *w, int64_t max_in, int n_threads);
void nn_wmat_work_release(struct nn_wmat_work *w);

/* y (n rows, stride ldy) = x (n rows of n_in) W^T + b (b: n_out or NULL). work: NULL or from
 * nn_wmat_work_init with at least the pool's threads. false on OOM. */
VB_WUR bool nn_wmat_mul(struct nn_pool *pool, struct nn_scratch *scratch,
                        const struct nn_wmat_work *work, const struct nn_wmat *w, const float *x,
                        int n, const float *b, float *y, int64_t ldy);

#endif
