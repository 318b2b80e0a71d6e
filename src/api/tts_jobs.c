/* tts_jobs.c: picking the engine for a request and running one generation of the app's
 * speech service for it, with streaming and cancellation. */
#include "core/vb.h"
#include "api/tts_jobs.h"
#include "api/storage.h"
#include "core/alloc.h"
#include "core/log.h"
#include "tts/jobs.h"

enum vb_err api_tts_engine(struct http_request *req, struct tts_service *svc,
                           const struct vb_config *cfg, const char *name, struct tts_engine **out)
{
    struct tts_engine *e = NULL;
    char why[200];
    *out = NULL;
    if (name) {
        e = tts_registry_find(svc->registry, name);
        if (!e) {
            http_req_set_error(req, "engine", "engine: unknown engine '%.40s'; available: %s", name,
                               tts_registry_names(svc->registry));
            return VB_ERR_UNPROCESSABLE;
        }
    } else {
        e = tts_registry_default(svc->registry, cfg->tts_engine);
        if (!e) {
            vb_warn("tts: TTS_ENGINE=%s is not available; using %s", cfg->tts_engine,
                    TTS_ENGINE_ESPEAK);
            e = tts_registry_find(svc->registry, TTS_ENGINE_ESPEAK);
        }
    }
    if (!e || tts_engine_load(e, why, sizeof why) != VB_OK) {
        char pub[sizeof why];
        api_storage_redact(cfg, e ? why : "not built in", pub, sizeof pub);
        http_req_set_error(req, "engine", "engine %s is not available: %s",
                           e ? tts_engine_name(e) : "(none)", pub);
        return VB_ERR_UNAVAILABLE;
    }
    *out = e;
    return VB_OK;
}

/* What a pool thread needs for one generation. */
struct gen_job {
    struct tts_engine *engine;
    const struct tts_request *request;
    bool streaming;
    struct tts_job *job;
    struct tts_output out;
    struct tts_diag diag;
};

static bool job_cancelled(void *user)
{
    struct gen_job *g = user;
    return tts_job_cancelled(g->job);
}

static enum vb_err job_audio(const void *bytes, size_t n, void *user)
{
    struct gen_job *g = user;
    return tts_job_emit(g->job, bytes, n);
}

static enum vb_err run_job(struct tts_job *job, void *arg)
{
    struct gen_job *g = arg;
    struct tts_pipeline_callbacks cb = {
        .cancelled = job_cancelled,
        .on_audio = g->streaming ? job_audio : NULL,
        .user = g,
    };
    (void)job;
    return tts_pipeline_run(g->engine, g->request, &cb, &g->out, &g->diag);
}

enum vb_err api_tts_generate(struct http_request *req, struct tts_service *svc,
                             struct tts_engine *e, const struct tts_request *r,
                             const char *stream_type, struct http_stream **stream,
                             struct tts_output *out, double *queue_ms)
{
    struct gen_job g = {.engine = e, .request = r, .streaming = stream_type != NULL};
    struct vb_buf bytes;
    bool done = false;
    enum vb_err err;
    memset(out, 0, sizeof *out);
    *queue_ms = 0;
    if (stream)
        *stream = NULL;
    vb_buf_init(&bytes, TTS_JOB_BACKLOG_MAX * 2);
    g.job = tts_job_new(run_job, &g);
    if (!g.job)
        return VB_ERR_NOMEM;
    err = tts_pool_submit(svc->pool, g.job);
    if (err) {
        tts_job_free(g.job);
        http_reply_header(req, "Retry-After", API_TTS_RETRY_AFTER_S);
        http_req_set_error(req, NULL,
                           "all speech generators are busy (%d running, queue full); retry in "
                           "a few seconds",
                           tts_pool_workers(svc->pool));
        return VB_ERR_UNAVAILABLE;
    }
    struct http_stream *s = NULL;
    for (;;) {
        if (tts_job_wait(g.job, 0, &bytes, &done) != VB_OK)
            tts_job_cancel(g.job);
        if (bytes.len > 0 && stream_type && !tts_job_cancelled(g.job)) {
            if (!s && !(s = http_reply_stream(req, 200, stream_type))) {
                tts_job_cancel(g.job);
            } else if (http_stream_write(s, bytes.data, bytes.len) != VB_OK) {
                vb_info("tts: client went away; cancelling its generation (request %s)",
                        http_req_id(req));
                tts_job_cancel(g.job);
            }
        }
        vb_buf_reset(&bytes);
        if (done)
            break;
        if (tts_job_cancelled(g.job)) { /* it ends soon: wait for that alone */
            if (tts_job_wait(g.job, -1, NULL, &done) != VB_OK)
                vb_warn("tts: lost the bytes of a cancelled generation (request %s)",
                        http_req_id(req));
        } else if (http_req_wait_readable(req, tts_job_wake_fd(g.job)) != VB_OK) {
            /* woken by the client going away (or the server stopping), not by the job */
            vb_info("tts: client went away; cancelling its generation (request %s)",
                    http_req_id(req));
            tts_job_cancel(g.job);
        }
    }
    vb_buf_release(&bytes);
    err = tts_job_result(g.job);
    *queue_ms = tts_job_queued_ms(g.job);
    tts_job_free(g.job);
    if (stream)
        *stream = s;
    if (err) {
        tts_output_release(&g.out);
        if (err == VB_ERR_UNPROCESSABLE)
            http_req_set_error(req, g.diag.field, "%s", g.diag.message);
        else if (err == VB_ERR_UNAVAILABLE)
            http_req_set_error(req, "engine", "%s", g.diag.message);
        else if (err != VB_ERR_CANCELLED)
            vb_warn("tts: generation failed: %s (request %s)", g.diag.message, http_req_id(req));
        return err;
    }
    *out = g.out;
    return VB_OK;
}
