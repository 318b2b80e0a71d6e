/* service.h: the speech service, owned by the app like the chat model's service
 * (llm/service.h): the engine registry and the bounded generation pool (WORKERS_TTS threads,
 * TTS_QUEUE_MAX waiting). The HTTP side of a generation (queueing for a request, streaming,
 * cancellation) is api/tts_jobs.h.
 *
 *   struct tts_service *svc = tts_service_new(cfg);   // NULL: logged, routes answer 503
 *   struct tts_engine *e = tts_registry_find(svc->registry, "espeak-ng");
 *   ... tts_pool_submit(svc->pool, job) ...
 *   tts_service_free(svc);
 */
#ifndef VB_TTS_SERVICE_H
#define VB_TTS_SERVICE_H

#include "core/vb.h"
#include "tts/jobs.h"
#include "tts/registry.h"

struct vb_config;

struct tts_service {
    struct tts_registry *registry; /* owned */
    struct tts_pool *pool;         /* owned */
};

/* The registry (MODELS_DIR, the engines' settings) and the pool the configuration names
 * (WORKERS_TTS, default 2; TTS_QUEUE_MAX, default 4). NULL when it cannot start (logged). */
struct tts_service *tts_service_new(const struct vb_config *cfg);
/* Cancels and joins the pool's generations, unloads the engines. NULL is fine. */
void tts_service_free(struct tts_service *s);

#endif
