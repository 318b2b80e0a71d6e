/* basic.h: HTTP Basic credentials (RFC 7617) and a small credential cache so that Basic
 * requests do not run bcrypt every time.
 *
 * The cache key is HMAC-SHA256(k, username "\0" password) where k is 32 random bytes made
 * when the cache is created: no password (nor anything derived from SECRET_KEY and a
 * password) is stored, and the key dies with the process. Flow for one request:
 *
 *   struct auth_basic_cred c;
 *   if (auth_basic_parse(cred, cred_len, &c, NULL)) -> 401
 *   if (!auth_basic_cache_lookup(cache, &c, now, &uid)) {
 *       uint64_t gen = auth_basic_cache_generation(cache);   // BEFORE reading the user row
 *       user = db lookup(c.username); ok = verify or dummy-verify;
 *       if (ok) auth_basic_cache_insert(cache, &c, uid, now, gen);
 *   }
 *   auth_basic_cred_release(&c);
 *
 * On a password change call auth_basic_cache_invalidate_user(cache, uid) after the new
 * hash is stored; the generation check makes a concurrent verify of the old password
 * unable to re-insert it. */
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

struct auth_basic_cache_params {
    size_t capacity; /* entries (rounded up to a multiple of 4); 0 = 1024 */
    int ttl_s;       /* seconds an entry stays valid; 0 = 60 */
};

struct auth_basic_cache;

struct auth_basic_cache_params auth_basic_cache_default_params(void);
/* New cache (caller frees with auth_basic_cache_free); NULL if randomness fails. */
struct auth_basic_cache *auth_basic_cache_new(const struct auth_basic_cache_params *p);
/* Wipes all keys and frees. NULL is fine. */
void auth_basic_cache_free(struct auth_basic_cache *c);

/* true and *user_id when (username, password) was inserted less than ttl_s ago and not
 * invalidated since. Thread-safe. */
bool auth_basic_cache_lookup(struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                             int64_t now, int64_t *user_id);
/* Counter bumped by every invalidation; read it before checking the password. */
uint64_t auth_basic_cache_generation(struct auth_basic_cache *c);
/* Remembers verified credentials until now + ttl_s, evicting the oldest entry of its
 * bucket when full. Does nothing if an invalidation happened after `generation` was
 * read. Thread-safe. */
void auth_basic_cache_insert(struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                             int64_t user_id, int64_t now, uint64_t generation);
/* Drops every entry of user_id (password change, user deletion). Thread-safe. */
void auth_basic_cache_invalidate_user(struct auth_basic_cache *c, int64_t user_id);
/* Drops everything. Thread-safe. */
void auth_basic_cache_clear(struct auth_basic_cache *c);

#endif
