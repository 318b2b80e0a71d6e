/* threadpool.c: workers spin briefly on a generation counter, then sleep on a condition
 * variable, so back-to-back small jobs (one per matmul) do not pay a wake-up each. */
#include "core/vb.h"
#include "nn/threadpool.h"
#include "core/alloc.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#define SPIN_ITERS 20000

struct nn_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;    /* incremented per job */
    atomic_int pending; /* workers still running the current job */
    atomic_bool stop;
    nn_pool_fn fn;
    void *ctx;
};

struct worker_arg {
    struct nn_pool *p;
    int ith;
};

static void *worker_main(void *arg)
{
    struct worker_arg wa = *(struct worker_arg *)arg;
    vb_free(arg);
    struct nn_pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) {
#if defined(__x86_64__)
                __builtin_ia32_pause();
#endif
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            break;
        seen = g;
        p->fn(p->ctx, wa.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
    return NULL;
}

enum vb_err nn_pool_new(int n_threads, struct nn_pool **out)
{
    *out = NULL;
    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > NN_MAX_THREADS)
        n_threads = NN_MAX_THREADS;
    struct nn_pool *p = vb_xcalloc(1, sizeof *p);
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    p->threads = vb_xcalloc((size_t)n_threads, sizeof *p->threads);
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = vb_xmalloc(sizeof *wa);
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            vb_free(wa);
            p->n = i;
            nn_pool_free(p);
            return VB_ERR_UNAVAILABLE;
        }
    }
    *out = p;
    return VB_OK;
}

void nn_pool_free(struct nn_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    vb_free(p->threads);
    vb_free(p);
}

int nn_pool_threads(const struct nn_pool *p)
{
    return p ? p->n : 1;
}

void nn_pool_run(struct nn_pool *p, nn_pool_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    /* spin briefly, then yield: on an oversubscribed machine the late worker needs the CPU */
    for (int spins = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; spins++) {
        if (spins < 2000) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        } else {
            sched_yield();
        }
    }
}

int nn_threads_default(int requested)
{
    int n = requested;
    if (n <= 0) {
        const char *env = getenv("LLM_THREADS");
        if (env) {
            char *end;
            long v = strtol(env, &end, 10);
            if (end != env && *end == 0 && v > 0 && v <= NN_MAX_THREADS)
                n = (int)v;
        }
    }
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    return n < 1 ? 1 : n > NN_MAX_THREADS ? NN_MAX_THREADS : n;
}
