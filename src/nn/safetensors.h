/* safetensors.h: read-only view of a .safetensors file over mmap: u64-LE header length, a
 * JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then raw
 * little-endian data. Every offset, size, dtype and shape is validated against the file
 * before any tensor is exposed (overlaps, gaps outside the data region, shape/size
 * mismatches, duplicate names, absurd header sizes are refused with a reason).
 *
 *   struct nn_safetensors *st; char why[256];
 *   if (nn_st_open("ve.safetensors", &st, why, sizeof why)) -> error naming the problem
 *   const struct nn_st_tensor *w = nn_st_find(st, "proj.weight");
 *   float *buf = ...; nn_st_to_f32(w, buf, nn_st_numel(w));
 *   nn_st_close(st);
 */
#ifndef VB_NN_SAFETENSORS_H
#define VB_NN_SAFETENSORS_H

#include "core/vb.h"
#include "core/err.h"

#define NN_ST_MAX_DIMS   8
#define NN_ST_HEADER_MAX ((uint64_t)100 << 20) /* largest JSON header accepted, bytes */

enum nn_st_dtype {
    NN_ST_F64,
    NN_ST_F32,
    NN_ST_F16,
    NN_ST_BF16,
    NN_ST_I64,
    NN_ST_I32,
    NN_ST_I16,
    NN_ST_I8,
    NN_ST_U8,
    NN_ST_BOOL,
};

struct nn_st_tensor {
    const char *name; /* borrowed from the file object */
    enum nn_st_dtype dtype;
    int n_dims;                    /* 0 (scalar) .. NN_ST_MAX_DIMS */
    int64_t shape[NN_ST_MAX_DIMS]; /* outermost first, as PyTorch writes them */
    const void *data;              /* into the mapping; little-endian; may be unaligned */
    size_t nbytes;
};

struct nn_safetensors;

/* Maps and validates `path`. Caller closes with nn_st_close. On failure why names the
 * file problem (never crashes on corrupt input). */
VB_WUR enum vb_err nn_st_open(const char *path, struct nn_safetensors **out, char *why,
                              size_t why_cap);
/* Same over a caller-owned buffer (borrowed until nn_st_close), e.g. for fuzzing. */
VB_WUR enum vb_err nn_st_open_memory(const void *data, size_t len, struct nn_safetensors **out,
                                     char *why, size_t why_cap);
void nn_st_close(struct nn_safetensors *st);

size_t nn_st_count(const struct nn_safetensors *st);
/* Tensors in header order; borrowed. */
const struct nn_st_tensor *nn_st_at(const struct nn_safetensors *st, size_t i);
/* By exact name, or NULL. */
const struct nn_st_tensor *nn_st_find(const struct nn_safetensors *st, const char *name);
/* "__metadata__" string value, or NULL. */
const char *nn_st_metadata(const struct nn_safetensors *st, const char *key);

/* Elements (product of the shape; 1 for a scalar). */
int64_t nn_st_numel(const struct nn_st_tensor *t);
size_t nn_st_dtype_size(enum nn_st_dtype dt);
const char *nn_st_dtype_name(enum nn_st_dtype dt); /* "F32", ... */
/* Converts `n` elements (must equal nn_st_numel) of a float or integer tensor to float32.
 * VB_ERR_INVALID on a count mismatch or BOOL. */
VB_WUR enum vb_err nn_st_to_f32(const struct nn_st_tensor *t, float *out, size_t n);
/* Same to int64 for integer tensors (token ids, counters). */
VB_WUR enum vb_err nn_st_to_i64(const struct nn_st_tensor *t, int64_t *out, size_t n);
/* Checks dtype and exact shape; on mismatch writes "NAME: expected ..., got ..." into why. */
VB_WUR enum vb_err nn_st_expect(const struct nn_st_tensor *t, enum nn_st_dtype dtype, int n_dims,
                                const int64_t *shape, char *why, size_t why_cap);

#endif
