/* store.c: opening a store by URL (dispatch to the SQLite or PostgreSQL back end, then
 * migrations), the pooled query helper, ping, and the orphan-sweep file listing. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/log.h"
#include "db/backend.h"

#include <strings.h>

#define SQLITE_PREFIX "sqlite://"

enum vb_err db_open(const char *url, struct db_store **out)
{
    enum vb_err err = VB_OK;
    struct db_store *store = NULL;

    if (!out)
        return VB_ERR_INVALID;
    *out = NULL;
    if (!url || !*url) {
        vb_error("db: DATABASE_URL is empty");
        return VB_ERR_INVALID;
    }
    if (strncasecmp(url, SQLITE_PREFIX, strlen(SQLITE_PREFIX)) == 0) {
        const char *path = url + strlen(SQLITE_PREFIX);
        if (!*path) {
            vb_error("db: sqlite URL has no path (expected sqlite://PATH)");
            return VB_ERR_INVALID;
        }
        err = db_sqlite_open(path, &store);
    } else if (strncasecmp(url, "postgres://", 11) == 0 ||
               strncasecmp(url, "postgresql://", 13) == 0) {
        err = db_pg_open(url, &store);
    } else {
        /* Never echo the URL: it may hold a password. */
        vb_error("db: unsupported DATABASE_URL scheme (expected sqlite://, postgres:// or "
                 "postgresql://)");
        return VB_ERR_INVALID;
    }
    if (err != VB_OK)
        goto out;
    err = db_migrate(store);
    if (err != VB_OK)
        goto out;
    *out = store;
    store = NULL;
out:
    db_close(store);
    return err;
}

void db_close(struct db_store *store)
{
    if (store)
        store->ops->destroy(store);
}

const char *db_backend_name(const struct db_store *store)
{
    return store ? store->ops->name : "none";
}

enum vb_err db_query(struct db_store *store, const char *sql, const struct db_param *params,
                     size_t n, struct db_result *out)
{
    struct db_conn *conn = NULL;
    if (!store)
        return VB_ERR_INVALID;
    enum vb_err err = store->ops->acquire(store, &conn);
    if (err != VB_OK)
        return err;
    err = store->ops->query(conn, sql, params, n, out);
    store->ops->release(store, conn);
    return err;
}

enum vb_err db_query_one(struct db_store *store, const char *sql, const struct db_param *params,
                         size_t n, db_row_fn *from_row, void *out)
{
    struct db_result res = {0};
    enum vb_err err = db_query(store, sql, params, n, &res);
    if (err == VB_OK && res.nrows == 0)
        err = VB_ERR_NOT_FOUND;
    if (err == VB_OK && out)
        from_row(&res, 0, out);
    db_result_release(&res);
    return err;
}

enum vb_err db_ping(struct db_store *store)
{
    enum vb_err err = VB_ERR_DB;
    /* A pooled connection whose server went away fails once and reconnects on its next
     * use, so a failed ping is retried once. */
    for (int attempt = 0; attempt < 2 && err != VB_OK; attempt++) {
        struct db_result res = {0};
        err = db_query(store, "SELECT 1", NULL, 0, &res);
        if (err == VB_OK && (res.nrows != 1 || db_result_int(&res, 0, 0) != 1))
            err = VB_ERR_DB;
        db_result_release(&res);
    }
    return err == VB_OK || err == VB_ERR_DB_DOWN ? err : VB_ERR_DB;
}

enum vb_err db_schema_version(struct db_store *store, int *version_out)
{
    struct db_result res = {0};
    if (!version_out)
        return VB_ERR_INVALID;
    *version_out = 0;
    enum vb_err err =
        db_query(store, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL, 0, &res);
    if (err == VB_OK && res.nrows == 1)
        *version_out = (int)db_result_int(&res, 0, 0);
    db_result_release(&res);
    return err;
}

enum vb_err db_referenced_files(struct db_store *store, enum db_file_kind kind, db_file_fn fn,
                                void *user_data)
{
    struct db_result res = {0};
    const char *sql = NULL;
    enum vb_err err = VB_OK;

    if (!store || !fn)
        return VB_ERR_INVALID;
    switch (kind) {
    case DB_FILE_VOICE:
        sql = "SELECT file_name FROM voices ORDER BY id";
        break;
    case DB_FILE_GENERATION:
        sql = "SELECT file_name FROM generations ORDER BY id";
        break;
    }
    if (!sql)
        return VB_ERR_INVALID;
    /* Materialised first, so no connection is held while the callback runs. */
    err = db_query(store, sql, NULL, 0, &res);
    if (err != VB_OK)
        goto out;
    for (size_t r = 0; r < res.nrows; r++) {
        const char *name = db_result_text(&res, r, 0);
        if (!name)
            continue;
        err = fn(name, user_data);
        if (err != VB_OK)
            goto out;
    }
out:
    db_result_release(&res);
    return err;
}
