/* stream.c: chunked streaming replies. The handler's worker thread writes into a bounded
 * ring buffer; libmicrohttpd's content reader (on an I/O thread) drains it. When the ring
 * is empty the reader suspends the connection and returns 0, and the next write or close
 * resumes it, so an I/O thread never blocks (see the design note in server.c). */
#include "core/vb.h"
#include "http/internal.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/time_fmt.h"

#include <errno.h>

#define WRITE_WAIT_MS 200 /* a blocked writer re-checks cancellation this often */

struct http_stream {
    struct http_server *srv;
    struct http_request *req; /* producer side only; alive while the handler runs */
    struct MHD_Connection *conn;
    int fd;
    pthread_mutex_t lock;
    pthread_cond_t cv; /* space freed, or the stream finished */
    char *buf;         /* ring of HTTP_STREAM_BUF bytes */
    size_t head, len;
    bool suspended; /* the reader suspended the connection waiting for data */
    bool closed;    /* producer is done */
    bool aborted;   /* ... with an error: end the reply abnormally */
    bool cancelled; /* the client went away */
    bool finished;  /* libmicrohttpd completed the request */
    int refs;       /* producer, response, request */
    uint64_t sent;
};

static void stream_unref(struct http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    int left = --s->refs;
    pthread_mutex_unlock(&s->lock);
    if (left)
        return;
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cv);
    vb_free(s->buf);
    vb_free(s);
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct http_stream *s = cls;
    ssize_t ret;
    pthread_mutex_lock(&s->lock);
    if (s->len > 0) {
        size_t n = VB_MIN(max, s->len);
        size_t first = VB_MIN(n, HTTP_STREAM_BUF - s->head);
        memcpy(out, s->buf + s->head, first);
        memcpy(out + first, s->buf, n - first);
        s->head = (s->head + n) % HTTP_STREAM_BUF;
        s->len -= n;
        s->sent += n;
        pthread_cond_broadcast(&s->cv);
        ret = (ssize_t)n;
    } else if (s->closed) {
        ret = s->aborted ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    } else if (s->cancelled || atomic_load(&s->srv->hard_stop)) {
        ret = MHD_CONTENT_READER_END_WITH_ERROR;
    } else {
        /* Nothing yet: park the connection; the producer resumes it. */
        s->suspended = true;
        MHD_suspend_connection(s->conn);
        ret = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return ret;
}

static void reader_free(void *cls)
{
    stream_unref(cls);
}

struct http_stream *http_reply_stream(struct http_request *req, int status,
                                      const char *content_type)
{
    if (req->replied) {
        vb_warn("http: %s %s: stream started after a reply", req->method, req->path);
        return NULL;
    }
    struct http_stream *s = vb_try_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->buf = vb_try_malloc(HTTP_STREAM_BUF);
    if (!s->buf) {
        vb_free(s);
        return NULL;
    }
    s->srv = req->srv;
    s->req = req;
    s->conn = req->conn;
    s->fd = req->fd;
    s->refs = 3;
    pthread_mutex_init(&s->lock, NULL);
    vb_cond_init_mono(&s->cv);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, s, reader_free);
    if (!resp) {
        s->refs = 1;
        stream_unref(s);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type",
                            content_type ? content_type : "application/octet-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (http_req_stage(req, status, resp, 0) != VB_OK) {
        /* resp was destroyed, which dropped its reference */
        s->refs--;
        stream_unref(s);
        return NULL;
    }
    req->stream = s;
    req->stream_closed = false;
    http_req_resume(req); /* send the headers now; the body follows as it is written */
    return s;
}

/* Called with s->lock held: clears the suspended flag and says whether the caller must
 * resume the connection (after unlocking). */
static bool take_resume(struct http_stream *s)
{
    if (!s->suspended)
        return false;
    s->suspended = false;
    return true;
}

enum vb_err http_stream_write(struct http_stream *s, const void *data, size_t len)
{
    if (!s)
        return VB_ERR_INVALID;
    const char *p = data;
    enum vb_err err = VB_OK;
    pthread_mutex_lock(&s->lock);
    if (s->closed) {
        err = VB_ERR_INVALID;
        goto out;
    }
    while (len > 0) {
        if (!s->cancelled && s->suspended && http_peer_gone(s->fd))
            s->cancelled = true;
        if (s->cancelled || s->finished || atomic_load(&s->srv->hard_stop)) {
            err = VB_ERR_CANCELLED;
            break;
        }
        size_t space = HTTP_STREAM_BUF - s->len;
        if (space == 0) {
            struct timespec ts;
            vb_mono_deadline(&ts, WRITE_WAIT_MS);
            pthread_cond_timedwait(&s->cv, &s->lock, &ts);
            continue;
        }
        size_t n = VB_MIN(space, len);
        size_t tail = (s->head + s->len) % HTTP_STREAM_BUF;
        size_t first = VB_MIN(n, HTTP_STREAM_BUF - tail);
        memcpy(s->buf + tail, p, first);
        memcpy(s->buf, p + first, n - first);
        s->len += n;
        p += n;
        len -= n;
        if (take_resume(s)) {
            pthread_mutex_unlock(&s->lock);
            MHD_resume_connection(s->conn);
            pthread_mutex_lock(&s->lock);
        }
    }
    /* A cancelled stream that is still parked must be resumed so that it can end. */
    bool resume = err == VB_ERR_CANCELLED && !s->finished && take_resume(s);
    if (resume) {
        pthread_mutex_unlock(&s->lock);
        MHD_resume_connection(s->conn);
        return err;
    }
out:
    pthread_mutex_unlock(&s->lock);
    return err;
}

void http_stream_end(struct http_stream *s, bool abort)
{
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    s->aborted = abort;
    bool resume = !s->finished && take_resume(s);
    pthread_mutex_unlock(&s->lock);
    if (resume)
        MHD_resume_connection(s->conn);
    stream_unref(s); /* the producer's reference */
}

void http_stream_close(struct http_stream *s)
{
    if (!s)
        return;
    s->req->stream_closed = true;
    http_stream_end(s, false);
}

uint64_t http_stream_finish(struct http_stream *s, bool ok)
{
    pthread_mutex_lock(&s->lock);
    s->finished = true;
    if (!ok)
        s->cancelled = true;
    s->suspended = false;
    uint64_t sent = s->sent;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    return sent;
}

bool http_stream_cancelled(struct http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->cancelled && s->suspended && http_peer_gone(s->fd))
        s->cancelled = true;
    bool c = s->cancelled || (s->finished && !s->closed);
    pthread_mutex_unlock(&s->lock);
    return c;
}

void http_stream_release(struct http_stream *s)
{
    if (s)
        stream_unref(s);
}
