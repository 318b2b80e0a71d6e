/* workq.c: a ring of jobs under one mutex, a condition variable for the threads. */
#include "core/vb.h"
#include "core/workq.h"
#include "core/alloc.h"

#include <pthread.h>

struct job {
    void (*fn)(void *arg);
    void *arg;
};

struct vb_workq {
    pthread_mutex_t lock;
    pthread_cond_t cv; /* a job was queued, or the queue closed */
    struct job *ring;  /* queue_max slots */
    size_t cap, head, len, running;
    bool closed;
    int retry_after_s;
    pthread_t *threads;
    int n_threads;
    int joined; /* threads joined by vb_workq_stop (the owner's thread only) */
};

static void *worker(void *arg)
{
    struct vb_workq *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->len == 0 && !q->closed)
            pthread_cond_wait(&q->cv, &q->lock);
        if (q->len == 0)
            break; /* closed and nothing left */
        struct job job = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        q->running++;
        pthread_mutex_unlock(&q->lock);
        job.fn(job.arg);
        pthread_mutex_lock(&q->lock);
        q->running--;
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

struct vb_workq *vb_workq_new(const struct vb_workq_params *p, char *why, size_t why_cap)
{
    if (p->threads < 1 || p->threads > 256 || p->queue_max < 1 || p->queue_max > 1000000) {
        snprintf(why, why_cap, "worker queue: %d threads, %zu queue slots: out of range",
                 p->threads, p->queue_max);
        return NULL;
    }
    struct vb_workq *q = vb_try_calloc(1, sizeof *q);
    if (!q || !(q->ring = vb_try_calloc(p->queue_max, sizeof *q->ring)) ||
        !(q->threads = vb_try_calloc((size_t)p->threads, sizeof *q->threads))) {
        snprintf(why, why_cap, "out of memory for %zu queue slots", p->queue_max);
        if (q)
            vb_free(q->ring);
        vb_free(q);
        return NULL;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->cap = p->queue_max;
    q->retry_after_s = p->retry_after_s;
    for (int i = 0; i < p->threads; i++) {
        int rc = pthread_create(&q->threads[i], NULL, worker, q);
        if (rc) {
            snprintf(why, why_cap, "cannot start worker thread: %s", strerror(rc));
            vb_workq_free(q);
            return NULL;
        }
        q->n_threads++;
    }
    return q;
}

enum vb_err vb_workq_submit(struct vb_workq *q, void (*fn)(void *arg), void *arg,
                            void (*admitted)(void *arg))
{
    enum vb_err err = VB_ERR_UNAVAILABLE;
    pthread_mutex_lock(&q->lock);
    if (!q->closed && q->len < q->cap) {
        if (admitted)
            admitted(arg);
        q->ring[(q->head + q->len) % q->cap] = (struct job){.fn = fn, .arg = arg};
        q->len++;
        pthread_cond_signal(&q->cv);
        err = VB_OK;
    }
    pthread_mutex_unlock(&q->lock);
    return err;
}

void vb_workq_close(struct vb_workq *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->lock);
}

void vb_workq_stop(struct vb_workq *q)
{
    vb_workq_close(q);
    for (; q->joined < q->n_threads; q->joined++)
        pthread_join(q->threads[q->joined], NULL);
}

void vb_workq_free(struct vb_workq *q)
{
    if (!q)
        return;
    vb_workq_stop(q);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cv);
    vb_free(q->threads);
    vb_free(q->ring);
    vb_free(q);
}

size_t vb_workq_load(struct vb_workq *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->len + q->running;
    pthread_mutex_unlock(&q->lock);
    return n;
}

int vb_workq_threads(const struct vb_workq *q)
{
    return q->n_threads;
}

int vb_workq_retry_after_s(const struct vb_workq *q)
{
    return q->retry_after_s;
}
