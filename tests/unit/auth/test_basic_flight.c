/* test_basic_flight.c: the Basic credential cache's single-flight (one bcrypt per credential
 * however many threads miss at once), refresh before expiry, never waiting for a queued
 * refresh, and confirmation against the current account (deleted, re-passworded). */
#include "core/vb.h"
#include "auth/basic.h"
#include "auth/basic_cache.h"
#include "auth/password.h"

#include "core/crypto.h"
#include "unit/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define PASSWORD  "right-password"
#define N_THREADS 16
#define COST      8

static struct auth_basic_cred cred_of(const char *plain)
{
    char b64[256];
    struct auth_basic_cred c = {0};
    CHECK_EQ_INT(vb_base64_encode(plain, strlen(plain), b64, sizeof b64), VB_OK);
    CHECK_EQ_INT(auth_basic_parse(b64, strlen(b64), &c, NULL), VB_OK);
    return c;
}

struct shared {
    struct auth_basic_cache *cache;
    const char *hash; /* the account's bcrypt hash */
    int64_t now;
    pthread_barrier_t start;
    atomic_int bcrypt_calls; /* auth_password_verify runs */
    atomic_int hits, rejected;
    atomic_int bad; /* wrong user id or unexpected state */
};

/* What a request does on an auth worker: begin; verify with bcrypt only when told to. */
static void *request(void *p)
{
    struct shared *s = p;
    struct auth_basic_cred c = cred_of("alice:" PASSWORD);
    int64_t uid = 0;
    struct auth_basic_flight *f = NULL;
    pthread_barrier_wait(&s->start);
    switch (auth_basic_cache_begin(s->cache, &c, s->now, true, &uid, &f)) {
    case AUTH_BASIC_VERIFY: {
        atomic_fetch_add(&s->bcrypt_calls, 1);
        bool ok = auth_password_verify(PASSWORD, strlen(PASSWORD), s->hash);
        auth_basic_cache_finish(s->cache, f, ok ? AUTH_BASIC_VERIFIED : AUTH_BASIC_WRONG, 7,
                                s->hash, s->now);
        break;
    }
    case AUTH_BASIC_HIT:
        atomic_fetch_add(&s->hits, 1);
        if (uid != 7)
            atomic_fetch_add(&s->bad, 1);
        break;
    case AUTH_BASIC_REJECTED:
        atomic_fetch_add(&s->rejected, 1);
        break;
    default:
        atomic_fetch_add(&s->bad, 1);
        auth_basic_cache_finish(s->cache, f, AUTH_BASIC_UNDECIDED, 0, NULL, 0);
        break;
    }
    auth_basic_cred_release(&c);
    return NULL;
}

static void run_threads(struct shared *s)
{
    pthread_t th[N_THREADS];
    pthread_barrier_init(&s->start, NULL, N_THREADS);
    for (int i = 0; i < N_THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, request, s) == 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&s->start);
}

/* 16 threads miss an expired entry at the same moment: one bcrypt, 15 hits. */
TEST(test_expired_entry_one_bcrypt)
{
    char hash[AUTH_HASH_MAX];
    CHECK_EQ_INT(auth_password_hash(PASSWORD, strlen(PASSWORD), COST, hash), VB_OK);
    struct auth_basic_cache_params p = {.ttl_s = 10};
    struct shared s = {.cache = auth_basic_cache_new(&p), .hash = hash, .now = 1000};
    struct auth_basic_cred c = cred_of("alice:" PASSWORD);
    auth_basic_cache_insert(s.cache, &c, 7, hash, 990, auth_basic_cache_generation(s.cache));
    int64_t uid;
    CHECK(!auth_basic_cache_lookup(s.cache, &c, 1000, &uid)); /* expired at 1000 */

    run_threads(&s);
    CHECK_EQ_INT(atomic_load(&s.bcrypt_calls), 1);
    CHECK_EQ_INT(atomic_load(&s.hits), N_THREADS - 1);
    CHECK_EQ_INT(atomic_load(&s.bad), 0);
    CHECK(auth_basic_cache_lookup(s.cache, &c, 1000, &uid));
    CHECK_EQ_INT(uid, 7);
    auth_basic_cred_release(&c);
    auth_basic_cache_free(s.cache);
}

/* Threads that wait for a check that fails get REJECTED without a bcrypt of their own. The
 * flight is held open until every thread has had time to start waiting; a thread that came
 * later still runs its own check, so the sum is what is exact. */
TEST(test_wrong_password_shared)
{
    char hash[AUTH_HASH_MAX];
    CHECK_EQ_INT(auth_password_hash("another-password", 16, COST, hash), VB_OK);
    struct shared s = {.cache = auth_basic_cache_new(NULL), .hash = hash, .now = 1000};
    struct auth_basic_cred c = cred_of("alice:" PASSWORD);
    int64_t uid;
    struct auth_basic_flight *f = NULL;
    CHECK_EQ_INT(auth_basic_cache_begin(s.cache, &c, 1000, true, &uid, &f), AUTH_BASIC_VERIFY);
    pthread_t th[N_THREADS];
    pthread_barrier_init(&s.start, NULL, N_THREADS); /* 15 threads and this one */
    for (int i = 0; i < N_THREADS - 1; i++)
        CHECK(pthread_create(&th[i], NULL, request, &s) == 0);
    pthread_barrier_wait(&s.start);
    CHECK(!auth_password_verify(PASSWORD, strlen(PASSWORD), hash));
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    auth_basic_cache_finish(s.cache, f, AUTH_BASIC_WRONG, 0, NULL, 1000);
    for (int i = 0; i < N_THREADS - 1; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&s.start);
    CHECK_EQ_INT(atomic_load(&s.rejected) + atomic_load(&s.bcrypt_calls), N_THREADS - 1);
    CHECK(atomic_load(&s.rejected) > 0);
    CHECK_EQ_INT(atomic_load(&s.hits), 0);
    CHECK_EQ_INT(atomic_load(&s.bad), 0);
    auth_basic_cred_release(&c);
    auth_basic_cache_free(s.cache);
}

/* A thread that may not block (a request worker) is told BUSY instead of waiting. */
TEST(test_busy_instead_of_waiting)
{
    struct auth_basic_cache *cache = auth_basic_cache_new(NULL);
    struct auth_basic_cred c = cred_of("alice:" PASSWORD);
    int64_t uid;
    struct auth_basic_flight *f = NULL, *g = NULL;
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 1000, false, &uid, &f), AUTH_BASIC_BUSY);
    CHECK(f == NULL);
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 1000, true, &uid, &f), AUTH_BASIC_VERIFY);
    CHECK(f != NULL);
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 1000, false, &uid, &g), AUTH_BASIC_BUSY);
    auth_basic_cache_finish(cache, f, AUTH_BASIC_VERIFIED, 7, "$2b$hash", 1000);
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 1000, false, &uid, &g), AUTH_BASIC_HIT);
    CHECK_EQ_INT(uid, 7);
    CHECK(g == NULL);
    auth_basic_cred_release(&c);
    auth_basic_cache_free(cache);
}

/* The last quarter of the TTL is the refresh window: the first hit there owns the refresh,
 * others keep hitting; a finished refresh extends the entry. */
TEST(test_refresh_before_expiry)
{
    struct auth_basic_cache_params p = {.ttl_s = 8};
    struct auth_basic_cache *cache = auth_basic_cache_new(&p);
    struct auth_basic_cred c = cred_of("alice:" PASSWORD);
    int64_t uid;
    struct auth_basic_flight *f = NULL, *g = NULL;
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 100, true, &uid, &f), AUTH_BASIC_VERIFY);
    auth_basic_cache_finish(cache, f, AUTH_BASIC_VERIFIED, 7, "$2b$hash", 100);
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 105, false, &uid, &f), AUTH_BASIC_HIT);
    CHECK(f == NULL);
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 106, false, &uid, &f), AUTH_BASIC_REFRESH);
    CHECK(f != NULL);
    CHECK_EQ_INT(uid, 7);
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 106, false, &uid, &g), AUTH_BASIC_HIT);
    CHECK(g == NULL);
    auth_basic_cache_finish(cache, f, AUTH_BASIC_VERIFIED, 7, "$2b$hash", 106);
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 109, false, &uid, &f), AUTH_BASIC_HIT);
    CHECK(auth_basic_cache_lookup(cache, &c, 113, &uid)); /* was valid until 108 */

    /* A refresh still queued when the entry expires is not waited for: deadlock-free. */
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 112, false, &uid, &f), AUTH_BASIC_REFRESH);
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 114, false, &uid, &g), AUTH_BASIC_BUSY);
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 114, true, &uid, &g), AUTH_BASIC_VERIFY);
    auth_basic_cache_finish(cache, g, AUTH_BASIC_VERIFIED, 7, "$2b$hash", 114);
    auth_basic_cache_finish(cache, f, AUTH_BASIC_UNDECIDED, 0, NULL, 0);
    CHECK(auth_basic_cache_lookup(cache, &c, 114, &uid));
    /* A refresh that finds the password wrong now drops the entry. */
    CHECK_EQ_INT(auth_basic_cache_begin(cache, &c, 120, false, &uid, &f), AUTH_BASIC_REFRESH);
    auth_basic_cache_finish(cache, f, AUTH_BASIC_WRONG, 0, NULL, 120);
    CHECK(!auth_basic_cache_lookup(cache, &c, 120, &uid));
    auth_basic_cred_release(&c);
    auth_basic_cache_free(cache);
}

/* A hit stands only for the account as it was: another password hash or no account drops
 * every entry of the user. An invalidation during a check keeps its result out. */
TEST(test_confirm_and_invalidate)
{
    struct auth_basic_cache *cache = auth_basic_cache_new(NULL);
    struct auth_basic_cred a = cred_of("alice:" PASSWORD), b = cred_of("alice:second-one");
    int64_t uid;
    struct auth_basic_flight *f = NULL;
    uint64_t g = auth_basic_cache_generation(cache);
    auth_basic_cache_insert(cache, &a, 7, "$2b$old", 100, g);
    auth_basic_cache_insert(cache, &b, 7, "$2b$old", 100, g);
    CHECK(auth_basic_cache_confirm(cache, &a, 7, "$2b$old"));
    CHECK(auth_basic_cache_lookup(cache, &b, 100, &uid));
    CHECK(!auth_basic_cache_confirm(cache, &a, 7, "$2b$new")); /* password changed */
    CHECK(!auth_basic_cache_lookup(cache, &a, 100, &uid));
    CHECK(!auth_basic_cache_lookup(cache, &b, 100, &uid));
    auth_basic_cache_insert(cache, &a, 7, "$2b$old", 100, auth_basic_cache_generation(cache));
    CHECK(!auth_basic_cache_confirm(cache, &a, 7, NULL)); /* deleted */
    CHECK(!auth_basic_cache_lookup(cache, &a, 100, &uid));

    CHECK_EQ_INT(auth_basic_cache_begin(cache, &a, 100, true, &uid, &f), AUTH_BASIC_VERIFY);
    auth_basic_cache_invalidate_user(cache, 7);
    auth_basic_cache_finish(cache, f, AUTH_BASIC_VERIFIED, 7, "$2b$old", 100);
    CHECK(!auth_basic_cache_lookup(cache, &a, 100, &uid));
    auth_basic_cred_release(&a);
    auth_basic_cred_release(&b);
    auth_basic_cache_free(cache);
}

int main(void)
{
    RUN(test_expired_entry_one_bcrypt);
    RUN(test_wrong_password_shared);
    RUN(test_busy_instead_of_waiting);
    RUN(test_refresh_before_expiry);
    RUN(test_confirm_and_invalidate);
    return test_summary();
}
