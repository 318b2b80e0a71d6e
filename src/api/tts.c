/* tts.c: POST /generate-tts (JSON, or multipart with an audio_prompt file; stored in the
 * history, optionally streamed while it is produced) and POST /demo (quick WAV from JSON, a
 * form or the query string; a default sentence when given no text). */
#include "core/vb.h"
#include "api/ambiences.h"
#include "api/generations.h"
#include "api/handlers.h"
#include "api/idempotency.h"
#include "api/quota.h"
#include "api/request.h"
#include "api/speech_service.h"
#include "api/tts_form.h"
#include "api/tts_jobs.h"
#include "core/alloc.h"
#include "core/log.h"
#include "db/store.h"

#include <math.h>
#include <strings.h>

#define FIELD_MAX_BYTES 64
/* What POST /demo says when it is given no text (docs/API_REFERENCE.md quotes it). */
#define DEMO_DEFAULT_TEXT "Hello! This is Vocero, speaking with the default voice."

static void lower(char *s)
{
    for (; s && *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static enum vb_err parse_input(struct http_request *req, const struct tts_form *f,
                               struct speech_input *in)
{
    enum vb_err err;
    if ((err = tts_form_text(req, f, "text", &in->text, &in->text_len)) ||
        (err = tts_form_string(req, f, "engine", FIELD_MAX_BYTES, &in->engine)) ||
        (err = tts_form_voice(req, f, "voice_id", &in->voice_db_id, &in->voice)) ||
        (err = tts_form_string(req, f, "language", FIELD_MAX_BYTES, &in->language)) ||
        (err = tts_form_number(req, f, "temperature", TTS_TEMPERATURE_MIN, TTS_TEMPERATURE_MAX,
                               &in->has_temperature, &in->temperature)) ||
        (err = tts_form_number(req, f, "speed", TTS_SPEED_MIN, TTS_SPEED_MAX, &in->has_speed,
                               &in->speed)) ||
        (err = tts_form_string(req, f, "ambience_id", FIELD_MAX_BYTES, &in->ambience_id)) ||
        (err =
             tts_form_number(req, f, "ambience_volume", TTS_AMBIENCE_VOLUME_MIN_DB,
                             TTS_AMBIENCE_VOLUME_MAX_DB, &in->has_volume, &in->ambience_volume)) ||
        (err = tts_form_string(req, f, "format", FIELD_MAX_BYTES, &in->format)) ||
        (err = tts_form_uint(req, f, "seed", &in->has_seed, &in->seed)) ||
        (err = tts_form_bool(req, f, "stream", &in->stream)))
        return err;
    lower(in->format);
    in->prompt_given = tts_form_has(f, "audio_prompt");
    in->prompt_file = tts_form_file(f, "audio_prompt");
    if (in->voice_db_id && in->prompt_given) {
        http_req_set_error(req, "audio_prompt",
                           "audio_prompt: give either voice_id or audio_prompt, not both");
        return VB_ERR_UNPROCESSABLE;
    }
    return VB_OK;
}

/* Cloning: an uploaded voice or a prompt file becomes in->prompt (or a 422 when the engine
 * cannot clone). */
static enum vb_err load_prompt(struct http_request *req, struct api_app *app, struct tts_engine *e,
                               struct speech_input *in)
{
    if (!in->voice_db_id && !in->prompt_given)
        return VB_OK;
    const char *field = in->voice_db_id ? "voice_id" : "audio_prompt";
    bool can_clone = tts_engine_caps(e) & TTS_CAP_CLONING;
    if (in->voice_db_id) {
        /* an unknown voice is a 422 on every engine; a known one needs a cloning engine */
        enum vb_err err = tts_voice_prompt(req, app, field, in->voice_db_id, &in->prompt);
        if (err)
            return err;
        if (!can_clone)
            return tts_refuse_cloning(req, field, tts_engine_name(e));
        return VB_OK;
    }
    if (!can_clone)
        return tts_refuse_cloning(req, field, tts_engine_name(e));
    if (!in->prompt_file) {
        http_req_set_error(req, field,
                           "audio_prompt: send it as a file part of a multipart/form-data request");
        return VB_ERR_UNPROCESSABLE;
    }
    return tts_prompt_decode(req, field, in->prompt_file, &in->prompt);
}

/* An uploaded ambience id becomes in->ambience; built-in ids are the pipeline's. */
static enum vb_err load_ambience(struct http_request *req, struct api_app *app,
                                 struct speech_input *in)
{
    if (!in->ambience_id || !api_ambience_is_upload_id(in->ambience_id))
        return VB_OK;
    enum vb_err err = api_ambience_load(req, app, in->ambience_id, &in->ambience);
    if (err == VB_ERR_NOT_FOUND) {
        http_req_set_error(req, "ambience_id",
                           "ambience_id: you have no ambience '%s' (GET /ambiences lists them)",
                           in->ambience_id);
        err = VB_ERR_UNPROCESSABLE;
    }
    return err;
}

static void write_timings(struct vb_jw *w, const struct tts_output *out, double queue_ms,
                          double store_ms)
{
    vb_jw_obj_begin(w);
    vb_jw_kdouble(w, "queue_ms", round(queue_ms * 10) / 10);
    for (int s = 0; s < TTS_STAGE_COUNT; s++) {
        char key[32];
        snprintf(key, sizeof key, "%s_ms", tts_stage_name((enum tts_stage)s));
        vb_jw_kdouble(w, key, round(out->timings.stage_ms[s] * 10) / 10);
    }
    vb_jw_kdouble(w, "store_ms", round(store_ms * 10) / 10);
    vb_jw_kdouble(w, "total_ms", round((out->timings.total_ms + queue_ms + store_ms) * 10) / 10);
    if (out->timings.first_audio_ms > 0)
        vb_jw_kdouble(w, "first_audio_ms", round(out->timings.first_audio_ms * 10) / 10);
    vb_jw_kdouble(w, "real_time_factor",
                  out->duration_s > 0
                      ? round(out->timings.total_ms / 1000.0 / out->duration_s * 1000) / 1000
                      : 0);
    vb_jw_obj_end(w);
}

/* 201 with the generation object plus "timings". */
static enum vb_err reply_created(struct http_request *req, struct api_app *app,
                                 const struct db_generation *g, const struct tts_output *out,
                                 double queue_ms, double store_ms, struct api_idem *idem)
{
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    api_write_generation_members(&w, app, g);
    vb_jw_key(&w, "timings");
    write_timings(&w, out, queue_ms, store_ms);
    vb_jw_obj_end(&w);
    enum vb_err err = vb_jw_finish(&w);
    if (err) {
        vb_buf_release(&b);
        return err;
    }
    char loc[64];
    snprintf(loc, sizeof loc, "/history/%lld", (long long)g->id);
    http_reply_header(req, "Location", loc);
    api_idem_keep(idem, 201, "application/json", DB_IDEM_BODY_TEXT, b.data, b.len);
    return http_reply_json(req, 201, &b);
}

enum vb_err api_speech_generate(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct tts_service *svc = app->tts;
    struct tts_form f;
    struct speech_input in = {0};
    struct tts_engine *e = NULL;
    struct tts_request r;
    struct speech_generation g = {0};
    struct api_idem idem = {0};
    if (!svc)
        return VB_ERR_UNAVAILABLE;
    enum vb_err err = tts_form_parse(req, true, &f);
    if (err)
        return err;
    if ((err = parse_input(req, &f, &in)) ||
        (err = api_tts_engine(req, svc, app->cfg, in.engine, &e)) ||
        (err = load_prompt(req, app, e, &in)) || (err = load_ambience(req, app, &in)))
        goto out;
    speech_request_from(&in, &r);
    if ((err = speech_check(req, e, &r, in.stream)) || (err = api_idem_begin(req, &idem)))
        goto out;
    if (idem.replay.status) {
        err = api_idem_replay(req, &idem);
        goto out;
    }
    /* After the replay: a retried request that already succeeded creates nothing. */
    if ((err = api_quota_check_generation(req)))
        goto out;
    if ((err = speech_generate_and_store(req, app, e, &in, &r, &g)))
        goto out;
    if (g.stream) {
        api_idem_keep(&idem, 200, "audio/wav", DB_IDEM_BODY_FILE, g.file_name, strlen(g.file_name));
        http_stream_close(g.stream);
    } else {
        err = reply_created(req, app, &g.row, &g.out, g.queue_ms, g.store_ms, &idem);
    }
out:
    api_idem_end(&idem);
    speech_generation_release(&g);
    speech_input_release(&in);
    tts_form_release(&f);
    return err;
}

enum vb_err api_speech_demo(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct tts_service *svc = app->tts;
    struct tts_form f;
    struct tts_engine *e = NULL;
    struct tts_output out = {0};
    char *text = NULL;
    size_t len = 0;
    double queue_ms;
    struct api_idem idem = {0};
    bool replayed = false;
    if (!svc)
        return VB_ERR_UNAVAILABLE;
    enum vb_err err = tts_form_parse_any(req, &f);
    if (err) {
        tts_form_release(&f);
        return err;
    }
    if (!(err = tts_form_text_or(req, &f, "text", DEMO_DEFAULT_TEXT, &text, &len)) &&
        !(err = api_tts_engine(req, svc, app->cfg, NULL, &e)) &&
        !(err = api_idem_begin(req, &idem)) && !(replayed = idem.replay.status != 0)) {
        struct tts_request r = tts_request_default();
        r.text = text;
        r.text_len = len;
        r.format = "wav";
        err = api_tts_generate(req, svc, e, &r, NULL, NULL, &out, &queue_ms);
    }
    if (!err && replayed) {
        err = api_idem_replay(req, &idem);
    } else if (!err) {
        api_idem_keep(&idem, 200, out.content_type, DB_IDEM_BODY_BASE64, out.data, out.len);
        err = http_reply_bytes(req, 200, out.content_type, out.data, out.len);
    }
    api_idem_end(&idem);
    tts_output_release(&out);
    vb_free(text);
    tts_form_release(&f);
    return err;
}

/* ===== Speaking text another route produced (chat replies) ===== */

enum vb_err api_speech_job_prepare(struct http_request *req, struct speech_job **out)
{
    struct api_app *app = http_req_app(req);
    struct speech_job *job = vb_xcalloc(1, sizeof *job);
    struct tts_form f;
    *out = NULL;
    enum vb_err err = app->tts ? tts_form_parse(req, false, &f) : VB_ERR_UNAVAILABLE;
    if (err) {
        vb_free(job);
        return err;
    }
    if (!(err = tts_form_string(req, &f, "engine", FIELD_MAX_BYTES, &job->in.engine)) &&
        !(err = tts_form_voice(req, &f, "voice_id", &job->in.voice_db_id, &job->in.voice)) &&
        !(err = api_tts_engine(req, app->tts, app->cfg, job->in.engine, &job->engine)))
        err = load_prompt(req, app, job->engine, &job->in);
    tts_form_release(&f);
    if (err) {
        speech_job_free(job);
        return err;
    }
    *out = job;
    return VB_OK;
}
