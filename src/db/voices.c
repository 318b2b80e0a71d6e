/* voices.c: the voices repository: insert, list, get, delete and find by file name, every
 * lookup scoped to the owning user. */
#include "core/vb.h"
#include "core/alloc.h"
#include "db/backend.h"

#include <time.h>

#define VOICE_COLS                                                                                 \
    "id, user_id, name, file_name, duration_s, sample_rate, channels, format, size_bytes,"         \
    " created_at"

void db_voice_release(struct db_voice *v)
{
    if (!v)
        return;
    vb_free(v->name);
    vb_free(v->file_name);
    vb_free(v->format);
    memset(v, 0, sizeof(*v));
}

void db_voice_list_release(struct db_voice_list *l)
{
    if (!l)
        return;
    for (size_t k = 0; k < l->n; k++)
        db_voice_release(&l->items[k]);
    vb_free(l->items);
    memset(l, 0, sizeof(*l));
}

/* Moves row `r` of `res` (VOICE_COLS) into *out. */
static void voice_from_row(struct db_result *res, size_t r, void *dst)
{
    struct db_voice *out = dst;
    out->id = db_result_int(res, r, 0);
    out->user_id = db_result_int(res, r, 1);
    out->name = db_result_take_text(res, r, 2);
    out->file_name = db_result_take_text(res, r, 3);
    out->duration_s = db_result_real(res, r, 4);
    out->sample_rate = (int)db_result_int(res, r, 5);
    out->channels = (int)db_result_int(res, r, 6);
    out->format = db_result_take_text(res, r, 7);
    out->size_bytes = db_result_int(res, r, 8);
    out->created_at = db_result_int(res, r, 9);
}

enum vb_err db_voice_insert(struct db_store *store, const struct db_voice *v, int64_t *id_out,
                            int64_t *created_at_out)
{
    struct db_result res = {0};
    if (!store || !v || !v->name || !v->file_name || !v->format || v->user_id <= 0)
        return VB_ERR_INVALID;
    int64_t now = (int64_t)time(NULL);
    struct db_param p[] = {
        DB_P_INT(v->user_id),     DB_P_TEXT(v->name),       DB_P_TEXT(v->file_name),
        DB_P_REAL(v->duration_s), DB_P_INT(v->sample_rate), DB_P_INT(v->channels),
        DB_P_TEXT(v->format),     DB_P_INT(v->size_bytes),  DB_P_INT(now)};
    enum vb_err err = db_query(store,
                               "INSERT INTO voices (user_id, name, file_name, duration_s,"
                               " sample_rate, channels, format, size_bytes, created_at)"
                               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                               p, VB_ARRAY_LEN(p), &res);
    if (err == VB_OK && res.nrows != 1)
        err = VB_ERR_DB;
    if (err == VB_OK) {
        if (id_out)
            *id_out = db_result_int(&res, 0, 0);
        if (created_at_out)
            *created_at_out = now;
    }
    db_result_release(&res);
    return err;
}

enum vb_err db_voice_list(struct db_store *store, int64_t user_id, struct db_voice_list *out)
{
    struct db_result res = {0};
    if (!out)
        return VB_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    if (!store)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(user_id)};
    enum vb_err err = db_query(
        store, "SELECT " VOICE_COLS " FROM voices WHERE user_id = $1 ORDER BY id DESC", p, 1, &res);
    if (err != VB_OK)
        goto out;
    if (res.nrows > 0) {
        out->items = vb_try_calloc(res.nrows, sizeof(*out->items));
        if (!out->items) {
            err = VB_ERR_NOMEM;
            goto out;
        }
        for (size_t r = 0; r < res.nrows; r++)
            voice_from_row(&res, r, &out->items[r]);
        out->n = res.nrows;
    }
out:
    db_result_release(&res);
    return err;
}

enum vb_err db_voice_get(struct db_store *store, int64_t user_id, int64_t voice_id,
                         struct db_voice *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!store)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(voice_id), DB_P_INT(user_id)};
    return db_query_one(store, "SELECT " VOICE_COLS " FROM voices WHERE id = $1 AND user_id = $2",
                        p, 2, voice_from_row, out);
}

enum vb_err db_voice_delete(struct db_store *store, int64_t user_id, int64_t voice_id,
                            char **file_name_out)
{
    struct db_result res = {0};
    if (file_name_out)
        *file_name_out = NULL;
    if (!store)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(voice_id), DB_P_INT(user_id)};
    enum vb_err err = db_query(store,
                               "DELETE FROM voices WHERE id = $1 AND user_id = $2"
                               " RETURNING file_name",
                               p, 2, &res);
    if (err == VB_OK && res.nrows == 0)
        err = VB_ERR_NOT_FOUND;
    if (err == VB_OK && file_name_out)
        *file_name_out = db_result_take_text(&res, 0, 0);
    db_result_release(&res);
    return err;
}

enum vb_err db_voice_find_by_file(struct db_store *store, int64_t user_id, const char *file_name,
                                  struct db_voice *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!store || !file_name)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_TEXT(file_name), DB_P_INT(user_id)};
    /* user_id = $2 comes first so PostgreSQL infers $2 as BIGINT. */
    return db_query_one(store,
                        "SELECT " VOICE_COLS " FROM voices WHERE file_name = $1"
                        " AND (user_id = $2 OR $2 = 0)",
                        p, 2, voice_from_row, out);
}
