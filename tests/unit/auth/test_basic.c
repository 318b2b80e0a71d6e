/* test_basic.c: Authorization header classification, Basic credential parsing and the
 * verified-credential cache (hit, miss, expiry, invalidation, eviction, threads). */
#include "core/vb.h"
#include "auth/basic.h"
#include "auth/basic_cache.h"
#include "auth/header.h"

#include "core/crypto.h"
#include "unit/test.h"

#include <pthread.h>

/* ===== header ===== */

TEST(test_header_schemes)
{
    static const struct {
        const char *value;
        enum auth_scheme scheme;
        const char *cred; /* expected credentials for BASIC/BEARER */
    } cases[] = {
        {"", AUTH_SCHEME_NONE, NULL},
        {"   \t ", AUTH_SCHEME_NONE, NULL},
        {"Basic YWxpY2U6c2VjcmV0", AUTH_SCHEME_BASIC, "YWxpY2U6c2VjcmV0"},
        {"basic YWxpY2U6c2VjcmV0", AUTH_SCHEME_BASIC, "YWxpY2U6c2VjcmV0"},
        {"BASIC   YWxp  ", AUTH_SCHEME_BASIC, "YWxp"},
        {"  Basic YWxp", AUTH_SCHEME_BASIC, "YWxp"},
        {"Bearer abc.def.ghi", AUTH_SCHEME_BEARER, "abc.def.ghi"},
        {"bearer abc", AUTH_SCHEME_BEARER, "abc"},
        {"Bearer", AUTH_SCHEME_OTHER, NULL},
        {"Bearer ", AUTH_SCHEME_OTHER, NULL},
        {"Basic", AUTH_SCHEME_OTHER, NULL},
        {"Basic    ", AUTH_SCHEME_OTHER, NULL},
        {"BasicYWxp", AUTH_SCHEME_OTHER, NULL},
        {"Basic\tYWxp", AUTH_SCHEME_OTHER, NULL},
        {"Basic YW xp", AUTH_SCHEME_OTHER, NULL},
        {"Basic YWxp\x01", AUTH_SCHEME_OTHER, NULL},
        {"Basic YWx\xc3\xa9", AUTH_SCHEME_OTHER, NULL},
        {"Bearer a\tb", AUTH_SCHEME_OTHER, NULL},
        {"Digest username=x", AUTH_SCHEME_OTHER, NULL},
        {"Token abc", AUTH_SCHEME_OTHER, NULL},
        {"Bearerabc", AUTH_SCHEME_OTHER, NULL},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        const char *cred = (const char *)1;
        size_t len = 99;
        enum auth_scheme s = auth_header_parse(cases[i].value, strlen(cases[i].value), &cred, &len);
        CHECK_MSG(s == cases[i].scheme, "case %zu \"%s\": %d", i, cases[i].value, (int)s);
        if (cases[i].cred) {
            CHECK_MSG(cred && len == strlen(cases[i].cred) && memcmp(cred, cases[i].cred, len) == 0,
                      "case %zu", i);
        } else {
            CHECK(cred == NULL && len == 0);
        }
    }
    CHECK_EQ_INT(auth_header_parse(NULL, 0, NULL, NULL), AUTH_SCHEME_NONE);
    /* value_len is honoured: a NUL inside is just a bad byte */
    CHECK_EQ_INT(auth_header_parse("Basic YW\0xp", 11, NULL, NULL), AUTH_SCHEME_OTHER);
    CHECK_EQ_INT(auth_header_parse("Basic YWxpZZZZ", 10, NULL, NULL), AUTH_SCHEME_BASIC);
}

/* ===== Basic parsing ===== */

static enum vb_err parse_plain(const void *plain, size_t n, struct auth_basic_cred *c)
{
    char b64[4096];
    CHECK_EQ_INT(vb_base64_encode(plain, n, b64, sizeof b64), VB_OK);
    const char *why = NULL;
    enum vb_err err = auth_basic_parse(b64, strlen(b64), c, &why);
    if (err)
        CHECK(why != NULL);
    return err;
}

TEST(test_basic_table)
{
    static const struct {
        const char *plain;
        size_t len; /* 0 = strlen */
        bool ok;
        const char *user, *pass;
    } cases[] = {
        {"alice:secret", 0, true, "alice", "secret"},
        {"alice:", 0, true, "alice", ""},
        {"a:b:c", 0, true, "a", "b:c"},
        {"alice: spaces ok ", 0, true, "alice", " spaces ok "},
        {"j\xc3\xb6s\xc3\xa9:p\xc3\xa4ss\xe2\x82\xac", 0, true, "j\xc3\xb6s\xc3\xa9",
         "p\xc3\xa4ss\xe2\x82\xac"}, /* UTF-8 */
        {"bob:pw\twith\ttabs", 0, true, "bob", "pw\twith\ttabs"},
        {"alice secret", 0, false, NULL, NULL}, /* no colon */
        {":secret", 0, false, NULL, NULL},      /* empty user */
        {":", 0, false, NULL, NULL},
        {"al\x01ice:pw", 0, false, NULL, NULL}, /* control char in user */
        {"al\tice:pw", 0, false, NULL, NULL},
        {"al\x7f"
         "ice:pw",
         0, false, NULL, NULL},
        {"alice\n:pw", 0, false, NULL, NULL},
        {"alice:pw\0x", 10, false, NULL, NULL}, /* NUL in password */
        {"al\0ice:pw", 9, false, NULL, NULL},   /* NUL in user */
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(cases); i++) {
        struct auth_basic_cred c;
        size_t n = cases[i].len ? cases[i].len : strlen(cases[i].plain);
        enum vb_err err = parse_plain(cases[i].plain, n, &c);
        if (cases[i].ok) {
            CHECK_MSG(err == VB_OK, "case %zu: %d", i, (int)err);
            CHECK_EQ_STR(c.username, cases[i].user);
            CHECK_EQ_STR(c.password, cases[i].pass);
            CHECK_EQ_INT(c.username_len, strlen(cases[i].user));
            CHECK_EQ_INT(c.password_len, strlen(cases[i].pass));
        } else {
            CHECK_MSG(err == VB_ERR_UNAUTHORIZED, "case %zu: %d", i, (int)err);
            CHECK(c.username == NULL && c.buf == NULL);
        }
        auth_basic_cred_release(&c);
        auth_basic_cred_release(&c); /* idempotent */
    }
}

TEST(test_basic_bad_base64)
{
    const char *bad[] = {
        "",
        "!!!!",
        "YWxpY2U6c2VjcmV0=",  /* extra padding */
        "YWxpY2U6c2VjcmV",    /* length not a multiple of 4 */
        "YWxp Y2U6",          /* space */
        "YWxpY2U6c2VjcmV0\n", /* trailing newline */
        "YW=pY2U6",           /* padding in the middle */
        "YWxpY2U6c2VjcmV0====",
        "YWxpY2U6-_VjcmV0", /* URL-safe alphabet */
        "====",
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(bad); i++) {
        struct auth_basic_cred c;
        CHECK_MSG(auth_basic_parse(bad[i], strlen(bad[i]), &c, NULL) == VB_ERR_UNAUTHORIZED,
                  "case %zu \"%s\"", i, bad[i]);
        auth_basic_cred_release(&c);
    }
    struct auth_basic_cred c;
    CHECK_EQ_INT(auth_basic_parse(NULL, 0, &c, NULL), VB_ERR_UNAUTHORIZED);
    /* the length argument is honoured */
    CHECK_EQ_INT(auth_basic_parse("YWxpY2U6c2VjcmV0", 12, &c, NULL), VB_OK);
    CHECK_EQ_STR(c.username, "alice");
    CHECK_EQ_STR(c.password, "sec");
    auth_basic_cred_release(&c);
}

TEST(test_basic_size_limits)
{
    char plain[AUTH_BASIC_DECODED_MAX + 2];
    struct auth_basic_cred c;
    memset(plain, 'p', sizeof plain);
    memcpy(plain, "user:", 5);
    CHECK_EQ_INT(parse_plain(plain, AUTH_BASIC_DECODED_MAX, &c), VB_OK);
    CHECK_EQ_INT(c.password_len, AUTH_BASIC_DECODED_MAX - 5);
    auth_basic_cred_release(&c);
    CHECK_EQ_INT(parse_plain(plain, AUTH_BASIC_DECODED_MAX + 1, &c), VB_ERR_UNAUTHORIZED);
    auth_basic_cred_release(&c);
    CHECK_EQ_INT(parse_plain("u:", 2, &c), VB_OK);
    auth_basic_cred_release(&c);

    /* a huge header is refused before decoding */
    static char huge[1 << 20];
    memset(huge, 'A', sizeof huge);
    CHECK_EQ_INT(auth_basic_parse(huge, sizeof huge, &c, NULL), VB_ERR_UNAUTHORIZED);
}

/* ===== Cache ===== */

static struct auth_basic_cred cred_of(const char *user_pass)
{
    struct auth_basic_cred c;
    CHECK_EQ_INT(parse_plain(user_pass, strlen(user_pass), &c), VB_OK);
    return c;
}

TEST(test_cache_hit_miss_expiry)
{
    struct auth_basic_cache *cache = auth_basic_cache_new(NULL);
    struct auth_basic_cred alice = cred_of("alice:secret");
    struct auth_basic_cred wrong = cred_of("alice:Secret");
    struct auth_basic_cred other = cred_of("alicf:secret");
    struct auth_basic_cred shift = cred_of("alices:ecret"); /* same bytes, other split */
    int64_t uid = -1, t0 = 1700000000;

    CHECK(cache != NULL);
    CHECK(!auth_basic_cache_lookup(cache, &alice, t0, &uid));
    CHECK_EQ_INT(uid, 0);
    auth_basic_cache_insert(cache, &alice, 7, NULL, t0, auth_basic_cache_generation(cache));
    CHECK(auth_basic_cache_lookup(cache, &alice, t0, &uid));
    CHECK_EQ_INT(uid, 7);
    CHECK(!auth_basic_cache_lookup(cache, &wrong, t0, &uid));
    CHECK(!auth_basic_cache_lookup(cache, &other, t0, &uid));
    CHECK(!auth_basic_cache_lookup(cache, &shift, t0, &uid));
    /* default TTL is 60 s */
    CHECK(auth_basic_cache_lookup(cache, &alice, t0 + 59, &uid));
    CHECK(!auth_basic_cache_lookup(cache, &alice, t0 + 60, &uid));
    /* an expired entry is dropped, not revived by going back in time */
    CHECK(!auth_basic_cache_lookup(cache, &alice, t0 + 1, &uid));
    /* a clock read a moment before another thread inserted still hits; the clock going
     * backwards further than that is a miss */
    auth_basic_cache_insert(cache, &alice, 7, NULL, t0, auth_basic_cache_generation(cache));
    CHECK(auth_basic_cache_lookup(cache, &alice, t0 - 1, &uid));
    CHECK(!auth_basic_cache_lookup(cache, &alice, t0 - 3, &uid));

    auth_basic_cred_release(&alice);
    auth_basic_cred_release(&wrong);
    auth_basic_cred_release(&other);
    auth_basic_cred_release(&shift);
    auth_basic_cache_free(cache);
    auth_basic_cache_free(NULL);
}

TEST(test_cache_invalidate)
{
    struct auth_basic_cache_params p = {.capacity = 64, .ttl_s = 10};
    struct auth_basic_cache *cache = auth_basic_cache_new(&p);
    struct auth_basic_cred a1 = cred_of("alice:one");
    struct auth_basic_cred a2 = cred_of("alice:two");
    struct auth_basic_cred b = cred_of("bob:pw");
    int64_t uid, t = 1000;

    uint64_t g = auth_basic_cache_generation(cache);
    auth_basic_cache_insert(cache, &a1, 1, NULL, t, g);
    auth_basic_cache_insert(cache, &a2, 1, NULL, t, g);
    auth_basic_cache_insert(cache, &b, 2, NULL, t, g);
    CHECK(auth_basic_cache_lookup(cache, &a1, t, &uid));
    CHECK(auth_basic_cache_lookup(cache, &a2, t, &uid));

    auth_basic_cache_invalidate_user(cache, 1);
    CHECK(!auth_basic_cache_lookup(cache, &a1, t, &uid));
    CHECK(!auth_basic_cache_lookup(cache, &a2, t, &uid));
    CHECK(auth_basic_cache_lookup(cache, &b, t, &uid));
    CHECK_EQ_INT(uid, 2);

    /* a verify that started before the invalidation cannot re-insert the old password */
    CHECK(auth_basic_cache_generation(cache) != g);
    auth_basic_cache_insert(cache, &a1, 1, NULL, t, g);
    CHECK(!auth_basic_cache_lookup(cache, &a1, t, &uid));
    auth_basic_cache_insert(cache, &a1, 1, NULL, t, auth_basic_cache_generation(cache));
    CHECK(auth_basic_cache_lookup(cache, &a1, t, &uid));

    /* custom TTL */
    CHECK(auth_basic_cache_lookup(cache, &a1, t + 9, &uid));
    CHECK(!auth_basic_cache_lookup(cache, &a1, t + 10, &uid));

    auth_basic_cache_clear(cache);
    CHECK(!auth_basic_cache_lookup(cache, &b, t, &uid));

    /* bad inputs do nothing */
    auth_basic_cache_insert(cache, &b, 0, NULL, t, auth_basic_cache_generation(cache));
    CHECK(!auth_basic_cache_lookup(cache, &b, t, &uid));
    struct auth_basic_cred empty = {0};
    auth_basic_cache_insert(cache, &empty, 5, NULL, t, auth_basic_cache_generation(cache));
    CHECK(!auth_basic_cache_lookup(cache, &empty, t, &uid));
    CHECK(!auth_basic_cache_lookup(NULL, &b, t, &uid));

    auth_basic_cred_release(&a1);
    auth_basic_cred_release(&a2);
    auth_basic_cred_release(&b);
    auth_basic_cache_free(cache);
}

TEST(test_cache_eviction)
{
    /* 4 entries = one bucket: the fifth insertion evicts the oldest. */
    struct auth_basic_cache_params p = {.capacity = 4, .ttl_s = 60};
    struct auth_basic_cache *cache = auth_basic_cache_new(&p);
    struct auth_basic_cred c[5];
    char name[32];
    int64_t uid;

    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "user%d:pw", i);
        c[i] = cred_of(name);
        auth_basic_cache_insert(cache, &c[i], i + 1, NULL, 100 + i,
                                auth_basic_cache_generation(cache));
    }
    CHECK(!auth_basic_cache_lookup(cache, &c[0], 105, &uid));
    for (int i = 1; i < 5; i++) {
        CHECK(auth_basic_cache_lookup(cache, &c[i], 105, &uid));
        CHECK_EQ_INT(uid, i + 1);
    }
    /* re-inserting a present key refreshes it in place */
    auth_basic_cache_insert(cache, &c[1], 2, NULL, 150, auth_basic_cache_generation(cache));
    CHECK(auth_basic_cache_lookup(cache, &c[1], 200, &uid));
    CHECK(!auth_basic_cache_lookup(cache, &c[2], 200, &uid));
    for (int i = 0; i < 5; i++)
        auth_basic_cred_release(&c[i]);
    auth_basic_cache_free(cache);
}

struct worker_arg {
    struct auth_basic_cache *cache;
    int id;
    int errors;
};

static void *worker(void *p)
{
    struct worker_arg *a = p;
    char plain[64];
    for (int i = 0; i < 2000; i++) {
        struct auth_basic_cred c;
        snprintf(plain, sizeof plain, "u%d_%d:pw", a->id, i % 50);
        if (parse_plain(plain, strlen(plain), &c) != VB_OK) {
            a->errors++;
            continue;
        }
        int64_t uid = 0;
        int64_t want = a->id * 1000 + i % 50 + 1;
        if (auth_basic_cache_lookup(a->cache, &c, 1000, &uid)) {
            if (uid != want)
                a->errors++;
        } else {
            auth_basic_cache_insert(a->cache, &c, want, NULL, 1000,
                                    auth_basic_cache_generation(a->cache));
        }
        if (i % 500 == 0)
            auth_basic_cache_invalidate_user(a->cache, want);
        auth_basic_cred_release(&c);
    }
    return NULL;
}

TEST(test_cache_threads)
{
    struct auth_basic_cache_params p = {.capacity = 64};
    struct auth_basic_cache *cache = auth_basic_cache_new(&p);
    pthread_t th[4];
    struct worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct worker_arg){.cache = cache, .id = i + 1};
        CHECK(pthread_create(&th[i], NULL, worker, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].errors, 0);
    }
    auth_basic_cache_free(cache);
}

int main(void)
{
    RUN(test_header_schemes);
    RUN(test_basic_table);
    RUN(test_basic_bad_base64);
    RUN(test_basic_size_limits);
    RUN(test_cache_hit_miss_expiry);
    RUN(test_cache_invalidate);
    RUN(test_cache_eviction);
    RUN(test_cache_threads);
    return test_summary();
}
