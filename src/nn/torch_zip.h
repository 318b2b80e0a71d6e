/* torch_zip.h: safe reader for PyTorch's zip checkpoints (torch.save, e.g. Chatterbox's
 * conds.pt): a stored-entries zip reader plus a restricted pickle machine that builds plain
 * values (None, bool, int, float, str, tuple, list, dict) and tensors. Only data opcodes are
 * executed; the only callables are a whitelist (torch._utils._rebuild_tensor_v2,
 * collections.OrderedDict, torch.*Storage types), so no code from the file ever runs.
 *
 *   struct nn_tz *tz; char why[256];
 *   if (nn_tz_open("conds.pt", &tz, why, sizeof why)) -> error naming the problem
 *   const struct nn_pk *t = nn_pk_get(nn_pk_get(nn_tz_root(tz), "t3"), "speaker_emb");
 *   if (t && t->type == NN_PK_TENSOR) ... t->data, t->shape ...
 *   nn_tz_close(tz);
 */
#ifndef VB_NN_TORCH_ZIP_H
#define VB_NN_TORCH_ZIP_H

#include "core/vb.h"
#include "core/err.h"
#include "nn/safetensors.h"

#define NN_TZ_MAX_BYTES ((size_t)1 << 30) /* largest archive accepted */

enum nn_pk_type {
    NN_PK_NONE,
    NN_PK_BOOL,
    NN_PK_INT,
    NN_PK_FLOAT,
    NN_PK_STR,
    NN_PK_TUPLE,
    NN_PK_LIST,
    NN_PK_DICT, /* items: key, value, key, value, ... (n = 2 x pairs) */
    NN_PK_TENSOR,
    NN_PK_GLOBAL,  /* internal: a whitelisted callable */
    NN_PK_STORAGE, /* internal: a tensor storage */
};

struct nn_pk {
    enum nn_pk_type type;
    int64_t i;     /* BOOL, INT; GLOBAL: kind */
    double f;      /* FLOAT */
    const char *s; /* STR (NUL-terminated; may contain NULs up to len) */
    size_t len;
    struct nn_pk **items; /* TUPLE, LIST: n items; DICT: n/2 (key, value) pairs */
    size_t n, cap;
    /* TENSOR (contiguous, row-major, little-endian, maybe unaligned; borrowed from the
     * archive) and STORAGE */
    enum nn_st_dtype dtype;
    int n_dims;
    int64_t shape[NN_ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
};

struct nn_tz;

/* Maps and parses `path`. Caller closes with nn_tz_close. */
VB_WUR enum vb_err nn_tz_open(const char *path, struct nn_tz **out, char *why, size_t why_cap);
/* Same over caller memory (borrowed until nn_tz_close), e.g. for fuzzing. */
VB_WUR enum vb_err nn_tz_open_memory(const void *data, size_t len, struct nn_tz **out, char *why,
                                     size_t why_cap);
void nn_tz_close(struct nn_tz *tz);
/* The unpickled object (borrowed until nn_tz_close). */
const struct nn_pk *nn_tz_root(const struct nn_tz *tz);

/* Dict member with string key `key`, or NULL (also when d is not a dict). */
const struct nn_pk *nn_pk_get(const struct nn_pk *d, const char *key);
/* Elements of a tensor (1 for a scalar). */
int64_t nn_pk_numel(const struct nn_pk *t);

#endif
