/* test_jobs.c: the bounded generation pool: results, a full queue refuses at once, cancel
 * reaches running and queued jobs, the byte channel keeps order and applies backpressure,
 * freeing the pool with jobs still queued finishes them as cancelled. */
#include "core/vb.h"
#include "core/alloc.h"
#include "tts/jobs.h"
#include "unit/test.h"

#include <poll.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

struct work {
    atomic_int started;
    atomic_bool release; /* blocking jobs wait for this */
    int emit_count;      /* bytes-emitting jobs: how many emits of emit_size */
    size_t emit_size;
    enum vb_err result;
};

static enum vb_err blocking(struct tts_job *job, void *arg)
{
    struct work *w = arg;
    atomic_fetch_add(&w->started, 1);
    while (!atomic_load(&w->release)) {
        if (tts_job_cancelled(job))
            return VB_ERR_CANCELLED;
        usleep(1000);
    }
    return w->result;
}

static enum vb_err emitting(struct tts_job *job, void *arg)
{
    struct work *w = arg;
    unsigned char *buf = vb_xmalloc(w->emit_size);
    enum vb_err err = VB_OK;
    atomic_fetch_add(&w->started, 1);
    for (int i = 0; i < w->emit_count && !err; i++) {
        memset(buf, i & 0xff, w->emit_size);
        err = tts_job_emit(job, buf, w->emit_size);
    }
    vb_free(buf);
    return err;
}

/* Waits for the job to finish; collects bytes into b (may be NULL). */
static enum vb_err drain(struct tts_job *job, struct vb_buf *b)
{
    bool done = false;
    while (!done)
        if (tts_job_wait(job, 50, b, &done) != VB_OK)
            return VB_ERR_NOMEM;
    return tts_job_result(job);
}

TEST(bad_params)
{
    CHECK(tts_pool_new(0, 1) == NULL);
    CHECK(tts_pool_new(1, 0) == NULL);
    CHECK(tts_pool_new(65, 1) == NULL);
    tts_pool_free(NULL);
    tts_job_free(NULL);
}

TEST(result_and_queue_full)
{
    struct tts_pool *p = tts_pool_new(1, 2);
    struct work w = {.result = VB_ERR_FORMAT};
    struct tts_job *j[4];
    for (int i = 0; i < 4; i++)
        j[i] = tts_job_new(blocking, &w);
    CHECK(tts_pool_submit(p, j[0]) == VB_OK);
    while (atomic_load(&w.started) < 1)
        usleep(1000);
    /* one running, two may wait, the fourth is refused at once */
    CHECK(tts_pool_submit(p, j[1]) == VB_OK);
    CHECK(tts_pool_submit(p, j[2]) == VB_OK);
    CHECK(tts_pool_submit(p, j[3]) == VB_ERR_UNAVAILABLE);
    CHECK(tts_pool_submit(p, j[0]) == VB_ERR_UNAVAILABLE); /* already submitted */
    CHECK_EQ_INT(tts_pool_load(p), 3);
    atomic_store(&w.release, true);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(drain(j[i], NULL), VB_ERR_FORMAT);
    CHECK(tts_job_queued_ms(j[2]) > 0);
    for (int i = 0; i < 4; i++)
        tts_job_free(j[i]);
    tts_pool_free(p);
}

TEST(cancel_running_and_queued)
{
    struct tts_pool *p = tts_pool_new(1, 4);
    struct work w = {0};
    struct tts_job *a = tts_job_new(blocking, &w), *b = tts_job_new(blocking, &w);
    CHECK(tts_pool_submit(p, a) == VB_OK && tts_pool_submit(p, b) == VB_OK);
    while (atomic_load(&w.started) < 1)
        usleep(1000);
    tts_job_cancel(b); /* still queued: never runs */
    tts_job_cancel(a); /* running: notices */
    CHECK_EQ_INT(drain(a, NULL), VB_ERR_CANCELLED);
    CHECK_EQ_INT(drain(b, NULL), VB_ERR_CANCELLED);
    CHECK_EQ_INT(atomic_load(&w.started), 1);
    tts_job_free(a);
    tts_job_free(b);
    tts_pool_free(p);
}

TEST(byte_channel)
{
    struct tts_pool *p = tts_pool_new(2, 4);
    /* 12 MiB through a 4 MiB backlog: the producer must wait for the consumer */
    struct work w = {.emit_count = 48, .emit_size = 256 * 1024};
    struct tts_job *j = tts_job_new(emitting, &w);
    CHECK(tts_pool_submit(p, j) == VB_OK);
    struct vb_buf b;
    vb_buf_init(&b, (size_t)64 << 20);
    size_t max_chunk = 0;
    bool done = false;
    while (!done) {
        size_t before = b.len;
        CHECK(tts_job_wait(j, 50, &b, &done) == VB_OK);
        max_chunk = VB_MAX(max_chunk, b.len - before);
        usleep(2000); /* a slow consumer */
    }
    CHECK_EQ_INT(tts_job_result(j), VB_OK);
    CHECK_EQ_INT(b.len, (size_t)48 * 256 * 1024);
    CHECK_MSG(max_chunk <= TTS_JOB_BACKLOG_MAX + 256 * 1024, "%zu", max_chunk);
    bool ordered = true;
    for (size_t i = 0; i < b.len; i += 256 * 1024)
        ordered &= (unsigned char)b.data[i] == (unsigned char)((i / (256 * 1024)) & 0xff);
    CHECK(ordered);
    vb_buf_release(&b);
    tts_job_free(j);

    /* a cancelled consumer unblocks a producer stuck on a full backlog */
    struct work w2 = {.emit_count = 1000, .emit_size = 1024 * 1024};
    j = tts_job_new(emitting, &w2);
    CHECK(tts_pool_submit(p, j) == VB_OK);
    usleep(50000);
    tts_job_cancel(j);
    CHECK_EQ_INT(drain(j, NULL), VB_ERR_CANCELLED);
    tts_job_free(j);
    tts_pool_free(p);
}

/* The waiter sleeps on the job's wake fd (poll, no timeout) and still gets every byte and
 * the end: the fd wakes it for each emit and for completion. */
TEST(wake_fd_hands_back_by_wakeup)
{
    struct tts_pool *p = tts_pool_new(1, 4);
    struct work w = {.emit_count = 40, .emit_size = 1000};
    struct tts_job *j = tts_job_new(emitting, &w);
    CHECK(j && tts_job_wake_fd(j) >= 0);
    CHECK(tts_pool_submit(p, j) == VB_OK);
    struct vb_buf b;
    vb_buf_init(&b, (size_t)1 << 20);
    bool done = false;
    for (;;) {
        CHECK(tts_job_wait(j, 0, &b, &done) == VB_OK);
        if (done)
            break;
        struct pollfd pfd = {.fd = tts_job_wake_fd(j), .events = POLLIN};
        if (poll(&pfd, 1, 10000) != 1) /* a lost wake-up would sleep here until the end */
            break;
    }
    CHECK(done);
    CHECK_EQ_INT(b.len, (size_t)40 * 1000);
    CHECK_EQ_INT(tts_job_result(j), VB_OK);
    tts_job_free(j);

    /* a job that emits nothing wakes its sleeping waiter when it ends */
    struct work wb = {.result = VB_ERR_FORMAT};
    j = tts_job_new(blocking, &wb);
    CHECK(tts_pool_submit(p, j) == VB_OK);
    while (!atomic_load(&wb.started))
        usleep(1000);
    CHECK(tts_job_wait(j, 0, NULL, &done) == VB_OK && !done);
    atomic_store(&wb.release, true);
    struct pollfd end = {.fd = tts_job_wake_fd(j), .events = POLLIN};
    CHECK_EQ_INT(poll(&end, 1, 10000), 1);
    CHECK(tts_job_wait(j, 0, NULL, &done) == VB_OK && done);
    CHECK_EQ_INT(tts_job_result(j), VB_ERR_FORMAT);
    tts_job_free(j);

    /* waiting with no time limit returns at the end of a cancelled job */
    struct work w2 = {.emit_count = 1000, .emit_size = 1024 * 1024};
    j = tts_job_new(emitting, &w2);
    CHECK(tts_pool_submit(p, j) == VB_OK);
    tts_job_cancel(j);
    done = false;
    while (!done)
        CHECK(tts_job_wait(j, -1, NULL, &done) == VB_OK);
    CHECK_EQ_INT(tts_job_result(j), VB_ERR_CANCELLED);
    tts_job_free(j);
    vb_buf_release(&b);
    tts_pool_free(p);
}

TEST(free_with_queued_jobs)
{
    struct tts_pool *p = tts_pool_new(1, 8);
    struct work w = {0};
    struct tts_job *j[3];
    for (int i = 0; i < 3; i++) {
        j[i] = tts_job_new(blocking, &w);
        CHECK(tts_pool_submit(p, j[i]) == VB_OK);
    }
    while (atomic_load(&w.started) < 1)
        usleep(1000);
    tts_pool_free(p); /* cancels the running job too, or this would never return */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(drain(j[i], NULL), VB_ERR_CANCELLED);
        tts_job_free(j[i]);
    }
    CHECK_EQ_INT(atomic_load(&w.started), 1);
}

int main(void)
{
    RUN(bad_params);
    RUN(result_and_queue_full);
    RUN(cancel_running_and_queued);
    RUN(byte_channel);
    RUN(wake_fd_hands_back_by_wakeup);
    RUN(free_with_queued_jobs);
    return test_summary();
}
