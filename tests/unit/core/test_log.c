/* test_log.c: the log rate limit: the first line passes, lines inside the interval are
 * dropped and counted, the next line after it passes with the count, concurrent callers
 * let exactly one line through per window. */
#include "core/vb.h"
#include "core/log.h"
#include "unit/test.h"

#include <pthread.h>

TEST(test_first_passes_then_dropped_and_counted)
{
    struct vb_log_limit lim = {0};
    uint64_t dropped = 99;
    CHECK(vb_log_limit_pass(&lim, 1000, 0, &dropped)); /* time 0 is a valid first moment */
    CHECK_EQ_INT(dropped, 0);
    for (int i = 0; i < 500; i++)
        CHECK(!vb_log_limit_pass(&lim, 1000, 1 + i, &dropped));
    CHECK(!vb_log_limit_pass(&lim, 1000, 999, NULL));
    CHECK(vb_log_limit_pass(&lim, 1000, 1000, &dropped));
    CHECK_EQ_INT(dropped, 501);
    /* The count restarts; a quiet period lets the next line through at once. */
    CHECK(vb_log_limit_pass(&lim, 1000, 50000, &dropped));
    CHECK_EQ_INT(dropped, 0);
}

struct race {
    struct vb_log_limit *lim;
    int passed;
};

static void *race_main(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 10000; i++)
        r->passed += vb_log_limit_pass(r->lim, 60000, 5000, NULL);
    return NULL;
}

TEST(test_concurrent_one_line_per_window)
{
    struct vb_log_limit lim = {0};
    struct race r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct race){.lim = &lim};
        CHECK(pthread_create(&t[i], NULL, race_main, &r[i]) == 0);
    }
    int passed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        passed += r[i].passed;
    }
    CHECK_EQ_INT(passed, 1);
    uint64_t dropped = 0;
    CHECK(vb_log_limit_pass(&lim, 60000, 65000, &dropped));
    CHECK_EQ_INT(dropped, 39999);
}

int main(void)
{
    RUN(test_first_passes_then_dropped_and_counted);
    RUN(test_concurrent_one_line_per_window);
    return test_summary();
}
