/* test_jwt.c: issuing and verifying HS256 tokens, including hand-crafted hostile ones
 * (alg none, other algs, missing or ill-typed claims, tampering, garbage, huge input). */
#include "core/vb.h"
#include "auth/jwt.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "unit/test.h"

#define SECRET "test-secret-key-0123456789abcdef"
#define NOW    1700000000LL
#define TTL    3600LL

static enum vb_err verify_str(const char *secret, const char *tok, int64_t now,
                              struct auth_jwt_claims *c)
{
    const char *why = NULL;
    enum vb_err err = auth_jwt_verify(secret, tok, tok ? strlen(tok) : 0, now, c, &why);
    if (err == VB_ERR_UNAUTHORIZED)
        CHECK(why != NULL);
    return err;
}

/* Hand-built token: b64url(header).b64url(payload).sig, sig = HS256 under `key` (NULL:
 * empty signature; "" : the signature part is left out entirely). Caller frees. */
static char *craft(const char *header, const char *payload, const char *key)
{
    struct vb_buf b;
    char enc[8192];
    vb_buf_init(&b, 16384);
    CHECK_EQ_INT(vb_base64url_encode(header, strlen(header), enc, sizeof enc), VB_OK);
    CHECK_EQ_INT(vb_buf_puts(&b, enc), VB_OK);
    CHECK_EQ_INT(vb_buf_putc(&b, '.'), VB_OK);
    CHECK_EQ_INT(vb_base64url_encode(payload, strlen(payload), enc, sizeof enc), VB_OK);
    CHECK_EQ_INT(vb_buf_puts(&b, enc), VB_OK);
    uint8_t tag[VB_SHA256_LEN];
    if (key && *key)
        vb_hmac_sha256(key, strlen(key), b.data, b.len, tag);
    if (!key || *key)
        CHECK_EQ_INT(vb_buf_putc(&b, '.'), VB_OK);
    if (key && *key) {
        CHECK_EQ_INT(vb_base64url_encode(tag, sizeof tag, enc, sizeof enc), VB_OK);
        CHECK_EQ_INT(vb_buf_puts(&b, enc), VB_OK);
    }
    return vb_buf_take(&b);
}

#define HS256_HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GOOD_PAYLOAD                                                                               \
    "{\"sub\":\"42\",\"name\":\"alice\",\"iat\":1700000000,\"exp\":1700003600,"                    \
    "\"jti\":\"0123456789abcdef0123456789abcdef\"}"

TEST(test_issue_verify)
{
    char *tok = NULL;
    struct auth_jwt_claims c;
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 42, "alice", NOW, TTL, &tok), VB_OK);
    CHECK(tok != NULL);
    CHECK_EQ_INT(verify_str(SECRET, tok, NOW, &c), VB_OK);
    CHECK_EQ_INT(c.user_id, 42);
    CHECK_EQ_INT(c.iat, NOW);
    CHECK_EQ_INT(c.exp, NOW + TTL);
    CHECK_EQ_INT(strlen(c.jti), 32);
    CHECK(strspn(c.jti, "0123456789abcdef") == 32);

    char *tok2 = NULL;
    struct auth_jwt_claims c2;
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 42, "alice", NOW, TTL, &tok2), VB_OK);
    CHECK_EQ_INT(verify_str(SECRET, tok2, NOW, &c2), VB_OK);
    CHECK(strcmp(c.jti, c2.jti) != 0);
    CHECK(strcmp(tok, tok2) != 0);

    /* verify honours token_len: one byte short is a different (bad) token */
    CHECK_EQ_INT(auth_jwt_verify(SECRET, tok, strlen(tok) - 1, NOW, &c, NULL), VB_ERR_UNAUTHORIZED);
    CHECK_EQ_INT(c.user_id, 0);
    vb_free(tok);
    vb_free(tok2);
}

TEST(test_password_tag)
{
    char *tok = NULL;
    struct auth_jwt_claims c;
    CHECK_EQ_INT(auth_jwt_issue_bound(SECRET, 42, "alice", "0123456789abcdef", NOW, TTL, &tok),
                 VB_OK);
    CHECK_EQ_INT(verify_str(SECRET, tok, NOW, &c), VB_OK);
    CHECK_EQ_STR(c.pwd, "0123456789abcdef");
    vb_free(tok);
    tok = NULL;
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 42, "alice", NOW, TTL, &tok), VB_OK);
    CHECK_EQ_INT(verify_str(SECRET, tok, NOW, &c), VB_OK);
    CHECK_EQ_INT(c.pwd[0], 0);
    vb_free(tok);
    tok = NULL;
    CHECK_EQ_INT(auth_jwt_issue_bound(SECRET, 42, "alice", "short", NOW, TTL, &tok),
                 VB_ERR_INVALID);
    CHECK(tok == NULL);
    const char *bad[] = {
        "{\"sub\":\"1\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,"
        "\"jti\":\"0123456789abcdef0123456789abcdef\",\"pwd\":\"XYZ3456789abcdef\"}",
        "{\"sub\":\"1\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,"
        "\"jti\":\"0123456789abcdef0123456789abcdef\",\"pwd\":12}",
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++) {
        char *t = craft(HS256_HDR, bad[i], SECRET);
        CHECK_MSG(verify_str(SECRET, t, NOW, &c) == VB_ERR_UNAUTHORIZED, "payload %zu", i);
        vb_free(t);
    }
}

TEST(test_expiry_and_iat)
{
    char *tok = NULL;
    struct auth_jwt_claims c;
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 7, "bob", NOW, TTL, &tok), VB_OK);
    CHECK_EQ_INT(verify_str(SECRET, tok, NOW + TTL - 1, &c), VB_OK);
    CHECK_EQ_INT(verify_str(SECRET, tok, NOW + TTL, &c), VB_ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify_str(SECRET, tok, NOW + TTL + 100000, &c), VB_ERR_UNAUTHORIZED);
    /* issued slightly in the future (clock skew) is fine up to the leeway */
    CHECK_EQ_INT(verify_str(SECRET, tok, NOW - AUTH_JWT_LEEWAY_S, &c), VB_OK);
    CHECK_EQ_INT(verify_str(SECRET, tok, NOW - AUTH_JWT_LEEWAY_S - 1, &c), VB_ERR_UNAUTHORIZED);
    vb_free(tok);
}

TEST(test_wrong_key)
{
    char *tok = NULL;
    struct auth_jwt_claims c;
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 7, "bob", NOW, TTL, &tok), VB_OK);
    CHECK_EQ_INT(verify_str("another-secret-key-0123456789abc", tok, NOW, &c), VB_ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify_str(SECRET "x", tok, NOW, &c), VB_ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify_str("", tok, NOW, &c), VB_ERR_UNAUTHORIZED);
    CHECK_EQ_INT(verify_str(NULL, tok, NOW, &c), VB_ERR_UNAUTHORIZED);
    vb_free(tok);
}

/* The crafting helper makes tokens we accept, so the hostile variants below differ from
 * a valid token only in the property under test. */
TEST(test_crafted_valid)
{
    struct auth_jwt_claims c;
    char *t = craft(HS256_HDR, GOOD_PAYLOAD, SECRET);
    CHECK_EQ_INT(verify_str(SECRET, t, NOW, &c), VB_OK);
    CHECK_EQ_INT(c.user_id, 42);
    CHECK_EQ_STR(c.jti, "0123456789abcdef0123456789abcdef");
    vb_free(t);
}

TEST(test_alg_none)
{
    struct auth_jwt_claims c;
    const char *none_hdrs[] = {"{\"alg\":\"none\"}", "{\"alg\":\"none\",\"typ\":\"JWT\"}",
                               "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}"};
    for (size_t i = 0; i < VB_ARRAY_LEN(none_hdrs); i++) {
        char *t = craft(none_hdrs[i], GOOD_PAYLOAD, NULL); /* "h.p." */
        CHECK_EQ_INT(verify_str(SECRET, t, NOW, &c), VB_ERR_UNAUTHORIZED);
        vb_free(t);
        t = craft(none_hdrs[i], GOOD_PAYLOAD, ""); /* "h.p" */
        CHECK_EQ_INT(verify_str(SECRET, t, NOW, &c), VB_ERR_UNAUTHORIZED);
        vb_free(t);
        /* even with a correct HMAC over it, alg none is refused */
        t = craft(none_hdrs[i], GOOD_PAYLOAD, SECRET);
        CHECK_EQ_INT(verify_str(SECRET, t, NOW, &c), VB_ERR_UNAUTHORIZED);
        vb_free(t);
    }
}

TEST(test_other_algs)
{
    struct auth_jwt_claims c;
    const char *hdrs[] = {"{\"alg\":\"HS384\"}",
                          "{\"alg\":\"HS512\"}",
                          "{\"alg\":\"RS256\"}",
                          "{\"alg\":\"ES256\"}",
                          "{\"alg\":\"hs256\"}",
                          "{\"typ\":\"JWT\"}",
                          "{\"alg\":256}",
                          "{}",
                          "[]",
                          "not json"};
    for (size_t i = 0; i < VB_ARRAY_LEN(hdrs); i++) {
        char *t = craft(hdrs[i], GOOD_PAYLOAD, SECRET);
        CHECK_MSG(verify_str(SECRET, t, NOW, &c) == VB_ERR_UNAUTHORIZED, "header %s", hdrs[i]);
        vb_free(t);
    }
}

TEST(test_tampered)
{
    struct auth_jwt_claims c;
    char *good = NULL;
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 42, "alice", NOW, TTL, &good), VB_OK);

    /* another payload (sub 1) spliced in front of the original signature */
    char *evil = craft(HS256_HDR,
                       "{\"sub\":\"1\",\"name\":\"alice\",\"iat\":1700000000,\"exp\":1700003600,"
                       "\"jti\":\"0123456789abcdef0123456789abcdef\"}",
                       "wrong-key");
    char *dot = strrchr(evil, '.');
    const char *good_sig = strrchr(good, '.');
    struct vb_buf b;
    vb_buf_init(&b, 8192);
    CHECK_EQ_INT(vb_buf_append(&b, evil, (size_t)(dot - evil)), VB_OK);
    CHECK_EQ_INT(vb_buf_puts(&b, good_sig), VB_OK);
    CHECK_EQ_INT(verify_str(SECRET, b.data, NOW, &c), VB_ERR_UNAUTHORIZED);
    vb_buf_release(&b);

    /* every single-character change anywhere is rejected */
    size_t n = strlen(good);
    for (size_t i = 0; i < n; i++) {
        if (good[i] == '.')
            continue;
        char *t = vb_xstrdup(good);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        CHECK_MSG(verify_str(SECRET, t, NOW, &c) == VB_ERR_UNAUTHORIZED, "changed byte %zu", i);
        vb_free(t);
    }
    vb_free(evil);
    vb_free(good);
}

TEST(test_claims_required)
{
    struct auth_jwt_claims c;
    const char *payloads[] = {
        /* missing each claim */
        "{\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"name\":\"a\",\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"name\":\"a\",\"iat\":1700000000,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600}",
        /* wrong types / values */
        "{\"sub\":42,\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"abc\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"0\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"-5\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"042\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"99999999999999999999\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,"
        "\"jti\":\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"name\":\"\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"name\":\"a\",\"iat\":\"1700000000\",\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"name\":\"a\",\"iat\":1700000000,\"exp\":\"1700003600\",\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600.5,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700000000,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"name\":\"a\",\"iat\":-1,\"exp\":1700003600,\"jti\":"
        "\"0123456789abcdef0123456789abcdef\"}",
        "{\"sub\":\"42\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"xyz\"}",
        "{\"sub\":\"42\",\"name\":\"a\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":1}",
        /* not an object */
        "[1,2,3]",
        "\"sub\"",
        "{\"sub\":\"42\"",
        "",
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(payloads); i++) {
        char *t = craft(HS256_HDR, payloads[i], SECRET);
        CHECK_MSG(verify_str(SECRET, t, NOW, &c) == VB_ERR_UNAUTHORIZED, "payload %zu: %s", i,
                  payloads[i]);
        vb_free(t);
    }
}

TEST(test_garbage)
{
    struct auth_jwt_claims c;
    const char *bad[] = {"",      "a",      "a.b",       "a.b.c",   "...",
                         "a..",   ".b.c",   "a.b.c.d",   "a b.c.d", "a.b.c\n",
                         "é.b.c", "a.b.c=", "a/b.c+d.e", "Bearer x"};
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++)
        CHECK_MSG(verify_str(SECRET, bad[i], NOW, &c) == VB_ERR_UNAUTHORIZED, "token %s", bad[i]);
    CHECK_EQ_INT(verify_str(SECRET, NULL, NOW, &c), VB_ERR_UNAUTHORIZED);
    CHECK_EQ_INT(auth_jwt_verify(SECRET, "x", 0, NOW, &c, NULL), VB_ERR_UNAUTHORIZED);

    /* embedded NUL: a good token followed by NUL and junk, with the full length */
    char *tok = NULL;
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 42, "alice", NOW, TTL, &tok), VB_OK);
    size_t n = strlen(tok);
    char *t = vb_xmalloc(n + 3);
    memcpy(t, tok, n);
    memcpy(t + n, "\0xy", 3);
    CHECK_EQ_INT(auth_jwt_verify(SECRET, t, n + 3, NOW, &c, NULL), VB_ERR_UNAUTHORIZED);
    CHECK_EQ_INT(auth_jwt_verify(SECRET, t, n, NOW, &c, NULL), VB_OK);
    vb_free(t);
    vb_free(tok);
}

TEST(test_huge)
{
    struct auth_jwt_claims c;
    size_t n = 1 << 20;
    char *big = vb_xmalloc(n + 1);
    memset(big, 'A', n);
    big[n] = '\0';
    big[100] = '.';
    big[200] = '.';
    CHECK_EQ_INT(verify_str(SECRET, big, NOW, &c), VB_ERR_UNAUTHORIZED);
    vb_free(big);

    /* a correctly signed token just over the limit is refused */
    struct vb_buf p;
    vb_buf_init(&p, 8192);
    CHECK_EQ_INT(vb_buf_puts(&p, "{\"sub\":\"42\",\"name\":\""), VB_OK);
    for (int i = 0; i < 3200; i++)
        CHECK_EQ_INT(vb_buf_putc(&p, 'x'), VB_OK);
    CHECK_EQ_INT(vb_buf_puts(&p, "\",\"iat\":1700000000,\"exp\":1700003600,\"jti\":"
                                 "\"0123456789abcdef0123456789abcdef\"}"),
                 VB_OK);
    char *t = craft(HS256_HDR, p.data, SECRET);
    CHECK(strlen(t) > AUTH_JWT_MAX_LEN);
    CHECK_EQ_INT(verify_str(SECRET, t, NOW, &c), VB_ERR_UNAUTHORIZED);
    vb_free(t);
    vb_buf_release(&p);
}

TEST(test_issue_bad_args)
{
    char *tok = (char *)"sentinel";
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 0, "a", NOW, TTL, &tok), VB_ERR_INVALID);
    CHECK(tok == NULL);
    CHECK_EQ_INT(auth_jwt_issue(SECRET, -3, "a", NOW, TTL, &tok), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 1, NULL, NOW, TTL, &tok), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 1, "", NOW, TTL, &tok), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 1, "a", NOW, 0, &tok), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 1, "a", INT64_MAX, 10, &tok), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_jwt_issue("", 1, "a", NOW, TTL, &tok), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_jwt_issue(NULL, 1, "a", NOW, TTL, &tok), VB_ERR_INVALID);
    CHECK(tok == NULL);
}

TEST(test_name_with_quotes)
{
    /* JSON escaping is libjwt's job; the token must still verify. */
    char *tok = NULL;
    struct auth_jwt_claims c;
    CHECK_EQ_INT(auth_jwt_issue(SECRET, 9, "a\"b\\c", NOW, TTL, &tok), VB_OK);
    CHECK_EQ_INT(verify_str(SECRET, tok, NOW, &c), VB_OK);
    CHECK_EQ_INT(c.user_id, 9);
    vb_free(tok);
}

int main(void)
{
    RUN(test_issue_verify);
    RUN(test_password_tag);
    RUN(test_expiry_and_iat);
    RUN(test_wrong_key);
    RUN(test_crafted_valid);
    RUN(test_alg_none);
    RUN(test_other_algs);
    RUN(test_tampered);
    RUN(test_claims_required);
    RUN(test_garbage);
    RUN(test_huge);
    RUN(test_issue_bad_args);
    RUN(test_name_with_quotes);
    return test_summary();
}
