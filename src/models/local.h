/* local.h: operations on the installed files of a model: verify their checksums against
 * the registry or the .meta sidecar written at download time, and remove them. */
#ifndef VB_MODELS_LOCAL_H
#define VB_MODELS_LOCAL_H

#include "core/vb.h"
#include "core/err.h"
#include "models/registry.h"

#include <stdatomic.h>

enum models_verify_result {
    MODELS_VERIFY_OK,          /* size and SHA-256 match the published ones */
    MODELS_VERIFY_OK_RECORDED, /* they match what was recorded at download time, when no hash
                                  was published to check the download against */
    MODELS_VERIFY_UNCHECKED,   /* present, but no expected hash is known (copied in by hand) */
    MODELS_VERIFY_MISSING,     /* no file */
    MODELS_VERIFY_BAD_SIZE,    /* size differs from the expected one */
    MODELS_VERIFY_BAD_HASH,    /* SHA-256 differs from the expected one */
};

/* "ok", "ok (recorded)", "unchecked", "missing", "size mismatch", "checksum mismatch";
 * static storage. */
const char *models_verify_result_name(enum models_verify_result r);

/* Recomputes the SHA-256 of f (into sha_hex, "" when not hashed) and compares size and hash
 * with the registry's, else the sidecar's. Returns VB_OK with *result set, or VB_ERR_IO
 * (unreadable file) / VB_ERR_CANCELLED with why set. cancel may be NULL. */
VB_WUR enum vb_err models_verify_file(const char *models_dir, const struct models_entry *m,
                                      const struct models_file *f, const atomic_int *cancel,
                                      enum models_verify_result *result, char sha_hex[65],
                                      char *why, size_t why_cap);

/* Deletes m's files, their .part and .meta files, and the model's directory when it is then
 * empty. *n_removed (may be NULL) gets the number of files deleted. VB_ERR_IO with why set
 * when something could not be deleted (the rest is still attempted). */
VB_WUR enum vb_err models_remove(const char *models_dir, const struct models_entry *m,
                                 size_t *n_removed, char *why, size_t why_cap);

#endif
