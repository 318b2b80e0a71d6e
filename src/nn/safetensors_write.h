/* safetensors_write.h: builds .safetensors files (the format nn_st_open reads): tensors from
 * caller memory, constants, or deterministic uniform noise generated while writing (so a
 * random full-size checkpoint never has to sit in memory), names sorted, header padded to 8.
 *
 *   struct nn_st_writer *w; nn_st_writer_new(&w);
 *   nn_st_writer_add_uniform(w, "proj.weight", 2, (int64_t[]){256, 256}, -0.06f, 0.06f, seed);
 *   nn_st_writer_add(w, "proj.bias", NN_ST_F32, 1, (int64_t[]){256}, bias);  // borrowed
 *   if (nn_st_writer_write(w, "ve.safetensors", why, sizeof why)) -> error
 *   nn_st_writer_free(w);
 */
#ifndef VB_NN_SAFETENSORS_WRITE_H
#define VB_NN_SAFETENSORS_WRITE_H

#include "core/vb.h"
#include "core/buf.h"
#include "core/err.h"
#include "nn/safetensors.h"

struct nn_st_writer;

VB_WUR enum vb_err nn_st_writer_new(struct nn_st_writer **out);
void nn_st_writer_free(struct nn_st_writer *w);

/* Adds a tensor whose bytes (numel * dtype size, little-endian) are read from `data` at write
 * time (borrowed until then). Names are copied. VB_ERR_CONFLICT for a duplicate name,
 * VB_ERR_INVALID for a bad shape/dtype/name, VB_ERR_NOMEM. */
VB_WUR enum vb_err nn_st_writer_add(struct nn_st_writer *w, const char *name,
                                    enum nn_st_dtype dtype, int n_dims, const int64_t *shape,
                                    const void *data);
/* F32 tensor of uniform values in [lo, hi) from a counter-based generator: element i depends
 * only on (seed, i), so files are reproducible. */
VB_WUR enum vb_err nn_st_writer_add_uniform(struct nn_st_writer *w, const char *name, int n_dims,
                                            const int64_t *shape, float lo, float hi,
                                            uint64_t seed);
/* F32 tensor filled with `value`. */
VB_WUR enum vb_err nn_st_writer_add_const(struct nn_st_writer *w, const char *name, int n_dims,
                                          const int64_t *shape, float value);
/* "__metadata__" string entry (both copied). */
VB_WUR enum vb_err nn_st_writer_metadata(struct nn_st_writer *w, const char *key,
                                         const char *value);
size_t nn_st_writer_count(const struct nn_st_writer *w);
/* Total file size the writer would produce. */
uint64_t nn_st_writer_size(const struct nn_st_writer *w);

/* Writes the file: to "<path>.tmp" first, then renamed over path. why names the problem. */
VB_WUR enum vb_err nn_st_writer_write(const struct nn_st_writer *w, const char *path, char *why,
                                      size_t why_cap);
/* Appends the whole file image to out (e.g. for nn_st_open_memory in tests). */
VB_WUR enum vb_err nn_st_writer_to_buf(const struct nn_st_writer *w, struct vb_buf *out);

#endif
