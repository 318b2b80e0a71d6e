/* registry.h: the text-to-speech back ends compiled in (one table in registry.c: espeak-ng,
 * chatterbox-turbo) and the registry that finds an engine by name. The generic interface
 * (tts/engine.h) knows none of them; only registry.c includes the back ends' headers.
 *
 *   struct tts_registry *reg = tts_registry_new();
 *   struct tts_engine *e = tts_registry_find(reg, "espeak-ng");
 *   ... tts_engine_synthesize(e, ...) ...
 *   tts_registry_free(reg);
 */
#ifndef VB_TTS_REGISTRY_H
#define VB_TTS_REGISTRY_H

#include "core/vb.h"
#include "tts/engine.h"
#include "tts/engine_settings.h"

struct tts_registry;

/* Builds the registry of every engine in the back-end table (espeak-ng always). Engines are not
 * loaded yet. Caller frees with tts_registry_free. NULL on OOM. */
struct tts_registry *tts_registry_new(void);
void tts_registry_free(struct tts_registry *r);
/* Where engines find their model files (MODELS_DIR); copied. Call before loading. */
void tts_registry_set_models_dir(struct tts_registry *r, const char *dir);
/* The engines' settings (copied; defaults until called). Call before loading: an engine
 * reads them when it loads and refuses values it cannot use (load error naming them). */
void tts_registry_set_settings(struct tts_registry *r, const struct tts_engine_settings *s);
#define TTS_ENGINE_AUTO "auto"
/* The engine TTS_ENGINE names; "auto" = the first engine marked auto_choice whose files are
 * installed under MODELS_DIR (chatterbox-turbo), else the first engine that needs no files
 * (espeak-ng). NULL when the name is unknown. */
struct tts_engine *tts_registry_default(struct tts_registry *r, const char *configured);
/* The engine called name (exact), or NULL. Borrowed for the registry's lifetime. */
struct tts_engine *tts_registry_find(struct tts_registry *r, const char *name);
/* The i-th engine (0..count-1) in registration order. */
size_t tts_registry_count(const struct tts_registry *r);
struct tts_engine *tts_registry_at(struct tts_registry *r, size_t i);
/* Names of all engines, comma-separated ("espeak-ng, chatterbox-turbo"): for messages. */
const char *tts_registry_names(const struct tts_registry *r);
/* Which engine can clone (the first with TTS_CAP_CLONING), or NULL. */
struct tts_engine *tts_registry_cloner(struct tts_registry *r);

#endif
