/* login_guard.h: who may try a password now. Failed logins are counted per (username,
 * client address), per address (any usernames) and per username (all addresses), so that
 * nobody can lock an account by failing on purpose:
 *
 *   - 5 failures in 15 minutes for one username from one address refuse that pair;
 *   - 20 failures in 15 minutes from one address refuse that address, whatever username;
 *   - 10 failures in 15 minutes for one username from anywhere (many addresses) refuse it
 *     only from addresses that have failed themselves: an address with no failure, the
 *     user's own, still gets to try the right password.
 *
 * IPv6 clients are counted by their /64 network (one host usually owns a whole /64).
 *
 *   if (auth_login_guard_check(g, user, addr, now, &retry_after)) -> 429 + Retry-After
 *   ok = verify(...);
 *   ok ? auth_login_guard_succeeded(g, user, addr) : auth_login_guard_failed(g, user, addr, now);
 */
#ifndef VB_AUTH_LOGIN_GUARD_H
#define VB_AUTH_LOGIN_GUARD_H

#include "core/vb.h"
#include "core/err.h"

struct auth_login_guard_params {
    int pair_failures; /* per (username, address); 0 = 5 */
    int addr_failures; /* per address, any usernames; 0 = 20 */
    int user_failures; /* per username from all addresses, then only for addresses that
                          failed; 0 = 10 */
    int window_s;      /* sliding window of all three, seconds; 0 = 900 */
    size_t capacity;   /* keys remembered per table; 0 = 4096 */
};

struct auth_login_guard;

/* NULL on invalid params or if randomness fails. Free with auth_login_guard_free. */
struct auth_login_guard *auth_login_guard_new(const struct auth_login_guard_params *p);
void auth_login_guard_free(struct auth_login_guard *g);

/* VB_ERR_RATE_LIMITED when `username` may not try a password from `addr` (a textual IP
 * address; NULL = a local caller) at `now`: *retry_after_s (may be NULL) then gets the
 * seconds (>= 1) until it may. VB_OK otherwise (*retry_after_s = 0). */
VB_WUR enum vb_err auth_login_guard_check(struct auth_login_guard *g, const char *username,
                                          const char *addr, int64_t now, int *retry_after_s);
/* Counts a wrong password (or unknown username) from addr. */
void auth_login_guard_failed(struct auth_login_guard *g, const char *username, const char *addr,
                             int64_t now);
/* The right password: forgets the failures of (username, addr); the per-address and
 * per-username counts keep running. */
void auth_login_guard_succeeded(struct auth_login_guard *g, const char *username, const char *addr);

#endif
