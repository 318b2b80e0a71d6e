/* generations.c: the generations (history) repository: insert, keyset-paginated listing,
 * get, delete and lookup by file name, every lookup scoped to the owning user. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/log.h"
#include "db/backend.h"

#include <time.h>

#define GEN_COLS                                                                                   \
    "id, user_id, text, voice_id, engine, parameters, file_name, duration_s, sample_rate,"         \
    " format, size_bytes, created_at"

void db_generation_release(struct db_generation *g)
{
    if (!g)
        return;
    vb_free(g->text);
    vb_free(g->engine);
    vb_free(g->parameters);
    vb_free(g->file_name);
    vb_free(g->format);
    memset(g, 0, sizeof(*g));
}

void db_generation_page_release(struct db_generation_page *p)
{
    if (!p)
        return;
    for (size_t k = 0; k < p->n; k++)
        db_generation_release(&p->items[k]);
    vb_free(p->items);
    memset(p, 0, sizeof(*p));
}

/* Moves row `r` of `res` (GEN_COLS) into *out. */
static void gen_from_row(struct db_result *res, size_t r, void *dst)
{
    struct db_generation *out = dst;
    out->id = db_result_int(res, r, 0);
    out->user_id = db_result_int(res, r, 1);
    out->text = db_result_take_text(res, r, 2);
    out->voice_id = db_result_int(res, r, 3);
    out->engine = db_result_take_text(res, r, 4);
    out->parameters = db_result_take_text(res, r, 5);
    out->file_name = db_result_take_text(res, r, 6);
    out->duration_s = db_result_real(res, r, 7);
    out->sample_rate = (int)db_result_int(res, r, 8);
    out->format = db_result_take_text(res, r, 9);
    out->size_bytes = db_result_int(res, r, 10);
    out->created_at = db_result_int(res, r, 11);
}

/* Records a generation made at `now` for the hourly quota (generation_events outlives a
 * deleted generation) and drops events older than DB_GENERATION_EVENTS_S. A failure is
 * logged and does not undo the generation. */
static void record_event(struct db_store *store, int64_t user_id, int64_t now)
{
    struct db_param old[] = {DB_P_INT(now - DB_GENERATION_EVENTS_S)};
    struct db_param p[] = {DB_P_INT(user_id), DB_P_INT(now)};
    enum vb_err err =
        db_query(store, "DELETE FROM generation_events WHERE created_at < $1", old, 1, NULL);
    if (err == VB_OK)
        err = db_query(store, "INSERT INTO generation_events (user_id, created_at) VALUES ($1, $2)",
                       p, VB_ARRAY_LEN(p), NULL);
    if (err != VB_OK)
        vb_warn("db: a generation of user %lld is not counted for the hourly quota: %s",
                (long long)user_id, vb_err_message(err));
}

enum vb_err db_generation_insert(struct db_store *store, const struct db_generation *g,
                                 int64_t *id_out, int64_t *created_at_out)
{
    struct db_result res = {0};
    enum vb_err err = VB_OK;

    if (!store || !g || !g->text || !g->engine || !g->file_name || !g->format || g->user_id <= 0 ||
        g->voice_id < 0)
        return VB_ERR_INVALID;
    if (g->voice_id > 0) {
        /* The foreign key only says the voice exists; it must also be this user's. */
        err = db_voice_get(store, g->user_id, g->voice_id, NULL);
        if (err != VB_OK)
            return err;
    }
    int64_t now = (int64_t)time(NULL);
    struct db_param p[] = {DB_P_INT(g->user_id),
                           DB_P_TEXT(g->text),
                           DB_P_ID_OR_NULL(g->voice_id),
                           DB_P_TEXT(g->engine),
                           DB_P_TEXT(g->parameters ? g->parameters : "{}"),
                           DB_P_TEXT(g->file_name),
                           DB_P_REAL(g->duration_s),
                           DB_P_INT(g->sample_rate),
                           DB_P_TEXT(g->format),
                           DB_P_INT(g->size_bytes),
                           DB_P_INT(now)};
    err = db_query(store,
                   "INSERT INTO generations (user_id, text, voice_id, engine, parameters,"
                   " file_name, duration_s, sample_rate, format, size_bytes, created_at)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                   p, VB_ARRAY_LEN(p), &res);
    if (err == VB_OK && res.nrows != 1)
        err = VB_ERR_DB;
    if (err == VB_OK) {
        if (id_out)
            *id_out = db_result_int(&res, 0, 0);
        if (created_at_out)
            *created_at_out = now;
        record_event(store, g->user_id, now);
    }
    db_result_release(&res);
    return err;
}

enum vb_err db_generation_list(struct db_store *store, int64_t user_id, int64_t cursor, int limit,
                               struct db_generation_page *out)
{
    struct db_result res = {0};
    enum vb_err err = VB_OK;

    if (!out)
        return VB_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    if (!store || limit < 1 || limit > DB_PAGE_LIMIT_MAX || cursor < 0)
        return VB_ERR_INVALID;
    /* One row more than asked says whether another page exists. */
    struct db_param p[] = {DB_P_INT(user_id), DB_P_INT(cursor > 0 ? cursor : INT64_MAX),
                           DB_P_INT(limit + 1)};
    err = db_query(store,
                   "SELECT " GEN_COLS " FROM generations WHERE user_id = $1 AND id < $2"
                   " ORDER BY id DESC LIMIT $3",
                   p, VB_ARRAY_LEN(p), &res);
    if (err != VB_OK)
        goto out;
    size_t n = VB_MIN(res.nrows, (size_t)limit);
    if (n > 0) {
        out->items = vb_try_calloc(n, sizeof(*out->items));
        if (!out->items) {
            err = VB_ERR_NOMEM;
            goto out;
        }
        for (size_t r = 0; r < n; r++)
            gen_from_row(&res, r, &out->items[r]);
        out->n = n;
        if (res.nrows > n)
            out->next_cursor = out->items[n - 1].id;
    }
out:
    db_result_release(&res);
    return err;
}

enum vb_err db_generation_get(struct db_store *store, int64_t user_id, int64_t gen_id,
                              struct db_generation *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!store)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(gen_id), DB_P_INT(user_id)};
    return db_query_one(store,
                        "SELECT " GEN_COLS " FROM generations WHERE id = $1 AND user_id = $2", p, 2,
                        gen_from_row, out);
}

enum vb_err db_generation_delete(struct db_store *store, int64_t user_id, int64_t gen_id,
                                 char **file_name_out)
{
    struct db_result res = {0};
    if (file_name_out)
        *file_name_out = NULL;
    if (!store)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(gen_id), DB_P_INT(user_id)};
    enum vb_err err = db_query(store,
                               "DELETE FROM generations WHERE id = $1 AND user_id = $2"
                               " RETURNING file_name",
                               p, 2, &res);
    if (err == VB_OK && res.nrows == 0)
        err = VB_ERR_NOT_FOUND;
    if (err == VB_OK && file_name_out)
        *file_name_out = db_result_take_text(&res, 0, 0);
    db_result_release(&res);
    return err;
}

enum vb_err db_generation_get_by_file(struct db_store *store, int64_t user_id,
                                      const char *file_name, struct db_generation *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!store || !file_name)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_TEXT(file_name), DB_P_INT(user_id)};
    /* user_id = $2 comes first so PostgreSQL infers $2 as BIGINT. */
    return db_query_one(store,
                        "SELECT " GEN_COLS " FROM generations WHERE file_name = $1"
                        " AND (user_id = $2 OR $2 = 0)",
                        p, 2, gen_from_row, out);
}
