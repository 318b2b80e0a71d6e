/* throttle.h: failed-login limiter. One instance per kind of key (auth/login_guard.c keeps
 * three: per username and address, per address, per username). Each key keeps the times of
 * its last max_failures failures: a sliding window. Memory is bounded: a fixed table where a new
 * key evicts the entry with the oldest last failure in its bucket. Time is passed in (unix seconds)
 * for tests. */
#ifndef VB_AUTH_THROTTLE_H
#define VB_AUTH_THROTTLE_H

#include "core/vb.h"
#include "core/err.h"

#define AUTH_THROTTLE_FAILURES_MAX 1024 /* upper bound for params.max_failures */

struct auth_throttle_params {
    int max_failures; /* failures allowed within window_s; the next attempt is refused
                         (1..AUTH_THROTTLE_FAILURES_MAX); 0 = 5 */
    int window_s;     /* sliding window, seconds; 0 = 900 */
    size_t capacity;  /* keys tracked (rounded up to a multiple of 4); 0 = 4096 */
};

struct auth_throttle;

/* 5 failures / 900 s / 4096 keys: the per-username limit. */
struct auth_throttle_params auth_throttle_default_params(void);
/* NULL on invalid params or if randomness fails. Caller frees with auth_throttle_free. */
struct auth_throttle *auth_throttle_new(const struct auth_throttle_params *p);
void auth_throttle_free(struct auth_throttle *t);

/* VB_ERR_RATE_LIMITED when `key` has max_failures failures within the window ending at
 * `now`; *retry_after_s (may be NULL) then gets the seconds (>= 1) until one expires,
 * else 0. VB_OK otherwise. Keys are arbitrary NUL-terminated strings (NULL = ""). */
VB_WUR enum vb_err auth_throttle_check(struct auth_throttle *t, const char *key, int64_t now,
                                       int *retry_after_s);
/* How many failures of `key` lie within the window ending at `now` (0..max_failures). */
int auth_throttle_failures(struct auth_throttle *t, const char *key, int64_t now);
/* Records one failure of `key` at `now`. */
void auth_throttle_fail(struct auth_throttle *t, const char *key, int64_t now);
/* Forgets the failures of `key` (successful login). */
void auth_throttle_reset(struct auth_throttle *t, const char *key);

#endif
