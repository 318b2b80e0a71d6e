/* speech_service.h: the service layer between the speech handlers (api/tts.c, chat's
 * `speak`) and storage. A handler parses its request into a struct speech_input, checks it
 * (speech_check), and makes one call that runs the generation on the app's speech service
 * (api/tts_jobs.h), writes the file under STORAGE_DIR and the history row, and hands back the
 * stored row; the handler then replies. Layering: api handlers -> api/speech_service ->
 * {api/tts_jobs, api/storage, db, tts}; nothing here includes a handler. */
#ifndef VB_API_SPEECH_SERVICE_H
#define VB_API_SPEECH_SERVICE_H

#include "core/vb.h"
#include "api/app.h"
#include "core/fsutil.h"
#include "db/store.h"
#include "http/http.h"
#include "tts/pipeline.h"

/* One speech request, parsed (strings and clips owned; speech_input_release). */
struct speech_input {
    char *text;
    size_t text_len;
    char *engine, *voice, *language, *ambience_id, *format;
    int64_t voice_db_id; /* an uploaded voice (cloning) */
    bool has_temperature, has_speed, has_seed, has_volume, stream;
    double temperature, speed, ambience_volume;
    uint64_t seed;
    const struct http_part *prompt_file;
    bool prompt_given; /* audio_prompt present in any form */
    struct audio_pcm prompt;
    struct audio_pcm ambience; /* a user's uploaded ambience */
};
void speech_input_release(struct speech_input *in);

/* The pipeline request for in (its strings borrowed from in). */
void speech_request_from(const struct speech_input *in, struct tts_request *r);
/* Everything checkable before queueing: format (pcm is only for the OpenAI route), the
 * pipeline's own checks, and the engine's (language, voice, ranges). 422 described on req. */
VB_WUR enum vb_err speech_check(struct http_request *req, struct tts_engine *e,
                                const struct tts_request *r, bool stream);

/* A generation run and stored. */
struct speech_generation {
    struct db_generation row; /* the stored row: parameters owned, other strings borrowed
                                 from the input, the engine and file_name */
    char file_name[VB_NAME_MAX];
    struct tts_output out;      /* the encoded file (owned) */
    double queue_ms;            /* waited for a generator */
    double store_ms;            /* writing the file and the row */
    struct http_stream *stream; /* streamed (in->stream): the open stream, which the caller
                                   closes once it has replied; NULL otherwise */
};
void speech_generation_release(struct speech_generation *g);

/* Runs r on e for req (streamed to the client as audio/wav while it is produced when
 * in->stream), then stores the file and the history row of req's user. Errors described on
 * req (503 + Retry-After when the generators are busy). On success *out holds the stored
 * row; release it with speech_generation_release. */
VB_WUR enum vb_err speech_generate_and_store(struct http_request *req, struct api_app *app,
                                             struct tts_engine *e, const struct speech_input *in,
                                             const struct tts_request *r,
                                             struct speech_generation *out);

/* Speaking text another route produced (chat replies with speak=true): the engine and voice
 * chosen when the request was parsed (api_speech_job_prepare in api/handlers.h). */
struct speech_job {
    struct tts_engine *engine;
    struct speech_input in;
};
/* Checks, runs and stores `text` as a generation of req's user: *generation_id its id. */
VB_WUR enum vb_err speech_job_run(struct http_request *req, struct speech_job *job,
                                  const char *text, int64_t *generation_id);
void speech_job_free(struct speech_job *job);

#endif
