/* test.h: a tiny unit-test harness. Each test file defines tests with TEST(name), lists
 * them in main with RUN(name), and ends with `return test_summary();`, which prints
 * "N passed, N failed" and returns non-zero on any failure. */
#ifndef VB_TEST_H
#define VB_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_checks_failed;
static int test_passed;
static int test_failed;

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

#define RUN(name)                                                                                  \
    do {                                                                                           \
        int before_ = test_checks_failed;                                                          \
        name();                                                                                    \
        if (test_checks_failed == before_) {                                                       \
            test_passed++;                                                                         \
            fprintf(stderr, "ok   %s\n", #name);                                                   \
        } else {                                                                                   \
            test_failed++;                                                                         \
            fprintf(stderr, "FAIL %s\n", #name);                                                   \
        }                                                                                          \
    } while (0)

/* Prints a SKIPPED line that the runner counts; use when reference data is absent. */
#define SKIP(name, why) fprintf(stderr, "SKIPPED %s: %s\n", #name, why)

static inline int test_summary(void)
{
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
