/* basic.h: HTTP Basic credentials (RFC 7617): strict decoding of the header's base64
 * into a user name and a password held in one wiped buffer. auth/basic_cache.h remembers
 * credentials that verified so Basic requests do not run bcrypt every time. */
#ifndef VB_AUTH_BASIC_H
#define VB_AUTH_BASIC_H

#include "core/vb.h"
#include "core/err.h"

#define AUTH_BASIC_DECODED_MAX 1024 /* longest "user:pass" after base64 decoding, bytes */

struct auth_basic_cred {
    char *username; /* NUL-terminated, 1.. bytes, no control characters */
    size_t username_len;
    char *password; /* NUL-terminated, may be empty, no NUL inside */
    size_t password_len;
    char *buf; /* owns both strings; wiped by auth_basic_cred_release */
    size_t buf_len;
};

/* Decodes the base64 credentials of a Basic header (`b64`, b64_len bytes: what
 * auth_header_parse returned) into *out (caller releases with auth_basic_cred_release,
 * also after an error). Rules: strict standard base64 with padding; 1..1024 bytes decoded;
 * a ':' separates user and password; user non-empty without control characters (< 0x20,
 * 0x7f); no NUL anywhere. VB_ERR_UNAUTHORIZED on any violation, VB_ERR_NOMEM. *why (may be
 * NULL) gets a static reason for logs. */
VB_WUR enum vb_err auth_basic_parse(const char *b64, size_t b64_len, struct auth_basic_cred *out,
                                    const char **why);
/* Wipes and frees the strings; the struct may be reused. NULL-safe, idempotent. */
void auth_basic_cred_release(struct auth_basic_cred *c);
/* A private copy of parsed credentials (for work that outlives the request); release it
 * with auth_basic_cred_release. VB_ERR_INVALID when src was not parsed, VB_ERR_NOMEM. */
VB_WUR enum vb_err auth_basic_cred_copy(struct auth_basic_cred *dst,
                                        const struct auth_basic_cred *src);

#endif
