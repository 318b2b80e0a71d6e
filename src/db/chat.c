/* chat.c: the chat repository: threads (create, list, get, rename, delete) and their
 * messages (add, list), every lookup scoped to the owning user. */
#include "core/vb.h"
#include "core/alloc.h"
#include "db/backend.h"

#include <time.h>

#define THREAD_COLS "id, user_id, title, system_prompt, created_at, updated_at"
#define MESSAGE_COLS                                                                               \
    "id, thread_id, role, content, prompt_tokens, completion_tokens, duration_ms,"                 \
    " generation_id, created_at, incomplete"

void db_chat_thread_release(struct db_chat_thread *t)
{
    if (!t)
        return;
    vb_free(t->title);
    vb_free(t->system_prompt);
    memset(t, 0, sizeof(*t));
}

void db_chat_thread_list_release(struct db_chat_thread_list *l)
{
    if (!l)
        return;
    for (size_t k = 0; k < l->n; k++)
        db_chat_thread_release(&l->items[k]);
    vb_free(l->items);
    memset(l, 0, sizeof(*l));
}

void db_chat_message_release(struct db_chat_message *m)
{
    if (!m)
        return;
    vb_free(m->role);
    vb_free(m->content);
    memset(m, 0, sizeof(*m));
}

void db_chat_message_list_release(struct db_chat_message_list *l)
{
    if (!l)
        return;
    for (size_t k = 0; k < l->n; k++)
        db_chat_message_release(&l->items[k]);
    vb_free(l->items);
    memset(l, 0, sizeof(*l));
}

static void thread_from_row(struct db_result *res, size_t r, void *dst)
{
    struct db_chat_thread *out = dst;
    out->id = db_result_int(res, r, 0);
    out->user_id = db_result_int(res, r, 1);
    out->title = db_result_take_text(res, r, 2);
    out->system_prompt = db_result_take_text(res, r, 3);
    out->created_at = db_result_int(res, r, 4);
    out->updated_at = db_result_int(res, r, 5);
}

static void message_from_row(struct db_result *res, size_t r, struct db_chat_message *out)
{
    out->id = db_result_int(res, r, 0);
    out->thread_id = db_result_int(res, r, 1);
    out->role = db_result_take_text(res, r, 2);
    out->content = db_result_take_text(res, r, 3);
    out->prompt_tokens = (int)db_result_int(res, r, 4);
    out->completion_tokens = (int)db_result_int(res, r, 5);
    out->duration_ms = db_result_int(res, r, 6);
    out->generation_id = db_result_int(res, r, 7);
    out->created_at = db_result_int(res, r, 8);
    out->incomplete = db_result_int(res, r, 9) != 0;
}

enum vb_err db_chat_thread_create(struct db_store *store, int64_t user_id, const char *title,
                                  const char *system_prompt, struct db_chat_thread *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!store || !title || user_id <= 0)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(user_id), DB_P_TEXT(title), DB_P_TEXT(system_prompt),
                           DB_P_INT(time(NULL))};
    return db_query_one(store,
                        "INSERT INTO chat_threads (user_id, title, system_prompt, created_at,"
                        " updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING " THREAD_COLS,
                        p, VB_ARRAY_LEN(p), thread_from_row, out);
}

enum vb_err db_chat_thread_list(struct db_store *store, int64_t user_id,
                                const struct db_chat_thread_cursor *after, int limit,
                                struct db_chat_thread_list *out)
{
    struct db_result res = {0};
    if (!out)
        return VB_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    if (!store || limit < 1 || limit > DB_PAGE_LIMIT_MAX)
        return VB_ERR_INVALID;
    /* One row more than asked says whether another page exists. */
    struct db_param p[] = {DB_P_INT(user_id), DB_P_INT(after ? after->updated_at : INT64_MAX),
                           DB_P_INT(after ? after->id : INT64_MAX), DB_P_INT(limit + 1)};
    enum vb_err err = db_query(store,
                               "SELECT " THREAD_COLS " FROM chat_threads WHERE user_id = $1"
                               " AND (updated_at < $2 OR (updated_at = $2 AND id < $3))"
                               " ORDER BY updated_at DESC, id DESC LIMIT $4",
                               p, VB_ARRAY_LEN(p), &res);
    if (err != VB_OK || res.nrows == 0)
        goto out;
    size_t n = VB_MIN(res.nrows, (size_t)limit);
    out->items = vb_try_calloc(n, sizeof(*out->items));
    if (!out->items) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    for (size_t r = 0; r < n; r++)
        thread_from_row(&res, r, &out->items[r]);
    out->n = n;
    out->more = res.nrows > n;
out:
    db_result_release(&res);
    return err;
}

enum vb_err db_chat_thread_get(struct db_store *store, int64_t user_id, int64_t thread_id,
                               struct db_chat_thread *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!store)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(thread_id), DB_P_INT(user_id)};
    return db_query_one(store,
                        "SELECT " THREAD_COLS " FROM chat_threads WHERE id = $1 AND user_id = $2",
                        p, 2, thread_from_row, out);
}

/* Runs a statement that returns the id of each row it touched; none -> VB_ERR_NOT_FOUND. */
static enum vb_err exec_touching(struct db_store *store, const char *sql,
                                 const struct db_param *params, size_t n)
{
    struct db_result res = {0};
    enum vb_err err = db_query(store, sql, params, n, &res);
    if (err == VB_OK && res.nrows == 0)
        err = VB_ERR_NOT_FOUND;
    db_result_release(&res);
    return err;
}

enum vb_err db_chat_thread_rename(struct db_store *store, int64_t user_id, int64_t thread_id,
                                  const char *title)
{
    if (!store || !title)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_TEXT(title), DB_P_INT(time(NULL)), DB_P_INT(thread_id),
                           DB_P_INT(user_id)};
    return exec_touching(store,
                         "UPDATE chat_threads SET title = $1, updated_at = $2"
                         " WHERE id = $3 AND user_id = $4 RETURNING id",
                         p, VB_ARRAY_LEN(p));
}

enum vb_err db_chat_thread_delete(struct db_store *store, int64_t user_id, int64_t thread_id)
{
    if (!store)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(thread_id), DB_P_INT(user_id)};
    return exec_touching(
        store, "DELETE FROM chat_threads WHERE id = $1 AND user_id = $2 RETURNING id", p, 2);
}

enum vb_err db_chat_message_add(struct db_store *store, int64_t user_id,
                                const struct db_chat_message *m, struct db_chat_message *out)
{
    struct db_result res = {0};
    enum vb_err err = VB_OK;

    if (out)
        memset(out, 0, sizeof *out);
    if (!store || !m || !m->role || !m->content || m->generation_id < 0)
        return VB_ERR_INVALID;
    int64_t now = (int64_t)time(NULL);
    /* Ownership check and bump in one statement; a thread deleted between this and the
     * insert makes the insert fail its foreign key, which also reads as NOT_FOUND. */
    struct db_param pt[] = {DB_P_INT(now), DB_P_INT(m->thread_id), DB_P_INT(user_id)};
    err = exec_touching(store,
                        "UPDATE chat_threads SET updated_at = $1 WHERE id = $2 AND user_id = $3"
                        " RETURNING id",
                        pt, VB_ARRAY_LEN(pt));
    if (err != VB_OK)
        return err;
    if (m->generation_id > 0) {
        err = db_generation_get(store, user_id, m->generation_id, NULL);
        if (err != VB_OK)
            return err;
    }
    struct db_param p[] = {DB_P_INT(m->thread_id),
                           DB_P_TEXT(m->role),
                           DB_P_TEXT(m->content),
                           DB_P_INT(m->prompt_tokens),
                           DB_P_INT(m->completion_tokens),
                           DB_P_INT(m->duration_ms),
                           DB_P_ID_OR_NULL(m->generation_id),
                           DB_P_INT(now),
                           DB_P_INT(m->incomplete ? 1 : 0)};
    err = db_query(store,
                   "INSERT INTO chat_messages (thread_id, role, content, prompt_tokens,"
                   " completion_tokens, duration_ms, generation_id, created_at, incomplete)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING " MESSAGE_COLS,
                   p, VB_ARRAY_LEN(p), &res);
    if (err == VB_OK && res.nrows != 1)
        err = VB_ERR_DB;
    if (err == VB_OK && out)
        message_from_row(&res, 0, out);
    db_result_release(&res);
    return err;
}

enum vb_err db_chat_message_list(struct db_store *store, int64_t user_id, int64_t thread_id,
                                 struct db_chat_message_list *out)
{
    struct db_result res = {0};
    if (!out)
        return VB_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    if (!store)
        return VB_ERR_INVALID;
    enum vb_err err = db_chat_thread_get(store, user_id, thread_id, NULL);
    if (err != VB_OK)
        return err;
    struct db_param p[] = {DB_P_INT(thread_id)};
    err = db_query(store,
                   "SELECT " MESSAGE_COLS " FROM chat_messages WHERE thread_id = $1 ORDER BY id", p,
                   1, &res);
    if (err != VB_OK || res.nrows == 0)
        goto out;
    out->items = vb_try_calloc(res.nrows, sizeof(*out->items));
    if (!out->items) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    for (size_t r = 0; r < res.nrows; r++)
        message_from_row(&res, r, &out->items[r]);
    out->n = res.nrows;
out:
    db_result_release(&res);
    return err;
}
