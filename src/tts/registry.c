/* registry.c: the table of text-to-speech back ends, their settings from the configuration
 * and the registry over them. The one file that includes the back ends' headers. */
#include "core/vb.h"
#include "tts/registry.h"
#include "core/alloc.h"
#include "core/config.h"
#include "tts/chatterbox/cb_engine.h"
#include "tts/espeak.h"

/* Every back end compiled in, in listing order. A new engine adds its constructor here. */
static const struct tts_engine_ops *(*const backends[])(void) = {
    tts_espeak_ops,
    tts_chatterbox_ops,
};

#define REGISTRY_MAX 8

struct tts_registry {
    struct tts_engine engines[REGISTRY_MAX];
    size_t n;
    char names[256];
    char models_dir[4096];
    struct tts_engine_settings settings;
};

struct tts_engine_settings tts_engine_default_settings(void)
{
    return (struct tts_engine_settings){
        .cb_t3_weights = "q8_0",
        .cb_s3gen_weights = "bf16",
        .cb_stream_first_tokens = CB_ENGINE_STREAM_FIRST_TOKENS,
        .cb_stream_prompt_tokens = CB_ENGINE_STREAM_PROMPT_TOKENS,
    };
}

struct tts_engine_settings tts_engine_settings_from_config(const struct vb_config *cfg)
{
    struct tts_engine_settings s = tts_engine_default_settings();
    s.threads = cfg->tts_threads;
    if (cfg->cb_t3_weights)
        snprintf(s.cb_t3_weights, sizeof s.cb_t3_weights, "%s", cfg->cb_t3_weights);
    if (cfg->cb_s3gen_weights)
        snprintf(s.cb_s3gen_weights, sizeof s.cb_s3gen_weights, "%s", cfg->cb_s3gen_weights);
    s.cb_keep_encoders = cfg->cb_keep_encoders;
    s.cb_stream_first_tokens = cfg->cb_stream_first_tokens;
    s.cb_stream_prompt_tokens = cfg->cb_stream_prompt_tokens;
    return s;
}

static void add(struct tts_registry *r, const struct tts_engine_ops *ops)
{
    if (r->n == REGISTRY_MAX)
        return;
    struct tts_engine *e = &r->engines[r->n++];
    e->ops = ops;
    e->models_dir = r->models_dir;
    e->settings = &r->settings;
    pthread_mutex_init(&e->lock, NULL);
    size_t used = strlen(r->names);
    snprintf(r->names + used, sizeof r->names - used, "%s%s", used ? ", " : "", ops->name);
}

struct tts_registry *tts_registry_new(void)
{
    struct tts_registry *r = vb_try_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->models_dir, sizeof r->models_dir, "models");
    r->settings = tts_engine_default_settings();
    for (size_t i = 0; i < VB_ARRAY_LEN(backends); i++)
        add(r, backends[i]());
    return r;
}

void tts_registry_free(struct tts_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        struct tts_engine *e = &r->engines[i];
        if (e->loaded)
            e->ops->unload(e);
        pthread_mutex_destroy(&e->lock);
    }
    vb_free(r);
}

void tts_registry_set_models_dir(struct tts_registry *r, const char *dir)
{
    snprintf(r->models_dir, sizeof r->models_dir, "%s", dir ? dir : "models");
}

void tts_registry_set_settings(struct tts_registry *r, const struct tts_engine_settings *s)
{
    r->settings = *s;
    r->settings.cb_t3_weights[sizeof r->settings.cb_t3_weights - 1] = 0;
    r->settings.cb_s3gen_weights[sizeof r->settings.cb_s3gen_weights - 1] = 0;
}

struct tts_engine *tts_registry_default(struct tts_registry *r, const char *configured)
{
    if (!configured || strcmp(configured, TTS_ENGINE_AUTO) != 0)
        return tts_registry_find(r, configured);
    for (size_t i = 0; i < r->n; i++)
        if (r->engines[i].ops->auto_choice && tts_engine_installed(&r->engines[i]))
            return &r->engines[i];
    for (size_t i = 0; i < r->n; i++)
        if (!r->engines[i].ops->installed)
            return &r->engines[i];
    return NULL;
}

struct tts_engine *tts_registry_find(struct tts_registry *r, const char *name)
{
    for (size_t i = 0; name && i < r->n; i++)
        if (strcmp(r->engines[i].ops->name, name) == 0)
            return &r->engines[i];
    return NULL;
}

size_t tts_registry_count(const struct tts_registry *r)
{
    return r->n;
}

struct tts_engine *tts_registry_at(struct tts_registry *r, size_t i)
{
    return i < r->n ? &r->engines[i] : NULL;
}

const char *tts_registry_names(const struct tts_registry *r)
{
    return r->names;
}

struct tts_engine *tts_registry_cloner(struct tts_registry *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->engines[i].ops->caps & TTS_CAP_CLONING)
            return &r->engines[i];
    return NULL;
}
