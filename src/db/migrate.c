/* migrate.c: the schema as versioned migrations embedded in the binary, and the runner
 * that applies the pending ones at open, each in its own transaction, recording them in
 * schema_migrations. Append new migrations; never edit an applied one. */
#include "core/vb.h"
#include "core/log.h"
#include "db/backend.h"

#include <time.h>

/* Column types that differ between the back ends; the rest of the SQL is shared. */
#define SQLITE_ID   "INTEGER PRIMARY KEY AUTOINCREMENT"
#define SQLITE_REAL "REAL"
#define PG_ID       "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
#define PG_REAL     "DOUBLE PRECISION"

/* Version 1: users, voices, generations, chat. Lists are per user, newest (highest id)
 * first, hence the (user_id, id) indexes. */
#define MIGRATION_1(ID, REAL)                                                                      \
    "CREATE TABLE users ("                                                                         \
    " id " ID ","                                                                                  \
    " username TEXT NOT NULL UNIQUE,"                                                              \
    " email TEXT,"                                                                                 \
    " password_hash TEXT NOT NULL,"                                                                \
    " password_changed_at BIGINT NOT NULL,"                                                        \
    " created_at BIGINT NOT NULL);"                                                                \
    "CREATE TABLE voices ("                                                                        \
    " id " ID ","                                                                                  \
    " user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"                             \
    " name TEXT NOT NULL,"                                                                         \
    " file_name TEXT NOT NULL UNIQUE,"                                                             \
    " duration_s " REAL " NOT NULL,"                                                               \
    " sample_rate INTEGER NOT NULL,"                                                               \
    " channels INTEGER NOT NULL,"                                                                  \
    " format TEXT NOT NULL,"                                                                       \
    " size_bytes BIGINT NOT NULL,"                                                                 \
    " created_at BIGINT NOT NULL,"                                                                 \
    " UNIQUE (user_id, name));"                                                                    \
    "CREATE INDEX voices_user_idx ON voices (user_id, id);"                                        \
    "CREATE TABLE generations ("                                                                   \
    " id " ID ","                                                                                  \
    " user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"                             \
    " text TEXT NOT NULL,"                                                                         \
    " voice_id BIGINT REFERENCES voices(id) ON DELETE SET NULL,"                                   \
    " engine TEXT NOT NULL,"                                                                       \
    " parameters TEXT NOT NULL DEFAULT '{}',"                                                      \
    " file_name TEXT NOT NULL UNIQUE,"                                                             \
    " duration_s " REAL " NOT NULL,"                                                               \
    " sample_rate INTEGER NOT NULL,"                                                               \
    " format TEXT NOT NULL,"                                                                       \
    " size_bytes BIGINT NOT NULL,"                                                                 \
    " created_at BIGINT NOT NULL);"                                                                \
    "CREATE INDEX generations_user_idx ON generations (user_id, id);"                              \
    "CREATE INDEX generations_voice_idx ON generations (voice_id);"                                \
    "CREATE TABLE chat_threads ("                                                                  \
    " id " ID ","                                                                                  \
    " user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"                             \
    " title TEXT NOT NULL,"                                                                        \
    " system_prompt TEXT,"                                                                         \
    " created_at BIGINT NOT NULL,"                                                                 \
    " updated_at BIGINT NOT NULL);"                                                                \
    "CREATE INDEX chat_threads_user_idx ON chat_threads (user_id, updated_at, id);"                \
    "CREATE TABLE chat_messages ("                                                                 \
    " id " ID ","                                                                                  \
    " thread_id BIGINT NOT NULL REFERENCES chat_threads(id) ON DELETE CASCADE,"                    \
    " role TEXT NOT NULL,"                                                                         \
    " content TEXT NOT NULL,"                                                                      \
    " prompt_tokens INTEGER NOT NULL DEFAULT 0,"                                                   \
    " completion_tokens INTEGER NOT NULL DEFAULT 0,"                                               \
    " duration_ms BIGINT NOT NULL DEFAULT 0,"                                                      \
    " generation_id BIGINT REFERENCES generations(id) ON DELETE SET NULL,"                         \
    " created_at BIGINT NOT NULL);"                                                                \
    "CREATE INDEX chat_messages_thread_idx ON chat_messages (thread_id, id);"                      \
    "CREATE INDEX chat_messages_generation_idx ON chat_messages (generation_id);"

/* Version 2: a reply cut off because its client went away is kept, marked incomplete. */
#define MIGRATION_2 "ALTER TABLE chat_messages ADD COLUMN incomplete INTEGER NOT NULL DEFAULT 0;"

/* Version 3: Idempotency-Key replays. A row is claimed (status 0) when a request with a new
 * key starts and holds the reply once it is done; expires_at bounds both states. */
#define MIGRATION_3                                                                                \
    "CREATE TABLE idempotency_keys ("                                                              \
    " user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"                             \
    " idem_key TEXT NOT NULL,"                                                                     \
    " request_hash TEXT NOT NULL,"                                                                 \
    " status INTEGER NOT NULL DEFAULT 0,"                                                          \
    " content_type TEXT,"                                                                          \
    " body_kind INTEGER NOT NULL DEFAULT 0,"                                                       \
    " body TEXT,"                                                                                  \
    " created_at BIGINT NOT NULL,"                                                                 \
    " expires_at BIGINT NOT NULL,"                                                                 \
    " PRIMARY KEY (user_id, idem_key));"

/* Version 4: generations made in the last hour, kept or deleted since (pruned as it goes),
 * for the hourly generation quota. */
#define MIGRATION_4                                                                                \
    "CREATE TABLE generation_events ("                                                             \
    " user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"                             \
    " created_at BIGINT NOT NULL);"                                                                \
    "CREATE INDEX generation_events_user_idx ON generation_events (user_id, created_at);"          \
    "CREATE INDEX generation_events_time_idx ON generation_events (created_at);"

/* Version 5: expired idempotency keys are swept for every user, by expiry. */
#define MIGRATION_5 "CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);"

struct migration {
    int version;
    const char *name;
    const char *sqlite_sql;
    const char *pg_sql;
};

static const struct migration migrations[] = {
    {1, "initial schema", MIGRATION_1(SQLITE_ID, SQLITE_REAL), MIGRATION_1(PG_ID, PG_REAL)},
    {2, "incomplete chat messages", MIGRATION_2, MIGRATION_2},
    {3, "idempotency keys", MIGRATION_3, MIGRATION_3},
    {4, "recent generation events", MIGRATION_4, MIGRATION_4},
    {5, "idempotency key expiry index", MIGRATION_5, MIGRATION_5},
};

static enum vb_err apply_one(struct db_store *store, struct db_conn *conn,
                             const struct migration *m, bool is_pg)
{
    const struct db_ops *ops = store->ops;
    struct db_result res = {0};
    struct db_param p[2];
    bool in_tx = false;

    enum vb_err err = ops->exec(conn, ops->begin_sql);
    if (err != VB_OK)
        goto out;
    in_tx = true;
    p[0] = DB_P_INT(m->version);
    err = ops->query(conn, "SELECT version FROM schema_migrations WHERE version = $1", p, 1, &res);
    if (err != VB_OK || res.nrows > 0)
        goto out; /* error, or already applied (by us earlier or by another process) */
    err = ops->exec(conn, is_pg ? m->pg_sql : m->sqlite_sql);
    if (err != VB_OK)
        goto out;
    p[1] = DB_P_INT((int64_t)time(NULL));
    err = ops->query(conn, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", p,
                     2, NULL);
    if (err != VB_OK)
        goto out;
    vb_info("db: applied migration %d (%s) on %s", m->version, m->name, ops->name);
out:
    if (in_tx) {
        if (err == VB_OK) {
            err = ops->exec(conn, "COMMIT");
            if (err != VB_OK)
                (void)ops->exec(conn, "ROLLBACK");
        } else {
            (void)ops->exec(conn, "ROLLBACK");
        }
    }
    if (err != VB_OK)
        vb_error("db: migration %d (%s) failed", m->version, m->name);
    db_result_release(&res);
    return err;
}

int db_schema_latest(void)
{
    return migrations[VB_ARRAY_LEN(migrations) - 1].version;
}

enum vb_err db_migrate(struct db_store *store)
{
    struct db_conn *conn = NULL;
    bool locked = false;
    bool is_pg = strcmp(store->ops->name, "postgresql") == 0;

    enum vb_err err = store->ops->acquire(store, &conn);
    if (err != VB_OK)
        return err;
    if (store->ops->migration_lock) {
        err = store->ops->migration_lock(conn, true);
        if (err != VB_OK)
            goto out;
        locked = true;
    }
    err = store->ops->exec(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                 " version INTEGER PRIMARY KEY,"
                                 " applied_at BIGINT NOT NULL)");
    if (err != VB_OK)
        goto out;
    for (size_t k = 0; k < VB_ARRAY_LEN(migrations); k++) {
        err = apply_one(store, conn, &migrations[k], is_pg);
        if (err != VB_OK)
            goto out;
    }
out:
    if (locked)
        (void)store->ops->migration_lock(conn, false);
    store->ops->release(store, conn);
    return err;
}
