/* workq.h: the one worker queue of the project: a bounded queue of jobs served by a fixed
 * set of threads, with admission: a full queue refuses a job at once (the caller answers
 * 503 + Retry-After, vb_workq_retry_after_s) instead of piling work up. The HTTP lanes
 * (http/server.c) and the speech generation pool (tts/jobs.c) run on it; the nn compute
 * pool (nn/threadpool.h) is a different thing (fork-join of one computation).
 *
 *   struct vb_workq *q = vb_workq_new(&(struct vb_workq_params){.threads = 4,
 *                                     .queue_max = 64, .retry_after_s = 1}, why, sizeof why);
 *   if (vb_workq_submit(q, run, job, NULL) != VB_OK) ... answer 503 ...
 *   vb_workq_free(q);   // runs what is queued, then joins the threads
 */
#ifndef VB_CORE_WORKQ_H
#define VB_CORE_WORKQ_H

#include "core/vb.h"
#include "core/err.h"

struct vb_workq;

struct vb_workq_params {
    int threads;       /* 1..256 */
    size_t queue_max;  /* jobs that may wait for a thread, 1..1000000 */
    int retry_after_s; /* what a refused caller tells its client to wait (seconds) */
};

/* Starts the threads. NULL (with the reason in why) on bad parameters or when threads
 * cannot start. */
struct vb_workq *vb_workq_new(const struct vb_workq_params *p, char *why, size_t why_cap);
/* Queues fn(arg) for the next free thread. `admitted` (may be NULL) runs with arg under the
 * queue's lock once the job has its place and before any thread can take it (a caller
 * prepares there what the job relies on). VB_ERR_UNAVAILABLE when the queue is full or
 * closed: nothing is queued and `admitted` does not run. */
VB_WUR enum vb_err vb_workq_submit(struct vb_workq *q, void (*fn)(void *arg), void *arg,
                                   void (*admitted)(void *arg));
/* Refuses new jobs from now on; the threads run what is queued, then exit. */
void vb_workq_close(struct vb_workq *q);
/* Closes and waits for the queued and running jobs and the threads. The queue stays valid
 * (refusing every job) until vb_workq_free. Call from the owner's thread only. */
void vb_workq_stop(struct vb_workq *q);
/* Stops (see vb_workq_stop), then frees. NULL is fine. */
void vb_workq_free(struct vb_workq *q);
/* Jobs waiting plus running. */
size_t vb_workq_load(struct vb_workq *q);
int vb_workq_threads(const struct vb_workq *q);
int vb_workq_retry_after_s(const struct vb_workq *q);

#endif
