/* test_login_guard.c: failed-login limits per (username, address), per address and per
 * username: an attacker cannot lock a user out of another address; an address is held back
 * across usernames; many addresses failing for one user hold back only those addresses;
 * IPv6 counted per /64; the count of failures within the window. */
#include "core/vb.h"
#include "auth/login_guard.h"
#include "auth/throttle.h"

#include "unit/test.h"

#include <stdio.h>

#define T0 1700000000LL

static enum vb_err check(struct auth_login_guard *g, const char *user, const char *addr, int *ra)
{
    return auth_login_guard_check(g, user, addr, T0 + 100, ra);
}

TEST(test_attacker_cannot_lock_out_other_addresses)
{
    struct auth_login_guard *g = auth_login_guard_new(NULL);
    int ra = -1;
    CHECK(g != NULL);
    for (int i = 0; i < 4; i++)
        auth_login_guard_failed(g, "alice", "192.0.2.66", T0 + i);
    CHECK_EQ_INT(check(g, "alice", "192.0.2.66", &ra), VB_OK);
    CHECK_EQ_INT(ra, 0);
    auth_login_guard_failed(g, "alice", "192.0.2.66", T0 + 4);
    CHECK_EQ_INT(check(g, "alice", "192.0.2.66", &ra), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(ra, 800); /* the first failure (T0) leaves the 900 s window at T0 + 900 */
    /* alice from her own address, and the attacker's address for another user: fine */
    CHECK_EQ_INT(check(g, "alice", "198.51.100.7", &ra), VB_OK);
    CHECK_EQ_INT(check(g, "bob", "192.0.2.66", &ra), VB_OK);
    CHECK_EQ_INT(auth_login_guard_check(g, "alice", "192.0.2.66", T0 + 900, &ra), VB_OK);
    auth_login_guard_free(g);
    auth_login_guard_free(NULL);
}

TEST(test_success_forgets_the_pair_only)
{
    struct auth_login_guard *g = auth_login_guard_new(NULL);
    int ra;
    for (int i = 0; i < 4; i++)
        auth_login_guard_failed(g, "alice", "192.0.2.1", T0 + i);
    auth_login_guard_succeeded(g, "alice", "192.0.2.1");
    for (int i = 0; i < 4; i++)
        auth_login_guard_failed(g, "alice", "192.0.2.1", T0 + 10 + i);
    CHECK_EQ_INT(check(g, "alice", "192.0.2.1", &ra), VB_OK);
    auth_login_guard_failed(g, "alice", "192.0.2.1", T0 + 20);
    CHECK_EQ_INT(check(g, "alice", "192.0.2.1", &ra), VB_ERR_RATE_LIMITED);
    auth_login_guard_free(g);
}

TEST(test_address_held_back_across_usernames)
{
    struct auth_login_guard *g = auth_login_guard_new(NULL);
    char user[32];
    int ra;
    for (int i = 0; i < 20; i++) {
        snprintf(user, sizeof user, "user%d", i);
        CHECK_EQ_INT(check(g, user, "203.0.113.9", &ra), VB_OK);
        auth_login_guard_failed(g, user, "203.0.113.9", T0 + i);
    }
    CHECK_EQ_INT(check(g, "someone-else", "203.0.113.9", &ra), VB_ERR_RATE_LIMITED);
    CHECK(ra > 0);
    CHECK_EQ_INT(check(g, "someone-else", "203.0.113.10", &ra), VB_OK);
    CHECK_EQ_INT(check(g, "user0", "203.0.113.10", &ra), VB_OK);
    auth_login_guard_free(g);
}

/* Ten failures for alice from five addresses: those five are held back for alice, a clean
 * address is not, and the five may still try other usernames. */
TEST(test_many_addresses_one_user)
{
    struct auth_login_guard *g = auth_login_guard_new(NULL);
    char addr[32];
    int ra;
    for (int i = 0; i < 10; i++) {
        snprintf(addr, sizeof addr, "192.0.2.%d", 10 + i / 2);
        CHECK_EQ_INT(check(g, "alice", addr, &ra), VB_OK);
        auth_login_guard_failed(g, "alice", addr, T0 + i);
    }
    CHECK_EQ_INT(check(g, "alice", "192.0.2.10", &ra), VB_ERR_RATE_LIMITED);
    CHECK(ra > 0);
    CHECK_EQ_INT(check(g, "alice", "192.0.2.14", &ra), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(check(g, "alice", "198.51.100.1", &ra), VB_OK);
    CHECK_EQ_INT(check(g, "bob", "192.0.2.10", &ra), VB_OK);
    auth_login_guard_free(g);
}

TEST(test_ipv6_per_64)
{
    struct auth_login_guard *g = auth_login_guard_new(NULL);
    int ra;
    auth_login_guard_failed(g, "alice", "2001:db8::1", T0);
    auth_login_guard_failed(g, "alice", "2001:db8::2", T0);
    auth_login_guard_failed(g, "alice", "2001:db8:0:0:abcd::3", T0);
    auth_login_guard_failed(g, "alice", "2001:0db8::4", T0);
    auth_login_guard_failed(g, "alice", "2001:db8::ffff:5", T0);
    CHECK_EQ_INT(check(g, "alice", "2001:db8::9", &ra), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(check(g, "alice", "2001:db8:0:1::1", &ra), VB_OK);
    /* IPv4-mapped addresses stay per host */
    auth_login_guard_failed(g, "carol", "::ffff:192.0.2.1", T0);
    for (int i = 0; i < 4; i++)
        auth_login_guard_failed(g, "carol", "::ffff:192.0.2.1", T0);
    CHECK_EQ_INT(check(g, "carol", "::ffff:192.0.2.1", &ra), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(check(g, "carol", "::ffff:192.0.2.2", &ra), VB_OK);
    /* no address: a local caller, counted as one */
    for (int i = 0; i < 5; i++)
        auth_login_guard_failed(g, "dave", NULL, T0);
    CHECK_EQ_INT(check(g, "dave", NULL, &ra), VB_ERR_RATE_LIMITED);
    auth_login_guard_free(g);
}

/* A username holding the separator cannot alias another (username, address) pair. */
TEST(test_pair_keys_do_not_alias)
{
    struct auth_login_guard *g = auth_login_guard_new(NULL);
    int ra;
    for (int i = 0; i < 5; i++)
        auth_login_guard_failed(g, "a", "1.2.3.4", T0);
    CHECK_EQ_INT(check(g, "a1", ".2.3.4", &ra), VB_OK);
    CHECK_EQ_INT(check(g, "a", "1.2.3.4", &ra), VB_ERR_RATE_LIMITED);
    auth_login_guard_free(g);
}

TEST(test_throttle_failures_count)
{
    struct auth_throttle_params p = {.max_failures = 3, .window_s = 100};
    struct auth_throttle *t = auth_throttle_new(&p);
    CHECK_EQ_INT(auth_throttle_failures(t, "k", T0), 0);
    auth_throttle_fail(t, "k", T0);
    auth_throttle_fail(t, "k", T0 + 50);
    CHECK_EQ_INT(auth_throttle_failures(t, "k", T0 + 50), 2);
    CHECK_EQ_INT(auth_throttle_failures(t, "k", T0 + 100), 1);
    for (int i = 0; i < 5; i++)
        auth_throttle_fail(t, "k", T0 + 60 + i);
    CHECK_EQ_INT(auth_throttle_failures(t, "k", T0 + 70), 3);
    CHECK_EQ_INT(auth_throttle_failures(t, "k", T0 + 200), 0);
    CHECK_EQ_INT(auth_throttle_failures(t, "other", T0 + 70), 0);
    auth_throttle_free(t);
}

TEST(test_bad_params)
{
    struct auth_login_guard_params p = {.pair_failures = -1};
    CHECK(auth_login_guard_new(&p) == NULL);
    p = (struct auth_login_guard_params){.window_s = -5};
    CHECK(auth_login_guard_new(&p) == NULL);
}

int main(void)
{
    RUN(test_attacker_cannot_lock_out_other_addresses);
    RUN(test_success_forgets_the_pair_only);
    RUN(test_address_held_back_across_usernames);
    RUN(test_many_addresses_one_user);
    RUN(test_ipv6_per_64);
    RUN(test_pair_keys_do_not_alias);
    RUN(test_throttle_failures_count);
    RUN(test_bad_params);
    return test_summary();
}
