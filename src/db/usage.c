/* usage.c: per-user usage figures the quota checks compare with their limits: chat threads,
 * voices, stored bytes, and generations made in the last hour (generation_events, written
 * by db_generation_insert). */
#include "core/vb.h"
#include "db/backend.h"

enum vb_err db_user_usage(struct db_store *store, int64_t user_id, enum db_usage_kind kind,
                          int64_t *out)
{
    struct db_result res = {0};
    const char *sql = NULL;
    if (!out)
        return VB_ERR_INVALID;
    *out = 0;
    switch (kind) {
    case DB_USAGE_CHAT_THREADS:
        sql = "SELECT COUNT(*) FROM chat_threads WHERE user_id = $1";
        break;
    case DB_USAGE_VOICES:
        sql = "SELECT COUNT(*) FROM voices WHERE user_id = $1";
        break;
    case DB_USAGE_STORED_BYTES:
        sql = "SELECT (SELECT COALESCE(SUM(size_bytes), 0) FROM voices WHERE user_id = $1) +"
              " (SELECT COALESCE(SUM(size_bytes), 0) FROM generations WHERE user_id = $1)";
        break;
    }
    if (!store || !sql || user_id <= 0)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(user_id)};
    enum vb_err err = db_query(store, sql, p, VB_ARRAY_LEN(p), &res);
    if (err == VB_OK && res.nrows == 1)
        *out = db_result_int(&res, 0, 0);
    db_result_release(&res);
    return err;
}

enum vb_err db_user_generations_since(struct db_store *store, int64_t user_id, int64_t since,
                                      int64_t *count_out, int64_t *oldest_out)
{
    struct db_result res = {0};
    if (!count_out)
        return VB_ERR_INVALID;
    *count_out = 0;
    if (oldest_out)
        *oldest_out = 0;
    if (!store || user_id <= 0)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(user_id), DB_P_INT(since)};
    enum vb_err err = db_query(store,
                               "SELECT COUNT(*), COALESCE(MIN(created_at), 0) FROM"
                               " generation_events WHERE user_id = $1 AND created_at >= $2",
                               p, VB_ARRAY_LEN(p), &res);
    if (err == VB_OK && res.nrows == 1) {
        *count_out = db_result_int(&res, 0, 0);
        if (oldest_out)
            *oldest_out = db_result_int(&res, 0, 1);
    }
    db_result_release(&res);
    return err;
}
