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
#include "api/storage.h"
#include "api/tts_form.h"
#include "api/tts_jobs.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "db/store.h"

#include <math.h>
#include <strings.h>
#include <time.h>

#define FIELD_MAX_BYTES 64
/* What POST /demo says when it is given no text (docs/API_REFERENCE.md quotes it). */
#define DEMO_DEFAULT_TEXT "Hello! This is Vocero, speaking with the default voice."

/* One /generate-tts request, parsed. */
struct gen_input {
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

static void input_release(struct gen_input *in)
{
    vb_free(in->text);
    vb_free(in->engine);
    vb_free(in->voice);
    vb_free(in->language);
    vb_free(in->ambience_id);
    vb_free(in->format);
    audio_pcm_release(&in->prompt);
    audio_pcm_release(&in->ambience);
    memset(in, 0, sizeof *in);
}

static void lower(char *s)
{
    for (; s && *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static enum vb_err parse_input(struct http_request *req, const struct tts_form *f,
                               struct gen_input *in)
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
                               struct gen_input *in)
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
                                 struct gen_input *in)
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

static void build_request(const struct gen_input *in, struct tts_request *r)
{
    *r = tts_request_default();
    r->text = in->text;
    r->text_len = in->text_len;
    r->params.language = in->language;
    r->params.voice = in->voice;
    r->params.prompt = in->prompt.samples ? &in->prompt : NULL;
    r->params.temperature = in->has_temperature ? in->temperature : 0;
    r->params.speed = in->has_speed ? in->speed : 1.0;
    r->params.seed = in->has_seed ? in->seed : 0;
    r->format = in->format ? in->format : "wav";
    r->ambience_id = in->ambience_id;
    r->ambience_pcm = in->ambience.samples ? &in->ambience : NULL;
    if (in->has_volume)
        r->ambience_volume_db = in->ambience_volume;
}

/* Everything checkable before queueing: format (pcm is only for the OpenAI route), the
 * pipeline's own checks, and the engine's (language, voice, ranges). */
static enum vb_err check_request(struct http_request *req, struct tts_engine *e,
                                 const struct tts_request *r, bool stream)
{
    const char *field = NULL;
    char why[300];
    if (strcmp(r->format, TTS_FORMAT_PCM) == 0) {
        http_req_set_error(req, "format", "format: 'pcm' is not supported; supported formats: %s",
                           tts_formats_supported());
        return VB_ERR_UNPROCESSABLE;
    }
    enum vb_err err = tts_request_check(r, stream, &field, why, sizeof why);
    if (!err)
        err = tts_engine_check(e, &r->params, &field, why, sizeof why);
    if (err)
        http_req_set_error(req, field, "%s", why);
    return err;
}

static void write_parameters(struct vb_jw *w, const struct tts_request *r, bool stream,
                             const struct tts_output *out)
{
    vb_jw_obj_begin(w);
    vb_jw_kstr(w, "voice", r->params.voice);
    vb_jw_kstr(w, "language", r->params.language);
    vb_jw_kdouble(w, "speed", r->params.speed);
    vb_jw_key(w, "temperature");
    if (r->params.temperature > 0)
        vb_jw_double(w, r->params.temperature);
    else
        vb_jw_null(w);
    vb_jw_key(w, "seed");
    if (r->params.seed)
        vb_jw_int(w, (int64_t)r->params.seed);
    else
        vb_jw_null(w);
    vb_jw_kstr(w, "ambience_id", r->ambience_id);
    vb_jw_key(w, "ambience_volume");
    if (r->ambience_id)
        vb_jw_double(w, r->ambience_volume_db);
    else
        vb_jw_null(w);
    vb_jw_kbool(w, "cloned", r->params.prompt != NULL);
    vb_jw_kstr(w, "format", out->format);
    vb_jw_kbool(w, "stream", stream);
    vb_jw_kdouble(w, "loudness_lufs", round(out->loudness_lufs * 10) / 10);
    vb_jw_obj_end(w);
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

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Writes the file and the history row; fills g (strings borrowed from the arguments except
 * parameters, which the caller frees). */
static enum vb_err store(struct http_request *req, struct api_app *app, const struct gen_input *in,
                         struct tts_engine *e, const struct tts_request *r,
                         const struct tts_output *out, char file_name[VB_NAME_MAX],
                         struct db_generation *g)
{
    struct vb_buf pb;
    struct vb_jw pw;
    api_json_begin(&pw, &pb);
    write_parameters(&pw, r, in->stream, out);
    enum vb_err err = vb_jw_finish(&pw);
    if (!err)
        err = vb_random_file_name("gen", out->extension, file_name);
    if (!err)
        err = api_storage_save(req, "STORAGE_DIR", app->cfg->storage_dir, file_name, out->data,
                               out->len);
    if (err) {
        vb_buf_release(&pb);
        return err;
    }
    memset(g, 0, sizeof *g);
    g->user_id = http_req_user_id(req);
    g->text = in->text;
    g->voice_id = in->voice_db_id;
    g->engine = (char *)tts_engine_name(e);
    g->parameters = vb_buf_take(&pb);
    g->file_name = file_name;
    g->duration_s = out->duration_s;
    g->sample_rate = out->sample_rate;
    g->format = (char *)out->format;
    g->size_bytes = (int64_t)out->len;
    err = db_generation_insert(app->store, g, &g->id, &g->created_at);
    if (err) {
        (void)vb_file_remove(app->cfg->storage_dir, file_name);
        vb_free(g->parameters);
        g->parameters = NULL;
    }
    return err;
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
    struct gen_input in = {0};
    struct tts_engine *e = NULL;
    struct tts_request r;
    struct tts_output out = {0};
    struct http_stream *stream = NULL;
    struct db_generation g = {0};
    struct api_idem idem = {0};
    char file_name[VB_NAME_MAX];
    double queue_ms = 0;
    if (!svc)
        return VB_ERR_UNAVAILABLE;
    enum vb_err err = tts_form_parse(req, true, &f);
    if (err)
        return err;
    if ((err = parse_input(req, &f, &in)) ||
        (err = api_tts_engine(req, svc, app->cfg, in.engine, &e)) ||
        (err = load_prompt(req, app, e, &in)) || (err = load_ambience(req, app, &in)))
        goto out;
    build_request(&in, &r);
    if ((err = check_request(req, e, &r, in.stream)) || (err = api_idem_begin(req, &idem)))
        goto out;
    if (idem.replay.status) {
        err = api_idem_replay(req, &idem);
        goto out;
    }
    /* After the replay: a retried request that already succeeded creates nothing. */
    if ((err = api_quota_check_generation(req)))
        goto out;
    err =
        api_tts_generate(req, svc, e, &r, in.stream ? "audio/wav" : NULL, &stream, &out, &queue_ms);
    if (err)
        goto out;
    double t0 = mono_ms();
    err = store(req, app, &in, e, &r, &out, file_name, &g);
    if (err)
        goto out;
    double store_ms = mono_ms() - t0;
    vb_info("tts: generation %lld: %zu chars, %.2f s of %s audio in %.0f ms (%s)", (long long)g.id,
            tts_text_count_chars(in.text, in.text_len), out.duration_s, out.format,
            out.timings.total_ms, tts_engine_name(e));
    if (stream) {
        api_idem_keep(&idem, 200, "audio/wav", DB_IDEM_BODY_FILE, file_name, strlen(file_name));
        http_stream_close(stream);
    } else {
        err = reply_created(req, app, &g, &out, queue_ms, store_ms, &idem);
    }
out:
    api_idem_end(&idem);
    vb_free(g.parameters);
    tts_output_release(&out);
    input_release(&in);
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

struct api_speech_job {
    struct tts_service *svc;
    struct tts_engine *engine;
    struct gen_input in;
};

enum vb_err api_speech_job_prepare(struct http_request *req, struct api_speech_job **out)
{
    struct api_app *app = http_req_app(req);
    struct api_speech_job *job = vb_xcalloc(1, sizeof *job);
    struct tts_form f;
    *out = NULL;
    job->svc = app->tts;
    enum vb_err err = job->svc ? tts_form_parse(req, false, &f) : VB_ERR_UNAVAILABLE;
    if (err) {
        vb_free(job);
        return err;
    }
    if (!(err = tts_form_string(req, &f, "engine", FIELD_MAX_BYTES, &job->in.engine)) &&
        !(err = tts_form_voice(req, &f, "voice_id", &job->in.voice_db_id, &job->in.voice)) &&
        !(err = api_tts_engine(req, job->svc, app->cfg, job->in.engine, &job->engine)))
        err = load_prompt(req, app, job->engine, &job->in);
    tts_form_release(&f);
    if (err) {
        api_speech_job_free(job);
        return err;
    }
    *out = job;
    return VB_OK;
}

enum vb_err api_speech_job_run(struct http_request *req, struct api_speech_job *job,
                               const char *text, int64_t *generation_id)
{
    struct api_app *app = http_req_app(req);
    struct tts_request r;
    struct tts_output out = {0};
    struct db_generation g = {0};
    char file_name[VB_NAME_MAX];
    double queue_ms = 0;
    *generation_id = 0;
    vb_free(job->in.text);
    job->in.text = vb_xstrdup(text);
    job->in.text_len = strlen(text);
    build_request(&job->in, &r);
    enum vb_err err = check_request(req, job->engine, &r, false);
    if (!err)
        err = api_tts_generate(req, job->svc, job->engine, &r, NULL, NULL, &out, &queue_ms);
    if (!err)
        err = store(req, app, &job->in, job->engine, &r, &out, file_name, &g);
    if (!err)
        *generation_id = g.id;
    vb_free(g.parameters);
    tts_output_release(&out);
    return err;
}

void api_speech_job_free(struct api_speech_job *job)
{
    if (!job)
        return;
    input_release(&job->in);
    vb_free(job);
}
