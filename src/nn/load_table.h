/* load_table.h: table-driven weight loading from a safetensors file. A model lists its
 * tensors as rows of (name, kind, shape, destination) and nn_lt_load runs one loop over them.
 * A row's full name is prefix + group + name, group and name printf patterns that may take the
 * layer index ("encoder.blocks.%d." + "attn.query", or "lstm." + "weight_ih_l%d"). Each tensor
 * is checked (float dtype, number of dims, sizes) and converted to F32 into the destination;
 * rows of other kinds (packed linear layers, convolutions, tensors bound in place in a GGUF
 * file...) go to the put hook of the model's layer library. The first failure sticks and its
 * message names the tensor and what was wrong. */
#ifndef NN_LOAD_TABLE_H
#define NN_LOAD_TABLE_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/safetensors.h"

#define NN_LT_MAX_DIMS  4
#define NN_LT_MAX_SIZES 12 /* entries of a dims table */
/* Shape entries besides fixed sizes: any size, or the size in dims[i] (bound by the first
 * tensor that uses it when dims[i] < 0). */
#define NN_LT_FREE   (-1)
#define NN_LT_DIM(i) (-2 - (int64_t)(i))

enum { NN_LT_F32 = 0 }; /* kind: an F32 copy of the tensor into a `const float *` field */

struct nn_lt_row {
    const char *name; /* after prefix + group; may hold one %d (the layer index) */
    int kind;         /* NN_LT_F32, or a kind the put hook knows */
    int n_dims;
    int64_t shape[NN_LT_MAX_DIMS]; /* sizes, NN_LT_FREE or NN_LT_DIM(i) */
    size_t dst;                    /* offsetof the destination in the struct being filled */
    int arg;                       /* for the put hook (bias flag, stride...) */
};

/* A row filling field `field` of struct type T. */
#define NN_LT_ROW(T, field, name, kind, arg, n_dims, ...)                                          \
    {                                                                                              \
        (name), (kind), (n_dims), {__VA_ARGS__}, offsetof(T, field), (arg)                         \
    }

struct nn_lt {
    const struct nn_safetensors *st; /* borrowed */
    const char *prefix;              /* e.g. "flow."; NULL for none */
    /* Takes ownership of a buffer the loader made (NULL: the destination owns it); false on out
     * of memory. */
    bool (*keep)(struct nn_lt *L, void *p);
    /* Loads a row of another kind from `name` (prefix and group included) into dst; shape has
     * the row's sizes resolved (-1: any) and receives the actual ones. false after nn_lt_fail. */
    bool (*put)(struct nn_lt *L, const struct nn_lt_row *row, const char *name, int64_t *shape,
                void *dst);
    enum vb_err err; /* the first failure */
    char *why;
    size_t why_cap;
};

/* Records the first failure (later ones are dropped). */
void nn_lt_fail(struct nn_lt *L, enum vb_err err, const char *fmt, ...) VB_PRINTF(3, 4);
/* prefix + printf(fmt, ...) into name[cap]; false (with an error) when it does not fit. */
bool nn_lt_name(struct nn_lt *L, char *name, size_t cap, const char *fmt, ...) VB_PRINTF(4, 5);
/* The float tensor `name` (full name) checked against n_dims and shape (entries < 0 match any
 * size; the actual sizes are written back); NULL with an error naming it otherwise. */
const struct nn_st_tensor *nn_lt_tensor(struct nn_lt *L, const char *name, int n_dims,
                                        int64_t *shape);
/* An F32 copy of nn_lt_tensor's tensor, handed to keep; NULL with an error. */
float *nn_lt_f32(struct nn_lt *L, const char *name, int n_dims, int64_t *shape);
/* The loop: each of rows[n] into base, names under group_fmt (with `index`, NULL for none) and
 * NN_LT_DIM sizes from dims (NN_LT_MAX_SIZES entries; an entry < 0 takes the first size seen).
 * false once an error is recorded. */
bool nn_lt_load(struct nn_lt *L, const struct nn_lt_row *rows, size_t n, void *base, int64_t *dims,
                const char *group_fmt, int index);

#endif
