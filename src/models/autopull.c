/* autopull.c: the background download thread and the per-model state it exposes. */
#include "core/vb.h"
#include "models/autopull.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/paths.h"
#include "models/download.h"
#include "models/registry.h"

#include <pthread.h>
#include <stdatomic.h>

#define MAX_TRACKED 16

struct tracked {
    const struct models_entry *m; /* NULL for an unknown name */
    const char *name;             /* registry name, or the unknown name (owned copy) */
    bool name_owned;
    enum models_pull_state state;
    uint64_t done, total;
    char reason[512];
};

struct models_autopull {
    pthread_mutex_t mu;
    pthread_t thread;
    bool has_thread;
    atomic_int cancel;
    atomic_int busy;
    bool auto_download;
    char *models_dir;
    char *hf_token;
    struct tracked items[MAX_TRACKED];
    size_t n;
};

const char *models_pull_state_name(enum models_pull_state s)
{
    switch (s) {
    case MODELS_PULL_MISSING:
        return "missing";
    case MODELS_PULL_QUEUED:
        return "queued";
    case MODELS_PULL_DOWNLOADING:
        return "downloading";
    case MODELS_PULL_READY:
        return "ready";
    case MODELS_PULL_FAILED:
        return "failed";
    }
    return "unknown";
}

static uint64_t approx_total(const char *models_dir, const struct models_entry *m)
{
    uint64_t t = 0;
    for (size_t i = 0; i < m->n_files; i++) {
        uint64_t s = models_file_expected_size(models_dir, m, &m->files[i]);
        t += s ? s : m->files[i].approx_size;
    }
    return t;
}

static void set_missing_reason(struct tracked *t)
{
    snprintf(t->reason, sizeof t->reason, "not installed: run `vocero models pull %s`", t->name);
}

struct progress_ctx {
    struct models_autopull *ap;
    struct tracked *t;
    bool announced; /* the "downloading" line is logged once bytes flow, so that no network
                       gives a single log line */
    int quarter;    /* last quarter of the model logged */
    bool seen;
    uint64_t first_done; /* model bytes on disk at the first report (resumed parts) */
};

static void on_progress(const struct models_progress *p, void *user)
{
    struct progress_ctx *pc = user;
    pthread_mutex_lock(&pc->ap->mu);
    pc->t->done = p->model_done;
    pc->t->total = p->model_total;
    pthread_mutex_unlock(&pc->ap->mu);
    if (!pc->seen) {
        pc->seen = true;
        pc->first_done = p->model_done;
    }
    if (!pc->announced && (p->model_done > pc->first_done || p->finished)) {
        pc->announced = true;
        vb_info("models: downloading %s (%.1f MB) from %s into %s/%s", pc->t->name,
                (double)p->model_total / 1e6, pc->t->m->repo, pc->ap->models_dir, pc->t->m->dir);
    }
    int q = p->model_total ? (int)(VB_MIN(p->model_done, p->model_total) * 4 / p->model_total) : 0;
    if (pc->announced && q > pc->quarter && q < 4) {
        pc->quarter = q;
        vb_info("models: %s: %d%% (%.1f of %.1f MB)", pc->t->name, q * 25,
                (double)p->model_done / 1e6, (double)p->model_total / 1e6);
    }
}

static void *pull_thread(void *arg)
{
    struct models_autopull *ap = arg;
    for (size_t i = 0; i < ap->n; i++) {
        struct tracked *t = &ap->items[i];
        if (atomic_load(&ap->cancel))
            break;
        pthread_mutex_lock(&ap->mu);
        bool todo = t->state == MODELS_PULL_QUEUED;
        if (todo) {
            t->state = MODELS_PULL_DOWNLOADING;
            t->total = approx_total(ap->models_dir, t->m);
        }
        pthread_mutex_unlock(&ap->mu);
        if (!todo)
            continue;
        struct models_download_params p;
        struct progress_ctx pc = {.ap = ap, .t = t};
        char why[400] = ""; /* leaves room for a prefix in reason[512] */
        models_download_default_params(&p);
        p.token = ap->hf_token;
        p.cancel = &ap->cancel;
        p.progress = on_progress;
        p.progress_user = &pc;
        enum vb_err err = models_pull(ap->models_dir, t->m, &p, why, sizeof why);
        /* the reason shows in the public health answer: no server path in it */
        char pub[sizeof why];
        const char *dir_name = "MODELS_DIR";
        vb_path_redact(why, (const char *const *)&ap->models_dir, &dir_name, 1, pub, sizeof pub);
        pthread_mutex_lock(&ap->mu);
        if (err == VB_OK) {
            t->state = MODELS_PULL_READY;
            t->reason[0] = '\0';
        } else {
            t->state = MODELS_PULL_FAILED;
            snprintf(t->reason, sizeof t->reason, "%s", pub);
        }
        pthread_mutex_unlock(&ap->mu);
        if (err == VB_OK) {
            vb_info("models: %s is ready", t->name);
            continue;
        }
        if (err == VB_ERR_CANCELLED)
            break;
        if (err == VB_ERR_UNAVAILABLE || err == VB_ERR_TIMEOUT) {
            /* No network (or it went away): one line for every model left, no retries. */
            char names[512] = "";
            size_t len = 0;
            pthread_mutex_lock(&ap->mu);
            for (size_t j = i; j < ap->n; j++) {
                struct tracked *u = &ap->items[j];
                if (j != i && u->state != MODELS_PULL_QUEUED)
                    continue;
                if (j != i) {
                    u->state = MODELS_PULL_FAILED;
                    snprintf(u->reason, sizeof u->reason, "not downloaded: %s", pub);
                }
                int w = snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", u->name);
                if (w > 0 && (size_t)w < sizeof names - len)
                    len += (size_t)w;
            }
            pthread_mutex_unlock(&ap->mu);
            vb_warn("models: automatic download stopped (%s); not installed: %s; the routes "
                    "that need them answer 503 until `vocero models pull NAME` succeeds",
                    why, names);
            break;
        }
        vb_warn("models: automatic download of %s failed: %s", t->name, why);
    }
    atomic_store(&ap->busy, 0);
    return NULL;
}

struct models_autopull *models_autopull_start(const struct vb_config *cfg, const char *const *names)
{
    struct models_autopull *ap = vb_xcalloc(1, sizeof *ap);
    pthread_mutex_init(&ap->mu, NULL);
    ap->models_dir = vb_xstrdup(cfg->models_dir && cfg->models_dir[0] ? cfg->models_dir : "models");
    ap->hf_token = cfg->hf_token && cfg->hf_token[0] ? vb_xstrdup(cfg->hf_token) : NULL;
    ap->auto_download = cfg->models_auto_download;
    size_t n_reg = 0;
    const struct models_entry *reg = models_registry(&n_reg);
    if (names) {
        for (size_t i = 0; names[i] && ap->n < MAX_TRACKED; i++) {
            struct tracked *t = &ap->items[ap->n++];
            t->m = models_find(names[i]);
            t->name = t->m ? t->m->name : vb_xstrdup(names[i]);
            t->name_owned = !t->m;
        }
    } else {
        for (size_t i = 0; i < n_reg && ap->n < MAX_TRACKED; i++)
            if (reg[i].is_default) {
                ap->items[ap->n].m = &reg[i];
                ap->items[ap->n++].name = reg[i].name;
            }
    }
    bool any = false;
    for (size_t i = 0; i < ap->n; i++) {
        struct tracked *t = &ap->items[i];
        if (!t->m) {
            t->state = MODELS_PULL_FAILED;
            snprintf(t->reason, sizeof t->reason, "unknown model name (see `vocero models list`)");
        } else if (models_is_installed(ap->models_dir, t->m)) {
            t->state = MODELS_PULL_READY;
        } else if (ap->auto_download) {
            t->state = MODELS_PULL_QUEUED;
            any = true;
        } else {
            t->state = MODELS_PULL_MISSING;
            set_missing_reason(t);
        }
    }
    if (any) {
        atomic_store(&ap->busy, 1);
        if (pthread_create(&ap->thread, NULL, pull_thread, ap) != 0) {
            vb_error("models: cannot start the download thread");
            atomic_store(&ap->busy, 0);
            for (size_t i = 0; i < ap->n; i++)
                if (ap->items[i].state == MODELS_PULL_QUEUED) {
                    ap->items[i].state = MODELS_PULL_FAILED;
                    snprintf(ap->items[i].reason, sizeof ap->items[i].reason,
                             "the download thread could not start");
                }
        } else {
            ap->has_thread = true;
        }
    }
    return ap;
}

/* Refreshes states the thread is not working on from the disk. Call with ap->mu held. */
static void refresh(struct models_autopull *ap, struct tracked *t)
{
    if (!t->m || t->state == MODELS_PULL_DOWNLOADING || t->state == MODELS_PULL_QUEUED)
        return;
    bool installed = models_is_installed(ap->models_dir, t->m);
    if (installed && t->state != MODELS_PULL_READY) {
        t->state = MODELS_PULL_READY;
        t->reason[0] = '\0';
    } else if (!installed && t->state == MODELS_PULL_READY) {
        t->state = MODELS_PULL_MISSING;
        set_missing_reason(t);
    }
    if (t->state == MODELS_PULL_READY) {
        t->total = t->done = approx_total(ap->models_dir, t->m);
    }
}

static void copy_status(const struct tracked *t, struct models_pull_status *o)
{
    o->name = t->name;
    o->kind = t->m ? models_kind_name(t->m->kind) : "unknown";
    o->state = t->state;
    o->done = t->done;
    o->total = t->total;
    snprintf(o->reason, sizeof o->reason, "%s", t->reason);
}

size_t models_autopull_status(struct models_autopull *ap, struct models_pull_status *out,
                              size_t cap)
{
    if (!ap)
        return 0;
    pthread_mutex_lock(&ap->mu);
    for (size_t i = 0; i < ap->n; i++) {
        refresh(ap, &ap->items[i]);
        if (i < cap)
            copy_status(&ap->items[i], &out[i]);
    }
    size_t n = ap->n;
    pthread_mutex_unlock(&ap->mu);
    return n;
}

bool models_autopull_get(struct models_autopull *ap, const char *name,
                         struct models_pull_status *out)
{
    bool found = false;
    if (!ap || !name)
        return false;
    pthread_mutex_lock(&ap->mu);
    for (size_t i = 0; i < ap->n && !found; i++) {
        if (strcmp(ap->items[i].name, name) == 0) {
            refresh(ap, &ap->items[i]);
            copy_status(&ap->items[i], out);
            found = true;
        }
    }
    pthread_mutex_unlock(&ap->mu);
    return found;
}

bool models_autopull_busy(struct models_autopull *ap)
{
    return ap && atomic_load(&ap->busy);
}

void models_autopull_write_json(struct models_autopull *ap, struct vb_jw *w)
{
    struct models_pull_status st[MAX_TRACKED];
    if (!ap) {
        vb_jw_null(w);
        return;
    }
    size_t n = models_autopull_status(ap, st, MAX_TRACKED);
    vb_jw_obj_begin(w);
    vb_jw_kbool(w, "auto_download", ap->auto_download);
    vb_jw_key(w, "items");
    vb_jw_arr_begin(w);
    for (size_t i = 0; i < n && i < MAX_TRACKED; i++) {
        vb_jw_obj_begin(w);
        vb_jw_kstr(w, "name", st[i].name);
        vb_jw_kstr(w, "kind", st[i].kind);
        vb_jw_kstr(w, "state", models_pull_state_name(st[i].state));
        vb_jw_kint(w, "bytes_done", (int64_t)st[i].done);
        vb_jw_kint(w, "bytes_total", (int64_t)st[i].total);
        vb_jw_key(w, "progress");
        if (st[i].total)
            vb_jw_double(w, VB_MIN(1.0, (double)st[i].done / (double)st[i].total));
        else
            vb_jw_null(w);
        vb_jw_kstr(w, "error", st[i].reason[0] ? st[i].reason : NULL);
        vb_jw_obj_end(w);
    }
    vb_jw_arr_end(w);
    vb_jw_obj_end(w);
}

void models_autopull_stop(struct models_autopull *ap)
{
    if (!ap)
        return;
    atomic_store(&ap->cancel, 1);
    if (ap->has_thread)
        pthread_join(ap->thread, NULL);
    for (size_t i = 0; i < ap->n; i++)
        if (ap->items[i].name_owned)
            vb_free((char *)ap->items[i].name);
    if (ap->hf_token)
        vb_free_secure(ap->hf_token, strlen(ap->hf_token));
    vb_free(ap->models_dir);
    pthread_mutex_destroy(&ap->mu);
    vb_free(ap);
}
