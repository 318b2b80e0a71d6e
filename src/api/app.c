/* app.c: building and releasing the API's shared state; start-up housekeeping. */
#include "core/vb.h"
#include "api/app.h"
#include "api/storage.h"
#include "api/users.h"
#include "auth/basic_cache.h"
#include "core/alloc.h"
#include "auth/login_guard.h"
#include "auth/proxies.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/time_fmt.h"
#include "db/store.h"
#include "llm/service.h"
#include "models/autopull.h"
#include "models/registry.h"
#include "tts/service.h"

#include <stdio.h>
#include <unistd.h>

static enum vb_err make_dirs(const struct vb_config *cfg, char *why, size_t why_cap)
{
    const char *dirs[] = {cfg->storage_dir, cfg->voices_dir, cfg->data_dir};
    const char *names[] = {"STORAGE_DIR", "VOICES_DIR", "DATA_DIR"};
    for (size_t i = 0; i < VB_ARRAY_LEN(dirs); i++) {
        if (vb_mkdir_p(dirs[i], 0750) != VB_OK) {
            snprintf(why, why_cap, "%s: cannot create directory '%s'", names[i], dirs[i]);
            return VB_ERR_IO;
        }
    }
    return VB_OK;
}

/* LLM_MODEL is a registry name (its GGUF file under MODELS_DIR) or a path to a GGUF file. */
static enum vb_err start_llm(struct api_app *app, const struct vb_config *cfg, char *why,
                             size_t why_cap)
{
    const char *name = cfg->llm_model;
    char path[4096], hint[512];
    const struct models_entry *m = models_find(name);
    if (m) {
        const struct models_file *f = NULL;
        for (size_t i = 0; i < m->n_files && !f; i++)
            if (strstr(m->files[i].local_name, ".gguf"))
                f = &m->files[i];
        if (!f || m->kind != MODELS_KIND_LLM ||
            models_file_path(cfg->models_dir, m, f, path, sizeof path) != VB_OK) {
            snprintf(why, why_cap, "LLM_MODEL: '%s' is not a chat model", name);
            return VB_ERR_INVALID;
        }
        snprintf(hint, sizeof hint, "vocero models pull %s", name);
    } else if (strchr(name, '/') || strstr(name, ".gguf")) {
        snprintf(path, sizeof path, "%s", name);
        snprintf(hint, sizeof hint,
                 "copy a Qwen2.5 Instruct GGUF file to the path LLM_MODEL names");
    } else {
        snprintf(why, why_cap,
                 "LLM_MODEL: unknown model '%s' (see `vocero models list`, or give "
                 "a path to a .gguf file)",
                 name);
        return VB_ERR_INVALID;
    }
    struct llm_service_params p = {.model_path = path,
                                   .install_hint = hint,
                                   .n_ctx = cfg->llm_context,
                                   .n_threads = cfg->llm_threads,
                                   .queue_max = cfg->llm_queue_max,
                                   .cache_sessions = cfg->llm_cache_threads};
    enum vb_err err = llm_service_new(&p, &app->llm);
    if (!err && llm_service_check(app->llm, hint, sizeof hint) != VB_OK)
        vb_warn("%s (looked for %s); chat routes answer 503 until then", hint, path);
    return err;
}

enum vb_err api_app_init(struct api_app *app, const struct vb_config *cfg, char *why,
                         size_t why_cap)
{
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    app->started_ms = vb_mono_ms();
    app->started_unix = vb_now_unix();
    enum vb_err err = make_dirs(cfg, why, why_cap);
    if (err)
        return err;
    char bad[160];
    if (auth_proxies_parse(cfg->trusted_proxies, &app->proxies, bad, sizeof bad)) {
        snprintf(why, why_cap, "TRUSTED_PROXIES: %s", bad);
        return VB_ERR_INVALID;
    }
    err = db_open(cfg->database_url, &app->store);
    if (err) {
        snprintf(why, why_cap, "DATABASE_URL: cannot open the database (%s); see the log above",
                 vb_err_message(err));
        return err;
    }
    struct auth_basic_cache_params bp = auth_basic_cache_default_params();
    bp.ttl_s = cfg->basic_auth_cache_s;
    app->basic = auth_basic_cache_new(&bp);
    app->logins = auth_login_guard_new(NULL);
    if (!app->basic || !app->logins) {
        snprintf(why, why_cap, "cannot set up the authentication caches");
        return VB_ERR_INTERNAL;
    }
    if ((err = start_llm(app, cfg, why, why_cap)))
        return err;
    app->tts = tts_service_new(cfg); /* NULL is logged; the speech routes answer 503 */
    return api_users_ensure_admin(app, why, why_cap);
}

int api_long_workers(const struct vb_config *cfg)
{
    enum { SPARE = 2, LLM_RUNNING = 1 };
    return cfg->tts_workers + cfg->tts_queue_max + LLM_RUNNING + cfg->llm_queue_max + SPARE;
}

void api_app_start_downloads(struct api_app *app)
{
    const char *names[3] = {MODELS_DEFAULT_TTS, NULL, NULL};
    const struct models_entry *llm = models_find(app->cfg->llm_model);
    if (llm && llm->kind == MODELS_KIND_LLM)
        names[1] = llm->name;
    app->autopull = models_autopull_start(app->cfg, names);
}

void api_app_release(struct api_app *app)
{
    api_storage_sweeper_stop(app->sweeper);
    models_autopull_stop(app->autopull);
    tts_service_free(app->tts);
    llm_service_free(app->llm);
    db_close(app->store);
    auth_basic_cache_free(app->basic);
    auth_login_guard_free(app->logins);
    auth_proxies_free(app->proxies);
    memset(app, 0, sizeof *app);
}
