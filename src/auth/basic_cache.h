/* basic_cache.h: Basic credentials that verified recently, with one verification per
 * credential at a time (single-flight) and refresh before expiry.
 *
 * The key is HMAC-SHA256(k, username "\0" password) where k is 32 random bytes made when
 * the cache is created: no password (nor anything derived from SECRET_KEY and a password)
 * is stored, and the key dies with the process. Each entry also keeps a stamp of the
 * account's password hash, so a hit can be confirmed against the current account row:
 * an account deleted or re-passworded behind the server's back (another process, SQL)
 * stops matching at once.
 *
 * One request:
 *
 *   switch (auth_basic_cache_begin(cache, &cred, now, may_wait, &uid, &flight)) {
 *   case AUTH_BASIC_HIT:     row = db user uid; if (!auth_basic_cache_confirm(cache, &cred,
 *                            uid, row ? row->hash : NULL)) -> the account changed: 401 or
 *                            begin again; else authenticated
 *   case AUTH_BASIC_REFRESH: as HIT, and re-verify in the background, ending with
 *                            auth_basic_cache_finish(cache, flight, ...)
 *   case AUTH_BASIC_VERIFY:  verify (bcrypt); auth_basic_cache_finish(cache, flight, ...)
 *   case AUTH_BASIC_REJECTED: 401 (a concurrent check of the same credentials failed)
 *   case AUTH_BASIC_BUSY:    retry on a thread that may block (may_wait was false)
 *   }
 *
 * Deadlock-free by construction: callers only wait for VERIFY flights, whose owners are
 * running their check; REFRESH flights (which may sit in a queue) are never waited for.
 *
 * On a password change or account deletion inside the process call
 * auth_basic_cache_invalidate_user after the change is stored; a check that started
 * before it cannot re-insert the old password. */
#ifndef VB_AUTH_BASIC_CACHE_H
#define VB_AUTH_BASIC_CACHE_H

#include "core/vb.h"
#include "auth/basic.h"

struct auth_basic_cache_params {
    size_t capacity; /* entries (rounded up to a multiple of 4); 0 = 1024 */
    int ttl_s;       /* seconds an entry stays valid; 0 = 60. The last quarter (at least
                        one second) is the refresh window. */
};

struct auth_basic_cache;
struct auth_basic_flight; /* one verification in progress */

enum auth_basic_state {
    AUTH_BASIC_HIT,      /* verified less than ttl_s ago: *user_id */
    AUTH_BASIC_REFRESH,  /* a hit in the refresh window: the caller owns *flight, re-verifies
                            (off the request path) and finishes it */
    AUTH_BASIC_VERIFY,   /* not cached: the caller owns *flight, verifies and finishes it */
    AUTH_BASIC_REJECTED, /* the caller waited for another check of the same credentials,
                            which failed */
    AUTH_BASIC_BUSY,     /* may_wait was false and the answer needs a check or a wait */
};

enum auth_basic_outcome {
    AUTH_BASIC_VERIFIED,  /* right password: cache it */
    AUTH_BASIC_WRONG,     /* wrong password or no such user: drop any entry */
    AUTH_BASIC_UNDECIDED, /* no answer (throttled, database error, not run): waiters retry */
};

struct auth_basic_cache_params auth_basic_cache_default_params(void);
/* New cache (caller frees with auth_basic_cache_free); NULL if randomness fails. */
struct auth_basic_cache *auth_basic_cache_new(const struct auth_basic_cache_params *p);
/* Wipes all keys and frees. NULL is fine. No flight may be in progress. */
void auth_basic_cache_free(struct auth_basic_cache *c);

/* Looks cred up at `now` (unix seconds). Without an entry, when another caller is
 * verifying the same credentials: waits for its outcome if may_wait (then answers as if
 * called again, or REJECTED), else BUSY. *flight is set for REFRESH and VERIFY only (NULL
 * otherwise); each must be ended with exactly one auth_basic_cache_finish. Thread-safe. */
enum auth_basic_state auth_basic_cache_begin(struct auth_basic_cache *c,
                                             const struct auth_basic_cred *cred, int64_t now,
                                             bool may_wait, int64_t *user_id,
                                             struct auth_basic_flight **flight);
/* Ends a flight: VERIFIED caches (user_id, a stamp of password_hash) until now + ttl_s
 * unless an invalidation happened since the flight began; WRONG drops the entry; every
 * waiter wakes. Frees the flight. NULL flight is a no-op. */
void auth_basic_cache_finish(struct auth_basic_cache *c, struct auth_basic_flight *flight,
                             enum auth_basic_outcome outcome, int64_t user_id,
                             const char *password_hash, int64_t now);
/* true when cred's entry belongs to user_id and was stamped with this password_hash (the
 * account as it is now). A mismatch or password_hash NULL (no such account any more) drops
 * every entry of user_id and answers false; no entry answers false. */
bool auth_basic_cache_confirm(struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                              int64_t user_id, const char *password_hash);

/* Low level, without single-flight (tests, tools). */
/* true and *user_id when cred was verified less than ttl_s ago and not invalidated since. */
bool auth_basic_cache_lookup(struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                             int64_t now, int64_t *user_id);
/* Counter bumped by every invalidation; read it before checking the password. */
uint64_t auth_basic_cache_generation(struct auth_basic_cache *c);
/* Remembers verified credentials until now + ttl_s, evicting the oldest entry of its
 * bucket when full. Does nothing if an invalidation happened after `generation` was
 * read. */
void auth_basic_cache_insert(struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                             int64_t user_id, const char *password_hash, int64_t now,
                             uint64_t generation);

/* Drops every entry of user_id (password change, user deletion). Thread-safe. */
void auth_basic_cache_invalidate_user(struct auth_basic_cache *c, int64_t user_id);
/* Drops everything. Thread-safe. */
void auth_basic_cache_clear(struct auth_basic_cache *c);

#endif
