/* types.h: tensor element types with ggml's numeric ids, their block sizes and byte sizes,
 * and the tensor view shared by the GGUF/safetensors readers and the kernels. */
#ifndef NN_TYPES_H
#define NN_TYPES_H

#include "core/vb.h"

enum nn_type {
    NN_TYPE_F32 = 0,
    NN_TYPE_F16 = 1,
    NN_TYPE_Q4_0 = 2,
    NN_TYPE_Q4_1 = 3,
    NN_TYPE_Q5_0 = 6,
    NN_TYPE_Q5_1 = 7,
    NN_TYPE_Q8_0 = 8,
    NN_TYPE_Q8_1 = 9,
    NN_TYPE_Q2_K = 10,
    NN_TYPE_Q3_K = 11,
    NN_TYPE_Q4_K = 12,
    NN_TYPE_Q5_K = 13,
    NN_TYPE_Q6_K = 14,
    NN_TYPE_Q8_K = 15,
    NN_TYPE_I8 = 24,
    NN_TYPE_I16 = 25,
    NN_TYPE_I32 = 26,
    NN_TYPE_I64 = 27,
    NN_TYPE_F64 = 28,
    NN_TYPE_BF16 = 30,
    NN_TYPE_COUNT = 40, /* bound for tables indexed by type id */
};

#define NN_QK       32  /* elements per legacy block */
#define NN_QK_K     256 /* elements per K-quant super-block */
#define NN_MAX_DIMS 4

struct nn_type_info {
    const char *name;     /* "q4_k"; NULL for ids that are not types */
    int block;            /* elements per block */
    size_t block_bytes;   /* bytes per block */
    bool matmul;          /* usable as matmul weights (dequantise + vec_dot exist) */
    enum nn_type vec_dot; /* type the activations are converted to for dot products */
};

/* Info for `t`, or NULL if `t` is not a known type id. Static storage. */
const struct nn_type_info *nn_type_info(int t);
/* Name of `t` ("f32", "q4_k"...), "?" if unknown. */
const char *nn_type_name(int t);
/* Bytes of a row of `n` elements of type `t`; 0 if `t` is unknown, `n` is not a multiple of
 * the block size, or the size overflows. */
size_t nn_row_bytes(int t, int64_t n);

/* A tensor view: shape, type and a borrowed pointer to its bytes (usually inside an mmap). */
struct nn_tensor {
    const char *name; /* borrowed, NUL-terminated */
    enum nn_type type;
    int n_dims;
    int64_t ne[NN_MAX_DIMS]; /* ggml order: ne[0] is contiguous; unused dims are 1 */
    size_t row_bytes;        /* bytes of one ne[0] row */
    size_t nbytes;           /* bytes of the whole tensor */
    const void *data;        /* borrowed from the file mapping */
};

/* Number of rows (ne[1]*ne[2]*ne[3]). */
static inline int64_t nn_tensor_rows(const struct nn_tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

#endif
