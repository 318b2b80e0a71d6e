/* s3_ops.h: layer helpers shared by the S3Tokenizer and the S3Gen flow: checked F32 weight
 * loading from a safetensors file (owned copies), Linear and Conv1d (im2col + nn_gemm) on
 * time-major activations (T rows of C floats), row LayerNorm, Mish/leaky ReLU, grow-once
 * scratch buffers. */
#ifndef CB_S3_OPS_H
#define CB_S3_OPS_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/load_table.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"
#include "nn/threadpool.h"

/* Owns every weight buffer a model loads; freed in one go with s3_wstore_release. */
struct s3_wstore {
    void **ptrs;
    size_t n, cap;
};
void s3_wstore_release(struct s3_wstore *ws);

/* Sticky-error loader over nn/load_table (tensor names are prefix + name); the first
 * failure stays in lt.err / lt.why. */
struct s3_loader {
    struct nn_lt lt;      /* first member: the put hook casts back */
    struct s3_wstore *ws; /* receives the copies */
    bool f16;             /* pack Linear/Conv weights as binary16 (half memory) */
    bool bf16;            /* bf16 weights + activations on AMX (when available) */
};
/* A loader reading st (prefix may be NULL) into ws, errors into why[why_cap]. */
void s3_loader_init(struct s3_loader *L, const struct nn_safetensors *st, const char *prefix,
                    struct s3_wstore *ws, char *why, size_t why_cap);

/* Row kinds of nn_lt_load tables beside NN_LT_F32: "<name>.weight" (+ "<name>.bias") as an
 * s3_linear (shape {n_out, n_in}, arg: has bias) or an s3_conv (shape {c_out, c_in, k}, arg:
 * stride; always a bias). */
enum { S3_ROW_LINEAR = 1, S3_ROW_CONV };
#define S3_VEC(T, f, name, n)                NN_LT_ROW(T, f, name, NN_LT_F32, 0, 1, n)
#define S3_MAT(T, f, name, a, b)             NN_LT_ROW(T, f, name, NN_LT_F32, 0, 2, a, b)
#define S3_LIN(T, f, name, o, i, bias)       NN_LT_ROW(T, f, name, S3_ROW_LINEAR, bias, 2, o, i)
#define S3_CONV(T, f, name, o, i, k, stride) NN_LT_ROW(T, f, name, S3_ROW_CONV, stride, 3, o, i, k)

/* Checks tensor prefix+name (float, shape as in s3_load, actual sizes written back) without
 * copying it; false + error otherwise. */
bool s3_shape(struct s3_loader *L, int n_dims, int64_t *shape, const char *name);

/* Tensor prefix+name (printf-style name), or NULL (not an error). */
const struct nn_st_tensor *s3_find(struct s3_loader *L, const char *fmt, ...) VB_PRINTF(2, 3);
/* F32 copy of prefix+name checked against shape (entries < 0 match any size; the actual sizes
 * are written back into shape). NULL + error when missing, wrong dtype or shape. */
float *s3_load(struct s3_loader *L, int n_dims, int64_t *shape, const char *fmt, ...)
    VB_PRINTF(4, 5);

/* Number of layers in an indexed group: 1 + the largest N over tensors named
 * prefix + group + "N." (0 when none; capped at max + 1 so callers can refuse). A layer with
 * a tensor missing then fails in s3_load with that tensor's name. */
int s3_count_indexed(struct s3_loader *L, const char *group, int max);

/* y = x W^T + b; W [n_out, n_in] as PyTorch stores it, kept packed for nn_gemm. */
struct s3_linear {
    const void *w; /* nn_gemm panels (float, or uint16_t for f16/bf16); owned by the wstore */
    enum s3_wtype { S3_W_F32, S3_W_F16, S3_W_BF16 } type;
    const float *b; /* (n_out) or NULL */
    int n_in, n_out;
};
/* Loads "<name>.weight" (and "<name>.bias" when has_bias). n_in/n_out < 0: take from file. */
bool s3_linear_load(struct s3_loader *L, struct s3_linear *lin, int n_in, int n_out, bool has_bias,
                    const char *fmt, ...) VB_PRINTF(6, 7);

/* Conv1d over time-major activations; weights reordered to [out][k][in] at load time. */
struct s3_conv {
    struct s3_linear lin; /* n_in = k * c_in */
    int c_in, c_out, k, stride;
};
/* Loads "<name>.weight" [c_out, c_in, k] (+ bias). Sizes < 0: take from file. */
bool s3_conv_load(struct s3_loader *L, struct s3_conv *c, int c_in, int c_out, int k, int stride,
                  bool has_bias, const char *fmt, ...) VB_PRINTF(8, 9);
/* Output frames for t_in input frames with pad_l/pad_r zero frames. */
int s3_conv_out_len(const struct s3_conv *c, int t_in, int pad_l, int pad_r);

/* Per-call scratch that grows on demand (no allocation once the largest size was seen). */
struct s3_ctx {
    struct nn_pool *pool; /* borrowed */
    float *col;           /* im2col buffer */
    size_t col_cap;
    void *bf; /* bf16 activation copy for S3_W_BF16 layers */
    size_t bf_cap;
};
void s3_ctx_release(struct s3_ctx *c);

/* y (t rows, stride ldy) = x (t rows of n_in, contiguous) W^T + b. false on OOM (bf16 layers
 * need an activation copy). */
VB_WUR bool s3_linear_fwd(struct s3_ctx *c, const struct s3_linear *lin, const float *x, int t,
                          float *y, int64_t ldy);
/* y (t_out rows of c_out) = conv(x (t_in rows of c_in, stride ldx)) with pad_l/pad_r zero
 * frames. false on OOM. */
VB_WUR bool s3_conv_fwd(struct s3_ctx *c, const struct s3_conv *cv, const float *x, int64_t ldx,
                        int t_in, int pad_l, int pad_r, float *y);

/* Element-wise activations, threaded over rows of the context's pool. */
enum s3_act {
    S3_ACT_GELU_ERF,
    S3_ACT_SILU,
    S3_ACT_MISH,
};
void s3_act_rows(struct s3_ctx *c, float *x, int rows, int cols, enum s3_act act);
/* Threaded row LayerNorm: y rows = LN(x rows) (y == x allowed; both stride ld). */
void s3_layer_norm_par(struct s3_ctx *c, float *y, const float *x, int t, int n, int64_t ld,
                       const float *w, const float *b, float eps);

/* LayerNorm of each of t rows of n floats (stride ld) in place. */
void s3_layer_norm_rows(float *x, int t, int n, int64_t ld, const float *w, const float *b,
                        float eps);
void s3_mish(float *x, int64_t n);
/* Plain C s3_mish (libm expf): the reference of the vectorised paths (tests). */
void s3_mish_ref(float *x, int64_t n);
void s3_leaky_relu(float *x, int64_t n, float slope);

/* Random tensors for make-random checkpoints, with a sticky error: a > 0 uniform in
 * [-a, a) (seed incremented per tensor), S3_RND_ONE constant 1, S3_RND_ZERO constant 0. */
struct s3_rnd {
    struct nn_st_writer *w; /* borrowed */
    const char *prefix;
    uint64_t seed;
    enum vb_err err;
};
#define S3_RND_ONE  (-1.0f)
#define S3_RND_ZERO 0.0f
void s3_rnd_add(struct s3_rnd *r, int n_dims, const int64_t *shape, float a, const char *fmt, ...)
    VB_PRINTF(5, 6);

/* dst (cols x rows) = transpose of src (rows x cols). */
void s3_transpose(float *dst, const float *src, int rows, int cols);

#endif
