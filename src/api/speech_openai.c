/* speech_openai.c: POST /v1/audio/speech, OpenAI's request shape (model, input, voice,
 * response_format, speed) on our engines, so OpenAI clients work unchanged. The audio comes
 * back as the response body (streamed while it is produced for wav and pcm); it is not
 * stored in the history. Voice mapping (also in docs/API_REFERENCE.md):
 *   OpenAI voice name -> built-in espeak-ng voice (table below; engines without these
 *   built-in voices use their default voice); a numeric id or the name of one of the
 *   user's uploaded voices -> that voice as a cloning prompt (cloning engines only); any
 *   other string -> a built-in voice of the engine ("en-gb+f3"). */
#include "core/vb.h"
#include "api/handlers.h"
#include "api/idempotency.h"
#include "api/request.h"
#include "api/tts_form.h"
#include "api/tts_jobs.h"
#include "audio/encode.h"
#include "core/alloc.h"
#include "db/store.h"

#include <strings.h>

#define OPENAI_INPUT_MAX_CHARS TTS_TEXT_MAX_CHARS
#define OPENAI_SPEED_MIN       0.25
#define OPENAI_SPEED_MAX       4.0
#define OPENAI_PCM_RATE_HZ     24000 /* OpenAI's pcm: 24 kHz, signed 16-bit little-endian */

static const struct {
    const char *openai, *espeak;
} voice_map[] = {
    {"alloy", "en-us+f5"},   {"ash", "en-us+m2"},   {"ballad", "en-gb+m4"},
    {"coral", "en-us+f4"},   {"echo", "en-us+m3"},  {"fable", "en-gb-x-rp+m1"},
    {"onyx", "en-us+m1"},    {"nova", "en-us+f3"},  {"sage", "en-us+f2"},
    {"shimmer", "en-us+f1"}, {"verse", "en-us+m7"},
};

static const char *const openai_models[] = {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"};

/* model -> engine name (NULL = the configured default). */
static enum vb_err pick_engine(struct http_request *req, struct tts_service *svc, const char *model,
                               const char **engine)
{
    *engine = NULL;
    if (!model)
        return VB_OK;
    for (size_t i = 0; i < VB_ARRAY_LEN(openai_models); i++)
        if (strcmp(model, openai_models[i]) == 0)
            return VB_OK;
    if (tts_registry_find(svc->registry, model)) {
        *engine = model;
        return VB_OK;
    }
    http_req_set_error(req, "model",
                       "model: unknown model '%.40s'; use tts-1, tts-1-hd, gpt-4o-mini-tts (the "
                       "default engine) or an engine name: %s",
                       model, tts_registry_names(svc->registry));
    return VB_ERR_UNPROCESSABLE;
}

/* response_format -> our format and output rate. */
static enum vb_err pick_format(struct http_request *req, const char *rf, const char **format,
                               int *rate)
{
    *rate = 0;
    *format = rf ? rf : "mp3";
    if (strcmp(*format, "pcm") == 0) {
        *format = TTS_FORMAT_PCM;
        *rate = OPENAI_PCM_RATE_HZ;
        return VB_OK;
    }
    if (audio_format_supported(*format))
        return VB_OK;
    http_req_set_error(req, "response_format",
                       "response_format: '%.20s' is not supported here; supported: %s, pcm",
                       *format, audio_formats_supported());
    return VB_ERR_UNPROCESSABLE;
}

/* One of the user's uploaded voices by id or name, or 0. */
static enum vb_err find_uploaded(struct api_app *app, int64_t user_id, const char *voice,
                                 int64_t *id)
{
    struct db_voice_list list = {0};
    *id = 0;
    enum vb_err err = db_voice_list(app->store, user_id, &list);
    if (err)
        return err;
    for (size_t i = 0; i < list.n && !*id; i++)
        if (strcmp(list.items[i].name, voice) == 0)
            *id = list.items[i].id;
    db_voice_list_release(&list);
    return VB_OK;
}

/* voice -> built-in voice (*builtin, borrowed or NULL) or an uploaded voice as prompt. */
static enum vb_err pick_voice(struct http_request *req, struct api_app *app, struct tts_engine *e,
                              const char *voice, int64_t db_id, const char **builtin,
                              struct audio_pcm *prompt)
{
    *builtin = NULL;
    if (!db_id && voice) {
        for (size_t i = 0; i < VB_ARRAY_LEN(voice_map); i++) {
            if (strcasecmp(voice, voice_map[i].openai) != 0)
                continue;
            /* engines without this built-in voice use their default one */
            struct tts_params p = tts_default_params();
            const char *field;
            char why[300];
            p.voice = voice_map[i].espeak;
            if (tts_engine_check(e, &p, &field, why, sizeof why) == VB_OK)
                *builtin = voice_map[i].espeak;
            return VB_OK;
        }
        enum vb_err err = find_uploaded(app, http_req_user_id(req), voice, &db_id);
        if (err)
            return err;
        if (!db_id) {
            *builtin = voice;
            return VB_OK;
        }
    }
    if (!db_id)
        return VB_OK;
    enum vb_err err = tts_voice_prompt(req, app, "voice", db_id, prompt);
    if (!err && !(tts_engine_caps(e) & TTS_CAP_CLONING))
        err = tts_refuse_cloning(req, "voice", tts_engine_name(e));
    return err;
}

enum vb_err api_speech_openai(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct tts_service *svc = app->tts;
    struct tts_form f;
    struct tts_engine *e = NULL;
    struct tts_output out = {0};
    struct audio_pcm prompt = {0};
    struct http_stream *stream = NULL;
    struct api_idem idem = {0};
    char *input = NULL, *model = NULL, *voice = NULL, *rf = NULL;
    size_t len = 0;
    int64_t voice_id = 0;
    double speed = 1.0, queue_ms;
    bool has_speed;
    const char *engine_name, *format, *builtin;
    int rate;
    if (!svc)
        return VB_ERR_UNAVAILABLE;
    enum vb_err err = tts_form_parse(req, false, &f);
    if (err)
        return err;
    if ((err = tts_form_text(req, &f, "input", &input, &len)) ||
        (err = tts_form_string(req, &f, "model", 64, &model)) ||
        (err = tts_form_voice(req, &f, "voice", &voice_id, &voice)) ||
        (err = tts_form_string(req, &f, "response_format", 16, &rf)) ||
        (err = tts_form_number(req, &f, "speed", OPENAI_SPEED_MIN, OPENAI_SPEED_MAX, &has_speed,
                               &speed)) ||
        (err = pick_engine(req, svc, model, &engine_name)) ||
        (err = pick_format(req, rf, &format, &rate)) ||
        (err = api_tts_engine(req, svc, app->cfg, engine_name, &e)) ||
        (err = pick_voice(req, app, e, voice, voice_id, &builtin, &prompt)))
        goto out;
    struct tts_request r = tts_request_default();
    r.text = input;
    r.text_len = len;
    r.format = format;
    r.sample_rate = rate;
    r.params.voice = builtin;
    r.params.prompt = prompt.samples ? &prompt : NULL;
    /* OpenAI allows 0.25-4.0; our engines do 0.5-2.0: clamp into that range */
    r.params.speed = speed < TTS_SPEED_MIN   ? TTS_SPEED_MIN
                     : speed > TTS_SPEED_MAX ? TTS_SPEED_MAX
                                             : speed;
    const char *field = NULL;
    char why[300];
    if (tts_engine_check(e, &r.params, &field, why, sizeof why) != VB_OK) {
        http_req_set_error(req, field && strcmp(field, "voice_id") == 0 ? "voice" : field, "%s",
                           why);
        err = VB_ERR_UNPROCESSABLE;
        goto out;
    }
    if ((err = api_idem_begin(req, &idem)))
        goto out;
    if (idem.replay.status) {
        err = api_idem_replay(req, &idem);
        goto out;
    }
    bool streamable = strcmp(format, "wav") == 0 || strcmp(format, TTS_FORMAT_PCM) == 0;
    const struct audio_format_desc *fd = audio_format_find(format);
    const char *ctype = fd ? fd->content_type : "audio/pcm";
    err = api_tts_generate(req, svc, e, &r, streamable ? ctype : NULL, &stream, &out, &queue_ms);
    if (err)
        goto out;
    api_idem_keep(&idem, 200, out.content_type, DB_IDEM_BODY_BASE64, out.data, out.len);
    if (stream)
        http_stream_close(stream);
    else
        err = http_reply_bytes(req, 200, out.content_type, out.data, out.len);
out:
    api_idem_end(&idem);
    tts_output_release(&out);
    audio_pcm_release(&prompt);
    vb_free(input);
    vb_free(model);
    vb_free(voice);
    vb_free(rf);
    tts_form_release(&f);
    return err;
}
