/* ambiences.c: GET /ambiences, GET /ambiences/{id}/preview, POST /ambiences/upload,
 * DELETE /ambiences/{id}: built-in procedural ambiences and users' own recordings. */
#include "core/vb.h"
#include "api/ambiences.h"
#include "api/handlers.h"
#include "api/media.h"
#include "api/request.h"
#include "api/storage.h"
#include "audio/ambience.h"
#include "audio/encode.h"
#include "audio/mix.h"
#include "audio/pcm.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "http/multipart.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AMBIENCE_NAME_MAX     64
#define AMBIENCE_MIN_S        1.0
#define AMBIENCE_MAX_S        600.0
#define AMBIENCE_PREVIEW_S    5.0
#define AMBIENCE_PREVIEW_RATE 24000
#define AMBIENCE_ID_LEN       28 /* "amb_" + 24 hex */
#define META_MAX_BYTES        4096

bool api_ambience_is_upload_id(const char *id)
{
    if (!id || strlen(id) != AMBIENCE_ID_LEN || strncmp(id, API_AMBIENCE_ID_PREFIX, 4) != 0)
        return false;
    for (const char *p = id + 4; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static void user_dir(const struct api_app *app, int64_t user_id, char out[4096])
{
    snprintf(out, 4096, "%s/ambiences/%lld", app->cfg->data_dir, (long long)user_id);
}

/* The description of the user's ambience `id` (caller frees with vb_json_free). */
static enum vb_err load_meta(const struct api_app *app, int64_t user_id, const char *id,
                             struct vb_json **meta)
{
    char dir[4096], path[4200];
    char *text = NULL;
    size_t len = 0;
    *meta = NULL;
    if (!api_ambience_is_upload_id(id))
        return VB_ERR_NOT_FOUND;
    user_dir(app, user_id, dir);
    snprintf(path, sizeof path, "%s/%s.json", dir, id);
    enum vb_err err = vb_file_read_all(path, META_MAX_BYTES, &text, &len);
    if (!err &&
        (vb_json_parse(text, len, meta, NULL, 0) != VB_OK || (*meta)->type != VB_JSON_OBJECT ||
         !vb_json_get_str(*meta, "format") || !vb_json_get_str(*meta, "name"))) {
        vb_json_free(*meta);
        *meta = NULL;
        err = VB_ERR_IO;
    }
    vb_free(text);
    return err;
}

enum vb_err api_ambience_load(struct http_request *req, struct api_app *app, const char *id,
                              struct audio_pcm *out)
{
    struct vb_json *meta = NULL;
    char dir[4096], path[4200];
    char *data = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    enum vb_err err = load_meta(app, http_req_user_id(req), id, &meta);
    if (err)
        return err == VB_ERR_NOT_FOUND ? err : VB_ERR_INTERNAL;
    user_dir(app, http_req_user_id(req), dir);
    snprintf(path, sizeof path, "%s/%s.%s", dir, id, vb_json_get_str(meta, "format"));
    err = vb_file_read_all(path, (size_t)1 << 30, &data, &len);
    if (!err) {
        struct audio_decode_params dp = audio_decode_default_params();
        dp.mono = true;
        err = audio_decode(data, len, &dp, out, NULL, NULL);
        if (err && err != VB_ERR_NOMEM)
            err = VB_ERR_INTERNAL; /* it was checked at upload */
    } else if (err == VB_ERR_NOT_FOUND) {
        err = VB_ERR_INTERNAL;
    }
    vb_free(data);
    vb_json_free(meta);
    return err;
}

static void write_builtin(struct vb_jw *w, const struct audio_ambience_desc *d)
{
    char url[128];
    vb_jw_obj_begin(w);
    vb_jw_kstr(w, "id", d->id);
    vb_jw_kstr(w, "name", d->name);
    vb_jw_kstr(w, "description", d->description);
    vb_jw_kbool(w, "builtin", true);
    snprintf(url, sizeof url, "/ambiences/%s/preview", d->id);
    vb_jw_kstr(w, "preview_url", url);
    vb_jw_obj_end(w);
}

/* An uploaded ambience: its description plus id, builtin and preview_url. */
static void write_upload(struct vb_jw *w, const char *id, const struct vb_json *meta)
{
    char url[128];
    vb_jw_obj_begin(w);
    vb_jw_kstr(w, "id", id);
    for (const struct vb_json *m = meta->child; m; m = m->next) {
        vb_jw_key(w, m->key);
        vb_jw_value(w, m);
    }
    vb_jw_kbool(w, "builtin", false);
    snprintf(url, sizeof url, "/ambiences/%s/preview", id);
    vb_jw_kstr(w, "preview_url", url);
    vb_jw_obj_end(w);
}

struct listed {
    char id[AMBIENCE_ID_LEN + 1];
    time_t mtime;
};

static int newest_first(const void *a, const void *b)
{
    const struct listed *x = a, *y = b;
    return x->mtime < y->mtime ? 1 : x->mtime > y->mtime ? -1 : strcmp(x->id, y->id);
}

enum vb_err api_ambiences_list(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct listed *items = NULL;
    size_t n = 0, cap = 0;
    char dir[4096];
    user_dir(app, http_req_user_id(req), dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        struct stat st;
        if (l != AMBIENCE_ID_LEN + 5 || strcmp(e->d_name + AMBIENCE_ID_LEN, ".json") != 0 ||
            fstatat(dirfd(d), e->d_name, &st, 0) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            items = vb_xrealloc(items, cap * sizeof *items);
        }
        memcpy(items[n].id, e->d_name, AMBIENCE_ID_LEN);
        items[n].id[AMBIENCE_ID_LEN] = '\0';
        items[n].mtime = st.st_mtime;
        if (api_ambience_is_upload_id(items[n].id))
            n++;
    }
    if (d)
        closedir(d);
    if (n > 1)
        qsort(items, n, sizeof *items, newest_first);
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_key(&w, "ambiences");
    vb_jw_arr_begin(&w);
    for (size_t i = 0; i < audio_ambience_count(); i++)
        write_builtin(&w, audio_ambience_at(i));
    for (size_t i = 0; i < n; i++) {
        struct vb_json *meta = NULL;
        if (load_meta(app, http_req_user_id(req), items[i].id, &meta) == VB_OK)
            write_upload(&w, items[i].id, meta);
        vb_json_free(meta);
    }
    vb_jw_arr_end(&w);
    vb_jw_obj_end(&w);
    vb_free(items);
    return api_json_send(req, 200, &w, &b);
}

enum vb_err api_ambiences_preview(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    const char *id = http_req_param(req, "id");
    struct audio_pcm src = {0}, clip = {0};
    unsigned char *wav = NULL;
    size_t len = 0;
    size_t frames = (size_t)(AMBIENCE_PREVIEW_S * AMBIENCE_PREVIEW_RATE);
    enum vb_err err;
    if (audio_ambience_find(id)) {
        err = audio_ambience_render(id, 1, AMBIENCE_PREVIEW_RATE, frames, &clip);
    } else {
        err = api_ambience_load(req, app, id, &src);
        if (!err) {
            /* the first 5 s, looped with a crossfade when the recording is shorter */
            size_t n = (size_t)(AMBIENCE_PREVIEW_S * src.sample_rate);
            err = audio_pcm_alloc(&clip, n, 1, src.sample_rate);
            if (!err)
                audio_loop_fill(clip.samples, n, src.samples, src.frames,
                                (size_t)(0.5 * src.sample_rate));
        }
    }
    if (!err) {
        audio_pcm_fade(&clip, 200, 500);
        err = audio_encode(&clip, "wav", NULL, &wav, &len, NULL);
    }
    if (!err)
        err = http_reply_bytes(req, 200, "audio/wav", wav, len);
    vb_free(wav);
    audio_pcm_release(&src);
    audio_pcm_release(&clip);
    return err;
}

/* Writes the description of a new upload (atomically, after the audio). */
static enum vb_err write_meta(struct http_request *req, const char *dir, const char *id,
                              const char *name, const struct audio_info *info, size_t size,
                              char **json)
{
    struct vb_buf b;
    struct vb_jw w;
    char file[VB_NAME_MAX + 16];
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_kstr(&w, "name", name);
    vb_jw_kstr(&w, "format", info->format);
    vb_jw_kdouble(&w, "duration_s", info->duration_s);
    vb_jw_kint(&w, "sample_rate", info->sample_rate);
    vb_jw_kint(&w, "channels", info->channels);
    vb_jw_kint(&w, "size_bytes", (int64_t)size);
    api_json_time(&w, "created_at", (int64_t)time(NULL));
    vb_jw_obj_end(&w);
    enum vb_err err = vb_jw_finish(&w);
    snprintf(file, sizeof file, "%s.json", id);
    if (!err)
        err = api_storage_save(req, "DATA_DIR", dir, file, b.data, b.len);
    if (!err)
        *json = vb_buf_take(&b);
    vb_buf_release(&b);
    return err;
}

static enum vb_err check_upload(struct http_request *req, const struct http_part *name,
                                const struct http_part *file, struct audio_info *info)
{
    struct audio_pcm pcm = {0};
    struct audio_diag diag = {0};
    if (!name || name->len == 0 || name->len > AMBIENCE_NAME_MAX ||
        !api_text_is_clean(name->data, name->len)) {
        http_req_set_error(req, "name",
                           "name: must be 1 to %d characters of UTF-8 text without control "
                           "characters",
                           AMBIENCE_NAME_MAX);
        return VB_ERR_UNPROCESSABLE;
    }
    if (!file || file->len == 0) {
        http_req_set_error(req, "file", "file: an audio file is required");
        return VB_ERR_UNPROCESSABLE;
    }
    enum vb_err err = audio_decode(file->data, file->len, NULL, &pcm, info, &diag);
    if (!err)
        err = audio_check_duration(&pcm, AMBIENCE_MIN_S, AMBIENCE_MAX_S, &diag);
    if (!err)
        err = audio_check_silence(&pcm, AUDIO_SILENCE_DBFS, &diag);
    audio_pcm_release(&pcm);
    if (err == VB_ERR_NOMEM)
        return err;
    if (err) {
        http_req_set_error(req, "file", "file: %s",
                           diag.message[0] ? diag.message : "is not a readable audio file");
        return VB_ERR_UNPROCESSABLE;
    }
    return VB_OK;
}

enum vb_err api_ambiences_upload(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct http_multipart *mp = NULL;
    struct audio_info info = {0};
    char dir[4096], file_name[VB_NAME_MAX], id[VB_NAME_MAX], name[AMBIENCE_NAME_MAX + 1];
    char *meta_json = NULL;
    enum vb_err err = api_multipart_body(req, &mp);
    if (err)
        return err;
    const struct http_part *np = http_multipart_get(mp, "name");
    const struct http_part *fp = http_multipart_get(mp, "file");
    if ((err = check_upload(req, np, fp, &info)))
        goto out;
    memcpy(name, np->data, np->len);
    name[np->len] = '\0';
    user_dir(app, http_req_user_id(req), dir);
    if ((err = vb_mkdir_p(dir, 0750)) || (err = vb_random_file_name("amb", info.format, file_name)))
        goto out;
    /* "amb_<24 hex>.<ext>": the id is the name without the extension */
    snprintf(id, sizeof id, "%.*s", AMBIENCE_ID_LEN, file_name);
    if ((err = api_storage_save(req, "DATA_DIR", dir, file_name, fp->data, fp->len)))
        goto out;
    if ((err = write_meta(req, dir, id, name, &info, fp->len, &meta_json))) {
        (void)vb_file_remove(dir, file_name);
        goto out;
    }
    struct vb_json *meta = NULL;
    if ((err = vb_json_parse(meta_json, strlen(meta_json), &meta, NULL, 0)))
        goto out;
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    write_upload(&w, id, meta);
    vb_json_free(meta);
    err = api_json_send(req, 201, &w, &b);
out:
    vb_free(meta_json);
    vb_free(mp);
    return err;
}

enum vb_err api_ambiences_delete(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    const char *id = http_req_param(req, "id");
    struct vb_json *meta = NULL;
    char dir[4096], file[VB_NAME_MAX + 16];
    if (audio_ambience_find(id)) {
        http_req_set_error(req, NULL, "built-in ambiences cannot be deleted");
        return VB_ERR_FORBIDDEN;
    }
    enum vb_err err = load_meta(app, http_req_user_id(req), id, &meta);
    if (err)
        return err == VB_ERR_NOT_FOUND ? err : VB_ERR_INTERNAL;
    user_dir(app, http_req_user_id(req), dir);
    snprintf(file, sizeof file, "%s.json", id);
    err = vb_file_remove(dir, file); /* the description first: the id is gone at once */
    snprintf(file, sizeof file, "%s.%s", id, vb_json_get_str(meta, "format"));
    if (!err)
        (void)vb_file_remove(dir, file);
    vb_json_free(meta);
    return err ? err : api_no_content(req);
}
