/* service.c: the speech service: the engine registry and the generation pool. */
#include "core/vb.h"
#include "tts/service.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"

struct tts_service *tts_service_new(const struct vb_config *cfg)
{
    struct tts_service *s = vb_try_calloc(1, sizeof *s);
    int workers = cfg->tts_workers > 0 ? cfg->tts_workers : 2;
    int queue = cfg->tts_queue_max > 0 ? cfg->tts_queue_max : 4;
    if (s) {
        s->registry = tts_registry_new();
        if (s->registry) {
            tts_registry_set_models_dir(s->registry, cfg->models_dir);
            struct tts_engine_settings ts = tts_engine_settings_from_config(cfg);
            tts_registry_set_settings(s->registry, &ts);
        }
        s->pool = tts_pool_new(workers, queue);
    }
    if (!s || !s->registry || !s->pool) {
        vb_error("tts: cannot start the speech service (%d workers, queue %d)", workers, queue);
        tts_service_free(s);
        return NULL;
    }
    vb_info("tts: speech service: engines %s; %d workers, queue %d",
            tts_registry_names(s->registry), workers, queue);
    return s;
}

void tts_service_free(struct tts_service *s)
{
    if (!s)
        return;
    tts_pool_free(s->pool);
    tts_registry_free(s->registry);
    vb_free(s);
}
