/* gguf.h: GGUF v2/v3 reader over a read-only memory map. Every count, length, offset, type
 * and size is checked against the file size at open; a bad file gives an error string,
 * never a crash. Tensor views point into the mapping (no copies).
 *
 *   struct gguf_file *g; char why[256];
 *   if (gguf_open(path, &g, why, sizeof why)) -> error
 *   uint32_t n; if (!gguf_get_u32(g, "qwen2.block_count", &n)) -> missing
 *   const struct nn_tensor *t = gguf_find_tensor(g, "token_embd.weight");
 *   gguf_close(g);
 */
#ifndef NN_GGUF_H
#define NN_GGUF_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/types.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NAME          64 /* tensor names are shorter than this (ggml's limit) */

enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT,
};

struct gguf_file;

/* One metadata pair; all pointers borrowed from the mapping/file object. */
struct gguf_kv {
    const char *key;         /* NUL-terminated copy */
    enum gguf_type type;     /* value type */
    enum gguf_type arr_type; /* element type when type == ARRAY */
    uint64_t arr_n;          /* element count when type == ARRAY */
    const uint8_t *val;      /* scalar: the value bytes; string: the bytes (len in str_len);
                                array: the first element */
    uint64_t str_len;        /* STRING value length */
    uint64_t *str_offs;      /* ARRAY of STRING: byte offset of each element's length field
                                relative to val (internal index) */
};

/* Opens and validates `path` (mmap). On failure returns VB_ERR_IO / VB_ERR_FORMAT /
 * VB_ERR_NOMEM and writes a reason into `why`. Caller frees *out with gguf_close. */
VB_WUR enum vb_err gguf_open(const char *path, struct gguf_file **out, char *why, size_t why_cap);
/* Same over a caller-owned buffer that must outlive the returned object (fuzzing, tests). */
VB_WUR enum vb_err gguf_open_mem(const void *data, size_t size, struct gguf_file **out, char *why,
                                 size_t why_cap);
void gguf_close(struct gguf_file *g);

uint32_t gguf_version(const struct gguf_file *g);
size_t gguf_alignment(const struct gguf_file *g);
size_t gguf_data_offset(const struct gguf_file *g);
size_t gguf_file_size(const struct gguf_file *g);

size_t gguf_kv_count(const struct gguf_file *g);
const struct gguf_kv *gguf_kv_at(const struct gguf_file *g, size_t i);
/* NULL if absent. */
const struct gguf_kv *gguf_find_kv(const struct gguf_file *g, const char *key);

/* Typed getters: false when the key is absent or its value does not fit the asked type.
 * Integer getters accept any integer type whose value is in range. */
bool gguf_get_u32(const struct gguf_file *g, const char *key, uint32_t *out);
bool gguf_get_i64(const struct gguf_file *g, const char *key, int64_t *out);
bool gguf_get_f32(const struct gguf_file *g, const char *key, float *out);
bool gguf_get_bool(const struct gguf_file *g, const char *key, bool *out);
/* String value (not NUL-terminated; *len bytes), or NULL. */
const char *gguf_get_str(const struct gguf_file *g, const char *key, size_t *len);
/* Array value: element type and count; false if absent or not an array. */
bool gguf_get_arr(const struct gguf_file *g, const char *key, enum gguf_type *type, uint64_t *n,
                  const struct gguf_kv **kv);
/* Element i of a string array (not NUL-terminated), or NULL if out of range. */
const char *gguf_arr_str(const struct gguf_kv *kv, uint64_t i, size_t *len);
/* Element i of an integer array as int64; false if not an integer array or out of range. */
bool gguf_arr_int(const struct gguf_kv *kv, uint64_t i, int64_t *out);
/* Element i of a float32 array. */
bool gguf_arr_f32(const struct gguf_kv *kv, uint64_t i, float *out);

size_t gguf_tensor_count(const struct gguf_file *g);
const struct nn_tensor *gguf_tensor_at(const struct gguf_file *g, size_t i);
/* Tensor by exact name, NULL if absent. */
const struct nn_tensor *gguf_find_tensor(const struct gguf_file *g, const char *name);

const char *gguf_type_name(enum gguf_type t);

#endif
