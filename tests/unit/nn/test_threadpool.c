/* test_threadpool.c: every share of every job runs exactly once, whichever thread runs it
 * (workers, or the caller taking over shares not started yet), with the job's own context;
 * jobs of different lengths back to back, sleeping workers woken, 1-5 threads. */
#include "core/vb.h"
#include "nn/threadpool.h"
#include "unit/test.h"

#include <stdatomic.h>
#include <time.h>

#define MAX_N 5

struct job {
    int id;
    int nth_seen;
    atomic_int runs[MAX_N];
    atomic_int bad_nth;
    int spin; /* busy iterations per share */
};

static void share(void *ctx, int ith, int nth)
{
    struct job *j = ctx;
    if (nth != j->nth_seen || ith < 0 || ith >= nth)
        atomic_fetch_add(&j->bad_nth, 1);
    else
        atomic_fetch_add(&j->runs[ith], 1);
    volatile int x = 0;
    for (int i = 0; i < j->spin * (ith + 1); i++)
        x += i;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

TEST(every_share_runs_once)
{
    for (int n = 1; n <= MAX_N; n++) {
        struct nn_pool *p = NULL;
        CHECK(nn_pool_new(n, &p) == VB_OK);
        CHECK_EQ_INT(nn_pool_threads(p), n);
        int wrong = 0;
        for (int it = 0; it < 3000; it++) {
            struct job j = {.id = it, .nth_seen = n, .spin = it % 7 == 0 ? 2000 : it % 3};
            for (int i = 0; i < MAX_N; i++)
                atomic_init(&j.runs[i], 0);
            atomic_init(&j.bad_nth, 0);
            if (it == 1500)
                sleep_ms(30); /* workers go to sleep; the next job wakes them */
            nn_pool_run(p, share, &j);
            for (int i = 0; i < n; i++)
                wrong += atomic_load(&j.runs[i]) != 1;
            wrong += atomic_load(&j.bad_nth);
        }
        CHECK_MSG(wrong == 0, "%d threads: %d shares run other than once", n, wrong);
        nn_pool_free(p);
    }
}

TEST(null_pool_runs_inline)
{
    struct job j = {.nth_seen = 1};
    atomic_init(&j.runs[0], 0);
    atomic_init(&j.bad_nth, 0);
    nn_pool_run(NULL, share, &j);
    CHECK_EQ_INT(atomic_load(&j.runs[0]), 1);
    CHECK_EQ_INT(nn_pool_threads(NULL), 1);
    nn_pool_free(NULL);
}

int main(void)
{
    RUN(every_share_runs_once);
    RUN(null_pool_runs_inline);
    return test_summary();
}
