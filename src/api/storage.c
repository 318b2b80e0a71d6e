/* storage.c: folder checks, the instance lock, orphan sweeps and saving with 507. */
#include "core/vb.h"
#include "api/storage.h"
#include "api/app.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/paths.h"
#include "core/time_fmt.h"
#include "db/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ORPHAN_MIN_AGE_S 60 /* files younger than this may belong to a request in flight */

enum vb_err api_storage_claim(const struct vb_config *cfg, int *lock_fd, char *why, size_t why_cap)
{
    const char *names[] = {"DATA_DIR", "STORAGE_DIR", "VOICES_DIR", "MODELS_DIR"};
    const char *dirs[] = {cfg->data_dir, cfg->storage_dir, cfg->voices_dir, cfg->models_dir};
    char real[VB_ARRAY_LEN(dirs)][VB_PATH_MAX];
    *lock_fd = -1;
    for (size_t i = 0; i < VB_ARRAY_LEN(dirs); i++) {
        if (vb_path_resolve(dirs[i], real[i]) != VB_OK) {
            snprintf(why, why_cap, "%s: cannot resolve '%s'", names[i], dirs[i]);
            return VB_ERR_INVALID;
        }
        for (size_t j = 0; j < i; j++) {
            if (!vb_path_overlap(real[i], real[j]))
                continue;
            bool same = strcmp(real[i], real[j]) == 0;
            size_t inner = strlen(real[i]) > strlen(real[j]) ? i : j;
            snprintf(why, why_cap,
                     "%s (%s) and %s (%s) %s; DATA_DIR, STORAGE_DIR, VOICES_DIR and MODELS_DIR "
                     "must be separate folders, none inside another",
                     names[j], real[j], names[i], real[i],
                     same         ? "are the same folder"
                     : inner == i ? "overlap: the second is inside "
                                    "the first"
                                  : "overlap: the first is inside "
                                    "the second");
            return VB_ERR_INVALID;
        }
    }
    if (vb_mkdir_p(cfg->data_dir, 0750) != VB_OK) {
        snprintf(why, why_cap, "DATA_DIR: cannot create directory '%s'", cfg->data_dir);
        return VB_ERR_IO;
    }
    long holder = 0;
    enum vb_err err = vb_dir_lock(cfg->data_dir, API_LOCK_FILE_NAME, lock_fd, &holder);
    if (err == VB_ERR_CONFLICT && holder > 0)
        snprintf(why, why_cap,
                 "DATA_DIR '%s' is in use by another vocero server (pid %ld); stop it first, or "
                 "give this one its own DATA_DIR, STORAGE_DIR and VOICES_DIR",
                 cfg->data_dir, holder);
    else if (err == VB_ERR_CONFLICT)
        snprintf(why, why_cap, "DATA_DIR '%s' is in use by another vocero server; stop it first",
                 cfg->data_dir);
    else if (err)
        snprintf(why, why_cap, "DATA_DIR: cannot create the lock file %s/%s (%s)", cfg->data_dir,
                 API_LOCK_FILE_NAME, vb_err_message(err));
    return err;
}

/* ===== orphan sweep ===== */

struct names {
    char **v; /* referenced file names, sorted */
    size_t n, cap;
};

static enum vb_err collect(const char *file_name, void *user)
{
    struct names *s = user;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **p = vb_try_realloc(s->v, cap * sizeof *p);
        if (!p)
            return VB_ERR_NOMEM;
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = vb_xstrdup(file_name);
    return VB_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Deletes temporaries and generated files that no row references (a crash between writing
 * the file and committing the row, or between deleting the row and unlinking the file). */
static void sweep_dir(struct db_store *store, enum db_file_kind kind, const char *prefix,
                      const char *setting, const char *dir)
{
    struct names s = {0};
    int temps = vb_dir_sweep_temps(dir, ORPHAN_MIN_AGE_S), orphans = 0;
    DIR *d = NULL;
    /* rows first: a file written after this listing is younger than ORPHAN_MIN_AGE_S */
    if (db_referenced_files(store, kind, collect, &s) != VB_OK)
        goto out;
    if (s.n)
        qsort(s.v, s.n, sizeof *s.v, cmp_str);
    d = opendir(dir);
    struct dirent *e;
    time_t now = time(NULL);
    while (d && (e = readdir(d))) {
        struct stat st;
        const char *name = e->d_name;
        if (!vb_file_name_generated(name, prefix) ||
            fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            now - st.st_mtime < ORPHAN_MIN_AGE_S)
            continue;
        if ((!s.n || !bsearch(&name, s.v, s.n, sizeof *s.v, cmp_str)) &&
            unlinkat(dirfd(d), name, 0) == 0)
            orphans++;
    }
out:
    if (d)
        closedir(d);
    if (temps || orphans)
        vb_warn("%s (%s): removed %d stale temporary and %d orphan files", setting, dir, temps,
                orphans);
    for (size_t i = 0; i < s.n; i++)
        vb_free(s.v[i]);
    vb_free(s.v);
}

void api_storage_sweep(struct api_app *app)
{
    sweep_dir(app->store, DB_FILE_VOICE, "voice", "VOICES_DIR", app->cfg->voices_dir);
    sweep_dir(app->store, DB_FILE_GENERATION, "gen", "STORAGE_DIR", app->cfg->storage_dir);
}

struct api_sweeper {
    struct api_app *app; /* borrowed */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    bool stop;
};

static void *sweeper_main(void *arg)
{
    struct api_sweeper *s = arg;
    /* The first sweep comes as soon as the files of a crash just before this start are
     * past the grace period (the start-up sweep had to keep them), then every interval. */
    int wait_s = VB_MIN(s->app->cfg->sweep_interval_s, ORPHAN_MIN_AGE_S + 1);
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        struct timespec ts;
        vb_mono_deadline(&ts, (int64_t)wait_s * 1000);
        wait_s = s->app->cfg->sweep_interval_s;
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->lock, &ts) != ETIMEDOUT)
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->lock);
        api_storage_sweep(s->app);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

struct api_sweeper *api_storage_sweeper_start(struct api_app *app)
{
    if (app->cfg->sweep_interval_s <= 0)
        return NULL;
    struct api_sweeper *s = vb_xcalloc(1, sizeof *s);
    s->app = app;
    pthread_mutex_init(&s->lock, NULL);
    vb_cond_init_mono(&s->cv);
    if (pthread_create(&s->thread, NULL, sweeper_main, s) != 0) {
        vb_warn("cannot start the orphan sweeper thread; orphans are swept at start-up only");
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->lock);
        vb_free(s);
        return NULL;
    }
    return s;
}

void api_storage_sweeper_stop(struct api_sweeper *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->lock);
    vb_free(s);
}

/* ===== paths out of messages ===== */

void api_storage_redact(const struct vb_config *cfg, const char *msg, char *out, size_t cap)
{
    const char *names[] = {"DATA_DIR", "STORAGE_DIR", "VOICES_DIR", "MODELS_DIR"};
    const char *dirs[] = {cfg->data_dir, cfg->storage_dir, cfg->voices_dir, cfg->models_dir};
    vb_path_redact(msg, dirs, names, VB_ARRAY_LEN(dirs), out, cap);
}

/* ===== saving ===== */

enum vb_err api_storage_save(struct http_request *req, const char *setting, const char *dir,
                             const char *name, const void *data, size_t len)
{
    enum vb_err err = vb_file_write_atomic(dir, name, data, len);
    if (err == VB_ERR_NO_SPACE) {
        vb_error("%s (%s) is full: cannot store %s (%zu bytes)", setting, dir, name, len);
        http_req_set_error(req, NULL,
                           "%s is full: the server has no space left to store this file; "
                           "try again after space is freed",
                           setting);
    } else if (err && err != VB_ERR_CONFLICT) {
        vb_error("%s (%s): cannot store %s (%zu bytes): %s", setting, dir, name, len,
                 vb_err_message(err));
    }
    return err;
}
