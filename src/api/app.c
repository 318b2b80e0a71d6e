/* app.c: building and releasing the API's shared state; start-up housekeeping. */
#include "core/vb.h"
#include "api/app.h"
#include "api/users.h"
#include "auth/basic.h"
#include "core/alloc.h"
#include "auth/throttle.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/time_fmt.h"
#include "db/store.h"
#include "llm/service.h"
#include "models/autopull.h"
#include "models/registry.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ORPHAN_MIN_AGE_S 60 /* files younger than this may belong to a request in flight */

struct sweep {
    char **names; /* referenced names, sorted */
    size_t n, cap;
};

static enum vb_err collect(const char *file_name, void *user)
{
    struct sweep *s = user;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **p = vb_try_realloc(s->names, cap * sizeof *p);
        if (!p)
            return VB_ERR_NOMEM;
        s->names = p;
        s->cap = cap;
    }
    s->names[s->n++] = vb_xstrdup(file_name);
    return VB_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Deletes temporaries and files that no row references (a crash between writing the file
 * and committing the row, or between deleting the row and unlinking the file). */
static void sweep_dir(struct db_store *store, enum db_file_kind kind, const char *dir)
{
    struct sweep s = {0};
    int temps = vb_dir_sweep_temps(dir), orphans = 0;
    DIR *d = NULL;
    if (db_referenced_files(store, kind, collect, &s) != VB_OK)
        goto out;
    if (s.n)
        qsort(s.names, s.n, sizeof *s.names, cmp_str);
    d = opendir(dir);
    struct dirent *e;
    time_t now = time(NULL);
    while (d && (e = readdir(d))) {
        struct stat st;
        const char *name = e->d_name;
        if (!vb_file_name_safe(name) || fstatat(dirfd(d), name, &st, 0) != 0 ||
            !S_ISREG(st.st_mode) || now - st.st_mtime < ORPHAN_MIN_AGE_S)
            continue;
        if ((!s.n || !bsearch(&name, s.names, s.n, sizeof *s.names, cmp_str)) &&
            unlinkat(dirfd(d), name, 0) == 0)
            orphans++;
    }
out:
    if (d)
        closedir(d);
    if (temps || orphans)
        vb_warn("%s: removed %d stale temporary and %d orphan files", dir, temps, orphans);
    for (size_t i = 0; i < s.n; i++)
        vb_free(s.names[i]);
    vb_free(s.names);
}

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
        snprintf(hint, sizeof hint, "copy a Qwen2.5 Instruct GGUF file to %s", name);
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
        vb_warn("%s; chat routes answer 503 until then", hint);
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
    err = db_open(cfg->database_url, &app->store);
    if (err) {
        snprintf(why, why_cap, "DATABASE_URL: cannot open the database (%s); see the log above",
                 vb_err_message(err));
        return err;
    }
    struct auth_throttle_params by_user = auth_throttle_default_params();
    struct auth_throttle_params by_addr = by_user;
    by_addr.max_failures = 20;
    struct auth_basic_cache_params bp = auth_basic_cache_default_params();
    app->basic = auth_basic_cache_new(&bp);
    app->fail_user = auth_throttle_new(&by_user);
    app->fail_addr = auth_throttle_new(&by_addr);
    if (!app->basic || !app->fail_user || !app->fail_addr) {
        snprintf(why, why_cap, "cannot set up the authentication caches");
        return VB_ERR_INTERNAL;
    }
    if ((err = start_llm(app, cfg, why, why_cap)))
        return err;
    sweep_dir(app->store, DB_FILE_VOICE, cfg->voices_dir);
    sweep_dir(app->store, DB_FILE_GENERATION, cfg->storage_dir);
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
    models_autopull_stop(app->autopull);
    llm_service_free(app->llm);
    db_close(app->store);
    auth_basic_cache_free(app->basic);
    auth_throttle_free(app->fail_user);
    auth_throttle_free(app->fail_addr);
    memset(app, 0, sizeof *app);
}
