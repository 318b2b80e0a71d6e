/* users.c: the users repository: create, look up by name or id, change password, and the
 * start-up admin upsert. */
#include "core/vb.h"
#include "core/alloc.h"
#include "db/backend.h"

#include <time.h>

#define USER_COLS "id, username, email, password_hash, password_changed_at, created_at"

void db_user_release(struct db_user *u)
{
    if (!u)
        return;
    vb_free(u->username);
    vb_free(u->email);
    if (u->password_hash)
        vb_free_secure(u->password_hash, strlen(u->password_hash));
    memset(u, 0, sizeof(*u));
}

/* Moves row `r` of `res` (USER_COLS) into the struct db_user at dst. */
static void user_from_row(struct db_result *res, size_t r, void *dst)
{
    struct db_user *out = dst;
    out->id = db_result_int(res, r, 0);
    out->username = db_result_take_text(res, r, 1);
    out->email = db_result_take_text(res, r, 2);
    out->password_hash = db_result_take_text(res, r, 3);
    out->password_changed_at = db_result_int(res, r, 4);
    out->created_at = db_result_int(res, r, 5);
}

enum vb_err db_user_create(struct db_store *store, const char *username, const char *email,
                           const char *password_hash, struct db_user *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!store || !username || !password_hash)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_TEXT(username), DB_P_TEXT(email), DB_P_TEXT(password_hash),
                           DB_P_INT(time(NULL))};
    return db_query_one(store,
                        "INSERT INTO users (username, email, password_hash, password_changed_at,"
                        " created_at) VALUES ($1, $2, $3, $4, $4) RETURNING " USER_COLS,
                        p, VB_ARRAY_LEN(p), user_from_row, out);
}

enum vb_err db_user_get_by_name(struct db_store *store, const char *username, struct db_user *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!store || !username)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_TEXT(username)};
    return db_query_one(store, "SELECT " USER_COLS " FROM users WHERE username = $1", p, 1,
                        user_from_row, out);
}

enum vb_err db_user_get(struct db_store *store, int64_t user_id, struct db_user *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!store)
        return VB_ERR_INVALID;
    struct db_param p[] = {DB_P_INT(user_id)};
    return db_query_one(store, "SELECT " USER_COLS " FROM users WHERE id = $1", p, 1, user_from_row,
                        out);
}

enum vb_err db_user_set_password(struct db_store *store, int64_t user_id, const char *password_hash,
                                 int64_t *changed_at_out)
{
    struct db_result res = {0};
    if (!store || !password_hash)
        return VB_ERR_INVALID;
    int64_t now = (int64_t)time(NULL);
    struct db_param p[] = {DB_P_TEXT(password_hash), DB_P_INT(now), DB_P_INT(user_id)};
    enum vb_err err = db_query(store,
                               "UPDATE users SET password_hash = $1, password_changed_at = $2"
                               " WHERE id = $3 RETURNING id",
                               p, VB_ARRAY_LEN(p), &res);
    if (err == VB_OK && res.nrows == 0)
        err = VB_ERR_NOT_FOUND;
    if (err == VB_OK && changed_at_out)
        *changed_at_out = now;
    db_result_release(&res);
    return err;
}

enum vb_err db_user_upsert(struct db_store *store, const char *username, const char *password_hash,
                           bool *created_out, struct db_user *out)
{
    struct db_user existing = {0};
    enum vb_err err = VB_OK;

    if (created_out)
        *created_out = false;
    if (out)
        memset(out, 0, sizeof(*out));
    if (!store || !username || !password_hash)
        return VB_ERR_INVALID;
    /* Two tries: a concurrent create between our lookup and insert turns into an update. */
    for (int attempt = 0; attempt < 2; attempt++) {
        err = db_user_get_by_name(store, username, &existing);
        if (err == VB_OK) {
            err = db_user_set_password(store, existing.id, password_hash, NULL);
            if (err == VB_OK && out)
                err = db_user_get(store, existing.id, out);
            goto out;
        }
        if (err != VB_ERR_NOT_FOUND)
            goto out;
        err = db_user_create(store, username, NULL, password_hash, out);
        if (err != VB_ERR_CONFLICT) {
            if (err == VB_OK && created_out)
                *created_out = true;
            goto out;
        }
    }
out:
    db_user_release(&existing);
    return err;
}
