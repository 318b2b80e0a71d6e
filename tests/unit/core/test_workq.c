/* test_workq.c: the worker queue runs every admitted job exactly once on its threads, refuses
 * at once when the queue is full or closed (admission), runs `admitted` before a thread can
 * see the job, runs what is queued before vb_workq_free returns, and counts its load. */
#include "core/vb.h"
#include "core/workq.h"
#include "unit/test.h"

#include <pthread.h>
#include <stdatomic.h>

/* A gate the jobs wait at until the test opens it, so the queue can be filled. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool open;
    int waiting; /* jobs stopped at the gate */
};

static struct gate g_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};
static atomic_int g_runs;

static void gated_job(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_gate.lock);
    g_gate.waiting++;
    pthread_cond_broadcast(&g_gate.cv);
    while (!g_gate.open)
        pthread_cond_wait(&g_gate.cv, &g_gate.lock);
    pthread_mutex_unlock(&g_gate.lock);
    atomic_fetch_add(&g_runs, 1);
}

static void wait_at_gate(int n)
{
    pthread_mutex_lock(&g_gate.lock);
    while (g_gate.waiting < n)
        pthread_cond_wait(&g_gate.cv, &g_gate.lock);
    pthread_mutex_unlock(&g_gate.lock);
}

static void open_gate(bool open)
{
    pthread_mutex_lock(&g_gate.lock);
    g_gate.open = open;
    g_gate.waiting = 0;
    pthread_cond_broadcast(&g_gate.cv);
    pthread_mutex_unlock(&g_gate.lock);
}

TEST(full_queue_refuses_at_once)
{
    char why[128];
    struct vb_workq *q =
        vb_workq_new(&(struct vb_workq_params){.threads = 2, .queue_max = 3, .retry_after_s = 5},
                     why, sizeof why);
    CHECK(q != NULL);
    if (!q)
        return;
    atomic_store(&g_runs, 0);
    open_gate(false);
    CHECK_EQ_INT(vb_workq_threads(q), 2);
    CHECK_EQ_INT(vb_workq_retry_after_s(q), 5);
    /* two running at the gate, three waiting: the sixth is refused */
    CHECK_EQ_INT(vb_workq_submit(q, gated_job, NULL, NULL), VB_OK);
    CHECK_EQ_INT(vb_workq_submit(q, gated_job, NULL, NULL), VB_OK);
    wait_at_gate(2);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(vb_workq_submit(q, gated_job, NULL, NULL), VB_OK);
    CHECK_EQ_INT(vb_workq_load(q), 5);
    CHECK_EQ_INT(vb_workq_submit(q, gated_job, NULL, NULL), VB_ERR_UNAVAILABLE);
    open_gate(true);
    vb_workq_free(q); /* runs the queued ones before returning */
    CHECK_EQ_INT(atomic_load(&g_runs), 5);
}

/* ----- admitted runs before a thread can take the job ----- */

struct marked {
    int prepared; /* written by `admitted` without atomics: TSan checks the ordering */
    atomic_int seen_prepared;
};

static void mark(void *arg)
{
    ((struct marked *)arg)->prepared = 1;
}

static void read_mark(void *arg)
{
    struct marked *m = arg;
    atomic_store(&m->seen_prepared, m->prepared);
}

static void never(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

TEST(admitted_runs_first_and_closed_refuses)
{
    char why[128];
    struct vb_workq *q =
        vb_workq_new(&(struct vb_workq_params){.threads = 3, .queue_max = 64}, why, sizeof why);
    CHECK(q != NULL);
    if (!q)
        return;
    struct marked m[32];
    for (int i = 0; i < 32; i++) {
        m[i].prepared = 0;
        atomic_init(&m[i].seen_prepared, 0);
        CHECK_EQ_INT(vb_workq_submit(q, read_mark, &m[i], mark), VB_OK);
    }
    vb_workq_close(q);
    atomic_int refused_ran;
    atomic_init(&refused_ran, 0);
    CHECK_EQ_INT(vb_workq_submit(q, never, &refused_ran, NULL), VB_ERR_UNAVAILABLE);
    vb_workq_free(q);
    for (int i = 0; i < 32; i++)
        CHECK_EQ_INT(atomic_load(&m[i].seen_prepared), 1);
    CHECK_EQ_INT(atomic_load(&refused_ran), 0);
}

/* ----- many producers, every job once ----- */

struct producer {
    struct vb_workq *q;
    atomic_int *counts;
    int first, n;
    int refused;
};

static void count_job(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = p->first; i < p->first + p->n; i++)
        while (vb_workq_submit(p->q, count_job, &p->counts[i], NULL) != VB_OK)
            p->refused++; /* full: a caller would answer 503; here we try again */
    return NULL;
}

TEST(every_job_runs_once)
{
    enum { PRODUCERS = 4, PER = 500 };
    char why[128];
    struct vb_workq *q =
        vb_workq_new(&(struct vb_workq_params){.threads = 4, .queue_max = 8}, why, sizeof why);
    CHECK(q != NULL);
    if (!q)
        return;
    static atomic_int counts[PRODUCERS * PER];
    for (int i = 0; i < PRODUCERS * PER; i++)
        atomic_init(&counts[i], 0);
    pthread_t t[PRODUCERS];
    struct producer p[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (struct producer){.q = q, .counts = counts, .first = i * PER, .n = PER};
        pthread_create(&t[i], NULL, produce, &p[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    vb_workq_free(q);
    int bad = 0;
    for (int i = 0; i < PRODUCERS * PER; i++)
        bad += atomic_load(&counts[i]) != 1;
    CHECK_EQ_INT(bad, 0);
}

TEST(bad_parameters)
{
    char why[128] = "";
    CHECK(vb_workq_new(&(struct vb_workq_params){.threads = 0, .queue_max = 4}, why, sizeof why) ==
          NULL);
    CHECK(strstr(why, "out of range") != NULL);
    CHECK(vb_workq_new(&(struct vb_workq_params){.threads = 2, .queue_max = 0}, why, sizeof why) ==
          NULL);
    vb_workq_free(NULL);
}

int main(void)
{
    RUN(full_queue_refuses_at_once);
    RUN(admitted_runs_first_and_closed_refuses);
    RUN(every_job_runs_once);
    RUN(bad_parameters);
    return test_summary();
}
