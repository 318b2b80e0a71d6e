/* test_signed_url.c: signing and verifying download links, with a reference vector from
 * `openssl dgst -sha256 -hmac`, expiry, tampering and strict parsing of exp and sig. */
#include "core/vb.h"
#include "auth/signed_url.h"

#include "unit/test.h"

#define SECRET "test-secret-key-0123456789abcdef"
#define FILE_  "gen_1.wav"
#define EXP    1700003600LL

/* printf 'download:gen_1.wav:1700003600' | openssl dgst -sha256 -hmac "$SECRET" */
#define REF_SIG "8d5ddeb1a595f99d1ae3922e93f2394d98363c7db57e9e36207ed950f8ff235e"

TEST(test_reference_vector)
{
    char sig[AUTH_SIG_HEX_LEN + 1];
    CHECK_EQ_INT(auth_sign_download(SECRET, FILE_, EXP, sig), VB_OK);
    const char *got = sig;
    CHECK_EQ_STR(got, REF_SIG);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", REF_SIG, EXP - 100), VB_OK);
}

TEST(test_expiry)
{
    char sig[AUTH_SIG_HEX_LEN + 1];
    CHECK_EQ_INT(auth_sign_download(SECRET, FILE_, EXP, sig), VB_OK);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", sig, EXP), VB_OK);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", sig, EXP + 1), VB_ERR_FORBIDDEN);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", sig, EXP + 86400),
                 VB_ERR_FORBIDDEN);
    CHECK_EQ_INT(auth_sign_download(SECRET, FILE_, 0, sig), VB_OK);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "0", sig, 0), VB_OK);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "0", sig, 1), VB_ERR_FORBIDDEN);
}

TEST(test_tampered)
{
    char sig[AUTH_SIG_HEX_LEN + 1];
    CHECK_EQ_INT(auth_sign_download(SECRET, FILE_, EXP, sig), VB_OK);
    /* every single hex digit changed */
    for (int i = 0; i < AUTH_SIG_HEX_LEN; i++) {
        char t[AUTH_SIG_HEX_LEN + 1];
        memcpy(t, sig, sizeof t);
        t[i] = t[i] == '0' ? '1' : '0';
        CHECK_MSG(auth_verify_download(SECRET, FILE_, "1700003600", t, 0) == VB_ERR_FORBIDDEN,
                  "digit %d", i);
    }
    CHECK_EQ_INT(auth_verify_download(SECRET, "gen_2.wav", "1700003600", sig, 0), VB_ERR_FORBIDDEN);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003601", sig, 0), VB_ERR_FORBIDDEN);
    CHECK_EQ_INT(auth_verify_download("other-secret", FILE_, "1700003600", sig, 0),
                 VB_ERR_FORBIDDEN);
    /* the same signature must not carry over to a filename that shifts the ':' */
    CHECK_EQ_INT(auth_sign_download(SECRET, "a:1", 2, sig), VB_OK);
    CHECK_EQ_INT(auth_verify_download(SECRET, "a", "12", sig, 0), VB_ERR_FORBIDDEN);
    CHECK_EQ_INT(auth_verify_download(SECRET, "a:1", "2", sig, 0), VB_OK);
}

/* Only the lowercase hex we issue is accepted: upper case, whole or one digit, is refused. */
TEST(test_uppercase_sig_refused)
{
    char sig[AUTH_SIG_HEX_LEN + 1];
    CHECK_EQ_INT(auth_sign_download(SECRET, FILE_, EXP, sig), VB_OK);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", sig, 0), VB_OK);
    char upper[AUTH_SIG_HEX_LEN + 1], one[AUTH_SIG_HEX_LEN + 1];
    memcpy(upper, sig, sizeof sig);
    int first = -1;
    for (int i = 0; upper[i]; i++) {
        if (upper[i] >= 'a' && upper[i] <= 'f') {
            upper[i] = (char)(upper[i] - 'a' + 'A');
            if (first < 0)
                first = i;
        }
    }
    CHECK(first >= 0);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", upper, 0), VB_ERR_FORBIDDEN);
    memcpy(one, sig, sizeof sig);
    one[first] = upper[first];
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", one, 0), VB_ERR_FORBIDDEN);
}

TEST(test_exp_strict)
{
    const char *bad[] = {
        "",           "-1",         "+1700003600",          " 1700003600",        "1700003600 ",
        "0x6553f100", "1.7e9",      "1700003600.0",         "01700003600",        "00",
        "abc",        "17000036OO", "99999999999999999999", "9223372036854775808"};
    char sig[AUTH_SIG_HEX_LEN + 1];
    CHECK_EQ_INT(auth_sign_download(SECRET, FILE_, EXP, sig), VB_OK);
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++)
        CHECK_MSG(auth_verify_download(SECRET, FILE_, bad[i], sig, 0) == VB_ERR_FORBIDDEN,
                  "exp \"%s\"", bad[i]);
    /* the largest int64 is well-formed */
    CHECK_EQ_INT(auth_sign_download(SECRET, FILE_, INT64_MAX, sig), VB_OK);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "9223372036854775807", sig, EXP), VB_OK);
}

TEST(test_sig_strict)
{
    char sig[AUTH_SIG_HEX_LEN + 1];
    char t[AUTH_SIG_HEX_LEN + 2];
    CHECK_EQ_INT(auth_sign_download(SECRET, FILE_, EXP, sig), VB_OK);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", "", 0), VB_ERR_FORBIDDEN);
    memcpy(t, sig, AUTH_SIG_HEX_LEN - 1);
    t[AUTH_SIG_HEX_LEN - 1] = '\0';
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", t, 0), VB_ERR_FORBIDDEN);
    snprintf(t, sizeof t, "%s0", sig);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", t, 0), VB_ERR_FORBIDDEN);
    memcpy(t, sig, sizeof sig);
    t[10] = 'g';
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", t, 0), VB_ERR_FORBIDDEN);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, "1700003600", NULL, 0), VB_ERR_FORBIDDEN);
    CHECK_EQ_INT(auth_verify_download(SECRET, FILE_, NULL, sig, 0), VB_ERR_FORBIDDEN);
    CHECK_EQ_INT(auth_verify_download(SECRET, NULL, "1700003600", sig, 0), VB_ERR_FORBIDDEN);
    CHECK_EQ_INT(auth_verify_download(NULL, FILE_, "1700003600", sig, 0), VB_ERR_FORBIDDEN);
    CHECK_EQ_INT(auth_verify_download("", FILE_, "1700003600", sig, 0), VB_ERR_FORBIDDEN);
}

TEST(test_sign_bad_args)
{
    char sig[AUTH_SIG_HEX_LEN + 1];
    CHECK_EQ_INT(auth_sign_download(SECRET, FILE_, -1, sig), VB_ERR_INVALID);
    CHECK_EQ_INT(sig[0], '\0');
    CHECK_EQ_INT(auth_sign_download(SECRET, "", EXP, sig), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_sign_download(SECRET, NULL, EXP, sig), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_sign_download("", FILE_, EXP, sig), VB_ERR_INVALID);
    static char huge[20000];
    memset(huge, 'a', sizeof huge - 1);
    CHECK_EQ_INT(auth_sign_download(SECRET, huge, EXP, sig), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_verify_download(SECRET, huge, "1", REF_SIG, 0), VB_ERR_FORBIDDEN);
}

int main(void)
{
    RUN(test_reference_vector);
    RUN(test_expiry);
    RUN(test_tampered);
    RUN(test_uppercase_sig_refused);
    RUN(test_exp_strict);
    RUN(test_sig_strict);
    RUN(test_sign_bad_args);
    return test_summary();
}
