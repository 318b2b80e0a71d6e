/* sqlite.c: the SQLite back end: a small pool of connections (WAL with the index in heap
 * memory, foreign keys on, busy timeout, synchronous=NORMAL), each with its own cache of
 * persistent prepared statements keyed by SQL text. One connection serves one call at a time. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"
#include "db/backend.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

#define SQLITE_POOL_SIZE 4
#define SQLITE_BUSY_MS   5000
#define SQLITE_PATH_MAX  4096
/* One process holds the database (the instance lock in DATA_DIR says which), so its WAL index
 * lives in this process's heap, shared by the pool's connections, instead of a memory map of
 * a "-shm" file that dies with SIGBUS when the file is truncated or its disk fails; another
 * process that opens the database gets SQLITE_BUSY. */
#define SQLITE_VFS "unix-excl"

struct stmt_entry {
    uint64_t hash;
    const char *sql; /* borrowed: statement texts are literals that outlive the store */
    sqlite3_stmt *stmt;
};

struct db_conn {
    sqlite3 *db;
    struct stmt_entry *stmts; /* owned array */
    size_t n_stmts, cap_stmts;
    bool busy;
};

struct sqlite_store {
    struct db_store base; /* first */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct db_conn conns[SQLITE_POOL_SIZE];
    size_t n_conns;
};

static const struct db_ops sqlite_ops;

/* Creates every missing directory above the file in `path` (mkdir -p of its dirname). */
static enum vb_err make_parent_dirs(const char *path)
{
    char buf[SQLITE_PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(buf))
        return VB_ERR_INVALID;
    memcpy(buf, path, len + 1);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return VB_OK;
    *slash = '\0';
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                vb_error("db: sqlite: cannot create directory %s: %s", buf, strerror(errno));
                return VB_ERR_DB;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    return VB_OK;
}

static enum vb_err map_rc(sqlite3 *db, int rc, const char *what)
{
    int ext = sqlite3_extended_errcode(db);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
        vb_debug("db: sqlite: %s: %s", what, sqlite3_errmsg(db));
        return VB_ERR_CONFLICT;
    }
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) {
        vb_debug("db: sqlite: %s: %s", what, sqlite3_errmsg(db));
        return VB_ERR_NOT_FOUND;
    }
    if (rc == SQLITE_NOMEM)
        return VB_ERR_NOMEM;
    if (rc == SQLITE_FULL) {
        vb_error("db: sqlite: %s: the disk of the database is full (%s)", what, sqlite3_errmsg(db));
        return VB_ERR_NO_SPACE;
    }
    vb_error("db: sqlite: %s: %s (code %d)", what, sqlite3_errmsg(db), ext);
    return VB_ERR_DB;
}

static void conn_close(struct db_conn *c)
{
    for (size_t k = 0; k < c->n_stmts; k++)
        sqlite3_finalize(c->stmts[k].stmt);
    vb_free(c->stmts);
    if (c->db)
        sqlite3_close_v2(c->db);
    memset(c, 0, sizeof(*c));
}

static enum vb_err conn_open(struct db_conn *c, const char *path, const char *vfs, bool first)
{
    enum vb_err err = VB_OK;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &c->db, flags, vfs);
    if (rc != SQLITE_OK) {
        vb_error("db: sqlite: cannot open database: %s",
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        err = VB_ERR_DB;
        goto out;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, SQLITE_BUSY_MS);
    /* journal_mode=WAL is persistent in the file; the first connection sets it. */
    if (first) {
        rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            err = map_rc(c->db, rc, "journal_mode=WAL");
            goto out;
        }
    }
    /* no memory map of the database file either: reads and writes are plain calls whose
     * failures come back as errors */
    rc =
        sqlite3_exec(c->db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL; PRAGMA mmap_size=0",
                     NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        err = map_rc(c->db, rc, "pragmas");
        goto out;
    }
out:
    if (err != VB_OK)
        conn_close(c);
    return err;
}

enum vb_err db_sqlite_open(const char *path, struct db_store **out)
{
    enum vb_err err = VB_OK;
    struct sqlite_store *s = NULL;
    bool memory = strcmp(path, ":memory:") == 0;

    *out = NULL;
    if (!sqlite3_threadsafe()) {
        vb_error("db: sqlite: library built without thread safety");
        return VB_ERR_DB;
    }
    if (strlen(path) >= SQLITE_PATH_MAX) {
        vb_error("db: sqlite: path too long");
        return VB_ERR_INVALID;
    }
    if (!memory) {
        err = make_parent_dirs(path);
        if (err != VB_OK)
            return err;
    }
    s = vb_xcalloc(1, sizeof(*s));
    s->base.ops = &sqlite_ops;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* Each :memory: connection would be its own database: use exactly one. */
    size_t want = memory ? 1 : SQLITE_POOL_SIZE;
    const char *vfs = memory ? NULL : SQLITE_VFS;
    if (vfs && !sqlite3_vfs_find(vfs)) {
        vb_warn("db: sqlite: this SQLite has no %s VFS; using the default one", vfs);
        vfs = NULL;
    }
    for (size_t k = 0; k < want; k++) {
        err = conn_open(&s->conns[k], path, vfs, k == 0);
        if (err != VB_OK)
            goto out;
        s->n_conns++;
    }
    *out = &s->base;
    s = NULL;
out:
    if (s)
        sqlite_ops.destroy(&s->base);
    return err;
}

static void sqlite_destroy(struct db_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    for (size_t k = 0; k < s->n_conns; k++)
        conn_close(&s->conns[k]);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    vb_free(s);
}

static enum vb_err sqlite_acquire(struct db_store *store, struct db_conn **out)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (size_t k = 0; k < s->n_conns; k++) {
            if (!s->conns[k].busy) {
                s->conns[k].busy = true;
                *out = &s->conns[k];
                pthread_mutex_unlock(&s->mu);
                return VB_OK;
            }
        }
        pthread_cond_wait(&s->cv, &s->mu);
    }
}

static void sqlite_release(struct db_store *store, struct db_conn *conn)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    pthread_mutex_lock(&s->mu);
    conn->busy = false;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The cached statement for `sql` on this connection, prepared on first use. */
static enum vb_err get_stmt(struct db_conn *c, const char *sql, sqlite3_stmt **out)
{
    uint64_t h = vb_fnv1a64(VB_FNV64_OFFSET, sql, strlen(sql));
    for (size_t k = 0; k < c->n_stmts; k++) {
        if (c->stmts[k].hash == h && strcmp(c->stmts[k].sql, sql) == 0) {
            *out = c->stmts[k].stmt;
            return VB_OK;
        }
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK)
        return map_rc(c->db, rc, "prepare");
    if (c->n_stmts == c->cap_stmts) {
        c->cap_stmts = c->cap_stmts ? c->cap_stmts * 2 : 16;
        c->stmts = vb_xrealloc(c->stmts, c->cap_stmts * sizeof(*c->stmts));
    }
    c->stmts[c->n_stmts++] = (struct stmt_entry){.hash = h, .sql = sql, .stmt = stmt};
    *out = stmt;
    return VB_OK;
}

static enum vb_err bind_params(struct db_conn *c, sqlite3_stmt *stmt, const struct db_param *params,
                               size_t n)
{
    if (n > DB_MAX_PARAMS || (size_t)sqlite3_bind_parameter_count(stmt) != n) {
        vb_error("db: sqlite: statement expects %d parameters, got %zu",
                 sqlite3_bind_parameter_count(stmt), n);
        return VB_ERR_INTERNAL;
    }
    for (size_t k = 0; k < n; k++) {
        char name[8];
        snprintf(name, sizeof(name), "$%zu", k + 1);
        int idx = sqlite3_bind_parameter_index(stmt, name);
        if (idx == 0) {
            vb_error("db: sqlite: statement has no parameter %s", name);
            return VB_ERR_INTERNAL;
        }
        int rc = SQLITE_OK;
        switch (params[k].type) {
        case DB_VAL_NULL:
            rc = sqlite3_bind_null(stmt, idx);
            break;
        case DB_VAL_INT:
            rc = sqlite3_bind_int64(stmt, idx, params[k].i);
            break;
        case DB_VAL_REAL:
            rc = sqlite3_bind_double(stmt, idx, params[k].d);
            break;
        case DB_VAL_TEXT:
            rc = sqlite3_bind_text(stmt, idx, params[k].s, -1, SQLITE_STATIC);
            break;
        }
        if (rc != SQLITE_OK)
            return map_rc(c->db, rc, "bind");
    }
    return VB_OK;
}

static enum vb_err read_row(sqlite3_stmt *stmt, struct db_result *out)
{
    int ncols = sqlite3_column_count(stmt);
    struct db_cell *row = NULL;
    if (ncols <= 0)
        return VB_OK;
    enum vb_err err = db_result_add_row(out, (size_t)ncols, &row);
    if (err != VB_OK)
        return err;
    for (int k = 0; k < ncols; k++) {
        switch (sqlite3_column_type(stmt, k)) {
        case SQLITE_NULL:
            row[k].type = DB_VAL_NULL;
            break;
        case SQLITE_INTEGER:
            row[k].type = DB_VAL_INT;
            row[k].i = sqlite3_column_int64(stmt, k);
            break;
        case SQLITE_FLOAT:
            row[k].type = DB_VAL_REAL;
            row[k].d = sqlite3_column_double(stmt, k);
            break;
        default: { /* TEXT or BLOB: copied as a NUL-terminated string */
            const unsigned char *txt = sqlite3_column_text(stmt, k);
            int len = sqlite3_column_bytes(stmt, k);
            if (!txt)
                return VB_ERR_NOMEM;
            char *s = vb_try_malloc((size_t)len + 1);
            if (!s)
                return VB_ERR_NOMEM;
            memcpy(s, txt, (size_t)len);
            s[len] = '\0';
            row[k].type = DB_VAL_TEXT;
            row[k].s = s;
            break;
        }
        }
    }
    return VB_OK;
}

static enum vb_err sqlite_query(struct db_conn *c, const char *sql, const struct db_param *params,
                                size_t n, struct db_result *out)
{
    sqlite3_stmt *stmt = NULL;
    enum vb_err err = get_stmt(c, sql, &stmt);
    if (err != VB_OK)
        return err;
    err = bind_params(c, stmt, params, n);
    if (err != VB_OK)
        goto out;
    for (;;) {
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            err = map_rc(c->db, rc, "step");
            goto out;
        }
        if (out) {
            err = read_row(stmt, out);
            if (err != VB_OK)
                goto out;
        }
    }
out:
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (err != VB_OK && out)
        db_result_release(out);
    return err;
}

static enum vb_err sqlite_exec(struct db_conn *c, const char *script)
{
    int rc = sqlite3_exec(c->db, script, NULL, NULL, NULL);
    return rc == SQLITE_OK ? VB_OK : map_rc(c->db, rc, "exec");
}

static const struct db_ops sqlite_ops = {
    .name = "sqlite",
    .begin_sql = "BEGIN IMMEDIATE",
    .acquire = sqlite_acquire,
    .release = sqlite_release,
    .query = sqlite_query,
    .exec = sqlite_exec,
    .migration_lock = NULL, /* BEGIN IMMEDIATE serialises writers across processes */
    .destroy = sqlite_destroy,
};
