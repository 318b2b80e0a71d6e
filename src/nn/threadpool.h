/* threadpool.h: a fixed set of worker threads that run one parallel job at a time:
 * fn(ctx, ith, nth) once for each ith = 0..nth-1. The caller's thread runs ith = 0, then the
 * shares of workers that have not started yet (so fn must not assume which thread runs a
 * share, only that each runs once and shares may run concurrently). */
#ifndef NN_THREADPOOL_H
#define NN_THREADPOOL_H

#include "core/vb.h"
#include "core/err.h"

#define NN_MAX_THREADS 256

struct nn_pool;

typedef void (*nn_pool_fn)(void *ctx, int ith, int nth);

/* Starts n_threads-1 workers (n_threads >= 1; 1 means no workers). Caller frees with
 * nn_pool_free. */
VB_WUR enum vb_err nn_pool_new(int n_threads, struct nn_pool **out);
void nn_pool_free(struct nn_pool *p);
int nn_pool_threads(const struct nn_pool *p);
/* Runs fn on every thread and returns when all have finished. Not reentrant: one caller at
 * a time per pool. A NULL pool runs fn(ctx, 0, 1). */
void nn_pool_run(struct nn_pool *p, nn_pool_fn fn, void *ctx);
/* Thread count from `requested` (>0 wins), else env LLM_THREADS, else the number of online
 * CPUs; clamped to 1..NN_MAX_THREADS. */
int nn_threads_default(int requested);

#endif
