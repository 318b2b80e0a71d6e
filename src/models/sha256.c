/* sha256.c: streaming SHA-256 over OpenSSL's EVP interface. */
#include "core/vb.h"
#include "models/sha256.h"
#include "core/alloc.h"
#include "core/crypto.h"

#include <errno.h>
#include <openssl/evp.h>
#include <unistd.h>

#define READ_CHUNK (1u << 20)

enum vb_err models_sha256_init(struct models_sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    h->ctx = NULL;
    if (!ctx)
        return VB_ERR_NOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return VB_ERR_INTERNAL;
    }
    h->ctx = ctx;
    return VB_OK;
}

void models_sha256_update(struct models_sha256 *h, const void *data, size_t len)
{
    if (h->ctx && len)
        EVP_DigestUpdate(h->ctx, data, len);
}

void models_sha256_final_hex(struct models_sha256 *h, char hex[65])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    hex[0] = '\0';
    if (h->ctx && EVP_DigestFinal_ex(h->ctx, md, &n) == 1 && n == VB_SHA256_LEN)
        vb_hex_encode(md, VB_SHA256_LEN, hex);
    models_sha256_release(h);
}

void models_sha256_release(struct models_sha256 *h)
{
    if (h && h->ctx) {
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
    }
}

enum vb_err models_sha256_fd(struct models_sha256 *h, int fd, uint64_t len,
                             const atomic_int *cancel)
{
    enum vb_err err = VB_OK;
    uint8_t *buf = vb_try_malloc(READ_CHUNK);
    if (!buf)
        return VB_ERR_NOMEM;
    uint64_t off = 0;
    while (off < len) {
        if (cancel && atomic_load(cancel)) {
            err = VB_ERR_CANCELLED;
            goto out;
        }
        size_t want = (size_t)VB_MIN((uint64_t)READ_CHUNK, len - off);
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = VB_ERR_IO;
            goto out;
        }
        models_sha256_update(h, buf, (size_t)n);
        off += (uint64_t)n;
    }
out:
    vb_free(buf);
    return err;
}
