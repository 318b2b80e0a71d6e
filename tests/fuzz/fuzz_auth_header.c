/* fuzz_auth_header.c: libFuzzer target for untrusted Authorization input. The first byte picks
 * a mode: 0 a whole header value (scheme split, then the Basic parser + credential cache or the
 * JWT verifier), 1 raw Basic credentials, 2 a raw JWT, 3 "header-json\npayload-json" that the
 * target encodes and signs correctly, so libjwt and the claim checks see arbitrary JSON. */
#include "core/vb.h"
#include "auth/basic.h"
#include "auth/basic_cache.h"
#include "auth/header.h"
#include "auth/jwt.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "fuzz-secret-0123456789abcdef0123"
#define NOW    1700000000LL

static struct auth_basic_cache *cache;

static void check_basic(const char *b64, size_t len)
{
    struct auth_basic_cred c;
    enum vb_err err = auth_basic_parse(b64, len, &c, NULL);
    if (err) {
        if (c.buf || c.username || c.password)
            abort();
        return;
    }
    if (c.username_len == 0 || strlen(c.username) != c.username_len ||
        strlen(c.password) != c.password_len ||
        c.username_len + 1 + c.password_len > AUTH_BASIC_DECODED_MAX)
        abort();
    for (size_t i = 0; i < c.username_len; i++)
        if ((unsigned char)c.username[i] < 0x20 || c.username[i] == 0x7f)
            abort();
    int64_t uid = 0;
    if (!auth_basic_cache_lookup(cache, &c, NOW, &uid))
        auth_basic_cache_insert(cache, &c, 1 + (int64_t)c.password_len, NULL, NOW,
                                auth_basic_cache_generation(cache));
    else if (uid != 1 + (int64_t)c.password_len)
        abort();
    auth_basic_cred_release(&c);
}

static void check_jwt(const char *tok, size_t len)
{
    struct auth_jwt_claims cl;
    const char *why = NULL;
    enum vb_err err = auth_jwt_verify(SECRET, tok, len, NOW, &cl, &why);
    if (err == VB_OK) {
        if (cl.user_id <= 0 || cl.exp <= NOW || cl.iat > NOW + AUTH_JWT_LEEWAY_S ||
            strlen(cl.jti) != 32)
            abort();
    } else if (err == VB_ERR_UNAUTHORIZED) {
        if (!why || cl.user_id != 0)
            abort();
    } else if (err != VB_ERR_NOMEM) {
        abort();
    }
}

/* Builds b64url(head).b64url(payload).HS256 and verifies it. */
static void check_signed(const char *text, size_t len)
{
    const char *nl = memchr(text, '\n', len);
    if (!nl)
        return;
    size_t hl = (size_t)(nl - text), pl = len - hl - 1;
    if (hl > 2048 || pl > 2048)
        return;
    char enc[VB_BASE64URL_LEN(2048) + 1];
    uint8_t tag[VB_SHA256_LEN];
    struct vb_buf b;
    vb_buf_init(&b, 8192);
    if (vb_base64url_encode(text, hl, enc, sizeof enc) || vb_buf_puts(&b, enc) ||
        vb_buf_putc(&b, '.') || vb_base64url_encode(nl + 1, pl, enc, sizeof enc) ||
        vb_buf_puts(&b, enc))
        abort();
    vb_hmac_sha256(SECRET, strlen(SECRET), b.data, b.len, tag);
    if (vb_buf_putc(&b, '.') || vb_base64url_encode(tag, sizeof tag, enc, sizeof enc) ||
        vb_buf_puts(&b, enc))
        abort();
    check_jwt(b.data, b.len);
    vb_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cache)
        cache = auth_basic_cache_new(NULL);
    if (size == 0)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 4) {
    case 0: {
        const char *cred = NULL;
        size_t cred_len = 0;
        switch (auth_header_parse(text, len, &cred, &cred_len)) {
        case AUTH_SCHEME_BASIC:
            check_basic(cred, cred_len);
            break;
        case AUTH_SCHEME_BEARER:
            check_jwt(cred, cred_len);
            break;
        case AUTH_SCHEME_NONE:
        case AUTH_SCHEME_OTHER:
            if (cred || cred_len)
                abort();
            break;
        }
        break;
    }
    case 1:
        check_basic(text, len);
        break;
    case 2:
        check_jwt(text, len);
        break;
    default:
        check_signed(text, len);
        break;
    }
    return 0;
}
