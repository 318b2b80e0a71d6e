/* jobs.c: generations on the core worker queue (core/workq.h) with a byte channel from job
 * to waiter. */
#include "core/vb.h"
#include "tts/jobs.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/time_fmt.h"
#include "core/workq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum job_state { JOB_NEW, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct tts_job {
    tts_job_fn fn;
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t cv; /* bytes appended, bytes taken, or done */
    int wake_fd;       /* eventfd: readable once bytes were appended or the job is done */
    enum job_state state;
    atomic_bool cancelled;
    enum vb_err result;
    struct vb_buf pending;         /* bytes emitted, not yet taken by the waiter */
    struct tts_pool *_Atomic pool; /* set at submit, cleared when done (the pool may go) */
    struct timespec queued_at;
    double queued_ms;
};

struct tts_pool {
    struct vb_workq *q;
    atomic_bool stop; /* tts_pool_free began: queued jobs finish as cancelled unrun */
};

/* Wakes a waiter blocked on the job's wake_fd. Called under job->lock, after the change
 * the waiter will read under it. */
static void wake(struct tts_job *job)
{
    uint64_t one = 1;
    if (write(job->wake_fd, &one, sizeof one) < 0) {
        /* the counter cannot overflow at one per event; nothing else can fail */
    }
}

static void finish(struct tts_job *job, enum vb_err result)
{
    atomic_store(&job->pool, NULL);
    pthread_mutex_lock(&job->lock);
    job->result = result;
    job->state = JOB_DONE;
    pthread_cond_broadcast(&job->cv);
    wake(job); /* under the lock: once the waiter sees DONE it may free the job */
    pthread_mutex_unlock(&job->lock);
}

/* One job on a queue thread. */
static void run(void *arg)
{
    struct tts_job *job = arg;
    struct tts_pool *p = atomic_load(&job->pool);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&job->lock);
    job->state = JOB_RUNNING;
    job->queued_ms = (double)(now.tv_sec - job->queued_at.tv_sec) * 1000.0 +
                     (double)(now.tv_nsec - job->queued_at.tv_nsec) / 1e6;
    pthread_mutex_unlock(&job->lock);
    enum vb_err result = VB_ERR_CANCELLED;
    if (!atomic_load(&p->stop) && !atomic_load(&job->cancelled))
        result = job->fn(job, job->arg);
    finish(job, result);
}

struct tts_pool *tts_pool_new(int workers, int queue_max)
{
    if (workers < 1 || workers > 64 || queue_max < 1 || queue_max > 100000)
        return NULL;
    struct tts_pool *p = vb_try_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    char why[160];
    p->q =
        vb_workq_new(&(struct vb_workq_params){.threads = workers, .queue_max = (size_t)queue_max},
                     why, sizeof why);
    if (!p->q) {
        vb_error("tts: cannot start the generation workers: %s", why);
        vb_free(p);
        return NULL;
    }
    return p;
}

void tts_pool_free(struct tts_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true); /* running jobs see it through tts_job_cancelled */
    vb_workq_free(p->q);          /* queued jobs finish as cancelled without running */
    vb_free(p);
}

struct tts_job *tts_job_new(tts_job_fn fn, void *arg)
{
    struct tts_job *job = vb_try_calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->fn = fn;
    job->arg = arg;
    job->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (job->wake_fd < 0) {
        vb_free(job);
        return NULL;
    }
    pthread_mutex_init(&job->lock, NULL);
    vb_cond_init_mono(&job->cv);
    vb_buf_init(&job->pending, TTS_JOB_BACKLOG_MAX * 2);
    return job;
}

/* Under the queue's lock, before a thread can take the job. */
static void admitted(void *arg)
{
    struct tts_job *job = arg;
    clock_gettime(CLOCK_MONOTONIC, &job->queued_at);
    job->state = JOB_QUEUED;
}

enum vb_err tts_pool_submit(struct tts_pool *p, struct tts_job *job)
{
    pthread_mutex_lock(&job->lock);
    bool fresh = job->state == JOB_NEW;
    pthread_mutex_unlock(&job->lock);
    if (!fresh || atomic_load(&p->stop))
        return VB_ERR_UNAVAILABLE;
    atomic_store(&job->pool, p);
    enum vb_err err = vb_workq_submit(p->q, run, job, admitted);
    if (err)
        atomic_store(&job->pool, NULL);
    return err;
}

size_t tts_pool_load(struct tts_pool *p)
{
    return vb_workq_load(p->q);
}

int tts_pool_workers(const struct tts_pool *p)
{
    return vb_workq_threads(p->q);
}

bool tts_job_cancelled(struct tts_job *job)
{
    struct tts_pool *p = atomic_load(&job->pool);
    return atomic_load(&job->cancelled) || (p && atomic_load(&p->stop));
}

enum vb_err tts_job_emit(struct tts_job *job, const void *data, size_t len)
{
    enum vb_err err = VB_OK;
    pthread_mutex_lock(&job->lock);
    while (job->pending.len > TTS_JOB_BACKLOG_MAX && !tts_job_cancelled(job)) {
        struct timespec ts;
        vb_mono_deadline(&ts, 200);
        pthread_cond_timedwait(&job->cv, &job->lock, &ts);
    }
    if (tts_job_cancelled(job))
        err = VB_ERR_CANCELLED;
    else if (vb_buf_append(&job->pending, data, len) != VB_OK)
        err = VB_ERR_NOMEM;
    else
        pthread_cond_broadcast(&job->cv);
    if (!err)
        wake(job);
    pthread_mutex_unlock(&job->lock);
    return err;
}

enum vb_err tts_job_wait(struct tts_job *job, int timeout_ms, struct vb_buf *bytes, bool *done)
{
    enum vb_err err = VB_OK;
    uint64_t events;
    *done = false;
    /* Consume the wake-ups first: what they announced is seen below, a later one stays. */
    if (read(job->wake_fd, &events, sizeof events) < 0) {
        /* EAGAIN: nothing announced since the last call */
    }
    pthread_mutex_lock(&job->lock);
    if (job->pending.len == 0 && job->state != JOB_DONE && timeout_ms > 0) {
        struct timespec ts;
        vb_mono_deadline(&ts, timeout_ms);
        pthread_cond_timedwait(&job->cv, &job->lock, &ts);
    }
    while (job->pending.len == 0 && job->state != JOB_DONE && timeout_ms < 0)
        pthread_cond_wait(&job->cv, &job->lock);
    if (job->pending.len > 0) {
        if (bytes)
            err = vb_buf_append(bytes, job->pending.data, job->pending.len);
        vb_buf_reset(&job->pending);
        pthread_cond_broadcast(&job->cv); /* room for the producer again */
    }
    *done = job->state == JOB_DONE && job->pending.len == 0;
    pthread_mutex_unlock(&job->lock);
    return err;
}

void tts_job_cancel(struct tts_job *job)
{
    atomic_store(&job->cancelled, true);
    pthread_mutex_lock(&job->lock);
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->lock);
}

enum vb_err tts_job_result(const struct tts_job *job)
{
    return job->result;
}

int tts_job_wake_fd(const struct tts_job *job)
{
    return job->wake_fd;
}

double tts_job_queued_ms(const struct tts_job *job)
{
    return job->queued_ms;
}

void tts_job_free(struct tts_job *job)
{
    if (!job)
        return;
    vb_buf_release(&job->pending);
    close(job->wake_fd);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->cv);
    vb_free(job);
}
