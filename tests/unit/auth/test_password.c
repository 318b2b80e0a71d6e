/* test_password.c: bcrypt hashing/verification, the >72-byte pre-hash, input limits and
 * the dummy verify. Cost 4 everywhere except one cost-12 check. */
#include "core/vb.h"
#include "auth/password.h"

#include "unit/test.h"

#include <time.h>

/* CPU time of this thread, not wall time: the cost comparison below must not depend on
 * what else the machine is running (a loaded CI machine stretched wall times apart). */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define HASH(pw, cost, out) auth_password_hash((pw), strlen(pw), (cost), (out))
#define VERIFY(pw, hash)    auth_password_verify((pw), strlen(pw), (hash))

TEST(test_round_trip)
{
    char h[AUTH_HASH_MAX];
    CHECK_EQ_INT(HASH("correct horse battery", 4, h), VB_OK);
    CHECK_EQ_INT(strlen(h), 60);
    CHECK(strncmp(h, "$2b$04$", 7) == 0);
    CHECK(VERIFY("correct horse battery", h));
    CHECK(!VERIFY("correct horse batterY", h));
    CHECK(!VERIFY("correct horse battery ", h));
    CHECK(!VERIFY("x", h));
    CHECK_EQ_INT(auth_password_hash_cost(h), 4);
}

TEST(test_salts_differ)
{
    char a[AUTH_HASH_MAX], b[AUTH_HASH_MAX];
    CHECK_EQ_INT(HASH("same password", 4, a), VB_OK);
    CHECK_EQ_INT(HASH("same password", 4, b), VB_OK);
    CHECK(strcmp(a, b) != 0);
    CHECK(VERIFY("same password", a));
    CHECK(VERIFY("same password", b));
}

TEST(test_cost_12_prefix)
{
    char h[AUTH_HASH_MAX];
    CHECK_EQ_INT(HASH("password12", 12, h), VB_OK);
    CHECK(strncmp(h, "$2b$12$", 7) == 0);
    CHECK_EQ_INT(auth_password_hash_cost(h), 12);
    CHECK(!auth_password_needs_rehash(h, 12));
    CHECK(auth_password_needs_rehash(h, 10));
}

TEST(test_bad_cost)
{
    char h[AUTH_HASH_MAX];
    CHECK_EQ_INT(HASH("password", 3, h), VB_ERR_INVALID);
    CHECK_EQ_INT(h[0], '\0');
    CHECK_EQ_INT(HASH("password", 32, h), VB_ERR_INVALID);
    CHECK_EQ_INT(HASH("password", -1, h), VB_ERR_INVALID);
}

/* A published crypt_blowfish vector: proves we produce/accept standard bcrypt. */
TEST(test_known_vector)
{
    const char *h = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
    CHECK(VERIFY("U*U", h));
    CHECK(!VERIFY("U*V", h));
    CHECK(auth_password_needs_rehash(h, 5)); /* $2a$ -> rehash to $2b$ */
}

TEST(test_length_limits)
{
    char h[AUTH_HASH_MAX];
    char pw[AUTH_PASSWORD_MAX + 2];
    memset(pw, 'p', sizeof pw);

    CHECK_EQ_INT(auth_password_hash("", 0, 4, h), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_password_hash(NULL, 0, 4, h), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_password_hash(pw, AUTH_PASSWORD_MAX + 1, 4, h), VB_ERR_INVALID);
    CHECK_EQ_INT(auth_password_hash(pw, AUTH_PASSWORD_MAX, 4, h), VB_OK);
    CHECK(auth_password_verify(pw, AUTH_PASSWORD_MAX, h));
    CHECK(!auth_password_verify(pw, AUTH_PASSWORD_MAX + 1, h)); /* too long: refused */
    CHECK(!auth_password_verify(pw, AUTH_PASSWORD_MAX - 1, h));
    CHECK(!auth_password_verify("", 0, h));
}

TEST(test_nul_rejected)
{
    char h[AUTH_HASH_MAX];
    CHECK_EQ_INT(auth_password_hash("abc\0def", 7, 4, h), VB_ERR_INVALID);
    CHECK_EQ_INT(HASH("abc", 4, h), VB_OK);
    /* "abc\0def" must not verify as "abc" (C-string truncation). */
    CHECK(!auth_password_verify("abc\0def", 7, h));
    CHECK(auth_password_verify("abc\0def", 3, h));
}

/* bcrypt alone ignores bytes after 72; our pre-hash must not. */
TEST(test_long_passwords_prehashed)
{
    char a[100], b[100], h[AUTH_HASH_MAX];
    memset(a, 'a', sizeof a);
    memcpy(b, a, sizeof b);
    b[90] = 'b';
    CHECK_EQ_INT(auth_password_hash(a, sizeof a, 4, h), VB_OK);
    CHECK(auth_password_verify(a, sizeof a, h));
    CHECK(!auth_password_verify(b, sizeof b, h));
    CHECK(!auth_password_verify(a, 99, h));

    /* 72 bytes is hashed as is; 73 with the same prefix is a different password. */
    CHECK_EQ_INT(auth_password_hash(a, 72, 4, h), VB_OK);
    CHECK(auth_password_verify(a, 72, h));
    CHECK(!auth_password_verify(a, 73, h));
    CHECK(!auth_password_verify(a, 71, h));
}

TEST(test_malformed_hashes)
{
    CHECK(!VERIFY("password", NULL));
    CHECK(!VERIFY("password", ""));
    CHECK(!VERIFY("password", "$1$abcdefgh$0123456789012345678901"));
    CHECK(!VERIFY("password", "$2b$04$short"));
    CHECK(!VERIFY("password", "$2b$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
    CHECK(!VERIFY("password", "$2b$0x$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
    CHECK(!VERIFY("password", "$2q$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
    CHECK(!VERIFY("password", "$2a$05$CCCCCCCCCCCCCCCCCCCCC!E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
    CHECK_EQ_INT(auth_password_hash_cost("garbage"), -1);
    CHECK(auth_password_needs_rehash(NULL, 12));
}

TEST(test_acceptable)
{
    CHECK(auth_password_acceptable("a", 1));
    CHECK(!auth_password_acceptable("", 0));
    CHECK(!auth_password_acceptable(NULL, 5));
    CHECK(!auth_password_acceptable("a\0b", 3));
}

static double min_time(bool dummy, const char *hash, int cost)
{
    double best = 1e9;
    bool sink = false;
    for (int i = 0; i < 3; i++) {
        double t0 = now_s();
        if (dummy)
            sink |= auth_password_dummy_verify("some password", 13, cost);
        else
            sink |= VERIFY("wrong password", hash);
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
    }
    CHECK(!sink);
    return best;
}

/* The dummy does a real bcrypt at the given cost: about as slow as a real verify and
 * much slower than at a low cost. */
TEST(test_dummy_verify_costs_time)
{
    char h[AUTH_HASH_MAX];
    CHECK(!auth_password_dummy_verify("x", 1, 4));
    CHECK(!auth_password_dummy_verify("", 0, 4));
    CHECK(!auth_password_dummy_verify("x", 1, 99)); /* bad cost falls back, still false */
    CHECK_EQ_INT(HASH("right password", 9, h), VB_OK);
    double real = min_time(false, h, 9);
    double dummy = min_time(true, NULL, 9);
    double cheap = min_time(true, NULL, 4);
    CHECK_MSG(dummy > 0.5 * real && dummy < 2.0 * real, "dummy %.4fs vs real %.4fs", dummy, real);
    CHECK_MSG(dummy > 4 * cheap, "cost 9 %.4fs vs cost 4 %.4fs", dummy, cheap);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_salts_differ);
    RUN(test_cost_12_prefix);
    RUN(test_bad_cost);
    RUN(test_known_vector);
    RUN(test_length_limits);
    RUN(test_nul_rejected);
    RUN(test_long_passwords_prehashed);
    RUN(test_malformed_hashes);
    RUN(test_acceptable);
    RUN(test_dummy_verify_costs_time);
    return test_summary();
}
