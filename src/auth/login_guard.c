/* login_guard.c: failed-login limits per (username, address), per address and per username,
 * three sliding-window tables of auth/throttle.c. */
#include "core/vb.h"
#include "auth/login_guard.h"

#include "auth/throttle.h"
#include "core/alloc.h"

#include <arpa/inet.h>
#include <stdio.h>

#define ADDR_KEY_MAX 64
#define PAIR_KEY_MAX 1200 /* "<len>:" + username (<= 1024 bytes from the API) + address */

struct auth_login_guard {
    struct auth_throttle *pair; /* "<len of username>:<username><address>" */
    struct auth_throttle *addr;
    struct auth_throttle *user;
};

struct auth_login_guard *auth_login_guard_new(const struct auth_login_guard_params *p)
{
    struct auth_login_guard_params d = {
        .pair_failures = 5, .addr_failures = 20, .user_failures = 10, .window_s = 900};
    if (p)
        d = (struct auth_login_guard_params){
            .pair_failures = p->pair_failures ? p->pair_failures : d.pair_failures,
            .addr_failures = p->addr_failures ? p->addr_failures : d.addr_failures,
            .user_failures = p->user_failures ? p->user_failures : d.user_failures,
            .window_s = p->window_s ? p->window_s : d.window_s,
            .capacity = p->capacity};
    struct auth_throttle_params tp = {.window_s = d.window_s, .capacity = d.capacity};
    struct auth_login_guard *g = vb_xcalloc(1, sizeof *g);
    tp.max_failures = d.pair_failures;
    g->pair = auth_throttle_new(&tp);
    tp.max_failures = d.addr_failures;
    g->addr = auth_throttle_new(&tp);
    tp.max_failures = d.user_failures;
    g->user = auth_throttle_new(&tp);
    if (!g->pair || !g->addr || !g->user) {
        auth_login_guard_free(g);
        return NULL;
    }
    return g;
}

void auth_login_guard_free(struct auth_login_guard *g)
{
    if (!g)
        return;
    auth_throttle_free(g->pair);
    auth_throttle_free(g->addr);
    auth_throttle_free(g->user);
    vb_free(g);
}

/* The address as counted: IPv6 by its /64 network, IPv4 (and anything else) as written. */
static void addr_key(const char *addr, char out[ADDR_KEY_MAX])
{
    struct in6_addr a6;
    if (!addr || !*addr) {
        snprintf(out, ADDR_KEY_MAX, "local");
        return;
    }
    if (inet_pton(AF_INET6, addr, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
        memset(a6.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &a6, out, ADDR_KEY_MAX)) {
            size_t n = strlen(out);
            snprintf(out + n, ADDR_KEY_MAX - n, "/64");
            return;
        }
    }
    snprintf(out, ADDR_KEY_MAX, "%s", addr);
}

/* Unambiguous whatever the username holds: its length comes first. */
static void pair_key(const char *username, const char *akey, char out[PAIR_KEY_MAX])
{
    if (!username)
        username = "";
    snprintf(out, PAIR_KEY_MAX, "%zu:%s%s", strlen(username), username, akey);
}

enum vb_err auth_login_guard_check(struct auth_login_guard *g, const char *username,
                                   const char *addr, int64_t now, int *retry_after_s)
{
    char akey[ADDR_KEY_MAX], pkey[PAIR_KEY_MAX];
    int ra_pair = 0, ra_addr = 0, ra_user = 0;
    addr_key(addr, akey);
    pair_key(username, akey, pkey);
    bool limited = auth_throttle_check(g->pair, pkey, now, &ra_pair) != VB_OK;
    limited |= auth_throttle_check(g->addr, akey, now, &ra_addr) != VB_OK;
    /* Many addresses failing for one username: only addresses that failed are held back. */
    if (auth_throttle_check(g->user, username, now, &ra_user) != VB_OK &&
        auth_throttle_failures(g->addr, akey, now) > 0)
        limited = true;
    else
        ra_user = 0;
    if (retry_after_s)
        *retry_after_s = limited ? VB_MAX(VB_MAX(ra_pair, ra_addr), VB_MAX(ra_user, 1)) : 0;
    return limited ? VB_ERR_RATE_LIMITED : VB_OK;
}

void auth_login_guard_failed(struct auth_login_guard *g, const char *username, const char *addr,
                             int64_t now)
{
    char akey[ADDR_KEY_MAX], pkey[PAIR_KEY_MAX];
    addr_key(addr, akey);
    pair_key(username, akey, pkey);
    auth_throttle_fail(g->pair, pkey, now);
    auth_throttle_fail(g->addr, akey, now);
    auth_throttle_fail(g->user, username, now);
}

void auth_login_guard_succeeded(struct auth_login_guard *g, const char *username, const char *addr)
{
    char akey[ADDR_KEY_MAX], pkey[PAIR_KEY_MAX];
    addr_key(addr, akey);
    pair_key(username, akey, pkey);
    auth_throttle_reset(g->pair, pkey);
}
