/* voices.c: /voices routes: upload a reference clip, list, get, download, delete. */
#include "core/vb.h"
#include "api/handlers.h"
#include "api/media.h"
#include "api/quota.h"
#include "api/request.h"
#include "api/storage.h"
#include "audio/decode.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "db/store.h"
#include "http/multipart.h"

#include <stdio.h>

#define VOICE_NAME_MAX    64
#define VOICE_MIN_SECONDS 3.0
#define VOICE_MAX_SECONDS 60.0

static void write_voice(struct vb_jw *w, const struct db_voice *v)
{
    vb_jw_obj_begin(w);
    vb_jw_kint(w, "id", v->id);
    vb_jw_kstr(w, "name", v->name);
    vb_jw_kdouble(w, "duration_s", v->duration_s);
    vb_jw_kint(w, "sample_rate", v->sample_rate);
    vb_jw_kint(w, "channels", v->channels);
    vb_jw_kstr(w, "format", v->format);
    vb_jw_kint(w, "size_bytes", v->size_bytes);
    api_json_time(w, "created_at", v->created_at);
    vb_jw_obj_end(w);
}

static enum vb_err reply_voice(struct http_request *req, int status, const struct db_voice *v)
{
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    write_voice(&w, v);
    return api_json_send(req, status, &w, &b);
}

/* Validates the name part: 1..64 bytes, valid UTF-8 without control characters. */
static enum vb_err check_name(struct http_request *req, const struct http_part *p, char *out)
{
    if (!p) {
        http_req_set_error(req, "name", "name: is required");
        return VB_ERR_UNPROCESSABLE;
    }
    if (p->len == 0 || p->len > VOICE_NAME_MAX || !api_text_is_clean(p->data, p->len)) {
        http_req_set_error(req, "name",
                           "name: must be 1 to %d characters of UTF-8 text without "
                           "control characters",
                           VOICE_NAME_MAX);
        return VB_ERR_UNPROCESSABLE;
    }
    memcpy(out, p->data, p->len);
    out[p->len] = '\0';
    return VB_OK;
}

/* Decodes the clip and checks it is real audio of an acceptable length. */
static enum vb_err check_audio(struct http_request *req, const struct http_part *p,
                               struct audio_info *info)
{
    struct audio_pcm pcm = {0};
    struct audio_diag diag = {0};
    if (!p || p->len == 0) {
        http_req_set_error(req, "file", "file: an audio file is required");
        return VB_ERR_UNPROCESSABLE;
    }
    enum vb_err err = audio_decode(p->data, p->len, NULL, &pcm, info, &diag);
    if (!err)
        err = audio_check_duration(&pcm, VOICE_MIN_SECONDS, VOICE_MAX_SECONDS, &diag);
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

static enum vb_err store_voice(struct http_request *req, struct api_app *app, const char *name,
                               const struct http_part *file, const struct audio_info *info)
{
    struct db_voice v = {0};
    char file_name[VB_NAME_MAX];
    enum vb_err err = api_quota_check(req, API_QUOTA_VOICES, 1);
    if (!err)
        err = api_quota_check(req, API_QUOTA_STORAGE, (int64_t)file->len);
    if (!err)
        err = vb_random_file_name("voice", info->format, file_name);
    if (!err)
        err = api_storage_save(req, "VOICES_DIR", app->cfg->voices_dir, file_name, file->data,
                               file->len);
    if (err)
        return err;
    v.user_id = http_req_user_id(req);
    v.name = (char *)name;
    v.file_name = file_name;
    v.duration_s = info->duration_s;
    v.sample_rate = info->sample_rate;
    v.channels = info->channels;
    v.format = (char *)info->format;
    v.size_bytes = (int64_t)file->len;
    err = db_voice_insert(app->store, &v, &v.id, &v.created_at);
    if (err) {
        (void)vb_file_remove(app->cfg->voices_dir, file_name);
        if (err == VB_ERR_CONFLICT)
            http_req_set_error(req, "name", "name: you already have a voice called '%s'", name);
        return err;
    }
    return reply_voice(req, 201, &v);
}

enum vb_err api_voices_upload(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct http_multipart *mp = NULL;
    struct audio_info info = {0};
    char name[VOICE_NAME_MAX + 1];
    enum vb_err err = api_multipart_body(req, &mp);
    if (err)
        return err;
    if (!(err = check_name(req, http_multipart_get(mp, "name"), name)) &&
        !(err = check_audio(req, http_multipart_get(mp, "file"), &info)))
        err = store_voice(req, app, name, http_multipart_get(mp, "file"), &info);
    vb_free(mp);
    return err;
}

enum vb_err api_voices_list(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct db_voice_list list = {0};
    enum vb_err err = db_voice_list(app->store, http_req_user_id(req), &list);
    if (err)
        return err;
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_key(&w, "voices");
    vb_jw_arr_begin(&w);
    for (size_t i = 0; i < list.n; i++)
        write_voice(&w, &list.items[i]);
    vb_jw_arr_end(&w);
    vb_jw_obj_end(&w);
    db_voice_list_release(&list);
    return api_json_send(req, 200, &w, &b);
}

enum vb_err api_voices_get(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct db_voice v = {0};
    int64_t id;
    enum vb_err err = api_path_id(req, "id", &id);
    if (!err)
        err = db_voice_get(app->store, http_req_user_id(req), id, &v);
    if (!err)
        err = reply_voice(req, 200, &v);
    db_voice_release(&v);
    return err;
}

enum vb_err api_voices_audio(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct db_voice v = {0};
    char path[4096];
    int64_t id;
    enum vb_err err = api_path_id(req, "id", &id);
    if (!err)
        err = db_voice_get(app->store, http_req_user_id(req), id, &v);
    if (!err) {
        snprintf(path, sizeof path, "%s/%s", app->cfg->voices_dir, v.file_name);
        err = http_reply_file(req, path, api_content_type(v.format), v.file_name);
    }
    db_voice_release(&v);
    return err;
}

enum vb_err api_voices_delete(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    char *file_name = NULL;
    int64_t id;
    enum vb_err err = api_path_id(req, "id", &id);
    if (!err)
        err = db_voice_delete(app->store, http_req_user_id(req), id, &file_name);
    if (!err) {
        (void)vb_file_remove(app->cfg->voices_dir, file_name);
        err = api_no_content(req);
    }
    vb_free(file_name);
    return err;
}
