/* backend.h: internal contract between the repository code (users.c, voices.c, ...) and the
 * store back ends (sqlite.c, postgres.c): a small vtable, typed parameters and a fully
 * materialised result table. Not for use outside src/db. */
#ifndef VB_DB_BACKEND_H
#define VB_DB_BACKEND_H

#include "core/vb.h"
#include "core/err.h"
#include "db/store.h"

#define DB_MAX_PARAMS 16

enum db_val_type {
    DB_VAL_NULL = 0,
    DB_VAL_INT,
    DB_VAL_REAL,
    DB_VAL_TEXT,
};

/* One bound parameter; SQL refers to the k-th (1-based) as $k in both back ends. */
struct db_param {
    enum db_val_type type;
    int64_t i;
    double d;
    const char *s; /* borrowed for the call */
};

#define DB_P_INT(v)  ((struct db_param){.type = DB_VAL_INT, .i = (int64_t)(v)})
#define DB_P_REAL(v) ((struct db_param){.type = DB_VAL_REAL, .d = (double)(v)})
/* NULL string binds SQL NULL. */
#define DB_P_TEXT(v) ((struct db_param){.type = (v) ? DB_VAL_TEXT : DB_VAL_NULL, .s = (v)})
/* 0 binds SQL NULL (nullable id columns). */
#define DB_P_ID_OR_NULL(v) ((struct db_param){.type = (v) ? DB_VAL_INT : DB_VAL_NULL, .i = (v)})

struct db_cell {
    enum db_val_type type;
    int64_t i;
    double d;
    char *s; /* owned by the result; NUL-terminated */
};

struct db_result {
    size_t nrows;
    size_t ncols;
    struct db_cell *cells; /* owned; nrows * ncols, row-major */
    size_t cap_rows;       /* rows allocated */
};

void db_result_release(struct db_result *r);
/* Appends one zeroed row; VB_ERR_NOMEM on failure. Sets ncols on the first call. */
VB_WUR enum vb_err db_result_add_row(struct db_result *r, size_t ncols, struct db_cell **row_out);
/* Accessors convert between types (a PostgreSQL cell is always text); NULL reads as 0 / NULL. */
int64_t db_result_int(const struct db_result *r, size_t row, size_t col);
double db_result_real(const struct db_result *r, size_t row, size_t col);
/* Borrowed; NULL for SQL NULL. */
const char *db_result_text(const struct db_result *r, size_t row, size_t col);
/* Moves the text out (caller frees with vb_free); NULL for SQL NULL. Integer or real cells
 * are formatted. */
char *db_result_take_text(struct db_result *r, size_t row, size_t col);

struct db_conn; /* back-end specific */

struct db_ops {
    const char *name;      /* "sqlite" / "postgresql" */
    const char *begin_sql; /* starts a write transaction */
    /* Takes a connection from the pool (blocks while all are busy). */
    enum vb_err (*acquire)(struct db_store *store, struct db_conn **out);
    /* Gives it back. */
    void (*release)(struct db_store *store, struct db_conn *conn);
    /* Runs one statement (prepared and cached per connection, keyed by its text) with
     * `n` parameters. `out` (may be NULL) receives every row. Unique violation ->
     * VB_ERR_CONFLICT, foreign-key violation -> VB_ERR_NOT_FOUND, server unreachable or
     * connection lost -> VB_ERR_DB_DOWN (rate-limited log), other -> VB_ERR_DB
     * (logged). `sql` must stay valid while the store is open (string literals). */
    enum vb_err (*query)(struct db_conn *conn, const char *sql, const struct db_param *params,
                         size_t n, struct db_result *out);
    /* Runs a script of one or more statements without parameters (not cached). */
    enum vb_err (*exec)(struct db_conn *conn, const char *script);
    /* Optional (NULL: none): takes (lock=true) or drops the cross-process migration lock. */
    enum vb_err (*migration_lock)(struct db_conn *conn, bool lock);
    /* Closes the connections and frees the store. */
    void (*destroy)(struct db_store *store);
};

/* Each back end embeds this as the first member of its own store struct. */
struct db_store {
    const struct db_ops *ops;
};

/* Back-end constructors: open the pool (at least one live connection) without migrating. */
VB_WUR enum vb_err db_sqlite_open(const char *path, struct db_store **out);
VB_WUR enum vb_err db_pg_open(const char *url, struct db_store **out);

/* Applies pending embedded migrations (migrate.c). */
VB_WUR enum vb_err db_migrate(struct db_store *store);

/* Acquire + query + release. */
VB_WUR enum vb_err db_query(struct db_store *store, const char *sql, const struct db_param *params,
                            size_t n, struct db_result *out);
/* Moves row r of a result into the record at out (the caller's type). */
typedef void db_row_fn(struct db_result *res, size_t r, void *out);
/* db_query of a query returning at most one row, moved into out by from_row (out may be NULL:
 * the row's existence only). No row -> VB_ERR_NOT_FOUND. */
VB_WUR enum vb_err db_query_one(struct db_store *store, const char *sql,
                                const struct db_param *params, size_t n, db_row_fn *from_row,
                                void *out);

#endif
