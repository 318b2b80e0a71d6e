/* idempotency.c: the idempotency-key repository: claim a key for a running request, store
 * its reply, or drop it; every claim first sweeps the expired rows of all users. */
#include "core/vb.h"
#include "core/alloc.h"
#include "db/backend.h"

#include <time.h>

void db_idem_entry_release(struct db_idem_entry *e)
{
    if (!e)
        return;
    vb_free(e->request_hash);
    vb_free(e->content_type);
    vb_free(e->body);
    memset(e, 0, sizeof(*e));
}

static enum vb_err get_entry(struct db_store *store, int64_t user_id, const char *key,
                             struct db_idem_entry *out)
{
    struct db_result res = {0};
    struct db_param p[] = {DB_P_INT(user_id), DB_P_TEXT(key)};
    enum vb_err err = db_query(store,
                               "SELECT request_hash, status, content_type, body_kind, body"
                               " FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2",
                               p, VB_ARRAY_LEN(p), &res);
    if (err == VB_OK && res.nrows == 0)
        err = VB_ERR_NOT_FOUND;
    if (err == VB_OK) {
        out->request_hash = db_result_take_text(&res, 0, 0);
        out->status = (int)db_result_int(&res, 0, 1);
        out->content_type = db_result_take_text(&res, 0, 2);
        out->body_kind = (enum db_idem_body)db_result_int(&res, 0, 3);
        out->body = db_result_take_text(&res, 0, 4);
    }
    db_result_release(&res);
    return err;
}

enum vb_err db_idem_claim(struct db_store *store, int64_t user_id, const char *key,
                          const char *request_hash, int64_t expires_at, bool *claimed,
                          struct db_idem_entry *existing)
{
    struct db_result res = {0};
    *claimed = false;
    memset(existing, 0, sizeof(*existing));
    if (!store || !key || !request_hash || user_id <= 0)
        return VB_ERR_INVALID;
    int64_t now = (int64_t)time(NULL);
    struct db_param pd[] = {DB_P_INT(now)};
    enum vb_err err = db_query(store, "DELETE FROM idempotency_keys WHERE expires_at <= $1", pd,
                               VB_ARRAY_LEN(pd), NULL);
    if (err != VB_OK)
        return err;
    struct db_param p[] = {DB_P_INT(user_id), DB_P_TEXT(key), DB_P_TEXT(request_hash),
                           DB_P_INT(now), DB_P_INT(expires_at)};
    err = db_query(store,
                   "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, created_at,"
                   " expires_at) VALUES ($1, $2, $3, $4, $5)"
                   " ON CONFLICT (user_id, idem_key) DO NOTHING RETURNING created_at",
                   p, VB_ARRAY_LEN(p), &res);
    if (err == VB_OK && res.nrows == 1)
        *claimed = true;
    else if (err == VB_OK)
        err = get_entry(store, user_id, key, existing);
    db_result_release(&res);
    return err;
}

enum vb_err db_idem_finish(struct db_store *store, int64_t user_id, const char *key, int status,
                           const char *content_type, enum db_idem_body body_kind, const char *body,
                           int64_t expires_at)
{
    if (!store || !key || !body || status < 100)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(status), DB_P_TEXT(content_type), DB_P_INT(body_kind),
                           DB_P_TEXT(body),  DB_P_INT(expires_at),    DB_P_INT(user_id),
                           DB_P_TEXT(key)};
    struct db_result res = {0};
    enum vb_err err = db_query(store,
                               "UPDATE idempotency_keys SET status = $1, content_type = $2,"
                               " body_kind = $3, body = $4, expires_at = $5"
                               " WHERE user_id = $6 AND idem_key = $7 RETURNING user_id",
                               p, VB_ARRAY_LEN(p), &res);
    if (err == VB_OK && res.nrows == 0)
        err = VB_ERR_NOT_FOUND;
    db_result_release(&res);
    return err;
}

enum vb_err db_idem_drop(struct db_store *store, int64_t user_id, const char *key)
{
    if (!store || !key)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(user_id), DB_P_TEXT(key)};
    return db_query(store, "DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2", p,
                    VB_ARRAY_LEN(p), NULL);
}
