/* signed_url.c: HMAC-signed, expiring download links. */
#include "core/vb.h"
#include "auth/signed_url.h"

#include "core/crypto.h"
#include "core/buf.h"

#define MSG_MAX 8192 /* "download:" + filename + ":" + exp, bytes */

/* tag = HMAC(secret, "download:" filename ":" exp). */
static enum vb_err download_tag(const char *secret, const char *filename, int64_t exp,
                                uint8_t tag[VB_SHA256_LEN])
{
    struct vb_buf msg;
    enum vb_err err;

    vb_buf_init(&msg, MSG_MAX);
    err = vb_buf_printf(&msg, "download:%s:%lld", filename, (long long)exp);
    if (!err)
        vb_hmac_sha256(secret, strlen(secret), msg.data, msg.len, tag);
    vb_buf_release(&msg);
    return err;
}

enum vb_err auth_sign_download(const char *secret, const char *filename, int64_t exp,
                               char out_hex[AUTH_SIG_HEX_LEN + 1])
{
    uint8_t tag[VB_SHA256_LEN];

    out_hex[0] = '\0';
    if (!secret || !*secret || !filename || !*filename || exp < 0)
        return VB_ERR_INVALID;
    enum vb_err err = download_tag(secret, filename, exp, tag);
    if (err)
        return err == VB_ERR_TOO_LARGE ? VB_ERR_INVALID : err;
    vb_hex_encode(tag, sizeof tag, out_hex);
    return VB_OK;
}

/* Canonical non-negative decimal: digits only, no leading zero (except "0"), fits int64. */
static bool parse_exp(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    int64_t v = 0;

    if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

enum vb_err auth_verify_download(const char *secret, const char *filename, const char *exp_str,
                                 const char *sig_hex, int64_t now)
{
    int64_t exp;
    char want[AUTH_SIG_HEX_LEN + 1];

    if (!secret || !*secret || !filename || !*filename || !exp_str || !sig_hex)
        return VB_ERR_FORBIDDEN;
    if (!parse_exp(exp_str, &exp) || strlen(sig_hex) != AUTH_SIG_HEX_LEN)
        return VB_ERR_FORBIDDEN;
    if (auth_sign_download(secret, filename, exp, want) != VB_OK)
        return VB_ERR_FORBIDDEN;
    /* The one canonical form is the lowercase hex we issue: comparing the text (not the decoded
     * bytes) refuses every other spelling. Signature first, then expiry: both answer 403, but a
     * forged link learns nothing. */
    bool ok = vb_ct_equal(want, sig_hex, AUTH_SIG_HEX_LEN);
    explicit_bzero(want, sizeof want);
    if (!ok || now > exp)
        return VB_ERR_FORBIDDEN;
    return VB_OK;
}
