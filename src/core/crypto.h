/* crypto.h: hashes, HMAC, constant-time compare, random bytes and the hex/base64 codecs
 * used by auth, signed URLs and request ids. Hashing is OpenSSL's libcrypto. */
#ifndef VB_CRYPTO_H
#define VB_CRYPTO_H

#include "core/vb.h"
#include "core/err.h"

#define VB_SHA256_LEN     32
#define VB_REQUEST_ID_LEN 32 /* hex characters, excluding the NUL */

/* Encoded sizes in characters, excluding the NUL. */
#define VB_HEX_LEN(n)            ((n)*2)
#define VB_BASE64_LEN(n)         ((((n) + 2) / 3) * 4) /* padded, standard alphabet */
#define VB_BASE64URL_LEN(n)      (((n)*4 + 2) / 3)     /* unpadded, URL-safe alphabet */
#define VB_BASE64_DECODED_MAX(n) (((n) + 3) / 4 * 3)   /* upper bound of decoded bytes */

#define VB_FNV64_OFFSET 0xcbf29ce484222325ull /* FNV-1a 64-bit offset basis: the first h */
/* FNV-1a 64-bit hash of n bytes continued from h (VB_FNV64_OFFSET to start): a cache key,
 * not a cryptographic hash. */
uint64_t vb_fnv1a64(uint64_t h, const void *data, size_t n);
void vb_sha256(const void *data, size_t len, uint8_t out[VB_SHA256_LEN]);
void vb_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    uint8_t out[VB_SHA256_LEN]);
/* true when the n bytes of a and b are equal; the time taken depends only on n. */
bool vb_ct_equal(const void *a, const void *b, size_t n);
/* Fills out with n bytes from the kernel CSPRNG (getrandom). VB_ERR_INTERNAL on failure. */
VB_WUR enum vb_err vb_random_bytes(void *out, size_t n);

/* Value of one hex digit (either case), or -1. */
int vb_hex_digit(char c);
/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void vb_hex_encode(const void *in, size_t n, char *out);
/* Decodes hex (either case; even length) into out. *out_len = bytes written.
 * VB_ERR_INVALID on a bad digit or odd length, VB_ERR_TOO_LARGE if out_cap is short. */
VB_WUR enum vb_err vb_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_cap,
                                 size_t *out_len);

/* Standard base64 with '=' padding into out (out_cap >= VB_BASE64_LEN(n) + 1; NUL-terminated).
 * VB_ERR_TOO_LARGE if out_cap is short. */
VB_WUR enum vb_err vb_base64_encode(const void *in, size_t n, char *out, size_t out_cap);
/* Strict standard base64 (length a multiple of 4, padding only at the end, no whitespace).
 * VB_ERR_INVALID on malformed input, VB_ERR_TOO_LARGE if out_cap is short; out_cap of
 * VB_BASE64_DECODED_MAX(len) always suffices. */
VB_WUR enum vb_err vb_base64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap,
                                    size_t *out_len);
/* URL-safe base64 without padding (RFC 4648 section 5; as in JWT). out_cap >=
 * VB_BASE64URL_LEN(n) + 1. */
VB_WUR enum vb_err vb_base64url_encode(const void *in, size_t n, char *out, size_t out_cap);
/* URL-safe base64; padding optional. Errors as vb_base64_decode. */
VB_WUR enum vb_err vb_base64url_decode(const char *in, size_t len, uint8_t *out, size_t out_cap,
                                       size_t *out_len);

/* A fresh request id: 16 random bytes as 32 hex characters, NUL-terminated. */
VB_WUR enum vb_err vb_request_id(char out[VB_REQUEST_ID_LEN + 1]);

#endif
