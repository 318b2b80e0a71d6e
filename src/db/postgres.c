/* postgres.c: the PostgreSQL back end on libpq: a small pool of connections (mutex +
 * condvar, connected lazily, checked before each use and reconnected after a failure),
 * statements prepared once per connection under a name derived from a hash of their text,
 * parameters sent as text. A server that cannot be reached (down, restarting, refusing
 * connections) is VB_ERR_DB_DOWN, logged at most once per PG_DOWN_LOG_INTERVAL_S. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"
#include "db/backend.h"

#include "core/time_fmt.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#define PG_POOL_SIZE 4
/* Seconds libpq waits for a connection when the URL does not say (libpq's own default is
 * to wait forever, which would hold a worker for as long as a dead host takes to time out). */
#define PG_CONNECT_TIMEOUT_S "5"
/* After a failed connection attempt, further attempts within this many ms fail at once
 * (VB_ERR_DB_DOWN) instead of each request knocking on a server that is down. */
#define PG_RECONNECT_BACKOFF_MS 500
/* At most one "unreachable" log line per this many seconds, with a count of the others. */
#define PG_DOWN_LOG_INTERVAL_S 10
/* Key of the session-level advisory lock held while migrating ("vocero" in ASCII). */
#define PG_MIGRATION_LOCK_KEY "118111099101114111"

struct prepared {
    uint64_t hash;
    const char *sql; /* borrowed: statement texts are literals that outlive the store */
};

struct pg_store;

struct db_conn {
    struct pg_store *store;    /* the pool this connection belongs to */
    PGconn *pg;                /* NULL until connected */
    struct prepared *prepared; /* owned array: statements prepared on this connection */
    size_t n_prepared, cap_prepared;
    bool busy;
    bool broken; /* reconnect before the next use */
    bool reused; /* was open before this acquisition (may have gone stale while idle) */
};

struct pg_store {
    struct db_store base; /* first */
    char *url;            /* owned; secret (may hold a password): wiped on free */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct db_conn conns[PG_POOL_SIZE];
    _Atomic int64_t connect_after_ms; /* monotonic; 0 = connect freely (see backoff above) */
    _Atomic bool down;                /* the last attempt found the server unreachable */
    _Atomic bool probing;             /* a connection attempt is under way while down */
    struct vb_log_limit down_log;
};

static const struct db_ops pg_ops;

/* libpq's NOTICE messages ("relation already exists, skipping") go to the debug log. */
static void notice_processor(void *arg, const char *message)
{
    (void)arg;
    vb_debug("db: postgresql: %.*s", (int)strcspn(message, "\n"), message);
}

static void conn_disconnect(struct db_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->n_prepared = 0;
    c->broken = false;
}

/* First line of a libpq error message. libpq never puts the password in it; we never log
 * the URL. */
static void log_pg_error(const char *what, const char *msg)
{
    if (!msg || !*msg)
        msg = "unknown error";
    vb_error("db: postgresql: %s: %.*s", what, (int)strcspn(msg, "\n"), msg);
}

/* The server cannot be used: one rate-limited line. */
static void note_down(struct pg_store *s, const char *what, const char *msg)
{
    if (!msg || !*msg)
        msg = "connection lost";
    vb_log_limited(&s->down_log, PG_DOWN_LOG_INTERVAL_S, VB_LOG_ERROR,
                   "db: postgresql: database unavailable (%s): %.*s", what, (int)strcspn(msg, "\n"),
                   msg);
}

/* libpq's URL parse errors quote the offending part of the URL, which may be (part of) the
 * password: log the message only up to the first quotation. */
static void log_parse_error(const char *why)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", why ? why : "cannot parse");
    msg[strcspn(msg, "\"\n")] = '\0';
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == ' ' || msg[len - 1] == ':'))
        msg[--len] = '\0';
    vb_error("db: postgresql: invalid DATABASE_URL: %s", len ? msg : "cannot parse");
}

static enum vb_err conn_connect(struct pg_store *s, struct db_conn *c)
{
    enum vb_err err = VB_OK;
    int64_t after = atomic_load(&s->connect_after_ms);
    if (after && vb_mono_ms() < after) {
        note_down(s, "connect", "a connection attempt failed moments ago");
        return VB_ERR_DB_DOWN;
    }
    /* While the server is known to be down, one request at a time tries it (a dead host can
     * take PG_CONNECT_TIMEOUT_S to answer); the others fail at once instead of waiting. */
    bool probe = atomic_load(&s->down);
    if (probe && atomic_exchange(&s->probing, true)) {
        note_down(s, "connect", "another connection attempt is under way");
        return VB_ERR_DB_DOWN;
    }
    /* Later keywords win: settings in the URL override the default timeout. */
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const values[] = {PG_CONNECT_TIMEOUT_S, s->url, NULL};
    c->pg = PQconnectdbParams(keys, values, 1);
    if (!c->pg) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        /* Known down (until a connection succeeds, which is then reported). */
        atomic_store(&s->down, true);
        atomic_store(&s->connect_after_ms, vb_mono_ms() + PG_RECONNECT_BACKOFF_MS);
        note_down(s, "connect", PQerrorMessage(c->pg));
        err = VB_ERR_DB_DOWN;
        goto out;
    }
    atomic_store(&s->connect_after_ms, 0);
    if (atomic_exchange(&s->down, false))
        vb_info("db: postgresql: database reachable again (%llu failures not logged meanwhile)",
                (unsigned long long)atomic_exchange(&s->down_log.dropped, 0));
    PQsetNoticeProcessor(c->pg, notice_processor, NULL);
    c->n_prepared = 0;
    c->broken = false;
out:
    if (probe)
        atomic_store(&s->probing, false);
    if (err != VB_OK)
        conn_disconnect(c);
    return err;
}

/* Whether an idle pooled connection is still usable, without a round trip: an idle
 * connection has nothing to read, so a readable socket means the server sent something
 * (usually "terminating connection" and then end of file, as in a restart): libpq reads
 * it and marks the connection bad when it is closed. */
static bool conn_alive(struct db_conn *c)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return false;
    struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
    if (p.fd < 0)
        return false;
    if (poll(&p, 1, 0) <= 0)
        return true;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
        return false;
    return PQconsumeInput(c->pg) == 1 && PQstatus(c->pg) == CONNECTION_OK &&
           PQtransactionStatus(c->pg) == PQTRANS_IDLE;
}

static void pg_destroy(struct db_store *store)
{
    struct pg_store *s = (struct pg_store *)store;
    for (size_t k = 0; k < PG_POOL_SIZE; k++) {
        conn_disconnect(&s->conns[k]);
        vb_free(s->conns[k].prepared);
    }
    if (s->url)
        vb_free_secure(s->url, strlen(s->url));
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    vb_free(s);
}

enum vb_err db_pg_open(const char *url, struct db_store **out)
{
    enum vb_err err = VB_OK;
    struct pg_store *s = NULL;
    char *why = NULL;

    *out = NULL;
    /* Parse first so a malformed URL is VB_ERR_INVALID, not a connection failure. */
    PQconninfoOption *opts = PQconninfoParse(url, &why);
    if (!opts) {
        log_parse_error(why);
        PQfreemem(why);
        return VB_ERR_INVALID;
    }
    PQconninfoFree(opts);
    s = vb_xcalloc(1, sizeof(*s));
    s->base.ops = &pg_ops;
    s->url = vb_xstrdup(url);
    for (size_t k = 0; k < PG_POOL_SIZE; k++)
        s->conns[k].store = s;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* One connection now, so a wrong URL fails at start-up; the rest on demand. */
    err = conn_connect(s, &s->conns[0]);
    if (err != VB_OK)
        goto out;
    *out = &s->base;
    s = NULL;
out:
    if (s)
        pg_destroy(&s->base);
    return err;
}

static enum vb_err pg_acquire(struct db_store *store, struct db_conn **out)
{
    struct pg_store *s = (struct pg_store *)store;
    struct db_conn *c = NULL;
    enum vb_err err = VB_OK;

    pthread_mutex_lock(&s->mu);
    while (!c) {
        /* Prefer a connection that is already open. */
        for (size_t k = 0; k < PG_POOL_SIZE && !c; k++)
            if (!s->conns[k].busy && s->conns[k].pg)
                c = &s->conns[k];
        for (size_t k = 0; k < PG_POOL_SIZE && !c; k++)
            if (!s->conns[k].busy)
                c = &s->conns[k];
        if (!c)
            pthread_cond_wait(&s->cv, &s->mu);
    }
    c->busy = true;
    pthread_mutex_unlock(&s->mu);

    /* Checking and connecting happen outside the pool lock. */
    if (c->pg && (c->broken || !conn_alive(c)))
        conn_disconnect(c);
    c->reused = c->pg != NULL;
    if (!c->pg)
        err = conn_connect(s, c);
    if (err != VB_OK) {
        pg_ops.release(store, c);
        return err;
    }
    *out = c;
    return VB_OK;
}

static void pg_release(struct db_store *store, struct db_conn *conn)
{
    struct pg_store *s = (struct pg_store *)store;
    if (conn->pg && PQstatus(conn->pg) != CONNECTION_OK)
        conn->broken = true;
    pthread_mutex_lock(&s->mu);
    conn->busy = false;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* A failure that says the server cannot be used right now rather than that the statement is
 * wrong: the connection is gone, or SQLSTATE class 08 (connection exception), 57P01..03
 * (shutting down, crashed, starting up) or 53300 (too many connections). */
static bool server_unavailable(const struct db_conn *c, const char *state)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return true;
    return state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
                     strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
                     strcmp(state, "53300") == 0);
}

static enum vb_err map_result(struct db_conn *c, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (state && strcmp(state, "23505") == 0) { /* unique_violation */
        vb_debug("db: postgresql: %s: %s", what, msg ? msg : state);
        return VB_ERR_CONFLICT;
    }
    if (state && strcmp(state, "23503") == 0) { /* foreign_key_violation */
        vb_debug("db: postgresql: %s: %s", what, msg ? msg : state);
        return VB_ERR_NOT_FOUND;
    }
    if (!res && PQstatus(c->pg) == CONNECTION_OK)
        return VB_ERR_NOMEM; /* libpq could not allocate the result */
    if (server_unavailable(c, state)) {
        c->broken = true;
        note_down(c->store, what, msg ? msg : PQerrorMessage(c->pg));
        return VB_ERR_DB_DOWN;
    }
    log_pg_error(what, msg ? msg : PQerrorMessage(c->pg));
    return VB_ERR_DB;
}

/* Prepares `sql` on this connection once; *name_out is its statement name. */
static enum vb_err ensure_prepared(struct db_conn *c, const char *sql, size_t n, char *name,
                                   size_t name_cap)
{
    uint64_t h = vb_fnv1a64(VB_FNV64_OFFSET, sql, strlen(sql));
    snprintf(name, name_cap, "vb_%016" PRIx64, h);
    for (size_t k = 0; k < c->n_prepared; k++) {
        if (c->prepared[k].hash == h) {
            if (strcmp(c->prepared[k].sql, sql) == 0)
                return VB_OK;
            vb_error("db: postgresql: statement hash collision");
            return VB_ERR_INTERNAL;
        }
    }
    PGresult *res = PQprepare(c->pg, name, sql, (int)n, NULL);
    enum vb_err err = VB_OK;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        err = map_result(c, res, "prepare");
    PQclear(res);
    if (err != VB_OK)
        return err;
    if (c->n_prepared == c->cap_prepared) {
        c->cap_prepared = c->cap_prepared ? c->cap_prepared * 2 : 16;
        c->prepared = vb_xrealloc(c->prepared, c->cap_prepared * sizeof(*c->prepared));
    }
    c->prepared[c->n_prepared++] = (struct prepared){.hash = h, .sql = sql};
    return VB_OK;
}

static enum vb_err collect_rows(const PGresult *res, struct db_result *out)
{
    int nrows = PQntuples(res), ncols = PQnfields(res);
    for (int r = 0; r < nrows && ncols > 0; r++) {
        struct db_cell *row = NULL;
        enum vb_err err = db_result_add_row(out, (size_t)ncols, &row);
        if (err != VB_OK)
            return err;
        for (int k = 0; k < ncols; k++) {
            if (PQgetisnull(res, r, k))
                continue; /* zeroed cell is DB_VAL_NULL */
            int len = PQgetlength(res, r, k);
            char *s = vb_try_malloc((size_t)len + 1);
            if (!s)
                return VB_ERR_NOMEM;
            memcpy(s, PQgetvalue(res, r, k), (size_t)len);
            s[len] = '\0';
            row[k].type = DB_VAL_TEXT;
            row[k].s = s;
        }
    }
    return VB_OK;
}

static enum vb_err query_once(struct db_conn *c, const char *sql, const struct db_param *params,
                              size_t n, struct db_result *out)
{
    char name[32];
    char nums[DB_MAX_PARAMS][40];
    const char *values[DB_MAX_PARAMS];
    PGresult *res = NULL;

    enum vb_err err = ensure_prepared(c, sql, n, name, sizeof(name));
    if (err != VB_OK)
        return err;
    for (size_t k = 0; k < n; k++) {
        switch (params[k].type) {
        case DB_VAL_NULL:
            values[k] = NULL;
            break;
        case DB_VAL_INT:
            snprintf(nums[k], sizeof(nums[k]), "%" PRId64, params[k].i);
            values[k] = nums[k];
            break;
        case DB_VAL_REAL:
            snprintf(nums[k], sizeof(nums[k]), "%.17g", params[k].d);
            values[k] = nums[k];
            break;
        case DB_VAL_TEXT:
            values[k] = params[k].s;
            break;
        }
    }
    res = PQexecPrepared(c->pg, name, (int)n, values, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        err = map_result(c, res, "query");
        goto out;
    }
    if (out)
        err = collect_rows(res, out);
out:
    PQclear(res);
    if (err != VB_OK && out)
        db_result_release(out);
    return err;
}

static enum vb_err exec_once(struct db_conn *c, const char *script)
{
    enum vb_err err = VB_OK;
    PGresult *res = PQexec(c->pg, script);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        err = map_result(c, res, "exec");
    PQclear(res);
    return err;
}

/* After a statement failed because the connection was lost: whether it may run again on a
 * new connection. Only a read outside a transaction, where running it twice cannot change
 * anything, and only on a connection that had sat in the pool (a stale one; a fresh
 * connection failing means the server is down, and another try would only wait). A write
 * is never repeated (it may have been applied before the connection broke), nor a BEGIN
 * (session state such as the migration lock went with the old connection). */
static bool may_retry(const struct db_conn *c, bool was_idle, const char *sql)
{
    return c->reused && was_idle && strncmp(sql, "SELECT ", 7) == 0;
}

/* Replaces the connection (it was marked broken) for the one retry. */
static enum vb_err reconnect(struct db_conn *c)
{
    conn_disconnect(c);
    c->reused = false;
    return conn_connect(c->store, c);
}

static enum vb_err pg_query(struct db_conn *c, const char *sql, const struct db_param *params,
                            size_t n, struct db_result *out)
{
    if (n > DB_MAX_PARAMS)
        return VB_ERR_INTERNAL;
    bool was_idle = PQtransactionStatus(c->pg) == PQTRANS_IDLE;
    enum vb_err err = query_once(c, sql, params, n, out);
    if (err == VB_ERR_DB_DOWN && may_retry(c, was_idle, sql) && reconnect(c) == VB_OK)
        err = query_once(c, sql, params, n, out);
    return err;
}

static enum vb_err pg_exec(struct db_conn *c, const char *script)
{
    bool was_idle = PQtransactionStatus(c->pg) == PQTRANS_IDLE;
    enum vb_err err = exec_once(c, script);
    if (err == VB_ERR_DB_DOWN && may_retry(c, was_idle, script) && reconnect(c) == VB_OK)
        err = exec_once(c, script);
    return err;
}

static enum vb_err pg_migration_lock(struct db_conn *c, bool lock)
{
    return pg_exec(c, lock ? "SELECT pg_advisory_lock(" PG_MIGRATION_LOCK_KEY ")"
                           : "SELECT pg_advisory_unlock(" PG_MIGRATION_LOCK_KEY ")");
}

static const struct db_ops pg_ops = {
    .name = "postgresql",
    .begin_sql = "BEGIN",
    .acquire = pg_acquire,
    .release = pg_release,
    .query = pg_query,
    .exec = pg_exec,
    .migration_lock = pg_migration_lock,
    .destroy = pg_destroy,
};
