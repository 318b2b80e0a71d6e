/* gemm.h: packed-panel F32 GEMM, y = x W^T + b, for activations in row-major token order:
 * W is packed once into panels of NN_GEMM_NR output rows (F32, or F16 for half the memory),
 * then nn_gemm runs the register tiles of the kernel table (AVX-512 14x16 or AVX2/FMA 6x16
 * when the CPU has them, plain C otherwise), threaded over tiles. */
#ifndef NN_GEMM_H
#define NN_GEMM_H

#include "core/vb.h"
#include "nn/threadpool.h"

#define NN_GEMM_NR     16 /* output rows per packed panel */
#define NN_GEMM_MR     6  /* tokens per register tile: generic and AVX2 */
#define NN_GEMM_MR_MAX 14 /* the tallest tile (AVX-512) */

/* A register tile of the kernel table (nn/kernels.h): tile[r * ldt + j] = sum_k xr[r][k] *
 * panel[k][j] for r below the tile's height and j below its width (NN_GEMM_NR; a two-panel
 * tile 2 * NN_GEMM_NR, its second panel K rows after the first); pv: F32 or F16 panel. */
typedef void (*nn_gemm_tile_fn)(int K, const float *const xr[NN_GEMM_MR_MAX], const void *pv,
                                float *tile, int64_t ldt);
/* The plain C tiles (NN_GEMM_MR x NN_GEMM_NR), F32 and F16 panels. */
void nn_gemm_tile_ref(int K, const float *const xr[NN_GEMM_MR_MAX], const void *pv, float *tile,
                      int64_t ldt);
void nn_gemm_tile_f16_ref(int K, const float *const xr[NN_GEMM_MR_MAX], const void *pv, float *tile,
                          int64_t ldt);

/* Floats a packed copy of an (n_out, n_in) weight needs. */
size_t nn_gemm_packed_floats(int n_in, int n_out);
/* Packs w (n_out rows of n_in, row stride ldw: PyTorch's Linear layout) into dst. */
void nn_gemm_pack(float *dst, const float *w, int n_in, int n_out, int64_t ldw);
/* Packs the transposed layout wt (n_in rows of n_out, row stride ldwt) into dst. */
void nn_gemm_pack_t(float *dst, const float *wt, int n_in, int n_out, int64_t ldwt);
/* y[t][o] = sum_k x[t][k] * W[o][k] (+ b[o]) for t < n_tok, o < n_out; x row stride ldx, y row
 * stride ldy; b may be NULL. pool may be NULL. */
void nn_gemm(struct nn_pool *pool, const float *packed, int n_in, int n_out, const float *x,
             int64_t ldx, int n_tok, const float *b, float *y, int64_t ldy);
/* Half-precision panels (IEEE binary16: half the memory; activations and sums stay F32). */
void nn_gemm_pack_f16(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw);
void nn_gemm_f16(struct nn_pool *pool, const uint16_t *packed, int n_in, int n_out, const float *x,
                 int64_t ldx, int n_tok, const float *b, float *y, int64_t ldy);
/* BF16 weights and activations on Intel AMX (Sapphire Rapids and later; F32 accumulation):
 * several times the F32 speed, ~3 significant digits. nn_gemm_amx_available() says whether
 * this CPU/kernel runs it natively (otherwise nn_gemm_bf16 works through a slow plain C
 * path: pack F32 or F16 instead). scratch: nn_gemm_bf16_scratch_bytes(n_in, n_tok) bytes. */
bool nn_gemm_amx_available(void);
size_t nn_gemm_packed_bf16_elems(int n_in, int n_out);
void nn_gemm_pack_bf16(uint16_t *dst, const float *w, int n_in, int n_out, int64_t ldw);
void nn_gemm_pack_bf16_t(uint16_t *dst, const float *wt, int n_in, int n_out, int64_t ldwt);
size_t nn_gemm_bf16_scratch_bytes(int n_in, int n_tok);
void nn_gemm_bf16(struct nn_pool *pool, const uint16_t *packed, int n_in, int n_out, const float *x,
                  int64_t ldx, int n_tok, const float *b, float *y, int64_t ldy, void *scratch);
/* Double-accumulating reference over the same packed weights (tests). */
void nn_gemm_ref(const float *packed, int n_in, int n_out, const float *x, int64_t ldx, int n_tok,
                 const float *b, float *y, int64_t ldy);

#endif
