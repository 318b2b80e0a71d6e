/* secure.h: the few crypto primitives the auth module needs (HMAC-SHA256, OS randomness,
 * constant-time comparison, hex). Thin wrappers over OpenSSL libcrypto and getrandom(2);
 * to be folded into core/crypto.h once that exists. */
#ifndef VB_AUTH_SECURE_H
#define VB_AUTH_SECURE_H

#include "core/vb.h"
#include "core/err.h"

#define AUTH_SHA256_LEN 32 /* bytes of a SHA-256 digest / HMAC-SHA256 tag */

/* out = HMAC-SHA256(key, msg). key may be empty. VB_ERR_INTERNAL if libcrypto fails. */
VB_WUR enum vb_err auth_hmac_sha256(const void *key, size_t key_len, const void *msg,
                                    size_t msg_len, uint8_t out[AUTH_SHA256_LEN]);
/* Fills buf with n bytes from the kernel CSPRNG (getrandom, retried on EINTR / short
 * reads). VB_ERR_INTERNAL if the kernel refuses. */
VB_WUR enum vb_err auth_random_bytes(void *buf, size_t n);
/* true when a and b (n bytes each) are equal; time depends only on n. */
bool auth_ct_equal(const void *a, const void *b, size_t n);
/* Writes 2*n lowercase hex digits and a NUL into out (out holds 2*n+1 bytes). */
void auth_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2*n hex digits (either case) from `hex` (hex_len bytes) into out.
 * false on a wrong length or a non-hex character. */
bool auth_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t n);

#endif
