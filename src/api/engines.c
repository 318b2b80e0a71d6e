/* engines.c: GET /engines: every TTS engine, whether it is loaded, its capabilities,
 * languages and built-in voices; the output formats and the expressive tags. */
#include "core/vb.h"
#include "api/handlers.h"
#include "api/request.h"
#include "api/tts_jobs.h"
#include "audio/encode.h"
#include "core/log.h"

static void write_caps(struct vb_jw *w, unsigned caps)
{
    vb_jw_obj_begin(w);
    vb_jw_kbool(w, "cloning", caps & TTS_CAP_CLONING);
    vb_jw_kbool(w, "streaming", caps & TTS_CAP_STREAMING);
    vb_jw_kbool(w, "tags", caps & TTS_CAP_TAGS);
    vb_jw_kbool(w, "speed", true); /* native, or by time stretching in the pipeline */
    vb_jw_kbool(w, "temperature", caps & TTS_CAP_TEMPERATURE);
    vb_jw_kbool(w, "seed", caps & TTS_CAP_SEED);
    vb_jw_kbool(w, "languages", caps & TTS_CAP_LANGUAGES);
    vb_jw_obj_end(w);
}

static void write_engine(struct vb_jw *w, struct tts_engine *e, bool is_default)
{
    char why[200];
    /* engines that load in milliseconds (espeak-ng) are listed loaded; heavy ones load on
     * first use */
    if (e->ops->quick_load && tts_engine_load(e, why, sizeof why) != VB_OK)
        vb_warn("tts: %s", why);
    bool loaded = tts_engine_is_loaded(e);
    vb_jw_obj_begin(w);
    vb_jw_kstr(w, "name", tts_engine_name(e));
    vb_jw_kstr(w, "description", e->ops->description);
    vb_jw_kbool(w, "default", is_default);
    vb_jw_kbool(w, "installed", tts_engine_installed(e));
    vb_jw_kbool(w, "loaded", loaded);
    vb_jw_key(w, "sample_rate");
    if (loaded)
        vb_jw_int(w, tts_engine_sample_rate(e));
    else
        vb_jw_null(w);
    vb_jw_key(w, "capabilities");
    write_caps(w, tts_engine_caps(e));
    vb_jw_key(w, "languages");
    vb_jw_arr_begin(w);
    if (loaded && e->ops->languages) {
        const char *const *langs;
        size_t n = e->ops->languages(e, &langs);
        for (size_t i = 0; i < n; i++)
            vb_jw_str(w, langs[i]);
    }
    vb_jw_arr_end(w);
    const struct tts_voice_desc *v = NULL;
    size_t nv = loaded && e->ops->voices ? e->ops->voices(e, &v) : 0;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: voices with a language; pass 1: variants usable with any language */
        vb_jw_key(w, pass == 0 ? "voices" : "variants");
        vb_jw_arr_begin(w);
        for (size_t i = 0; i < nv; i++) {
            if ((v[i].language != NULL) != (pass == 0))
                continue;
            vb_jw_obj_begin(w);
            vb_jw_kstr(w, "id", v[i].id);
            vb_jw_kstr(w, "name", v[i].name);
            if (pass == 0)
                vb_jw_kstr(w, "language", v[i].language);
            vb_jw_kstr(w, "gender", v[i].gender);
            vb_jw_obj_end(w);
        }
        vb_jw_arr_end(w);
    }
    vb_jw_obj_end(w);
}

enum vb_err api_engines_list(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct tts_service *svc = app->tts;
    if (!svc)
        return VB_ERR_UNAVAILABLE;
    struct tts_engine *def = tts_registry_default(svc->registry, app->cfg->tts_engine);
    if (!def)
        def = tts_registry_find(svc->registry, TTS_ENGINE_ESPEAK);
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_kstr(&w, "default", def ? tts_engine_name(def) : NULL);
    vb_jw_key(&w, "engines");
    vb_jw_arr_begin(&w);
    for (size_t i = 0; i < tts_registry_count(svc->registry); i++) {
        struct tts_engine *e = tts_registry_at(svc->registry, i);
        write_engine(&w, e, e == def);
    }
    vb_jw_arr_end(&w);
    vb_jw_key(&w, "cloning");
    vb_jw_obj_begin(&w);
    struct tts_engine *cloner = tts_registry_cloner(svc->registry);
    char install[128];
    snprintf(install, sizeof install, "vocero models pull %s",
             cloner ? tts_engine_name(cloner) : "");
    vb_jw_kstr(&w, "engine", cloner ? tts_engine_name(cloner) : NULL);
    vb_jw_kbool(&w, "available", cloner != NULL && tts_engine_installed(cloner));
    vb_jw_kstr(&w, "install", cloner ? install : NULL);
    vb_jw_obj_end(&w);
    vb_jw_key(&w, "formats");
    vb_jw_arr_begin(&w);
    for (size_t i = 0; i < audio_format_count(); i++)
        if (audio_format_supported(audio_format_at(i)->name))
            vb_jw_str(&w, audio_format_at(i)->name);
    vb_jw_arr_end(&w);
    vb_jw_key(&w, "tags");
    vb_jw_arr_begin(&w);
    size_t nt;
    const char *const *tags = tts_tag_list(&nt);
    for (size_t i = 0; i < nt; i++)
        vb_jw_str(&w, tags[i]);
    vb_jw_arr_end(&w);
    vb_jw_obj_end(&w);
    return api_json_send(req, 200, &w, &b);
}
