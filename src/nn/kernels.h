/* kernels.h: the dot-product and activation-conversion kernels per weight type, chosen once
 * at run time from the CPU's features (portable C, AVX2/FMA, AVX-512 VNNI). */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include "core/vb.h"
#include "nn/conv_tile.h"
#include "nn/gemm.h"
#include "nn/quant.h"
#include "nn/scratch.h"
#include "nn/threadpool.h"

/* One weight row x ny activation rows: s[t * s_stride] = dot(x, y + t * y_stride bytes),
 * 1 <= ny <= NN_MULTI_MAX. Kernels unpack each weight block once for all ny rows. */
#define NN_MULTI_MAX 8
typedef void (*nn_vec_dot_multi_fn)(int n, const void *x, const void *y, size_t y_stride, int ny,
                                    float *s, size_t s_stride);

/* Decode kernel: nr consecutive weight rows (row_bytes apart) x one activation row that
 * `prep` converted into the kernel's own layout (act_bytes(n) bytes, any alignment):
 * y[r] = dot(row r, x), r < nr. Results agree with vec_dot on the same activation row up to
 * float summation order. */
typedef void (*nn_gemv_fn)(int n, const void *w, size_t row_bytes, int64_t nr, const void *act,
                           float *y);
typedef void (*nn_gemv_prep_fn)(const float *x, void *act, int64_t n);
typedef size_t (*nn_gemv_act_bytes_fn)(int64_t n);
struct nn_gemv {
    nn_gemv_fn run; /* NULL: no decode kernel for this type/ISA */
    nn_gemv_prep_fn prep;
    nn_gemv_act_bytes_fn act_bytes;
};

struct nn_kernel {
    nn_vec_dot_fn vec_dot;             /* weight row x activation row (in vec_dot_type) */
    nn_vec_dot_multi_fn vec_dot_multi; /* optional (NULL: loop over vec_dot) */
    nn_from_float_fn from_float;       /* f32 activations -> vec_dot_type; NULL for F32 */
    enum nn_type vec_dot_type;
    struct nn_gemv gemv; /* optional one-activation-row path (decode) */
};

enum nn_isa {
    NN_ISA_GENERIC = 0,
    NN_ISA_AVX2 = 1,
    NN_ISA_AVX512 = 2,
};

/* y[0..n) += a * x[0..n) with x of type F32 or F16 (attention's V rows). */
typedef void (*nn_axpy_fn)(int n, float a, const void *x, float *y);
/* NULL for other types. */
nn_axpy_fn nn_axpy_for(enum nn_type t);

/* Kernel set for weight type `t` for the best ISA this CPU supports (or a lower one named by
 * env NN_ISA=generic|avx2|avx512|amx); NULL if `t` is not a matmul type. */
const struct nn_kernel *nn_kernel_for(enum nn_type t);
/* Kernel for `t` with a given ISA (falls back to lower ISAs where a kernel is missing). */
const struct nn_kernel *nn_kernel_for_isa(enum nn_type t, enum nn_isa isa);
/* The ISA nn_kernel_for uses. */
enum nn_isa nn_kernels_isa(void);
const char *nn_isa_name(enum nn_isa isa);
/* Highest ISA the CPU supports. */
enum nn_isa nn_cpu_isa(void);
/* false when NN_ISA names generic, avx2 or avx512: the AMX tile paths stay off (NN_ISA=amx
 * or none: AMX where the CPU has it). */
bool nn_kernels_amx_allowed(void);

/* s[k] = softmax_k(scale * (s[k] + b[k])) over n values (b may be NULL). */
typedef void (*nn_softmax_row_fn)(float *s, const float *b, int n, float scale);
/* nn_attn_batch (nn/attn_batch.h) once its shape checks passed. */
typedef bool (*nn_attn_batch_fn)(struct nn_pool *pool, struct nn_scratch *scratch, const float *q,
                                 int n_tok, int64_t pos0, const void *k, const void *v,
                                 enum nn_type kv_type, int64_t kv_stride, int n_head, int n_head_kv,
                                 int head_dim, float *out);

/* The kernels beside the per-type dot products, one row per ISA level in the same table: each
 * level starts from the one below and the nn/arch hooks replace what they have. */
struct nn_op_kernels {
    nn_gemm_tile_fn gemm[2];      /* packed-panel GEMM tiles, [0] F32 panels, [1] F16 */
    int gemm_mr;                  /* their height (tokens) */
    nn_gemm_tile_fn gemm_wide[2]; /* optional two-panel tiles (NULL: none), height gemm_wide_mr */
    int gemm_wide_mr;
    /* y = x + sin^2(alpha x) / (alpha + 1e-9) (nn_snake; y may be x) */
    void (*snake)(float *y, const float *x, int64_t n, float alpha);
    void (*gelu)(float *x, int64_t n);                       /* tanh form, in place */
    void (*swiglu)(float *gate, const float *up, int64_t n); /* up NULL: SiLU */
    void (*gelu_erf)(float *x, int64_t n);                   /* nn_gelu_erf_fast */
    void (*mish_fast)(float *x, int64_t n);                  /* nn_mish_fast */
    nn_softmax_row_fn softmax_row;                           /* attention rows */
    /* optional (NULL): nn_layer_norm_fast's row (w and b given) */
    void (*layer_norm)(float *y, const float *x, const float *w, const float *b, int n, float eps);
    nn_conv_tile_fn conv_tile;   /* direct 1-D convolution tile (nn/conv_tile.h) */
    nn_attn_batch_fn attn_batch; /* optional (NULL): nn_attn_batch's kernel, shapes checked */
};
/* The row of the ISA nn_kernel_for uses. */
const struct nn_op_kernels *nn_op_kernels(void);

/* Registration hooks implemented in nn/arch (each returns NULL when it has no kernel). */
nn_vec_dot_fn nn_avx2_vec_dot(enum nn_type t);
nn_from_float_fn nn_avx2_from_float(enum nn_type t);
nn_axpy_fn nn_avx2_axpy(enum nn_type t);
nn_vec_dot_fn nn_avx512_vec_dot(enum nn_type t);
nn_vec_dot_multi_fn nn_avx512_vec_dot_multi(enum nn_type t);
nn_from_float_fn nn_avx512_from_float(enum nn_type t);
void nn_avx2_op_kernels(struct nn_op_kernels *o);
void nn_avx512_op_kernels(struct nn_op_kernels *o);
/* Fills *out and returns true when there is an AVX-512 decode kernel for `t`. */
bool nn_avx512_gemv(enum nn_type t, struct nn_gemv *out);

#endif
