/* test_crypto.c: SHA-256 (FIPS 180 examples), HMAC-SHA256 (RFC 4231), hex and base64
 * (RFC 4648 vectors, malformed inputs), constant-time compare, random bytes, request ids
 * and ISO-8601 time formatting. */
#include "core/vb.h"
#include "core/crypto.h"
#include "core/time_fmt.h"
#include "unit/test.h"

/* CHECK_EQ_STR on a char array trips gcc's -Waddress; pass arrays through this. */
static const char *str(const char *s)
{
    return s;
}

static void hex_of(const uint8_t *d, size_t n, char *out)
{
    vb_hex_encode(d, n, out);
}

TEST(test_sha256_vectors)
{
    static const struct {
        const char *msg;
        const char *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(v); i++) {
        uint8_t out[VB_SHA256_LEN];
        char hex[VB_HEX_LEN(VB_SHA256_LEN) + 1];
        vb_sha256(v[i].msg, strlen(v[i].msg), out);
        hex_of(out, sizeof out, hex);
        CHECK_EQ_STR(str(hex), v[i].hex);
    }
    /* NULL with length 0 is the empty message. */
    uint8_t out[VB_SHA256_LEN];
    char hex[VB_HEX_LEN(VB_SHA256_LEN) + 1];
    vb_sha256(NULL, 0, out);
    hex_of(out, sizeof out, hex);
    CHECK_EQ_STR(str(hex), v[0].hex);
    /* One million 'a' (FIPS 180-2 example). */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    vb_sha256(a, 1000000, out);
    hex_of(out, sizeof out, hex);
    CHECK_EQ_STR(str(hex), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* Test vector text given as hex. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (vb_hex_decode(hex, strlen(hex), out, cap, &n) != VB_OK)
        return (size_t)-1;
    return n;
}

TEST(test_hmac_rfc4231)
{
    static const struct {
        const char *key_hex;
        const char *data_hex;
        const char *mac_hex; /* full 32 bytes, or the 16-byte prefix for case 5 */
    } v[] = {
        /* 1 */ {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
                 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        /* 2 */
        {"4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        /* 3 */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
         "dddddddddddddd",
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        /* 4 */
        {"0102030405060708090a0b0c0d0e0f10111213141516171819",
         "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
         "cdcdcdcdcdcdcd",
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        /* 5 (truncated to 128 bits) */
        {"0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "546573742057697468205472756e636174696f6e",
         "a3b6167473100ee06e0c796c2955552b"},
        /* 6: key longer than the block size */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d20486173"
         "68204b6579204669727374",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        /* 7: key and data longer than the block size */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73"
         "697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174612e"
         "20546865206b6579206e6565647320746f20626520686173686564206265666f7265206265696e672075"
         "7365642062792074686520484d414320616c676f726974686d2e",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(v); i++) {
        uint8_t key[256], data[256], mac[VB_SHA256_LEN];
        char hex[VB_HEX_LEN(VB_SHA256_LEN) + 1];
        size_t kn = unhex(v[i].key_hex, key, sizeof key);
        size_t dn = unhex(v[i].data_hex, data, sizeof data);
        CHECK_MSG(kn != (size_t)-1 && dn != (size_t)-1, "case %zu: bad vector", i + 1);
        if (kn == (size_t)-1 || dn == (size_t)-1)
            continue;
        vb_hmac_sha256(key, kn, data, dn, mac);
        hex_of(mac, sizeof mac, hex);
        size_t want = strlen(v[i].mac_hex);
        CHECK_MSG(strncmp(hex, v[i].mac_hex, want) == 0, "case %zu: %s", i + 1, hex);
    }
    /* Empty key and message (NULL pointers with zero lengths). */
    uint8_t mac[VB_SHA256_LEN];
    char hex[VB_HEX_LEN(VB_SHA256_LEN) + 1];
    vb_hmac_sha256(NULL, 0, NULL, 0, mac);
    hex_of(mac, sizeof mac, hex);
    CHECK_EQ_STR(str(hex), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* Published FNV-1a 64-bit vectors; continuing a hash equals hashing the concatenation. */
TEST(test_fnv1a64)
{
    CHECK(vb_fnv1a64(VB_FNV64_OFFSET, "", 0) == 0xcbf29ce484222325ull);
    CHECK(vb_fnv1a64(VB_FNV64_OFFSET, "a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(vb_fnv1a64(VB_FNV64_OFFSET, "foobar", 6) == 0x85944171f73967e8ull);
    CHECK(vb_fnv1a64(vb_fnv1a64(VB_FNV64_OFFSET, "foo", 3), "bar", 3) ==
          vb_fnv1a64(VB_FNV64_OFFSET, "foobar", 6));
}

TEST(test_ct_equal)
{
    CHECK(vb_ct_equal("abc", "abc", 3));
    CHECK(!vb_ct_equal("abc", "abd", 3));
    CHECK(!vb_ct_equal("\x80", "\x00", 1));
    CHECK(vb_ct_equal("x", "y", 0));
    CHECK(vb_ct_equal(NULL, NULL, 0));
}

TEST(test_hex)
{
    char out[16];
    vb_hex_encode("\x00\x01\xab\xff", 4, out);
    CHECK_EQ_STR(str(out), "0001abff");
    vb_hex_encode(NULL, 0, out);
    CHECK_EQ_STR(str(out), "");
    uint8_t b[4];
    size_t n = 99;
    CHECK(vb_hex_decode("0001ABff", 8, b, sizeof b, &n) == VB_OK);
    CHECK(n == 4 && memcmp(b, "\x00\x01\xab\xff", 4) == 0);
    CHECK(vb_hex_decode("", 0, b, sizeof b, &n) == VB_OK && n == 0);
    CHECK(vb_hex_decode(NULL, 0, b, sizeof b, &n) == VB_OK && n == 0);
    CHECK(vb_hex_decode("abc", 3, b, sizeof b, &n) == VB_ERR_INVALID);
    CHECK(vb_hex_decode("zz", 2, b, sizeof b, &n) == VB_ERR_INVALID);
    CHECK(vb_hex_decode("0g", 2, b, sizeof b, &n) == VB_ERR_INVALID);
    CHECK(vb_hex_decode("0 ", 2, b, sizeof b, &n) == VB_ERR_INVALID);
    CHECK(vb_hex_decode("0102030405", 10, b, sizeof b, &n) == VB_ERR_TOO_LARGE);
    CHECK(vb_hex_decode(NULL, 2, b, sizeof b, &n) == VB_ERR_INVALID);
}

TEST(test_base64_vectors)
{
    /* RFC 4648 section 10. */
    static const struct {
        const char *raw, *std, *url;
    } v[] = {
        {"", "", ""},
        {"f", "Zg==", "Zg"},
        {"fo", "Zm8=", "Zm8"},
        {"foo", "Zm9v", "Zm9v"},
        {"foob", "Zm9vYg==", "Zm9vYg"},
        {"fooba", "Zm9vYmE=", "Zm9vYmE"},
        {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
        {"\xfb\xff\xbf", "+/+/", "-_-_"},
        {"alice:s3cr3t pass", "YWxpY2U6czNjcjN0IHBhc3M=", "YWxpY2U6czNjcjN0IHBhc3M"},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(v); i++) {
        size_t rn = strlen(v[i].raw);
        char enc[64];
        uint8_t dec[64];
        size_t n = 0;
        CHECK(vb_base64_encode(v[i].raw, rn, enc, sizeof enc) == VB_OK);
        CHECK_EQ_STR(str(enc), v[i].std);
        CHECK_EQ_INT(strlen(enc), VB_BASE64_LEN(rn));
        CHECK(vb_base64url_encode(v[i].raw, rn, enc, sizeof enc) == VB_OK);
        CHECK_EQ_STR(str(enc), v[i].url);
        CHECK_EQ_INT(strlen(enc), VB_BASE64URL_LEN(rn));
        CHECK(vb_base64_decode(v[i].std, strlen(v[i].std), dec, sizeof dec, &n) == VB_OK);
        CHECK_MSG(n == rn && memcmp(dec, v[i].raw, rn) == 0, "case %zu std decode", i);
        CHECK(vb_base64url_decode(v[i].url, strlen(v[i].url), dec, sizeof dec, &n) == VB_OK);
        CHECK_MSG(n == rn && memcmp(dec, v[i].raw, rn) == 0, "case %zu url decode", i);
        /* base64url also takes correct padding. */
        char padded[64];
        snprintf(padded, sizeof padded, "%s", v[i].std);
        for (char *p = padded; *p; p++)
            *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
        CHECK(vb_base64url_decode(padded, strlen(padded), dec, sizeof dec, &n) == VB_OK);
        CHECK(n == rn);
        /* The exact-size output buffer suffices; one byte less does not. */
        if (rn > 0) {
            CHECK(vb_base64_decode(v[i].std, strlen(v[i].std), dec, rn, &n) == VB_OK);
            CHECK(vb_base64_decode(v[i].std, strlen(v[i].std), dec, rn - 1, &n) ==
                  VB_ERR_TOO_LARGE);
            CHECK(vb_base64_encode(v[i].raw, rn, enc, VB_BASE64_LEN(rn)) == VB_ERR_TOO_LARGE);
        }
    }
}

TEST(test_base64_malformed)
{
    static const char *const bad_std[] = {
        "Zg",       /* missing padding */
        "Zg=",      /* short padding */
        "Zg===",    /* too much padding */
        "Z===",     /* 1 data char */
        "Zm9vY",    /* 5 chars */
        "Zm9v\n",   /* whitespace */
        "Zm 9",     /* space */
        "Zm9-",     /* url alphabet in std */
        "Zm9_",     /* url alphabet in std */
        "Z=9v",     /* padding in the middle */
        "====",     /* only padding */
        "Zg==Zg==", /* padding then data */
        "Zm9v\0AAA" /* NUL inside */
    };
    uint8_t dec[64];
    size_t n;
    for (size_t i = 0; i < VB_ARRAY_LEN(bad_std); i++) {
        size_t len = i == VB_ARRAY_LEN(bad_std) - 1 ? 8 : strlen(bad_std[i]);
        CHECK_MSG(vb_base64_decode(bad_std[i], len, dec, sizeof dec, &n) == VB_ERR_INVALID,
                  "case %zu (%s)", i, bad_std[i]);
    }
    static const char *const bad_url[] = {"Z", "Zg=", "Zm9v+", "Zm9v/", "Zm9vY", "Z=g", "a b"};
    for (size_t i = 0; i < VB_ARRAY_LEN(bad_url); i++)
        CHECK_MSG(vb_base64url_decode(bad_url[i], strlen(bad_url[i]), dec, sizeof dec, &n) ==
                      VB_ERR_INVALID,
                  "url case %zu (%s)", i, bad_url[i]);
    CHECK(vb_base64_decode(NULL, 4, dec, sizeof dec, &n) == VB_ERR_INVALID);
    CHECK(vb_base64_decode(NULL, 0, dec, sizeof dec, &n) == VB_OK && n == 0);
}

TEST(test_base64_round_trip_all_lengths)
{
    uint8_t raw[300], dec[300];
    char enc[512];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof raw; n++) {
        size_t m = 0;
        CHECK(vb_base64_encode(raw, n, enc, sizeof enc) == VB_OK);
        CHECK(vb_base64_decode(enc, strlen(enc), dec, VB_BASE64_DECODED_MAX(strlen(enc)), &m) ==
              VB_OK);
        CHECK(m == n && memcmp(raw, dec, n) == 0);
        CHECK(vb_base64url_encode(raw, n, enc, sizeof enc) == VB_OK);
        CHECK(strchr(enc, '=') == NULL && strchr(enc, '+') == NULL && strchr(enc, '/') == NULL);
        CHECK(vb_base64url_decode(enc, strlen(enc), dec, sizeof dec, &m) == VB_OK);
        CHECK(m == n && memcmp(raw, dec, n) == 0);
    }
}

TEST(test_random_and_request_id)
{
    uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
    CHECK(vb_random_bytes(a, sizeof a) == VB_OK);
    CHECK(vb_random_bytes(b, sizeof b) == VB_OK);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK(memcmp(a, zero, sizeof a) != 0);
    CHECK(vb_random_bytes(a, 0) == VB_OK);
    /* A large request is filled completely (getrandom may return short reads). */
    size_t big = 1 << 20;
    uint8_t *p = calloc(1, big);
    CHECK(vb_random_bytes(p, big) == VB_OK);
    size_t zeros = 0;
    for (size_t i = big - 4096; i < big; i++)
        zeros += p[i] == 0;
    CHECK(zeros < 64); /* ~16 expected */
    free(p);

    char id1[VB_REQUEST_ID_LEN + 1], id2[VB_REQUEST_ID_LEN + 1];
    CHECK(vb_request_id(id1) == VB_OK);
    CHECK(vb_request_id(id2) == VB_OK);
    CHECK_EQ_INT(strlen(id1), VB_REQUEST_ID_LEN);
    CHECK(strspn(id1, "0123456789abcdef") == VB_REQUEST_ID_LEN);
    CHECK(strcmp(id1, id2) != 0);
}

TEST(test_time_format)
{
    static const struct {
        int64_t t;
        const char *s;
    } v[] = {
        {0, "1970-01-01T00:00:00Z"},
        {951782400, "2000-02-29T00:00:00Z"},
        {1795315500, "2026-11-22T02:45:00Z"},
        {-1, "1969-12-31T23:59:59Z"},
        {-86400 * 365, "1969-01-01T00:00:00Z"},
        {4102444799, "2099-12-31T23:59:59Z"},
        {253402300799, "9999-12-31T23:59:59Z"},
        {INT64_MAX, "9999-12-31T23:59:59Z"}, /* clamped */
        {INT64_MIN, "0000-01-01T00:00:00Z"}, /* clamped */
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(v); i++) {
        char out[VB_ISO8601_LEN];
        vb_format_iso8601(v[i].t, out);
        CHECK_EQ_STR(str(out), v[i].s);
        int64_t back = 0;
        CHECK(vb_parse_iso8601(out, &back) == VB_OK);
        if (v[i].t >= -62167219200LL && v[i].t <= 253402300799LL)
            CHECK_MSG(back == v[i].t, "case %zu: %lld", i, (long long)back);
    }
    /* Every day of 1999..2001 formats and parses back. */
    for (int64_t t = 915148800; t < 1009843200; t += 86400 - 1) {
        char out[VB_ISO8601_LEN];
        int64_t back = 0;
        vb_format_iso8601(t, out);
        CHECK(vb_parse_iso8601(out, &back) == VB_OK && back == t);
    }
    int64_t t = 0;
    CHECK(vb_parse_iso8601("2026-11-22 02:45:00", &t) == VB_OK && t == 1795315500);
    CHECK(vb_parse_iso8601("2026-11-22T02:45:00.123456Z", &t) == VB_OK && t == 1795315500);
    CHECK(vb_parse_iso8601("2026-11-22 02:45:00+00", &t) == VB_OK && t == 1795315500);
    CHECK(vb_parse_iso8601("2026-11-22 02:45:00+00:00", &t) == VB_OK && t == 1795315500);
    static const char *const bad[] = {
        NULL,
        "",
        "2026-11-22",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T02:60:00Z",
        "2026-11-22T02:45:00+01:00",
        "2026-11-22T02:45:00Zx",
        "2026/11/22T02:45:00Z",
        "2026-11-22T02:45:00.Z",
        "2026-00-10 00:00:00",
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++)
        CHECK_MSG(vb_parse_iso8601(bad[i], &t) == VB_ERR_INVALID, "bad case %zu", i);
    /* Clocks move forward and agree. */
    int64_t s = vb_now_unix(), ms = vb_now_ms();
    CHECK(s > 1700000000);
    CHECK(ms / 1000 - s <= 1 && ms / 1000 - s >= 0);
    int64_t m1 = vb_mono_ms(), m2 = vb_mono_ms();
    CHECK(m2 >= m1);
}

int main(void)
{
    RUN(test_sha256_vectors);
    RUN(test_hmac_rfc4231);
    RUN(test_fnv1a64);
    RUN(test_ct_equal);
    RUN(test_hex);
    RUN(test_base64_vectors);
    RUN(test_base64_malformed);
    RUN(test_base64_round_trip_all_lengths);
    RUN(test_random_and_request_id);
    RUN(test_time_format);
    return test_summary();
}
