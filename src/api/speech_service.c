/* speech_service.c: running a speech request on the app's speech service and storing the
 * result (file and history row). */
#include "core/vb.h"
#include "api/speech_service.h"
#include "api/request.h"
#include "api/storage.h"
#include "api/tts_jobs.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/log.h"

#include <math.h>
#include <time.h>

void speech_input_release(struct speech_input *in)
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

void speech_request_from(const struct speech_input *in, struct tts_request *r)
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

enum vb_err speech_check(struct http_request *req, struct tts_engine *e,
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

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Writes the file and the history row; fills g (strings borrowed from the arguments except
 * parameters, which the caller frees). */
static enum vb_err store(struct http_request *req, struct api_app *app,
                         const struct speech_input *in, struct tts_engine *e,
                         const struct tts_request *r, const struct tts_output *out,
                         char file_name[VB_NAME_MAX], struct db_generation *g)
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

enum vb_err speech_generate_and_store(struct http_request *req, struct api_app *app,
                                      struct tts_engine *e, const struct speech_input *in,
                                      const struct tts_request *r, struct speech_generation *out)
{
    memset(out, 0, sizeof *out);
    enum vb_err err = api_tts_generate(req, app->tts, e, r, in->stream ? "audio/wav" : NULL,
                                       &out->stream, &out->out, &out->queue_ms);
    if (err)
        return err;
    double t0 = mono_ms();
    err = store(req, app, in, e, r, &out->out, out->file_name, &out->row);
    out->store_ms = mono_ms() - t0;
    if (err) {
        tts_output_release(&out->out);
        return err; /* a started stream is aborted by the error */
    }
    vb_info("tts: generation %lld: %zu chars, %.2f s of %s audio in %.0f ms (%s)",
            (long long)out->row.id, tts_text_count_chars(in->text, in->text_len),
            out->out.duration_s, out->out.format, out->out.timings.total_ms, tts_engine_name(e));
    return VB_OK;
}

void speech_generation_release(struct speech_generation *g)
{
    vb_free(g->row.parameters);
    tts_output_release(&g->out);
    memset(g, 0, sizeof *g);
}

enum vb_err speech_job_run(struct http_request *req, struct speech_job *job, const char *text,
                           int64_t *generation_id)
{
    struct api_app *app = http_req_app(req);
    struct tts_request r;
    struct speech_generation g = {0};
    *generation_id = 0;
    vb_free(job->in.text);
    job->in.text = vb_xstrdup(text);
    job->in.text_len = strlen(text);
    speech_request_from(&job->in, &r);
    enum vb_err err = speech_check(req, job->engine, &r, false);
    if (!err)
        err = speech_generate_and_store(req, app, job->engine, &job->in, &r, &g);
    if (!err)
        *generation_id = g.row.id;
    speech_generation_release(&g);
    return err;
}

void speech_job_free(struct speech_job *job)
{
    if (!job)
        return;
    speech_input_release(&job->in);
    vb_free(job);
}
