/* test.h: a tiny unit-test harness. Each test file defines tests with TEST(name), lists
 * them in main with RUN(name), and ends with `return test_summary();`, which prints
 * "N passed, N failed, N skipped" and returns non-zero on any failure.
 *
 * A test that calls SKIP (or SKIP_MISSING_DATA) counts as skipped, never as passed; a failed
 * CHECK anywhere (inside a RUN, in main, in a helper before any RUN) fails the binary.
 * SKIP_MISSING_DATA is for a reference-vector test whose data files are absent: with CI=true
 * (or VOCERO_REQUIRE_REFDATA=1) it is a failure instead, since CI always has the data. */
#ifndef VB_TEST_H
#define VB_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_checks_failed;     /* every failed check, wherever it happened */
static int test_run_checks_failed; /* of which inside RUN blocks */
static int test_passed;
static int test_failed;
static int test_skipped;
static bool test_in_run;
static const char *test_skip_name; /* set by SKIP inside the current RUN */
static const char *test_skipped_names[64];

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            test_checks_failed++;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            test_checks_failed++;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    CHECK_MSG((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))
#define CHECK_EQ_STR(a, b)                                                                         \
    CHECK_MSG((a) && (b) && strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a) ? (a) : "(null)",       \
              (b) ? (b) : "(null)")
#define CHECK_NEAR(a, b, tol)                                                                      \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%g vs %g (tol %g)", (double)(a),          \
              (double)(b), (double)(tol))

static inline void test_note_skipped(const char *name)
{
    if (test_skipped < (int)(sizeof test_skipped_names / sizeof *test_skipped_names))
        test_skipped_names[test_skipped] = name;
    test_skipped++;
}

#define RUN(name)                                                                                  \
    do {                                                                                           \
        int before_ = test_checks_failed;                                                          \
        test_skip_name = NULL;                                                                     \
        test_in_run = true;                                                                        \
        name();                                                                                    \
        test_in_run = false;                                                                       \
        test_run_checks_failed += test_checks_failed - before_;                                    \
        if (test_checks_failed != before_) {                                                       \
            test_failed++;                                                                         \
            fprintf(stderr, "FAIL %s\n", #name);                                                   \
        } else if (test_skip_name) {                                                               \
            test_note_skipped(test_skip_name);                                                     \
            fprintf(stderr, "skip %s\n", #name);                                                   \
        } else {                                                                                   \
            test_passed++;                                                                         \
            fprintf(stderr, "ok   %s\n", #name);                                                   \
        }                                                                                          \
    } while (0)

/* Whether reference data must be present (CI=true or VOCERO_REQUIRE_REFDATA=1). */
static inline bool test_refdata_required(void)
{
    const char *ci = getenv("CI"), *req = getenv("VOCERO_REQUIRE_REFDATA");
    return (ci && strcmp(ci, "true") == 0) || (req && strcmp(req, "1") == 0);
}

/* Inside a RUN the test counts as skipped (unless a check failed); outside, the skip is
 * counted on its own. A missing-data skip where the data is required is a failed check. */
static inline void test_skip(const char *name, const char *why, bool missing_data)
{
    if (missing_data && test_refdata_required()) {
        fprintf(stderr,
                "  FAIL %s: reference data missing: %s (CI=true or "
                "VOCERO_REQUIRE_REFDATA=1: the data must be present)\n",
                name, why);
        test_checks_failed++;
        return;
    }
    fprintf(stderr, "SKIPPED %s: %s%s\n", name, why,
            missing_data ? " [missing reference data]" : "");
    if (test_in_run)
        test_skip_name = name;
    else
        test_note_skipped(name);
}

/* Skips the named test (prints a SKIPPED line the runner lists), e.g. no AVX-512 here. */
#define SKIP(name, why) test_skip(#name, why, false)
/* Skips a reference-vector test whose data is absent; a failure under CI=true. */
#define SKIP_MISSING_DATA(name, why) test_skip(#name, why, true)

/* Prints "N passed, N failed, N skipped" (checks failed outside any RUN count as failures)
 * and the skipped names; non-zero on any failure. */
static inline int test_summary(void)
{
    const int stray = test_checks_failed - test_run_checks_failed;
    if (stray > 0) {
        fprintf(stderr, "FAIL %d check(s) failed outside any RUN (see the FAIL lines above)\n",
                stray);
        test_failed += stray;
        test_run_checks_failed = test_checks_failed;
    }
    if (test_skipped) {
        fprintf(stderr, "skipped:");
        for (int i = 0; i < test_skipped; i++)
            if (i < (int)(sizeof test_skipped_names / sizeof *test_skipped_names))
                fprintf(stderr, " %s", test_skipped_names[i]);
        fputc('\n', stderr);
    }
    printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed, test_skipped);
    return test_failed ? 1 : 0;
}

#endif
