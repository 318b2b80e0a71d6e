/* gguf_write.h: GGUF v3 writer: metadata pairs and tensors (in insertion order, each padded to
 * the 32-byte alignment, offsets the running sum as llama.cpp requires). Tensor bytes come from
 * a borrowed buffer or from a callback that fills them at write time (large models are
 * produced without holding them in memory).
 *
 *   struct gguf_writer *w = gguf_writer_new();
 *   gguf_writer_set_str(w, "general.architecture", "qwen2");
 *   gguf_writer_add_tensor(w, "x.weight", NN_TYPE_F32, 2, ne, data, NULL, NULL);
 *   gguf_writer_write(w, "out.gguf", why, sizeof why);
 *   gguf_writer_free(w);
 */
#ifndef NN_GGUF_WRITE_H
#define NN_GGUF_WRITE_H

#include "core/vb.h"
#include "core/buf.h"
#include "core/err.h"
#include "nn/gguf.h"

struct gguf_writer;

/* Fills dst (nbytes) with tensor i's data; false aborts the write. */
typedef bool (*gguf_fill_fn)(void *ud, size_t i, void *dst, size_t nbytes);

struct gguf_writer *gguf_writer_new(void); /* aborts on OOM; free with gguf_writer_free */
void gguf_writer_free(struct gguf_writer *w);

/* Metadata setters (keys and strings are copied). Errors: VB_ERR_CONFLICT on a duplicate
 * key, VB_ERR_NOMEM. */
VB_WUR enum vb_err gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
VB_WUR enum vb_err gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
VB_WUR enum vb_err gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
VB_WUR enum vb_err gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
VB_WUR enum vb_err gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
VB_WUR enum vb_err gguf_writer_set_arr_str(struct gguf_writer *w, const char *key,
                                           const char *const *v, size_t n);
VB_WUR enum vb_err gguf_writer_set_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v,
                                           size_t n);
/* Copies every metadata pair of g whose key starts with `prefix` (NULL = all), except
 * general.alignment. */
VB_WUR enum vb_err gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_file *g,
                                       const char *prefix);

/* Adds a tensor: ne[0..n_dims-1] (ggml order). Either `data` (borrowed until the write) or
 * `fill` (called during the write with ud and the tensor's index). VB_ERR_INVALID for a bad
 * name, shape or type; VB_ERR_CONFLICT for a duplicate name. */
VB_WUR enum vb_err gguf_writer_add_tensor(struct gguf_writer *w, const char *name,
                                          enum nn_type type, int n_dims, const int64_t *ne,
                                          const void *data, gguf_fill_fn fill, void *ud);

/* Writes the file (to path.tmp, then renamed). */
VB_WUR enum vb_err gguf_writer_write(struct gguf_writer *w, const char *path, char *why,
                                     size_t why_cap);
/* Writes the whole file into a buffer (tests, small files). */
VB_WUR enum vb_err gguf_writer_write_buf(struct gguf_writer *w, struct vb_buf *out);

#endif
