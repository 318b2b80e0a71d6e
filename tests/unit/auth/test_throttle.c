/* test_throttle.c: the failed-login limiter: window, retry-after, reset, independent keys,
 * separate limits per instance, bounded table with eviction, threads. */
#include "core/vb.h"
#include "auth/throttle.h"

#include "unit/test.h"

#include <pthread.h>

#define T0 1700000000LL

TEST(test_defaults_limit_after_five)
{
    struct auth_throttle *t = auth_throttle_new(NULL);
    int ra = -1;
    CHECK(t != NULL);
    CHECK_EQ_INT(auth_throttle_check(t, "alice", T0, &ra), VB_OK);
    CHECK_EQ_INT(ra, 0);
    for (int i = 0; i < 4; i++)
        auth_throttle_fail(t, "alice", T0 + i);
    CHECK_EQ_INT(auth_throttle_check(t, "alice", T0 + 10, &ra), VB_OK);
    auth_throttle_fail(t, "alice", T0 + 10);
    CHECK_EQ_INT(auth_throttle_check(t, "alice", T0 + 10, &ra), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(ra, 890); /* the first failure (T0) leaves the window at T0 + 900 */
    CHECK_EQ_INT(auth_throttle_check(t, "alice", T0 + 899, &ra), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(ra, 1);
    CHECK_EQ_INT(auth_throttle_check(t, "alice", T0 + 900, &ra), VB_OK);
    CHECK_EQ_INT(ra, 0);
    /* other keys are untouched */
    CHECK_EQ_INT(auth_throttle_check(t, "bob", T0 + 10, &ra), VB_OK);
    CHECK_EQ_INT(auth_throttle_check(t, "Alice", T0 + 10, &ra), VB_OK);
    auth_throttle_free(t);
    auth_throttle_free(NULL);
}

TEST(test_sliding_window)
{
    struct auth_throttle *t = auth_throttle_new(NULL);
    int ra;
    for (int i = 0; i < 5; i++)
        auth_throttle_fail(t, "k", T0 + 100 * i); /* T0, +100, +200, +300, +400 */
    CHECK_EQ_INT(auth_throttle_check(t, "k", T0 + 401, &ra), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(ra, 499);
    CHECK_EQ_INT(auth_throttle_check(t, "k", T0 + 900, &ra), VB_OK);
    /* one more failure: the window now starts at the failure at T0 + 100 */
    auth_throttle_fail(t, "k", T0 + 900);
    CHECK_EQ_INT(auth_throttle_check(t, "k", T0 + 900, &ra), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(ra, 100);
    CHECK_EQ_INT(auth_throttle_check(t, "k", T0 + 1000, &ra), VB_OK);
    /* far later everything is forgotten */
    CHECK_EQ_INT(auth_throttle_check(t, "k", T0 + 100000, NULL), VB_OK);
    auth_throttle_free(t);
}

TEST(test_reset)
{
    struct auth_throttle *t = auth_throttle_new(NULL);
    int ra;
    for (int i = 0; i < 5; i++)
        auth_throttle_fail(t, "alice", T0);
    CHECK_EQ_INT(auth_throttle_check(t, "alice", T0, &ra), VB_ERR_RATE_LIMITED);
    auth_throttle_reset(t, "alice");
    CHECK_EQ_INT(auth_throttle_check(t, "alice", T0, &ra), VB_OK);
    /* counting starts again from zero */
    for (int i = 0; i < 4; i++)
        auth_throttle_fail(t, "alice", T0);
    CHECK_EQ_INT(auth_throttle_check(t, "alice", T0, &ra), VB_OK);
    auth_throttle_reset(t, "nobody"); /* unknown key: nothing happens */
    auth_throttle_free(t);
}

TEST(test_address_limit)
{
    struct auth_throttle_params p = auth_throttle_default_params();
    p.max_failures = 20;
    struct auth_throttle *addr = auth_throttle_new(&p);
    struct auth_throttle *user = auth_throttle_new(NULL);
    char name[32];
    int ra;
    /* 20 users, one failure each, all from one address: each user is fine, the address
     * is not */
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "user%d", i);
        CHECK_EQ_INT(auth_throttle_check(addr, "203.0.113.9", T0 + i, &ra), VB_OK);
        auth_throttle_fail(user, name, T0 + i);
        auth_throttle_fail(addr, "203.0.113.9", T0 + i);
        CHECK_EQ_INT(auth_throttle_check(user, name, T0 + i, &ra), VB_OK);
    }
    CHECK_EQ_INT(auth_throttle_check(addr, "203.0.113.9", T0 + 20, &ra), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(ra, 880);
    CHECK_EQ_INT(auth_throttle_check(addr, "2001:db8::1", T0 + 20, &ra), VB_OK);
    auth_throttle_free(addr);
    auth_throttle_free(user);
}

TEST(test_params)
{
    struct auth_throttle_params p = {.max_failures = 2, .window_s = 10, .capacity = 8};
    struct auth_throttle *t = auth_throttle_new(&p);
    int ra;
    auth_throttle_fail(t, "k", 100);
    auth_throttle_fail(t, "k", 105);
    CHECK_EQ_INT(auth_throttle_check(t, "k", 105, &ra), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(ra, 5);
    CHECK_EQ_INT(auth_throttle_check(t, "k", 110, &ra), VB_OK);
    auth_throttle_free(t);

    struct auth_throttle_params bad[] = {
        {.max_failures = -1},
        {.max_failures = AUTH_THROTTLE_FAILURES_MAX + 1},
        {.window_s = -5},
        {.capacity = (size_t)1 << 40},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++)
        CHECK_MSG(auth_throttle_new(&bad[i]) == NULL, "params %zu", i);
}

TEST(test_odd_keys)
{
    struct auth_throttle *t = auth_throttle_new(NULL);
    static char long_key[100000];
    memset(long_key, 'x', sizeof long_key - 1);
    for (int i = 0; i < 5; i++) {
        auth_throttle_fail(t, long_key, T0);
        auth_throttle_fail(t, NULL, T0);
    }
    CHECK_EQ_INT(auth_throttle_check(t, long_key, T0, NULL), VB_ERR_RATE_LIMITED);
    CHECK_EQ_INT(auth_throttle_check(t, "", T0, NULL), VB_ERR_RATE_LIMITED); /* NULL == "" */
    long_key[5] = 'y';
    CHECK_EQ_INT(auth_throttle_check(t, long_key, T0, NULL), VB_OK);
    /* NULL instance: never limits */
    CHECK_EQ_INT(auth_throttle_check(NULL, "k", T0, NULL), VB_OK);
    auth_throttle_fail(NULL, "k", T0);
    auth_throttle_reset(NULL, "k");
    auth_throttle_free(t);
}

/* Memory is bounded: a flood of keys fills the table, old entries are evicted, and the
 * newest keys are still tracked. With capacity 4 (one bucket) this is deterministic. */
TEST(test_eviction)
{
    struct auth_throttle_params p = {.max_failures = 2, .window_s = 1000, .capacity = 4};
    struct auth_throttle *t = auth_throttle_new(&p);
    char key[16];
    for (int k = 0; k < 5; k++) {
        snprintf(key, sizeof key, "k%d", k);
        auth_throttle_fail(t, key, T0 + 10 * k);
        auth_throttle_fail(t, key, T0 + 10 * k + 1);
    }
    /* k0 had the oldest last failure and was evicted; k1..k4 are limited */
    CHECK_EQ_INT(auth_throttle_check(t, "k0", T0 + 50, NULL), VB_OK);
    for (int k = 1; k < 5; k++) {
        snprintf(key, sizeof key, "k%d", k);
        CHECK_MSG(auth_throttle_check(t, key, T0 + 50, NULL) == VB_ERR_RATE_LIMITED, "%s", key);
    }
    /* an entry whose failures all left the window is reused before a live one */
    struct auth_throttle_params p2 = {.max_failures = 2, .window_s = 10, .capacity = 4};
    struct auth_throttle *t2 = auth_throttle_new(&p2);
    auth_throttle_fail(t2, "old", 0);
    for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof key, "live%d", k);
        auth_throttle_fail(t2, key, 95);
        auth_throttle_fail(t2, key, 96);
    }
    auth_throttle_fail(t2, "new", 100);
    auth_throttle_fail(t2, "new", 100);
    for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof key, "live%d", k);
        CHECK(auth_throttle_check(t2, key, 100, NULL) == VB_ERR_RATE_LIMITED);
    }
    CHECK(auth_throttle_check(t2, "new", 100, NULL) == VB_ERR_RATE_LIMITED);
    auth_throttle_free(t);
    auth_throttle_free(t2);
}

static void *hammer(void *p)
{
    struct auth_throttle *t = p;
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "key%d", i % 300);
        if (auth_throttle_check(t, key, T0 + i / 100, NULL) == VB_OK)
            auth_throttle_fail(t, key, T0 + i / 100);
        if (i % 97 == 0)
            auth_throttle_reset(t, key);
    }
    return NULL;
}

TEST(test_threads)
{
    struct auth_throttle_params p = {.capacity = 64};
    struct auth_throttle *t = auth_throttle_new(&p);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, hammer, t) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    /* still consistent afterwards */
    for (int i = 0; i < 5; i++)
        auth_throttle_fail(t, "after", T0 + 1000);
    CHECK_EQ_INT(auth_throttle_check(t, "after", T0 + 1000, NULL), VB_ERR_RATE_LIMITED);
    auth_throttle_free(t);
}

int main(void)
{
    RUN(test_defaults_limit_after_five);
    RUN(test_sliding_window);
    RUN(test_reset);
    RUN(test_address_limit);
    RUN(test_params);
    RUN(test_odd_keys);
    RUN(test_eviction);
    RUN(test_threads);
    return test_summary();
}
