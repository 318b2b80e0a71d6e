/* basic.c: HTTP Basic credential decoding (strict base64). */
#include "core/vb.h"
#include "auth/basic.h"

#include "core/crypto.h"
#include "core/alloc.h"

#define B64_ENCODED_MAX VB_BASE64_LEN(AUTH_BASIC_DECODED_MAX)

/* ===== Parsing ===== */

#define REJECT(reason)                                                                             \
    do {                                                                                           \
        err = VB_ERR_UNAUTHORIZED;                                                                 \
        *why = (reason);                                                                           \
        goto out;                                                                                  \
    } while (0)

enum vb_err auth_basic_parse(const char *b64, size_t b64_len, struct auth_basic_cred *out,
                             const char **why)
{
    enum vb_err err = VB_OK;
    const char *why_dummy;

    if (!why)
        why = &why_dummy;
    *why = NULL;
    memset(out, 0, sizeof *out);
    if (!b64 || b64_len == 0)
        REJECT("empty credentials");
    if (b64_len > B64_ENCODED_MAX)
        REJECT("credentials too long");

    /* One buffer holds "user\0pass\0": the decoded bytes with the colon replaced. */
    out->buf_len = VB_BASE64_DECODED_MAX(b64_len) + 1;
    out->buf = vb_try_malloc(out->buf_len);
    if (!out->buf) {
        out->buf_len = 0;
        err = VB_ERR_NOMEM;
        goto out;
    }
    size_t n = 0;
    if (vb_base64_decode(b64, b64_len, (uint8_t *)out->buf, out->buf_len - 1, &n) != VB_OK)
        REJECT("bad base64");
    if (n == 0 || n > AUTH_BASIC_DECODED_MAX)
        REJECT("decoded credentials empty or too long");
    out->buf[n] = '\0';
    if (memchr(out->buf, '\0', n))
        REJECT("NUL in credentials");
    char *colon = memchr(out->buf, ':', n);
    if (!colon)
        REJECT("no ':' in credentials");
    if (colon == out->buf)
        REJECT("empty username");
    for (const char *p = out->buf; p < colon; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            REJECT("control character in username");
    }
    *colon = '\0';
    out->username = out->buf;
    out->username_len = (size_t)(colon - out->buf);
    out->password = colon + 1;
    out->password_len = n - out->username_len - 1;
out:
    if (err)
        auth_basic_cred_release(out);
    return err;
}

void auth_basic_cred_release(struct auth_basic_cred *c)
{
    if (!c)
        return;
    vb_free_secure(c->buf, c->buf_len);
    memset(c, 0, sizeof *c);
}

enum vb_err auth_basic_cred_copy(struct auth_basic_cred *dst, const struct auth_basic_cred *src)
{
    memset(dst, 0, sizeof *dst);
    if (!src->buf || src->username != src->buf)
        return VB_ERR_INVALID;
    dst->buf = vb_try_malloc(src->buf_len);
    if (!dst->buf)
        return VB_ERR_NOMEM;
    memcpy(dst->buf, src->buf, src->buf_len);
    dst->buf_len = src->buf_len;
    dst->username = dst->buf;
    dst->username_len = src->username_len;
    dst->password = dst->buf + (src->password - src->buf);
    dst->password_len = src->password_len;
    return VB_OK;
}
