/* jwt.h: HS256 access tokens (libjwt 1.10). Tokens carry sub (user id as a decimal
 * string), name, iat, exp and jti (128 random bits as hex). Verification is strict: only
 * HS256, all five claims present and well typed, exp in the future, iat not more than
 * AUTH_JWT_LEEWAY_S in the future. Revocation by password change is the caller's job:
 * compare the returned iat with the user's password_changed_at. */
#ifndef VB_AUTH_JWT_H
#define VB_AUTH_JWT_H

#include "core/vb.h"
#include "core/err.h"

#define AUTH_JWT_MAX_LEN     4096 /* longest token accepted, bytes */
#define AUTH_JWT_LEEWAY_S    60   /* allowed clock skew for iat, seconds */
#define AUTH_JWT_NAME_MAX    256  /* longest "name" claim, bytes */
#define AUTH_JWT_PWD_TAG_LEN 16   /* hex digits of the optional "pwd" claim */

struct auth_jwt_claims {
    int64_t user_id;                    /* sub, > 0 */
    int64_t iat;                        /* issued at, unix seconds */
    int64_t exp;                        /* expires at, unix seconds */
    char jti[33];                       /* 32 lowercase hex digits */
    char pwd[AUTH_JWT_PWD_TAG_LEN + 1]; /* password tag the token is bound to; "" if none */
};

/* Issues a token for (user_id > 0, username) valid from `now` for ttl_s (> 0) seconds,
 * signed with `secret` (NUL-terminated, non-empty). *out_token: caller frees with vb_free.
 * VB_ERR_INVALID on bad arguments, VB_ERR_NOMEM / VB_ERR_INTERNAL on library failure. */
VB_WUR enum vb_err auth_jwt_issue(const char *secret, int64_t user_id, const char *username,
                                  int64_t now, int64_t ttl_s, char **out_token);

/* Like auth_jwt_issue, with an extra "pwd" claim: `pwd_tag` (AUTH_JWT_PWD_TAG_LEN lowercase
 * hex digits, or NULL for none) derived by the caller from the user's current password hash,
 * so that changing the password revokes every token issued before, whatever the clock. */
VB_WUR enum vb_err auth_jwt_issue_bound(const char *secret, int64_t user_id, const char *username,
                                        const char *pwd_tag, int64_t now, int64_t ttl_s,
                                        char **out_token);
/* Verifies `token` (token_len bytes, need not be NUL-terminated) against `secret` at time
 * `now`. VB_OK fills *out; VB_ERR_UNAUTHORIZED for any bad token (malformed, wrong
 * signature or alg, expired, missing/ill-typed claims, iat too far ahead); VB_ERR_NOMEM.
 * *why (may be NULL) gets a short static reason for logs; never send it to clients. */
VB_WUR enum vb_err auth_jwt_verify(const char *secret, const char *token, size_t token_len,
                                   int64_t now, struct auth_jwt_claims *out, const char **why);

#endif
