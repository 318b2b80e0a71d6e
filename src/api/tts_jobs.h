/* tts_jobs.h: the HTTP side of the app's speech service (tts/service.h, app->tts): the
 * engine a request names, and the one call that runs a generation for an HTTP request: queue it
 * (503 + Retry-After when full), sleep until the job or the client wakes the handler (no timer:
 * a client that went away cancels the job), and stream the audio to the client as it is
 * produced when asked to. */
#ifndef VB_API_TTS_JOBS_H
#define VB_API_TTS_JOBS_H

#include "core/vb.h"
#include "api/app.h"
#include "http/http.h"
#include "tts/engine.h"
#include "tts/pipeline.h"
#include "tts/registry.h"
#include "tts/service.h"

#define API_TTS_RETRY_AFTER_S "5"

/* The engine a request names, or the configured default (TTS_ENGINE) when name is NULL.
 * 422 on an unknown name (the message lists the engines); 503 when it cannot load. The
 * error message and field are set on req. */
VB_WUR enum vb_err api_tts_engine(struct http_request *req, struct tts_service *svc,
                                  const struct vb_config *cfg, const char *name,
                                  struct tts_engine **out);

/* Runs r on engine e in the pool for req. With stream_type (a Content-Type) the audio is
 * streamed to the client as 200 with chunked transfer while it is produced, and
 * *streamed is set once the stream has started (the caller must then close it with
 * http_stream_close after storing, or return an error to abort it). Errors are described
 * on req (422 with the field, 503 + Retry-After when the queue is full). On success *out
 * holds the finished file (caller releases with tts_output_release) and *queue_ms the time
 * the job waited for a worker. */
VB_WUR enum vb_err api_tts_generate(struct http_request *req, struct tts_service *svc,
                                    struct tts_engine *e, const struct tts_request *r,
                                    const char *stream_type, struct http_stream **stream,
                                    struct tts_output *out, double *queue_ms);

#endif
