/* crypto.c: SHA-256/HMAC through libcrypto, getrandom, constant-time compare, hex and
 * base64 codecs. */
#include "core/vb.h"
#include "core/crypto.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/random.h>

void vb_sha256(const void *data, size_t len, uint8_t out[VB_SHA256_LEN])
{
    SHA256(len ? data : (const void *)"", len, out);
}

void vb_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    uint8_t out[VB_SHA256_LEN])
{
    unsigned int n = VB_SHA256_LEN;
    static const unsigned char empty[1];
    if (!HMAC(EVP_sha256(), key_len ? key : empty, (int)key_len,
              msg_len ? msg : (const void *)empty, msg_len, out, &n))
        abort(); /* only fails on a broken libcrypto: nothing sensible to return */
}

bool vb_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}

enum vb_err vb_random_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return VB_ERR_INTERNAL;
        }
        p += k;
        n -= (size_t)k;
    }
    return VB_OK;
}

void vb_hex_encode(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int vb_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum vb_err vb_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_cap,
                          size_t *out_len)
{
    *out_len = 0;
    if (hex_len % 2 || (hex_len && !hex))
        return VB_ERR_INVALID;
    if (hex_len / 2 > out_cap)
        return VB_ERR_TOO_LARGE;
    for (size_t i = 0; i < hex_len; i += 2) {
        int hi = vb_hex_digit(hex[i]), lo = vb_hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return VB_ERR_INVALID;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = hex_len / 2;
    return VB_OK;
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static enum vb_err b64_encode(const char *alphabet, bool pad, const void *in, size_t n, char *out,
                              size_t out_cap)
{
    const unsigned char *p = in;
    size_t need = pad ? VB_BASE64_LEN(n) : VB_BASE64URL_LEN(n);
    if (n > (SIZE_MAX - 4) / 4 * 3 || out_cap < need + 1)
        return VB_ERR_TOO_LARGE;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return VB_OK;
}

static int b64_value(const char *alphabet, char c)
{
    const char *hit = c ? memchr(alphabet, c, 64) : NULL;
    return hit ? (int)(hit - alphabet) : -1;
}

/* Decodes; `pad_required` = the length must be a multiple of 4 with '=' padding. */
static enum vb_err b64_decode(const char *alphabet, bool pad_required, const char *in, size_t len,
                              uint8_t *out, size_t out_cap, size_t *out_len)
{
    *out_len = 0;
    if (len && !in)
        return VB_ERR_INVALID;
    /* Strip padding: at most two '=' and only when the padded length is a multiple of 4. */
    size_t data_len = len;
    while (data_len > 0 && in[data_len - 1] == '=' && len - data_len < 2)
        data_len--;
    if (data_len != len || pad_required) {
        if (len % 4)
            return VB_ERR_INVALID;
    }
    if (data_len % 4 == 1)
        return VB_ERR_INVALID;
    size_t n_out = data_len / 4 * 3 + (data_len % 4 ? data_len % 4 - 1 : 0);
    if (n_out > out_cap)
        return VB_ERR_TOO_LARGE;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data_len; i++) {
        int v = b64_value(alphabet, in[i]);
        if (v < 0)
            return VB_ERR_INVALID;
        acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return VB_OK;
}

enum vb_err vb_base64_encode(const void *in, size_t n, char *out, size_t out_cap)
{
    return b64_encode(b64_std, true, in, n, out, out_cap);
}

enum vb_err vb_base64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap,
                             size_t *out_len)
{
    return b64_decode(b64_std, true, in, len, out, out_cap, out_len);
}

enum vb_err vb_base64url_encode(const void *in, size_t n, char *out, size_t out_cap)
{
    return b64_encode(b64_url, false, in, n, out, out_cap);
}

enum vb_err vb_base64url_decode(const char *in, size_t len, uint8_t *out, size_t out_cap,
                                size_t *out_len)
{
    return b64_decode(b64_url, false, in, len, out, out_cap, out_len);
}

enum vb_err vb_request_id(char out[VB_REQUEST_ID_LEN + 1])
{
    uint8_t raw[VB_REQUEST_ID_LEN / 2];
    enum vb_err err = vb_random_bytes(raw, sizeof raw);
    if (err) {
        out[0] = '\0';
        return err;
    }
    vb_hex_encode(raw, sizeof raw, out);
    return VB_OK;
}

uint64_t vb_fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
