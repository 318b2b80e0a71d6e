/* jobs.h: the bounded pool that runs generations, on the core worker queue (core/workq.h):
 * a fixed number of worker threads and a queue of at most queue_max waiting jobs; a full
 * queue refuses new work at once (the API answers 503 + Retry-After) instead of piling it up. A job
 * can hand bytes to its waiter while it runs (streaming) and is cancelled by it (a client that went
 * away).
 *
 *   producer (a pool thread, inside fn):   tts_job_emit(job, bytes, n); tts_job_cancelled(job)
 *   waiter (the thread that submitted):    while (!done) { poll tts_job_wake_fd(job);
 *                                                           tts_job_wait(job, 0, &buf, &done); }
 */
#ifndef VB_TTS_JOBS_H
#define VB_TTS_JOBS_H

#include "core/vb.h"
#include "core/buf.h"
#include "core/err.h"

#define TTS_JOB_BACKLOG_MAX ((size_t)4 << 20) /* bytes a producer may get ahead of its waiter */

struct tts_pool;
struct tts_job;

/* The work: runs on a pool thread; its return value becomes the job's result. */
typedef enum vb_err (*tts_job_fn)(struct tts_job *job, void *arg);

/* Starts `workers` threads (1..64) with room for `queue_max` waiting jobs (1..100000).
 * NULL on bad arguments or when threads cannot start. Free with tts_pool_free. */
struct tts_pool *tts_pool_new(int workers, int queue_max);
/* Cancels waiting and running jobs, joins the threads, frees the pool. Jobs still held by
 * their submitters finish with VB_ERR_CANCELLED; they must still be freed. NULL is fine. */
void tts_pool_free(struct tts_pool *p);

/* Creates a job for fn(job, arg) (arg borrowed until the job is done). Caller frees with
 * tts_job_free once tts_job_wait reported done (or if it was never submitted). */
struct tts_job *tts_job_new(tts_job_fn fn, void *arg);
/* Queues the job. VB_ERR_UNAVAILABLE when the queue is full or the pool is stopping; the
 * job is then not queued and can be freed. */
VB_WUR enum vb_err tts_pool_submit(struct tts_pool *p, struct tts_job *job);
/* Jobs waiting plus running (for diagnostics and Retry-After estimates). */
size_t tts_pool_load(struct tts_pool *p);
int tts_pool_workers(const struct tts_pool *p);

/* ----- producer side (inside fn) ----- */
/* True once the waiter cancelled (or the pool is stopping). */
bool tts_job_cancelled(struct tts_job *job);
/* Appends bytes for the waiter; blocks while more than TTS_JOB_BACKLOG_MAX bytes are
 * pending. VB_ERR_CANCELLED once cancelled; VB_ERR_NOMEM. */
VB_WUR enum vb_err tts_job_emit(struct tts_job *job, const void *data, size_t len);

/* ----- waiter side ----- */
/* Waits up to timeout_ms (0: not at all; negative: as long as it takes) for bytes or
 * completion. Moves the pending bytes (if any) into
 * `bytes` (appended; may be NULL to drop them) and sets *done when the job has finished
 * and no byte is pending. VB_ERR_NOMEM if appending fails. */
VB_WUR enum vb_err tts_job_wait(struct tts_job *job, int timeout_ms, struct vb_buf *bytes,
                                bool *done);
void tts_job_cancel(struct tts_job *job);
/* An eventfd that becomes readable once the job has bytes for its waiter or has finished
 * (a waiter blocks on it with poll, beside other descriptors, instead of polling the job on a
 * timer); tts_job_wait consumes it. Valid until tts_job_free. */
int tts_job_wake_fd(const struct tts_job *job);
/* The job's result (fn's return value); valid once done. */
enum vb_err tts_job_result(const struct tts_job *job);
/* Milliseconds the job waited in the queue before a worker took it (0 until started). */
double tts_job_queued_ms(const struct tts_job *job);
/* NULL is fine. Must not be called while the job is queued or running. */
void tts_job_free(struct tts_job *job);

#endif
