/* history.c: /history routes: the user's generations, newest first, cursor-paginated. */
#include "core/vb.h"
#include "api/generations.h"
#include "api/handlers.h"
#include "api/page.h"
#include "api/request.h"
#include "auth/signed_url.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/fsutil.h"
#include "core/time_fmt.h"

#include <errno.h>
#include <stdio.h>

#define CURSOR_PREFIX "g1:"

void api_write_generation_members(struct vb_jw *w, const struct api_app *app,
                                  const struct db_generation *g)
{
    char url[256], sig[AUTH_SIG_HEX_LEN + 1];
    int64_t exp = vb_now_unix() + app->cfg->signed_url_ttl_s;
    vb_jw_kint(w, "id", g->id);
    vb_jw_kstr(w, "text", g->text);
    vb_jw_key(w, "voice_id");
    if (g->voice_id)
        vb_jw_int(w, g->voice_id);
    else
        vb_jw_null(w);
    vb_jw_kstr(w, "engine", g->engine);
    vb_jw_key(w, "parameters");
    vb_jw_raw(w, g->parameters, strlen(g->parameters));
    vb_jw_kstr(w, "file_name", g->file_name);
    snprintf(url, sizeof url, "/download/%s", g->file_name);
    vb_jw_kstr(w, "download_url", url);
    if (auth_sign_download(app->cfg->secret_key, g->file_name, exp, sig) == VB_OK) {
        snprintf(url, sizeof url, "/download/%s?exp=%lld&sig=%s", g->file_name, (long long)exp,
                 sig);
        vb_jw_kstr(w, "signed_url", url);
    }
    vb_jw_kdouble(w, "duration_s", g->duration_s);
    vb_jw_kint(w, "sample_rate", g->sample_rate);
    vb_jw_kstr(w, "format", g->format);
    vb_jw_kint(w, "size_bytes", g->size_bytes);
    api_json_time(w, "created_at", g->created_at);
}

void api_write_generation(struct vb_jw *w, const struct api_app *app, const struct db_generation *g)
{
    vb_jw_obj_begin(w);
    api_write_generation_members(w, app, g);
    vb_jw_obj_end(w);
}

enum vb_err api_history_list(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct db_generation_page page = {0};
    int limit;
    int64_t cursor = 0;
    bool more;
    enum vb_err err;
    if ((err = api_page_limit(req, &limit)) ||
        (err = api_page_cursor(req, CURSOR_PREFIX, &cursor, 1, &more)) ||
        (err = db_generation_list(app->store, http_req_user_id(req), cursor, limit, &page)))
        return err;
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_key(&w, "items");
    vb_jw_arr_begin(&w);
    for (size_t i = 0; i < page.n; i++)
        api_write_generation(&w, app, &page.items[i]);
    vb_jw_arr_end(&w);
    api_page_write_cursor(&w, CURSOR_PREFIX, &page.next_cursor, page.next_cursor > 0);
    vb_jw_obj_end(&w);
    db_generation_page_release(&page);
    return api_json_send(req, 200, &w, &b);
}

enum vb_err api_history_get(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct db_generation g = {0};
    int64_t id;
    enum vb_err err = api_path_id(req, "id", &id);
    if (!err)
        err = db_generation_get(app->store, http_req_user_id(req), id, &g);
    if (!err) {
        struct vb_buf b;
        struct vb_jw w;
        api_json_begin(&w, &b);
        api_write_generation(&w, app, &g);
        err = api_json_send(req, 200, &w, &b);
    }
    db_generation_release(&g);
    return err;
}

enum vb_err api_history_delete(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    char *file_name = NULL;
    int64_t id;
    enum vb_err err = api_path_id(req, "id", &id);
    if (!err)
        err = db_generation_delete(app->store, http_req_user_id(req), id, &file_name);
    if (!err) {
        (void)vb_file_remove(app->cfg->storage_dir, file_name);
        err = api_no_content(req);
    }
    vb_free(file_name);
    return err;
}
