/* sha256.h: streaming SHA-256 for model files (OpenSSL EVP), and hashing a file's first
 * bytes so a resumed download or `models verify` can include what is already on disk. */
#ifndef VB_MODELS_SHA256_H
#define VB_MODELS_SHA256_H

#include "core/vb.h"
#include "core/err.h"

#include <stdatomic.h>

struct models_sha256 {
    void *ctx; /* EVP_MD_CTX; NULL after final/release */
};

/* VB_ERR_NOMEM when OpenSSL cannot allocate the context. Release with
 * models_sha256_release (or models_sha256_final). */
VB_WUR enum vb_err models_sha256_init(struct models_sha256 *h);
void models_sha256_update(struct models_sha256 *h, const void *data, size_t len);
/* Writes 64 lower-case hex digits and a NUL into hex, and releases h. */
void models_sha256_final_hex(struct models_sha256 *h, char hex[65]);
/* Frees the context; NULL context is fine. */
void models_sha256_release(struct models_sha256 *h);
/* Feeds the first `len` bytes of fd (read with pread from offset 0) into h. VB_ERR_IO on a
 * read error or a file shorter than len, VB_ERR_CANCELLED when *cancel becomes non-zero
 * (cancel may be NULL). */
VB_WUR enum vb_err models_sha256_fd(struct models_sha256 *h, int fd, uint64_t len,
                                    const atomic_int *cancel);

#endif
