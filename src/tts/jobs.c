/* jobs.c: bounded worker pool for generations with a byte channel from job to waiter. */
#include "core/vb.h"
#include "tts/jobs.h"
#include "core/alloc.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

enum job_state { JOB_NEW, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct tts_job {
    tts_job_fn fn;
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t cv; /* bytes appended, bytes taken, or done */
    enum job_state state;
    atomic_bool cancelled;
    enum vb_err result;
    struct vb_buf pending;         /* bytes emitted, not yet taken by the waiter */
    struct tts_pool *_Atomic pool; /* set at submit, cleared when done (the pool may go) */
    struct timespec queued_at;
    double queued_ms;
    struct tts_job *next; /* queue link (pool lock) */
};

struct tts_pool {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    struct tts_job *head, *tail;
    size_t queued, running;
    size_t queue_max;
    bool stopping;
    atomic_bool stop; /* = stopping, readable by running jobs without the lock */
    pthread_t *threads;
    int n_threads;
};

static void deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

static void finish(struct tts_job *job, enum vb_err result)
{
    atomic_store(&job->pool, NULL);
    pthread_mutex_lock(&job->lock);
    job->result = result;
    job->state = JOB_DONE;
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->lock);
}

static void *worker(void *arg)
{
    struct tts_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->lock);
        if (!p->head)
            break; /* stopping and nothing left */
        struct tts_job *job = p->head;
        p->head = job->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        p->running++;
        bool stopping = p->stopping;
        pthread_mutex_unlock(&p->lock);

        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        pthread_mutex_lock(&job->lock);
        job->state = JOB_RUNNING;
        job->queued_ms = (double)(now.tv_sec - job->queued_at.tv_sec) * 1000.0 +
                         (double)(now.tv_nsec - job->queued_at.tv_nsec) / 1e6;
        pthread_mutex_unlock(&job->lock);
        enum vb_err result = VB_ERR_CANCELLED;
        if (!stopping && !atomic_load(&job->cancelled))
            result = job->fn(job, job->arg);
        finish(job, result);

        pthread_mutex_lock(&p->lock);
        p->running--;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct tts_pool *tts_pool_new(int workers, int queue_max)
{
    if (workers < 1 || workers > 64 || queue_max < 1 || queue_max > 100000)
        return NULL;
    struct tts_pool *p = vb_try_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threads = vb_try_calloc((size_t)workers, sizeof *p->threads);
    if (!p->threads) {
        vb_free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->queue_max = (size_t)queue_max;
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            vb_error("tts: cannot start generation worker %d", i);
            tts_pool_free(p);
            return NULL;
        }
        p->n_threads++;
    }
    return p;
}

void tts_pool_free(struct tts_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    atomic_store(&p->stop, true); /* running jobs see it through tts_job_cancelled */
    /* Queued jobs finish as cancelled without running. */
    for (struct tts_job *j = p->head; j; j = j->next)
        atomic_store(&j->cancelled, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cv);
    vb_free(p->threads);
    vb_free(p);
}

struct tts_job *tts_job_new(tts_job_fn fn, void *arg)
{
    struct tts_job *job = vb_try_calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->fn = fn;
    job->arg = arg;
    pthread_mutex_init(&job->lock, NULL);
    cond_init_mono(&job->cv);
    vb_buf_init(&job->pending, TTS_JOB_BACKLOG_MAX * 2);
    return job;
}

enum vb_err tts_pool_submit(struct tts_pool *p, struct tts_job *job)
{
    enum vb_err err = VB_OK;
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->queued >= p->queue_max || job->state != JOB_NEW) {
        err = VB_ERR_UNAVAILABLE;
    } else {
        clock_gettime(CLOCK_MONOTONIC, &job->queued_at);
        job->state = JOB_QUEUED;
        atomic_store(&job->pool, p);
        job->next = NULL;
        if (p->tail)
            p->tail->next = job;
        else
            p->head = job;
        p->tail = job;
        p->queued++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->lock);
    return err;
}

size_t tts_pool_load(struct tts_pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->queued + p->running;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int tts_pool_workers(const struct tts_pool *p)
{
    return p->n_threads;
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
        deadline(&ts, 200);
        pthread_cond_timedwait(&job->cv, &job->lock, &ts);
    }
    if (tts_job_cancelled(job))
        err = VB_ERR_CANCELLED;
    else if (vb_buf_append(&job->pending, data, len) != VB_OK)
        err = VB_ERR_NOMEM;
    else
        pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->lock);
    return err;
}

enum vb_err tts_job_wait(struct tts_job *job, int timeout_ms, struct vb_buf *bytes, bool *done)
{
    enum vb_err err = VB_OK;
    *done = false;
    pthread_mutex_lock(&job->lock);
    if (job->pending.len == 0 && job->state != JOB_DONE && timeout_ms > 0) {
        struct timespec ts;
        deadline(&ts, timeout_ms);
        pthread_cond_timedwait(&job->cv, &job->lock, &ts);
    }
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

double tts_job_queued_ms(const struct tts_job *job)
{
    return job->queued_ms;
}

void tts_job_free(struct tts_job *job)
{
    if (!job)
        return;
    vb_buf_release(&job->pending);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->cv);
    vb_free(job);
}
