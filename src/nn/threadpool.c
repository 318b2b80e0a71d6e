/* threadpool.c: workers spin briefly on a generation counter, then sleep on a condition
 * variable, so back-to-back small jobs (one per matmul) do not pay a wake-up each. Each
 * worker's share is claimed through its slot: when the caller has finished its own share, it
 * claims and runs the shares of workers that have not started yet (asleep, or descheduled on
 * a busy machine) instead of waiting for them. */
#include "core/vb.h"
#include "nn/threadpool.h"
#include "core/alloc.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#define SPIN_ITERS 20000 /* pause loops (~1 ms) before a worker sleeps */
#define CACHE_LINE 64

struct slot {
    _Alignas(CACHE_LINE) atomic_int taken; /* 0: this job's share is free to claim */
};

struct nn_pool {
    int n;
    pthread_t *threads;
    struct slot *slots; /* [n], cache-line aligned inside slots_mem; slot 0 unused */
    void *slots_mem;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Alignas(CACHE_LINE) atomic_uint gen; /* incremented per job */
    atomic_int sleepers;                  /* workers in (or entering) the condition wait */
    atomic_bool stop;
    nn_pool_fn fn;
    void *ctx;
    _Alignas(CACHE_LINE) atomic_int pending; /* claimed worker shares still running */
};

struct worker_arg {
    struct nn_pool *p;
    int ith;
};

/* Runs share `ith` of the current job if nobody has claimed it yet. */
static void run_share(struct nn_pool *p, int ith)
{
    if (atomic_exchange_explicit(&p->slots[ith].taken, 1, memory_order_acq_rel) != 0)
        return;
    p->fn(p->ctx, ith, p->n);
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
}

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
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            if (++spins < SPIN_ITERS) {
#if defined(__x86_64__)
                __builtin_ia32_pause();
#endif
                continue;
            }
            /* announce the sleep before the last check (paired with nn_pool_run) */
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop))
            break;
        seen = g;
        run_share(p, wa.ith);
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
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    p->threads = vb_xcalloc((size_t)n_threads, sizeof *p->threads);
    p->slots_mem = vb_xcalloc((size_t)n_threads + 1, sizeof *p->slots);
    p->slots =
        (struct slot *)(((uintptr_t)p->slots_mem + CACHE_LINE - 1) & ~(uintptr_t)(CACHE_LINE - 1));
    for (int i = 0; i < n_threads; i++)
        atomic_init(&p->slots[i].taken, 1);
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
    vb_free(p->slots_mem);
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
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    /* the slots are released after fn/ctx are written: a worker that claims one (even one
     * that woke up late and saw an older generation) reads this job's fn and ctx */
    for (int i = 1; i < p->n; i++)
        atomic_store_explicit(&p->slots[i].taken, 0, memory_order_release);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: ordered before the sleepers check */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    /* shares nobody has started: run them here rather than wait for their thread */
    for (int i = 1; i < p->n; i++)
        if (atomic_exchange_explicit(&p->slots[i].taken, 1, memory_order_acq_rel) == 0) {
            fn(ctx, i, p->n);
            atomic_fetch_sub_explicit(&p->pending, 1, memory_order_relaxed);
        }
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
