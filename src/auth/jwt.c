/* jwt.c: HS256 access tokens. Issued with libjwt; verified by our own constant-time HMAC
 * check first, then libjwt's decode, then a strict re-read of header and claims. */
#include "core/vb.h"
#include "auth/jwt.h"

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/json.h"

#include <errno.h>
#include <jwt.h>

#define JTI_BYTES   16
#define SIG_B64_LEN 43 /* base64url of 32 bytes, no padding */

/* Canonical positive decimal (no sign, no leading zero, fits int64); -1 if not. */
static int64_t parse_positive_id(const char *s)
{
    int64_t v = 0;
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 19 || s[0] == '0')
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (INT64_MAX - (s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool is_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* base64url without padding of a 32-byte tag into out[SIG_B64_LEN + 1]. */
static bool b64url_tag(const uint8_t tag[VB_SHA256_LEN], char out[SIG_B64_LEN + 1])
{
    return vb_base64url_encode(tag, VB_SHA256_LEN, out, SIG_B64_LEN + 1) == VB_OK &&
           strlen(out) == SIG_B64_LEN;
}

/* Decodes one base64url segment and parses it as a JSON object into *out (caller frees
 * with vb_json_free). VB_ERR_INVALID if either step fails, VB_ERR_NOMEM. */
static enum vb_err segment_json(const char *seg, size_t len, struct vb_json **out)
{
    enum vb_err err = VB_OK;
    size_t n = 0;
    uint8_t *raw = vb_try_malloc(VB_BASE64_DECODED_MAX(len) + 1);

    *out = NULL;
    if (!raw)
        return VB_ERR_NOMEM;
    err = vb_base64url_decode(seg, len, raw, VB_BASE64_DECODED_MAX(len), &n);
    if (err) {
        err = VB_ERR_INVALID;
        goto out;
    }
    err = vb_json_parse((const char *)raw, n, out, NULL, 0);
    if (!err && (*out)->type != VB_JSON_OBJECT)
        err = VB_ERR_INVALID;
    if (err) {
        vb_json_free(*out);
        *out = NULL;
    }
out:
    vb_free(raw);
    return err;
}

/* An integer-valued number member, else false. */
static bool get_int(const struct vb_json *obj, const char *key, int64_t *v)
{
    const struct vb_json *j = vb_json_get(obj, key);
    if (!j || j->type != VB_JSON_NUMBER || !j->is_integer)
        return false;
    *v = j->integer;
    return true;
}

enum vb_err auth_jwt_issue(const char *secret, int64_t user_id, const char *username, int64_t now,
                           int64_t ttl_s, char **out_token)
{
    return auth_jwt_issue_bound(secret, user_id, username, NULL, now, ttl_s, out_token);
}

enum vb_err auth_jwt_issue_bound(const char *secret, int64_t user_id, const char *username,
                                 const char *pwd_tag, int64_t now, int64_t ttl_s, char **out_token)
{
    enum vb_err err = VB_OK;
    jwt_t *jwt = NULL;
    char *enc = NULL;
    char sub[24];
    uint8_t jti_bytes[JTI_BYTES];
    char jti[2 * JTI_BYTES + 1];

    *out_token = NULL;
    if (!secret || !*secret || strlen(secret) > INT32_MAX || user_id <= 0 || !username ||
        !*username || strlen(username) > AUTH_JWT_NAME_MAX || now < 0 || ttl_s <= 0 ||
        now > INT64_MAX - ttl_s || (pwd_tag && strlen(pwd_tag) != AUTH_JWT_PWD_TAG_LEN))
        return VB_ERR_INVALID;

    err = vb_random_bytes(jti_bytes, sizeof jti_bytes);
    if (err)
        goto out;
    vb_hex_encode(jti_bytes, sizeof jti_bytes, jti);
    snprintf(sub, sizeof sub, "%lld", (long long)user_id);

    if (jwt_new(&jwt) != 0) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    if (jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) ||
        jwt_add_grant(jwt, "sub", sub) || jwt_add_grant(jwt, "name", username) ||
        jwt_add_grant_int(jwt, "iat", (long)now) ||
        jwt_add_grant_int(jwt, "exp", (long)(now + ttl_s)) || jwt_add_grant(jwt, "jti", jti) ||
        (pwd_tag && jwt_add_grant(jwt, "pwd", pwd_tag))) {
        err = VB_ERR_INTERNAL;
        goto out;
    }
    enc = jwt_encode_str(jwt);
    if (!enc) {
        err = errno == ENOMEM ? VB_ERR_NOMEM : VB_ERR_INTERNAL;
        goto out;
    }
    *out_token = vb_xstrdup(enc);
out:
    free(enc); /* libjwt 1.10 allocates with malloc */
    jwt_free(jwt);
    return err;
}

/* Shape check: three non-empty base64url segments, the last one 43 characters. */
static bool token_shape_ok(const char *t, size_t len, size_t *dot1, size_t *dot2)
{
    size_t dots[2];
    int ndots = 0;

    for (size_t i = 0; i < len; i++) {
        if (t[i] == '.') {
            if (ndots == 2)
                return false;
            dots[ndots++] = i;
        } else if (!is_b64url_char(t[i])) {
            return false;
        }
    }
    if (ndots != 2 || dots[0] == 0 || dots[1] == dots[0] + 1)
        return false;
    if (len - dots[1] - 1 != SIG_B64_LEN)
        return false;
    *dot1 = dots[0];
    *dot2 = dots[1];
    return true;
}

#define FAIL(reason)                                                                               \
    do {                                                                                           \
        err = VB_ERR_UNAUTHORIZED;                                                                 \
        *why = (reason);                                                                           \
        goto out;                                                                                  \
    } while (0)

enum vb_err auth_jwt_verify(const char *secret, const char *token, size_t token_len, int64_t now,
                            struct auth_jwt_claims *out, const char **why)
{
    enum vb_err err = VB_OK;
    const char *why_dummy;
    char *copy = NULL;
    jwt_t *jwt = NULL;
    size_t dot1 = 0, dot2 = 0;
    struct vb_json *head = NULL, *claims = NULL;
    uint8_t tag[VB_SHA256_LEN];
    char expect[SIG_B64_LEN + 1];

    if (!why)
        why = &why_dummy;
    *why = NULL;
    memset(out, 0, sizeof *out);
    if (!secret || !*secret || strlen(secret) > INT32_MAX)
        FAIL("no secret");
    if (!token || token_len == 0)
        FAIL("empty token");
    if (token_len > AUTH_JWT_MAX_LEN)
        FAIL("token too long");
    if (!token_shape_ok(token, token_len, &dot1, &dot2))
        FAIL("malformed token");

    /* Our own constant-time check of the HS256 signature over "header.payload" (libjwt 1.10
     * does not promise a constant-time comparison), against the one canonical encoding of the
     * tag. Nothing is parsed before this passes, so a forged header (alg "none", RS256 with our
     * secret as "public key") cannot matter. */
    vb_hmac_sha256(secret, strlen(secret), token, dot2, tag);
    if (!b64url_tag(tag, expect)) {
        err = VB_ERR_INTERNAL;
        goto out;
    }
    if (!vb_ct_equal(expect, token + dot2 + 1, SIG_B64_LEN))
        FAIL("bad signature");

    copy = vb_try_malloc(token_len + 1);
    if (!copy) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    memcpy(copy, token, token_len);
    copy[token_len] = '\0';
    int rc = jwt_decode(&jwt, copy, (const unsigned char *)secret, (int)strlen(secret));
    if (rc == ENOMEM) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    if (rc != 0 || !jwt)
        FAIL("undecodable token");
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        FAIL("alg is not HS256");

    /* libjwt matches alg names case-insensitively and does not check claim types, so the
     * header and claims are re-read with our strict JSON parser. */
    err = segment_json(token, dot1, &head);
    if (err == VB_ERR_NOMEM)
        goto out;
    if (err)
        FAIL("header is not a JSON object");
    const char *alg = vb_json_get_str(head, "alg");
    if (!alg || strcmp(alg, "HS256") != 0)
        FAIL("alg is not HS256");
    if (vb_json_get(head, "crit"))
        FAIL("unsupported crit header");
    err = segment_json(token + dot1 + 1, dot2 - dot1 - 1, &claims);
    if (err == VB_ERR_NOMEM)
        goto out;
    if (err)
        FAIL("payload is not a JSON object");

    out->user_id = parse_positive_id(vb_json_get_str(claims, "sub"));
    if (out->user_id <= 0)
        FAIL("sub missing or not a positive integer string");
    const char *name = vb_json_get_str(claims, "name");
    if (!name || !*name)
        FAIL("name missing");
    const char *jti = vb_json_get_str(claims, "jti");
    uint8_t jti_bytes[JTI_BYTES];
    size_t jti_len = 0;
    if (!jti || strlen(jti) != 2 * JTI_BYTES ||
        vb_hex_decode(jti, 2 * JTI_BYTES, jti_bytes, sizeof jti_bytes, &jti_len) != VB_OK)
        FAIL("jti missing or malformed");
    memcpy(out->jti, jti, sizeof out->jti);
    const struct vb_json *pwd = vb_json_get(claims, "pwd");
    if (pwd && (pwd->type != VB_JSON_STRING || pwd->string_len != AUTH_JWT_PWD_TAG_LEN ||
                strspn(pwd->string, "0123456789abcdef") != AUTH_JWT_PWD_TAG_LEN))
        FAIL("pwd malformed");
    if (pwd)
        memcpy(out->pwd, pwd->string, AUTH_JWT_PWD_TAG_LEN + 1);

    int64_t iat, exp;
    if (!get_int(claims, "iat", &iat))
        FAIL("iat missing or not an integer");
    if (!get_int(claims, "exp", &exp))
        FAIL("exp missing or not an integer");
    if (iat < 0 || exp <= iat)
        FAIL("iat/exp out of range");
    if (now >= exp)
        FAIL("token expired");
    if (now < INT64_MAX - AUTH_JWT_LEEWAY_S && iat > now + AUTH_JWT_LEEWAY_S)
        FAIL("iat in the future");
    out->iat = iat;
    out->exp = exp;
out:
    if (err)
        memset(out, 0, sizeof *out);
    vb_json_free(head);
    vb_json_free(claims);
    jwt_free(jwt);
    vb_free(copy);
    explicit_bzero(tag, sizeof tag);
    explicit_bzero(expect, sizeof expect);
    return err;
}
