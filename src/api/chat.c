/* chat.c: /chat/threads routes: create, list, get (with messages), rename, delete. */
#include "core/vb.h"
#include "api/handlers.h"
#include "api/page.h"
#include "api/quota.h"
#include "api/request.h"
#include "db/store.h"

#define THREAD_TITLE_MAX     200
#define SYSTEM_PROMPT_MAX    8000
#define THREAD_TITLE_DEFAULT "New chat"
#define THREAD_CURSOR_PREFIX "t1:"

static void write_thread(struct vb_jw *w, const struct db_chat_thread *t)
{
    vb_jw_kint(w, "id", t->id);
    vb_jw_kstr(w, "title", t->title);
    vb_jw_kstr(w, "system_prompt", t->system_prompt);
    api_json_time(w, "created_at", t->created_at);
    api_json_time(w, "updated_at", t->updated_at);
}

void api_write_chat_message(struct vb_jw *w, const struct db_chat_message *m)
{
    vb_jw_obj_begin(w);
    vb_jw_kint(w, "id", m->id);
    vb_jw_kint(w, "thread_id", m->thread_id);
    vb_jw_kstr(w, "role", m->role);
    vb_jw_kstr(w, "content", m->content);
    vb_jw_kint(w, "prompt_tokens", m->prompt_tokens);
    vb_jw_kint(w, "completion_tokens", m->completion_tokens);
    vb_jw_kint(w, "duration_ms", m->duration_ms);
    vb_jw_key(w, "generation_id");
    if (m->generation_id)
        vb_jw_int(w, m->generation_id);
    else
        vb_jw_null(w);
    api_json_time(w, "created_at", m->created_at);
    vb_jw_kbool(w, "incomplete", m->incomplete);
    vb_jw_obj_end(w);
}

static enum vb_err reply_thread(struct http_request *req, int status,
                                const struct db_chat_thread *t,
                                const struct db_chat_message_list *msgs)
{
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    write_thread(&w, t);
    if (msgs) {
        vb_jw_key(&w, "messages");
        vb_jw_arr_begin(&w);
        for (size_t i = 0; i < msgs->n; i++)
            api_write_chat_message(&w, &msgs->items[i]);
        vb_jw_arr_end(&w);
    }
    vb_jw_obj_end(&w);
    return api_json_send(req, status, &w, &b);
}

enum vb_err api_chat_thread_create(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct vb_json *body = NULL;
    struct db_chat_thread t = {0};
    const char *title, *system_prompt;
    enum vb_err err;
    if ((err = api_json_body(req, &body)))
        return err;
    if (!(err = api_json_string(req, body, "title", false, 1, THREAD_TITLE_MAX, &title)) &&
        !(err = api_json_string(req, body, "system_prompt", false, 1, SYSTEM_PROMPT_MAX,
                                &system_prompt)) &&
        !(err = api_quota_check(req, API_QUOTA_CHAT_THREADS, 1)) &&
        !(err = db_chat_thread_create(app->store, http_req_user_id(req),
                                      title ? title : THREAD_TITLE_DEFAULT, system_prompt, &t)))
        err = reply_thread(req, 201, &t, NULL);
    db_chat_thread_release(&t);
    vb_json_free(body);
    return err;
}

enum vb_err api_chat_thread_list(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct db_chat_thread_list list = {0};
    int64_t keys[2]; /* updated_at, id of the last thread of the previous page */
    int limit;
    bool after;
    enum vb_err err;
    if ((err = api_page_limit(req, &limit)) ||
        (err = api_page_cursor(req, THREAD_CURSOR_PREFIX, keys, 2, &after)))
        return err;
    struct db_chat_thread_cursor cursor = {.updated_at = keys[0], .id = keys[1]};
    err = db_chat_thread_list(app->store, http_req_user_id(req), after ? &cursor : NULL, limit,
                              &list);
    if (err)
        return err;
    struct vb_buf b;
    struct vb_jw w;
    api_json_begin(&w, &b);
    vb_jw_obj_begin(&w);
    vb_jw_key(&w, "items");
    vb_jw_arr_begin(&w);
    for (size_t i = 0; i < list.n; i++) {
        vb_jw_obj_begin(&w);
        write_thread(&w, &list.items[i]);
        vb_jw_obj_end(&w);
    }
    vb_jw_arr_end(&w);
    if (list.more) {
        keys[0] = list.items[list.n - 1].updated_at;
        keys[1] = list.items[list.n - 1].id;
    }
    api_page_write_cursor(&w, THREAD_CURSOR_PREFIX, keys, list.more ? 2 : 0);
    vb_jw_obj_end(&w);
    db_chat_thread_list_release(&list);
    return api_json_send(req, 200, &w, &b);
}

enum vb_err api_chat_thread_get(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct db_chat_thread t = {0};
    struct db_chat_message_list msgs = {0};
    int64_t id, uid = http_req_user_id(req);
    enum vb_err err = api_path_id(req, "id", &id);
    if (!err)
        err = db_chat_thread_get(app->store, uid, id, &t);
    if (!err)
        err = db_chat_message_list(app->store, uid, id, &msgs);
    if (!err)
        err = reply_thread(req, 200, &t, &msgs);
    db_chat_message_list_release(&msgs);
    db_chat_thread_release(&t);
    return err;
}

enum vb_err api_chat_thread_rename(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    struct vb_json *body = NULL;
    struct db_chat_thread t = {0};
    const char *title;
    int64_t id, uid = http_req_user_id(req);
    enum vb_err err = api_path_id(req, "id", &id);
    if (err || (err = api_json_body(req, &body)))
        return err;
    if (!(err = api_json_string(req, body, "title", true, 1, THREAD_TITLE_MAX, &title)) &&
        !(err = db_chat_thread_rename(app->store, uid, id, title)) &&
        !(err = db_chat_thread_get(app->store, uid, id, &t)))
        err = reply_thread(req, 200, &t, NULL);
    db_chat_thread_release(&t);
    vb_json_free(body);
    return err;
}

enum vb_err api_chat_thread_delete(struct http_request *req)
{
    struct api_app *app = http_req_app(req);
    int64_t id;
    enum vb_err err = api_path_id(req, "id", &id);
    if (!err)
        err = db_chat_thread_delete(app->store, http_req_user_id(req), id);
    return err ? err : api_no_content(req);
}
