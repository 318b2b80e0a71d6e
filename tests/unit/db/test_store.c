/* test_store.c: the store suite, run on SQLite (a temporary file) and, when
 * TEST_DATABASE_URL is set, on PostgreSQL (a fresh database per test). */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/log.h"
#include "db/backend.h"
#include "db/store.h"
#include "unit/test.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

enum backend { BACKEND_SQLITE, BACKEND_PG };

static enum backend g_backend;
static const char *g_pg_base; /* TEST_DATABASE_URL */
static char g_tmp_dir[256];   /* mkdtemp'd directory holding SQLite files */
static int g_counter;
static char g_url[1024];    /* URL of the current test's database */
static char g_db_name[128]; /* PostgreSQL database of the current test */

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Runs one SQL command on PostgreSQL's maintenance connection (TEST_DATABASE_URL). */
static bool pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(g_pg_base);
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PQsetNoticeProcessor(c, quiet_notice, NULL);
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "  pg_admin: %s", PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "  pg_admin: cannot connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok;
}

/* Points g_url at a brand-new empty database. */
static void fresh_url(void)
{
    g_counter++;
    if (g_backend == BACKEND_SQLITE) {
        /* A nested directory that does not exist yet: db_open must create it. */
        snprintf(g_url, sizeof(g_url), "sqlite://%s/t%d/sub/vocero.db", g_tmp_dir, g_counter);
        return;
    }
    char sql[256];
    snprintf(g_db_name, sizeof(g_db_name), "vocero_unit_%d_%d", (int)getpid(), g_counter);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", g_db_name);
    (void)pg_admin(sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", g_db_name);
    CHECK(pg_admin(sql));
    snprintf(g_url, sizeof(g_url), "%s%sdbname=%s", g_pg_base, strchr(g_pg_base, '?') ? "&" : "?",
             g_db_name);
}

static struct db_store *open_fresh(void)
{
    struct db_store *s = NULL;
    fresh_url();
    enum vb_err err = db_open(g_url, &s);
    CHECK_MSG(err == VB_OK, "db_open: %s", vb_err_message(err));
    return s;
}

/* Closes the store and drops the test's database. */
static void close_fresh(struct db_store *s)
{
    db_close(s);
    if (g_backend == BACKEND_PG) {
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", g_db_name);
        CHECK(pg_admin(sql));
    }
}

static int64_t make_user(struct db_store *s, const char *name)
{
    struct db_user u = {0};
    enum vb_err err = db_user_create(s, name, NULL, "$2b$04$hash", &u);
    CHECK_EQ_INT(err, VB_OK);
    int64_t id = u.id;
    db_user_release(&u);
    return id;
}

static int64_t make_voice(struct db_store *s, int64_t user_id, const char *name,
                          const char *file_name, enum vb_err want)
{
    struct db_voice v = {.user_id = user_id,
                         .name = (char *)name,
                         .file_name = (char *)file_name,
                         .duration_s = 5.2,
                         .sample_rate = 24000,
                         .channels = 1,
                         .format = (char *)"wav",
                         .size_bytes = 249644};
    int64_t id = 0, created = 0;
    enum vb_err err = db_voice_insert(s, &v, &id, &created);
    CHECK_MSG(err == want, "voice %s: got %s", name, vb_err_message(err));
    if (err == VB_OK)
        CHECK(id > 0 && created > 0);
    return id;
}

static int64_t make_gen(struct db_store *s, int64_t user_id, int64_t voice_id,
                        const char *file_name, enum vb_err want)
{
    struct db_generation g = {.user_id = user_id,
                              .text = (char *)"Hola, mundo",
                              .voice_id = voice_id,
                              .engine = (char *)"espeak-ng",
                              .parameters = (char *)"{\"speed\":1.25}",
                              .file_name = (char *)file_name,
                              .duration_s = 2.125,
                              .sample_rate = 22050,
                              .format = (char *)"wav",
                              .size_bytes = 93744};
    int64_t id = 0;
    enum vb_err err = db_generation_insert(s, &g, &id, NULL);
    CHECK_MSG(err == want, "generation %s: got %s", file_name, vb_err_message(err));
    return id;
}

/* Count of rows of a query returning one integer. */
static int64_t scalar(struct db_store *s, const char *sql, int64_t arg)
{
    struct db_result r = {0};
    struct db_param p[] = {DB_P_INT(arg)};
    enum vb_err err = db_query(s, sql, p, 1, &r);
    CHECK_EQ_INT(err, VB_OK);
    int64_t v = r.nrows ? db_result_int(&r, 0, 0) : -1;
    db_result_release(&r);
    return v;
}

TEST(test_open_migrate_idempotent)
{
    struct db_store *s = open_fresh();
    if (!s)
        return;
    CHECK_EQ_STR(db_backend_name(s), g_backend == BACKEND_SQLITE ? "sqlite" : "postgresql");
    CHECK_EQ_INT(db_ping(s), VB_OK);
    int version = 0;
    CHECK_EQ_INT(db_schema_version(s, &version), VB_OK);
    CHECK_EQ_INT(version, db_schema_latest());
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM schema_migrations WHERE version >= $1", 0),
                 db_schema_latest());
    int64_t applied = scalar(s, "SELECT applied_at FROM schema_migrations WHERE version = $1", 1);
    CHECK(applied > 1700000000);
    int64_t uid = make_user(s, "alice");
    db_close(s);

    /* Re-open: nothing re-applied, data kept. */
    s = NULL;
    CHECK_EQ_INT(db_open(g_url, &s), VB_OK);
    if (!s)
        return;
    CHECK_EQ_INT(db_schema_version(s, &version), VB_OK);
    CHECK_EQ_INT(version, db_schema_latest());
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM schema_migrations WHERE version >= $1", 0),
                 db_schema_latest());
    CHECK_EQ_INT(scalar(s, "SELECT applied_at FROM schema_migrations WHERE version = $1", 1),
                 applied);
    struct db_user u = {0};
    CHECK_EQ_INT(db_user_get(s, uid, &u), VB_OK);
    CHECK_EQ_STR(u.username, "alice");
    db_user_release(&u);
    /* A second store on the same database at the same time also works. */
    struct db_store *s2 = NULL;
    CHECK_EQ_INT(db_open(g_url, &s2), VB_OK);
    CHECK_EQ_INT(db_ping(s2), VB_OK);
    db_close(s2);
    close_fresh(s);
}

struct open_arg {
    struct db_store *store;
    enum vb_err err;
};

static void *open_worker(void *p)
{
    struct open_arg *a = p;
    a->err = db_open(g_url, &a->store);
    return NULL;
}

/* Several stores opening one new database at once (as several server processes would):
 * every open succeeds and each migration is applied exactly once. */
TEST(test_concurrent_migrate)
{
    enum { N = 3 };
    pthread_t th[N];
    struct open_arg args[N] = {0};
    fresh_url();
    for (int k = 0; k < N; k++)
        CHECK(pthread_create(&th[k], NULL, open_worker, &args[k]) == 0);
    for (int k = 0; k < N; k++) {
        pthread_join(th[k], NULL);
        CHECK_MSG(args[k].err == VB_OK, "open %d: %s", k, vb_err_message(args[k].err));
    }
    if (args[0].store) {
        CHECK_EQ_INT(
            scalar(args[0].store, "SELECT COUNT(*) FROM schema_migrations WHERE version >= $1", 0),
            db_schema_latest());
    }
    for (int k = 1; k < N; k++)
        db_close(args[k].store);
    close_fresh(args[0].store);
}

TEST(test_users)
{
    struct db_store *s = open_fresh();
    if (!s)
        return;
    struct db_user u = {0};
    CHECK_EQ_INT(db_user_create(s, "alice", "alice@example.org", "hash-1", &u), VB_OK);
    CHECK(u.id > 0);
    CHECK_EQ_STR(u.username, "alice");
    CHECK_EQ_STR(u.email, "alice@example.org");
    CHECK_EQ_STR(u.password_hash, "hash-1");
    CHECK(u.created_at > 0 && u.password_changed_at == u.created_at);
    int64_t alice = u.id;
    db_user_release(&u);
    CHECK(u.username == NULL && u.id == 0);
    db_user_release(&u); /* twice is fine */

    CHECK_EQ_INT(db_user_create(s, "alice", NULL, "other", &u), VB_ERR_CONFLICT);
    CHECK(u.username == NULL);
    CHECK_EQ_INT(db_user_create(s, "bob", NULL, "hash-b", NULL), VB_OK);
    CHECK_EQ_INT(db_user_create(s, NULL, NULL, "x", NULL), VB_ERR_INVALID);
    CHECK_EQ_INT(db_user_create(s, "carol", NULL, NULL, NULL), VB_ERR_INVALID);

    CHECK_EQ_INT(db_user_get_by_name(s, "bob", &u), VB_OK);
    CHECK_EQ_STR(u.username, "bob");
    CHECK(u.email == NULL);
    db_user_release(&u);
    CHECK_EQ_INT(db_user_get_by_name(s, "nobody", &u), VB_ERR_NOT_FOUND);
    CHECK_EQ_INT(db_user_get_by_name(s, "ALICE", &u), VB_ERR_NOT_FOUND);
    CHECK_EQ_INT(db_user_get(s, alice, &u), VB_OK);
    CHECK_EQ_STR(u.username, "alice");
    int64_t old_changed = u.password_changed_at;
    db_user_release(&u);
    CHECK_EQ_INT(db_user_get(s, 999999, &u), VB_ERR_NOT_FOUND);

    int64_t changed = 0;
    CHECK_EQ_INT(db_user_set_password(s, alice, "hash-2", &changed), VB_OK);
    CHECK(changed >= old_changed);
    CHECK_EQ_INT(db_user_get(s, alice, &u), VB_OK);
    CHECK_EQ_STR(u.password_hash, "hash-2");
    CHECK_EQ_INT(u.password_changed_at, changed);
    db_user_release(&u);
    CHECK_EQ_INT(db_user_set_password(s, 999999, "h", NULL), VB_ERR_NOT_FOUND);

    bool created = false;
    CHECK_EQ_INT(db_user_upsert(s, "admin", "adm-1", &created, &u), VB_OK);
    CHECK(created);
    CHECK_EQ_STR(u.password_hash, "adm-1");
    int64_t admin = u.id;
    db_user_release(&u);
    CHECK_EQ_INT(db_user_upsert(s, "admin", "adm-2", &created, &u), VB_OK);
    CHECK(!created);
    CHECK_EQ_INT(u.id, admin);
    CHECK_EQ_STR(u.password_hash, "adm-2");
    db_user_release(&u);

    /* Unicode and quotes survive the round trip. */
    CHECK_EQ_INT(db_user_create(s, "jos\xc3\xa9'; --", NULL, "h", &u), VB_OK);
    CHECK_EQ_STR(u.username, "jos\xc3\xa9'; --");
    db_user_release(&u);
    close_fresh(s);
}

TEST(test_voices)
{
    struct db_store *s = open_fresh();
    if (!s)
        return;
    int64_t alice = make_user(s, "alice"), bob = make_user(s, "bob");
    int64_t v1 = make_voice(s, alice, "narrator", "voice_a1.wav", VB_OK);
    int64_t v2 = make_voice(s, alice, "whisper", "voice_a2.wav", VB_OK);
    make_voice(s, alice, "narrator", "voice_a3.wav", VB_ERR_CONFLICT);  /* name per user */
    int64_t vb = make_voice(s, bob, "narrator", "voice_b1.wav", VB_OK); /* other user: fine */
    make_voice(s, bob, "other", "voice_a1.wav", VB_ERR_CONFLICT);       /* file name global */
    make_voice(s, 999999, "ghost", "voice_g.wav", VB_ERR_NOT_FOUND);    /* no such user */
    CHECK(v1 > 0 && v2 > v1 && vb > 0);

    struct db_voice_list l = {0};
    CHECK_EQ_INT(db_voice_list(s, alice, &l), VB_OK);
    CHECK_EQ_INT(l.n, 2);
    if (l.n == 2) {
        CHECK_EQ_INT(l.items[0].id, v2); /* newest first */
        CHECK_EQ_INT(l.items[1].id, v1);
        CHECK_EQ_STR(l.items[1].name, "narrator");
    }
    db_voice_list_release(&l);
    CHECK_EQ_INT(db_voice_list(s, 999999, &l), VB_OK);
    CHECK_EQ_INT(l.n, 0);
    db_voice_list_release(&l);

    struct db_voice v = {0};
    CHECK_EQ_INT(db_voice_get(s, alice, v1, &v), VB_OK);
    CHECK_EQ_INT(v.user_id, alice);
    CHECK_EQ_STR(v.name, "narrator");
    CHECK_EQ_STR(v.file_name, "voice_a1.wav");
    CHECK(v.duration_s == 5.2); /* exact round trip */
    CHECK_EQ_INT(v.sample_rate, 24000);
    CHECK_EQ_INT(v.channels, 1);
    CHECK_EQ_STR(v.format, "wav");
    CHECK_EQ_INT(v.size_bytes, 249644);
    CHECK(v.created_at > 0);
    db_voice_release(&v);
    CHECK_EQ_INT(db_voice_get(s, bob, v1, &v), VB_ERR_NOT_FOUND); /* cross-user */
    CHECK(v.name == NULL);

    CHECK_EQ_INT(db_voice_find_by_file(s, alice, "voice_a2.wav", &v), VB_OK);
    CHECK_EQ_INT(v.id, v2);
    db_voice_release(&v);
    CHECK_EQ_INT(db_voice_find_by_file(s, bob, "voice_a2.wav", &v), VB_ERR_NOT_FOUND);
    CHECK_EQ_INT(db_voice_find_by_file(s, DB_ANY_USER, "voice_b1.wav", &v), VB_OK);
    CHECK_EQ_INT(v.user_id, bob);
    db_voice_release(&v);

    char *file = NULL;
    CHECK_EQ_INT(db_voice_delete(s, bob, v1, &file), VB_ERR_NOT_FOUND);
    CHECK(file == NULL);
    CHECK_EQ_INT(db_voice_get(s, alice, v1, NULL), VB_OK); /* still there */
    CHECK_EQ_INT(db_voice_delete(s, alice, v1, &file), VB_OK);
    CHECK_EQ_STR(file, "voice_a1.wav");
    vb_free(file);
    CHECK_EQ_INT(db_voice_delete(s, alice, v1, NULL), VB_ERR_NOT_FOUND);
    /* The name is free again. */
    make_voice(s, alice, "narrator", "voice_a4.wav", VB_OK);
    close_fresh(s);
}

TEST(test_generations_pagination)
{
    struct db_store *s = open_fresh();
    if (!s)
        return;
    int64_t alice = make_user(s, "alice"), bob = make_user(s, "bob");
    int64_t ids[25];
    char name[64];
    for (int k = 0; k < 25; k++) {
        snprintf(name, sizeof(name), "gen_a_%02d.wav", k);
        ids[k] = make_gen(s, alice, 0, name, VB_OK);
        if (k % 5 == 0) { /* interleave another user's rows */
            snprintf(name, sizeof(name), "gen_b_%02d.wav", k);
            make_gen(s, bob, 0, name, VB_OK);
        }
    }
    int64_t seen[25];
    size_t n_seen = 0;
    int64_t cursor = 0;
    size_t sizes[4] = {0};
    int pages = 0;
    do {
        struct db_generation_page p = {0};
        CHECK_EQ_INT(db_generation_list(s, alice, cursor, 10, &p), VB_OK);
        if (pages < 4)
            sizes[pages] = p.n;
        for (size_t k = 0; k < p.n && n_seen < 25; k++) {
            CHECK_EQ_INT(p.items[k].user_id, alice);
            if (n_seen > 0)
                CHECK(p.items[k].id < seen[n_seen - 1]); /* strictly newest first */
            seen[n_seen++] = p.items[k].id;
        }
        cursor = p.next_cursor;
        db_generation_page_release(&p);
        pages++;
    } while (cursor != 0 && pages < 10);
    CHECK_EQ_INT(pages, 3);
    CHECK_EQ_INT(sizes[0], 10);
    CHECK_EQ_INT(sizes[1], 10);
    CHECK_EQ_INT(sizes[2], 5);
    CHECK_EQ_INT(n_seen, 25);
    for (size_t k = 0; k < n_seen; k++)
        CHECK_EQ_INT(seen[k], ids[24 - k]); /* every id exactly once, in order */

    /* Exact fit: a page that ends the list has no next cursor. */
    struct db_generation_page p = {0};
    CHECK_EQ_INT(db_generation_list(s, bob, 0, 5, &p), VB_OK);
    CHECK_EQ_INT(p.n, 5);
    CHECK_EQ_INT(p.next_cursor, 0);
    db_generation_page_release(&p);
    CHECK_EQ_INT(db_generation_list(s, alice, 0, 0, &p), VB_ERR_INVALID);
    CHECK_EQ_INT(db_generation_list(s, alice, 0, DB_PAGE_LIMIT_MAX + 1, &p), VB_ERR_INVALID);
    CHECK_EQ_INT(db_generation_list(s, alice, -1, 10, &p), VB_ERR_INVALID);
    CHECK_EQ_INT(db_generation_list(s, alice, 0, DB_PAGE_LIMIT_MAX, &p), VB_OK);
    CHECK_EQ_INT(p.n, 25);
    db_generation_page_release(&p);
    CHECK_EQ_INT(db_generation_list(s, alice, ids[0], 10, &p), VB_OK); /* before the oldest */
    CHECK_EQ_INT(p.n, 0);
    CHECK_EQ_INT(p.next_cursor, 0);
    db_generation_page_release(&p);

    /* get / get_by_file / delete, scoped. */
    struct db_generation g = {0};
    CHECK_EQ_INT(db_generation_get(s, alice, ids[3], &g), VB_OK);
    CHECK_EQ_STR(g.text, "Hola, mundo");
    CHECK_EQ_STR(g.engine, "espeak-ng");
    CHECK_EQ_STR(g.parameters, "{\"speed\":1.25}");
    CHECK_EQ_STR(g.file_name, "gen_a_03.wav");
    CHECK_EQ_INT(g.voice_id, 0);
    CHECK(g.duration_s == 2.125);
    CHECK_EQ_INT(g.sample_rate, 22050);
    CHECK_EQ_INT(g.size_bytes, 93744);
    db_generation_release(&g);
    CHECK_EQ_INT(db_generation_get(s, bob, ids[3], &g), VB_ERR_NOT_FOUND);
    CHECK_EQ_INT(db_generation_get_by_file(s, alice, "gen_a_04.wav", &g), VB_OK);
    CHECK_EQ_INT(g.id, ids[4]);
    db_generation_release(&g);
    CHECK_EQ_INT(db_generation_get_by_file(s, bob, "gen_a_04.wav", &g), VB_ERR_NOT_FOUND);
    CHECK_EQ_INT(db_generation_get_by_file(s, DB_ANY_USER, "gen_a_04.wav", &g), VB_OK);
    db_generation_release(&g);
    CHECK_EQ_INT(db_generation_get_by_file(s, alice, "../etc/passwd", &g), VB_ERR_NOT_FOUND);
    char *file = NULL;
    CHECK_EQ_INT(db_generation_delete(s, bob, ids[5], &file), VB_ERR_NOT_FOUND);
    CHECK_EQ_INT(db_generation_delete(s, alice, ids[5], &file), VB_OK);
    CHECK_EQ_STR(file, "gen_a_05.wav");
    vb_free(file);
    CHECK_EQ_INT(db_generation_get(s, alice, ids[5], NULL), VB_ERR_NOT_FOUND);

    /* Constraints: duplicate file, another user's voice, NULL parameters. */
    make_gen(s, alice, 0, "gen_a_00.wav", VB_ERR_CONFLICT);
    int64_t bob_voice = make_voice(s, bob, "bobvoice", "voice_b.wav", VB_OK);
    make_gen(s, alice, bob_voice, "gen_x.wav", VB_ERR_NOT_FOUND);
    int64_t gid = make_gen(s, bob, bob_voice, "gen_y.wav", VB_OK);
    CHECK_EQ_INT(db_generation_get(s, bob, gid, &g), VB_OK);
    CHECK_EQ_INT(g.voice_id, bob_voice);
    db_generation_release(&g);
    struct db_generation np = {.user_id = bob,
                               .text = (char *)"t",
                               .engine = (char *)"e",
                               .file_name = (char *)"gen_z.wav",
                               .format = (char *)"wav"};
    CHECK_EQ_INT(db_generation_insert(s, &np, &gid, NULL), VB_OK);
    CHECK_EQ_INT(db_generation_get(s, bob, gid, &g), VB_OK);
    CHECK_EQ_STR(g.parameters, "{}");
    db_generation_release(&g);
    close_fresh(s);
}

TEST(test_delete_cascade)
{
    struct db_store *s = open_fresh();
    if (!s)
        return;
    int64_t alice = make_user(s, "alice"), bob = make_user(s, "bob");
    int64_t v = make_voice(s, alice, "n", "voice_1.wav", VB_OK);
    int64_t g = make_gen(s, alice, v, "gen_1.wav", VB_OK);
    make_gen(s, bob, 0, "gen_b.wav", VB_OK);
    /* Deleting the voice keeps the generation with no voice. */
    CHECK_EQ_INT(db_voice_delete(s, alice, v, NULL), VB_OK);
    struct db_generation gr = {0};
    CHECK_EQ_INT(db_generation_get(s, alice, g, &gr), VB_OK);
    CHECK_EQ_INT(gr.voice_id, 0);
    db_generation_release(&gr);

    /* Thread deletion removes its messages. */
    struct db_chat_thread t = {0};
    CHECK_EQ_INT(db_chat_thread_create(s, alice, "t", NULL, &t), VB_OK);
    struct db_chat_message m = {.thread_id = t.id, .role = (char *)"user", .content = (char *)"hi"};
    CHECK_EQ_INT(db_chat_message_add(s, alice, &m, NULL), VB_OK);
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM chat_messages WHERE thread_id = $1", t.id), 1);
    CHECK_EQ_INT(db_chat_thread_delete(s, alice, t.id), VB_OK);
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM chat_messages WHERE thread_id = $1", t.id), 0);
    db_chat_thread_release(&t);

    /* Deleting a user removes everything of theirs and nothing of anyone else's. */
    make_voice(s, alice, "n2", "voice_2.wav", VB_OK);
    CHECK_EQ_INT(db_chat_thread_create(s, alice, "t2", "be brief", &t), VB_OK);
    m.thread_id = t.id;
    CHECK_EQ_INT(db_chat_message_add(s, alice, &m, NULL), VB_OK);
    db_chat_thread_release(&t);
    struct db_result r = {0};
    struct db_param p[] = {DB_P_INT(alice)};
    CHECK_EQ_INT(db_query(s, "DELETE FROM users WHERE id = $1", p, 1, &r), VB_OK);
    db_result_release(&r);
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM voices WHERE user_id = $1", alice), 0);
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM generations WHERE user_id = $1", alice), 0);
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM chat_threads WHERE user_id = $1", alice), 0);
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM chat_messages WHERE id > $1", 0), 0);
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM generations WHERE user_id = $1", bob), 1);
    close_fresh(s);
}

TEST(test_chat)
{
    struct db_store *s = open_fresh();
    if (!s)
        return;
    int64_t alice = make_user(s, "alice"), bob = make_user(s, "bob");
    struct db_chat_thread t1 = {0}, t2 = {0};
    CHECK_EQ_INT(db_chat_thread_create(s, alice, "first", "You are terse.", &t1), VB_OK);
    CHECK_EQ_STR(t1.system_prompt, "You are terse.");
    CHECK_EQ_INT(db_chat_thread_create(s, alice, "second", NULL, &t2), VB_OK);
    CHECK(t2.system_prompt == NULL && t2.id > t1.id);
    CHECK_EQ_INT(db_chat_thread_create(s, alice, NULL, NULL, NULL), VB_ERR_INVALID);

    struct db_chat_message m = {.thread_id = t1.id,
                                .role = (char *)"user",
                                .content = (char *)"¿Qué tal?",
                                .prompt_tokens = 12,
                                .completion_tokens = 0};
    int64_t m1 = 0, m2 = 0;
    struct db_chat_message row = {0};
    CHECK_EQ_INT(db_chat_message_add(s, alice, &m, &row), VB_OK);
    /* the insert hands back the stored row */
    m1 = row.id;
    CHECK(m1 > 0 && row.thread_id == t1.id && row.created_at > 0 && !row.incomplete);
    CHECK(row.role && row.content && strcmp(row.role, "user") == 0);
    CHECK_EQ_STR(row.content, "¿Qué tal?");
    CHECK_EQ_INT(row.prompt_tokens, 12);
    CHECK_EQ_INT(row.generation_id, 0);
    db_chat_message_release(&row);
    int64_t gid = make_gen(s, alice, 0, "gen_chat.wav", VB_OK);
    m.role = (char *)"assistant";
    m.content = (char *)"Bien.";
    m.completion_tokens = 3;
    m.duration_ms = 420;
    m.generation_id = gid;
    CHECK_EQ_INT(db_chat_message_add(s, alice, &m, &row), VB_OK);
    m2 = row.id;
    CHECK(m2 > m1);
    CHECK_EQ_INT(row.generation_id, gid);
    CHECK_EQ_INT(row.duration_ms, 420);
    CHECK_EQ_INT(row.completion_tokens, 3);
    db_chat_message_release(&row);
    CHECK_EQ_INT(db_chat_message_add(s, bob, &m, &row), VB_ERR_NOT_FOUND);
    CHECK(row.id == 0 && row.content == NULL); /* nothing handed back on failure */
    CHECK_EQ_INT(db_chat_message_add(s, bob, &m, NULL), VB_ERR_NOT_FOUND); /* not bob's */
    m.thread_id = 999999;
    CHECK_EQ_INT(db_chat_message_add(s, alice, &m, NULL), VB_ERR_NOT_FOUND);

    struct db_chat_message_list ml = {0};
    CHECK_EQ_INT(db_chat_message_list(s, alice, t1.id, &ml), VB_OK);
    CHECK_EQ_INT(ml.n, 2);
    if (ml.n == 2) {
        CHECK_EQ_INT(ml.items[0].id, m1); /* oldest first */
        CHECK_EQ_STR(ml.items[0].content, "¿Qué tal?");
        CHECK_EQ_INT(ml.items[0].prompt_tokens, 12);
        CHECK_EQ_INT(ml.items[0].generation_id, 0);
        CHECK_EQ_STR(ml.items[1].role, "assistant");
        CHECK_EQ_INT(ml.items[1].completion_tokens, 3);
        CHECK_EQ_INT(ml.items[1].duration_ms, 420);
        CHECK_EQ_INT(ml.items[1].generation_id, gid);
    }
    db_chat_message_list_release(&ml);
    CHECK_EQ_INT(db_chat_message_list(s, bob, t1.id, &ml), VB_ERR_NOT_FOUND);
    CHECK_EQ_INT(db_chat_message_list(s, alice, t2.id, &ml), VB_OK);
    CHECK_EQ_INT(ml.n, 0);
    db_chat_message_list_release(&ml);

    CHECK_EQ_INT(db_chat_thread_rename(s, alice, t2.id, "renamed"), VB_OK);
    CHECK_EQ_INT(db_chat_thread_rename(s, bob, t2.id, "stolen"), VB_ERR_NOT_FOUND);
    struct db_chat_thread t = {0};
    CHECK_EQ_INT(db_chat_thread_get(s, alice, t2.id, &t), VB_OK);
    CHECK_EQ_STR(t.title, "renamed");
    CHECK(t.updated_at >= t.created_at);
    db_chat_thread_release(&t);
    CHECK_EQ_INT(db_chat_thread_get(s, bob, t2.id, &t), VB_ERR_NOT_FOUND);

    struct db_chat_thread_list tl = {0};
    CHECK_EQ_INT(db_chat_thread_list(s, alice, NULL, DB_PAGE_LIMIT_MAX, &tl), VB_OK);
    CHECK_EQ_INT(tl.n, 2);
    db_chat_thread_list_release(&tl);
    CHECK_EQ_INT(db_chat_thread_list(s, bob, NULL, DB_PAGE_LIMIT_MAX, &tl), VB_OK);
    CHECK_EQ_INT(tl.n, 0);
    db_chat_thread_list_release(&tl);
    CHECK_EQ_INT(db_chat_thread_delete(s, bob, t1.id), VB_ERR_NOT_FOUND);
    CHECK_EQ_INT(db_chat_thread_delete(s, alice, t1.id), VB_OK);
    CHECK_EQ_INT(db_chat_thread_delete(s, alice, t1.id), VB_ERR_NOT_FOUND);
    db_chat_thread_release(&t1);
    db_chat_thread_release(&t2);
    close_fresh(s);
}

struct file_set {
    char names[16][32];
    int n;
    int stop_after; /* 0 = never */
};

static enum vb_err collect_file(const char *file_name, void *user_data)
{
    struct file_set *fs = user_data;
    if (fs->n < 16)
        snprintf(fs->names[fs->n], sizeof(fs->names[0]), "%s", file_name);
    fs->n++;
    if (fs->stop_after && fs->n >= fs->stop_after)
        return VB_ERR_CANCELLED;
    return VB_OK;
}

static bool has_file(const struct file_set *fs, const char *name)
{
    for (int k = 0; k < fs->n && k < 16; k++)
        if (strcmp(fs->names[k], name) == 0)
            return true;
    return false;
}

TEST(test_idempotency_keys)
{
    struct db_store *s = open_fresh();
    if (!s)
        return;
    int64_t alice = make_user(s, "alice"), bob = make_user(s, "bob");
    int64_t now = (int64_t)time(NULL);
    struct db_idem_entry e = {0};
    bool claimed = false;
    /* a new key is claimed; the same key again finds it running */
    CHECK_EQ_INT(db_idem_claim(s, alice, "k1", "h1", now + 60, &claimed, &e), VB_OK);
    CHECK(claimed);
    CHECK_EQ_INT(db_idem_claim(s, alice, "k1", "h1", now + 60, &claimed, &e), VB_OK);
    CHECK(!claimed);
    CHECK_EQ_INT(e.status, 0);
    CHECK_EQ_STR(e.request_hash, "h1");
    db_idem_entry_release(&e);
    /* the same key is another user's own */
    CHECK_EQ_INT(db_idem_claim(s, bob, "k1", "h9", now + 60, &claimed, &e), VB_OK);
    CHECK(claimed);
    /* finished: the reply comes back */
    CHECK_EQ_INT(db_idem_finish(s, alice, "k1", 201, "application/json", DB_IDEM_BODY_TEXT,
                                "{\"id\":7}", now + 3600),
                 VB_OK);
    CHECK_EQ_INT(db_idem_claim(s, alice, "k1", "h1", now + 60, &claimed, &e), VB_OK);
    CHECK(!claimed);
    CHECK_EQ_INT(e.status, 201);
    CHECK_EQ_STR(e.content_type, "application/json");
    CHECK_EQ_INT(e.body_kind, DB_IDEM_BODY_TEXT);
    CHECK_EQ_STR(e.body, "{\"id\":7}");
    db_idem_entry_release(&e);
    CHECK_EQ_INT(db_idem_finish(s, alice, "nope", 200, "x", DB_IDEM_BODY_TEXT, "", now),
                 VB_ERR_NOT_FOUND);
    /* dropped: claimable again */
    CHECK_EQ_INT(db_idem_drop(s, bob, "k1"), VB_OK);
    CHECK_EQ_INT(db_idem_claim(s, bob, "k1", "h9", now + 60, &claimed, &e), VB_OK);
    CHECK(claimed);
    /* expired rows of any user are swept by the next claim, whoever makes it */
    CHECK_EQ_INT(db_idem_claim(s, bob, "old", "h2", now - 1, &claimed, &e), VB_OK);
    CHECK(claimed);
    CHECK_EQ_INT(db_idem_claim(s, alice, "k2", "h3", now + 60, &claimed, &e), VB_OK);
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM idempotency_keys WHERE expires_at < $1", now), 0);
    CHECK_EQ_INT(db_idem_claim(s, bob, "old", "h4", now + 60, &claimed, &e), VB_OK);
    CHECK(claimed);
    /* bad arguments */
    CHECK_EQ_INT(db_idem_claim(s, alice, NULL, "h", now, &claimed, &e), VB_ERR_INVALID);
    CHECK_EQ_INT(db_idem_finish(s, alice, "k2", 0, "x", DB_IDEM_BODY_TEXT, "", now),
                 VB_ERR_INVALID);
    close_fresh(s);
}

TEST(test_referenced_files)
{
    struct db_store *s = open_fresh();
    if (!s)
        return;
    struct file_set fs = {0};
    CHECK_EQ_INT(db_referenced_files(s, DB_FILE_VOICE, collect_file, &fs), VB_OK);
    CHECK_EQ_INT(fs.n, 0);
    int64_t alice = make_user(s, "alice"), bob = make_user(s, "bob");
    make_voice(s, alice, "a", "voice_a.wav", VB_OK);
    make_voice(s, bob, "b", "voice_b.wav", VB_OK);
    make_gen(s, alice, 0, "gen_a.wav", VB_OK);
    make_gen(s, bob, 0, "gen_b.wav", VB_OK);
    make_gen(s, bob, 0, "gen_c.wav", VB_OK);

    memset(&fs, 0, sizeof(fs));
    CHECK_EQ_INT(db_referenced_files(s, DB_FILE_VOICE, collect_file, &fs), VB_OK);
    CHECK_EQ_INT(fs.n, 2);
    CHECK(has_file(&fs, "voice_a.wav") && has_file(&fs, "voice_b.wav"));
    memset(&fs, 0, sizeof(fs));
    CHECK_EQ_INT(db_referenced_files(s, DB_FILE_GENERATION, collect_file, &fs), VB_OK);
    CHECK_EQ_INT(fs.n, 3);
    CHECK(has_file(&fs, "gen_a.wav") && has_file(&fs, "gen_b.wav") && has_file(&fs, "gen_c.wav"));
    CHECK(!has_file(&fs, "voice_a.wav"));
    memset(&fs, 0, sizeof(fs));
    fs.stop_after = 2;
    CHECK_EQ_INT(db_referenced_files(s, DB_FILE_GENERATION, collect_file, &fs), VB_ERR_CANCELLED);
    CHECK_EQ_INT(fs.n, 2);
    CHECK_EQ_INT(db_referenced_files(s, (enum db_file_kind)42, collect_file, &fs), VB_ERR_INVALID);
    CHECK_EQ_INT(db_referenced_files(s, DB_FILE_VOICE, NULL, NULL), VB_ERR_INVALID);
    close_fresh(s);
}

/* Per-user usage for the quotas: counts and bytes of one user only, generations in a
 * window with the oldest one's time; back to zero after deletes. */
TEST(test_usage)
{
    struct db_store *s = open_fresh();
    if (!s)
        return;
    int64_t alice = make_user(s, "alice"), bob = make_user(s, "bob");
    int64_t v = -1, n = -1, oldest = -1;
    CHECK_EQ_INT(db_user_usage(s, alice, DB_USAGE_STORED_BYTES, &v), VB_OK);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(db_user_generations_since(s, alice, 0, &n, &oldest), VB_OK);
    CHECK(n == 0 && oldest == 0);
    int64_t va = make_voice(s, alice, "a", "voice_a.wav", VB_OK);
    make_voice(s, bob, "b", "voice_b.wav", VB_OK);
    int64_t ga = make_gen(s, alice, 0, "gen_a.wav", VB_OK);
    make_gen(s, alice, 0, "gen_a2.wav", VB_OK);
    make_gen(s, bob, 0, "gen_b.wav", VB_OK);
    struct db_chat_thread t = {0};
    CHECK_EQ_INT(db_chat_thread_create(s, alice, "t", NULL, &t), VB_OK);
    db_chat_thread_release(&t);

    CHECK_EQ_INT(db_user_usage(s, alice, DB_USAGE_CHAT_THREADS, &v), VB_OK);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(db_user_usage(s, bob, DB_USAGE_CHAT_THREADS, &v), VB_OK);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(db_user_usage(s, alice, DB_USAGE_VOICES, &v), VB_OK);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(db_user_usage(s, alice, DB_USAGE_STORED_BYTES, &v), VB_OK);
    CHECK_EQ_INT(v, 249644 + 2 * 93744);
    CHECK_EQ_INT(db_user_usage(s, bob, DB_USAGE_STORED_BYTES, &v), VB_OK);
    CHECK_EQ_INT(v, 249644 + 93744);
    int64_t now = (int64_t)time(NULL);
    CHECK_EQ_INT(db_user_generations_since(s, alice, now - 3600, &n, &oldest), VB_OK);
    CHECK_EQ_INT(n, 2);
    CHECK(oldest >= now - 5 && oldest <= now + 5);
    CHECK_EQ_INT(db_user_generations_since(s, alice, now + 3600, &n, NULL), VB_OK);
    CHECK_EQ_INT(n, 0);

    CHECK_EQ_INT(db_voice_delete(s, alice, va, NULL), VB_OK);
    CHECK_EQ_INT(db_generation_delete(s, alice, ga, NULL), VB_OK);
    CHECK_EQ_INT(db_user_usage(s, alice, DB_USAGE_STORED_BYTES, &v), VB_OK);
    CHECK_EQ_INT(v, 93744);
    /* Generations made still count for the hour after they are deleted; old ones do not. */
    CHECK_EQ_INT(db_user_generations_since(s, alice, now - 3600, &n, NULL), VB_OK);
    CHECK_EQ_INT(n, 2);
    struct db_param old[] = {DB_P_INT(now - 7200), DB_P_INT(alice)};
    CHECK_EQ_INT(db_query(s, "UPDATE generation_events SET created_at = $1 WHERE user_id = $2", old,
                          2, NULL),
                 VB_OK);
    make_gen(s, bob, 0, "gen_b2.wav", VB_OK); /* prunes events older than the window */
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM generation_events WHERE user_id = $1", alice), 0);
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(*) FROM generation_events WHERE user_id = $1", bob), 2);
    CHECK_EQ_INT(db_user_usage(s, alice, DB_USAGE_VOICES, &v), VB_OK);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(db_user_usage(s, alice, (enum db_usage_kind)42, &v), VB_ERR_INVALID);
    CHECK_EQ_INT(db_user_usage(s, 0, DB_USAGE_VOICES, &v), VB_ERR_INVALID);
    close_fresh(s);
}

#define CONC_THREADS 4
#define CONC_PER     25

struct conc_arg {
    struct db_store *store;
    int64_t user_id;
    int index;
    int failures;
};

static void *conc_worker(void *p)
{
    struct conc_arg *a = p;
    char name[64];
    for (int k = 0; k < CONC_PER; k++) {
        snprintf(name, sizeof(name), "gen_t%d_%02d.wav", a->index, k);
        struct db_generation g = {.user_id = a->user_id,
                                  .text = (char *)"concurrent",
                                  .engine = (char *)"espeak-ng",
                                  .file_name = name,
                                  .format = (char *)"wav"};
        if (db_generation_insert(a->store, &g, NULL, NULL) != VB_OK)
            a->failures++;
        struct db_user u = {0};
        if (db_user_get(a->store, a->user_id, &u) != VB_OK)
            a->failures++;
        db_user_release(&u);
        struct db_generation_page pg = {0};
        if (db_generation_list(a->store, a->user_id, 0, 5, &pg) != VB_OK)
            a->failures++;
        db_generation_page_release(&pg);
    }
    return NULL;
}

TEST(test_concurrency)
{
    struct db_store *s = open_fresh();
    if (!s)
        return;
    int64_t alice = make_user(s, "alice");
    pthread_t th[CONC_THREADS];
    struct conc_arg args[CONC_THREADS];
    for (int k = 0; k < CONC_THREADS; k++) {
        args[k] = (struct conc_arg){.store = s, .user_id = alice, .index = k};
        CHECK(pthread_create(&th[k], NULL, conc_worker, &args[k]) == 0);
    }
    for (int k = 0; k < CONC_THREADS; k++) {
        pthread_join(th[k], NULL);
        CHECK_EQ_INT(args[k].failures, 0);
    }
    CHECK_EQ_INT(scalar(s, "SELECT COUNT(DISTINCT id) FROM generations WHERE user_id = $1", alice),
                 CONC_THREADS * CONC_PER);
    CHECK_EQ_INT(
        scalar(s, "SELECT COUNT(DISTINCT file_name) FROM generations WHERE user_id = $1", alice),
        CONC_THREADS * CONC_PER);
    close_fresh(s);
}

/* Sends stderr to a temporary file until capture_end, which returns its content (caller
 * frees with vb_free). */
static int capture_begin(char *path, size_t cap)
{
    snprintf(path, cap, "%s/stderr.XXXXXX", g_tmp_dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = mkstemp(path);
    if (fd >= 0) {
        dup2(fd, 2);
        close(fd);
    }
    return saved;
}

static char *capture_end(int saved, const char *path)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *text = vb_xcalloc(1, 65536);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(text, 1, 65535, f);
        text[n] = '\0';
        fclose(f);
    }
    unlink(path);
    return text;
}

TEST(test_bad_urls)
{
    char cap_path[512];
    int saved = capture_begin(cap_path, sizeof(cap_path));
    struct db_store *s = (struct db_store *)&s; /* must be reset to NULL on failure */
    CHECK_EQ_INT(db_open(NULL, &s), VB_ERR_INVALID);
    CHECK(s == NULL);
    CHECK_EQ_INT(db_open("", &s), VB_ERR_INVALID);
    CHECK_EQ_INT(db_open("mysql://user:secret@localhost/db", &s), VB_ERR_INVALID);
    CHECK_EQ_INT(db_open("sqlite:", &s), VB_ERR_INVALID);
    CHECK_EQ_INT(db_open("sqlite://", &s), VB_ERR_INVALID);
    CHECK_EQ_INT(db_open("data/vocero.db", &s), VB_ERR_INVALID);
    CHECK_EQ_INT(db_open("sqlite:///proc/no/such/dir/x.db", &s), VB_ERR_DB);
    CHECK(s == NULL);
    char path[512];
    snprintf(path, sizeof(path), "sqlite://%s", g_tmp_dir); /* a directory, not a file */
    CHECK_EQ_INT(db_open(path, &s), VB_ERR_DB);
    CHECK_EQ_INT(db_open("postgresql://[::1/db", &s), VB_ERR_INVALID);
    CHECK_EQ_INT(db_open("postgresql:///db?bogus_option=1", &s), VB_ERR_INVALID);
    CHECK_EQ_INT(
        db_open("postgresql:///vocero?host=/nonexistent-socket-dir&user=x&password=hunter2", &s),
        VB_ERR_DB_DOWN);
    CHECK(s == NULL);
    CHECK_EQ_INT(db_open("postgresql://user:hunter2@[::1/db", &s), VB_ERR_INVALID);
    CHECK_EQ_INT(db_open("postgresql://user:hun%zzter2@localhost/db", &s), VB_ERR_INVALID);
    CHECK_EQ_INT(db_ping(NULL), VB_ERR_DB);
    db_close(NULL);
    char *log = capture_end(saved, cap_path);
    /* Errors were logged, but no password (nor any part of it) ever is. */
    CHECK(strstr(log, "invalid DATABASE_URL") != NULL);
    CHECK(strstr(log, "database unavailable (connect)") != NULL);
    CHECK_MSG(strstr(log, "hunter2") == NULL && strstr(log, "hun%zz") == NULL &&
                  strstr(log, "secret") == NULL,
              "password in log: %s", log);
    vb_free(log);
}

/* sqlite://PATH: relative to the working directory, absolute with a third slash, parent
 * directories created, and :memory: usable. SQLite only. */
TEST(test_sqlite_paths)
{
    char cwd[512], path[600];
    struct db_store *s = NULL;
    if (!getcwd(cwd, sizeof(cwd)) || chdir(g_tmp_dir) != 0) {
        CHECK(!"cannot change directory");
        return;
    }
    CHECK_EQ_INT(db_open("sqlite://rel/dir/vocero.db", &s), VB_OK);
    CHECK(s != NULL);
    db_close(s);
    s = NULL;
    CHECK(chdir(cwd) == 0);
    snprintf(path, sizeof(path), "%s/rel/dir/vocero.db", g_tmp_dir);
    CHECK(access(path, F_OK) == 0);
    snprintf(path, sizeof(path), "sqlite://%s/rel/dir/vocero.db", g_tmp_dir); /* absolute */
    CHECK_EQ_INT(db_open(path, &s), VB_OK);
    int version = 0;
    CHECK_EQ_INT(db_schema_version(s, &version), VB_OK);
    CHECK_EQ_INT(version, db_schema_latest());
    db_close(s);
    s = NULL;
    CHECK_EQ_INT(db_open("sqlite://:memory:", &s), VB_OK);
    if (s) {
        int64_t uid = make_user(s, "mem");
        CHECK_EQ_INT(db_user_get(s, uid, NULL), VB_OK);
        CHECK_EQ_INT(db_ping(s), VB_OK);
    }
    db_close(s);
}

static void run_suite(void)
{
    RUN(test_open_migrate_idempotent);
    RUN(test_concurrent_migrate);
    RUN(test_users);
    RUN(test_voices);
    RUN(test_generations_pagination);
    RUN(test_delete_cascade);
    RUN(test_chat);
    RUN(test_idempotency_keys);
    RUN(test_referenced_files);
    RUN(test_usage);
    RUN(test_concurrency);
    RUN(test_bad_urls);
    if (g_backend == BACKEND_SQLITE)
        RUN(test_sqlite_paths);
}

/* Removes the temporary SQLite tree (files and directories written by the suite). */
static void remove_tree(const char *dir)
{
    char cmd[512];
    if (strncmp(dir, "/tmp/vocero-db-test.", 20) != 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    vb_log_set_level(VB_LOG_ERROR);
    snprintf(g_tmp_dir, sizeof(g_tmp_dir), "/tmp/vocero-db-test.XXXXXX");
    if (!mkdtemp(g_tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    fprintf(stderr, "== sqlite ==\n");
    g_backend = BACKEND_SQLITE;
    run_suite();

    g_pg_base = getenv("TEST_DATABASE_URL");
    if (g_pg_base && *g_pg_base) {
        fprintf(stderr, "== postgresql ==\n");
        g_backend = BACKEND_PG;
        run_suite();
    } else {
        SKIP(postgres, "TEST_DATABASE_URL not set (scripts/pg-test-server.sh start prints one)");
    }
    remove_tree(g_tmp_dir);
    return test_summary();
}
