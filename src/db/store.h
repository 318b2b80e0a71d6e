/* store.h: the persistence layer's public API: one opaque store (SQLite or PostgreSQL,
 * chosen by URL), embedded migrations applied at open, and repository functions for users,
 * voices, generations and chat. Thread-safe: any worker thread may call any function. */
#ifndef VB_DB_STORE_H
#define VB_DB_STORE_H

#include "core/vb.h"
#include "core/err.h"

/*
 * Conventions for every function below:
 * - Return VB_OK, or VB_ERR_NOT_FOUND (no such row *for this user*: another user's id
 *   looks exactly like an unknown id), VB_ERR_CONFLICT (a UNIQUE constraint), VB_ERR_INVALID
 *   (bad argument, e.g. NULL string or limit out of range), VB_ERR_NOMEM, VB_ERR_DB_DOWN
 *   (the database cannot be reached right now: down, restarting, refusing connections;
 *   logged at most once per few seconds), or VB_ERR_DB (other backend failure; the details
 *   are logged, never returned, and never contain the URL or password).
 * - Record structs (`struct db_user` etc.) are caller-owned: the caller declares one, the
 *   store fills it and allocates its strings; the caller frees those with the matching
 *   `_release` (which zeroes the struct and accepts a zeroed or already released struct).
 *   On error the out struct is left zeroed and needs no release.
 * - Input strings are borrowed for the duration of the call only.
 * - Ids are > 0; 0 means "none" in nullable id fields (voice_id, generation_id).
 * - Timestamps are unix seconds (UTC), set by the store from time(NULL).
 * - Lists are newest first (by id descending), except chat messages (oldest first).
 */

struct db_store;

/* Opens the store at `url` and applies pending migrations (idempotent; concurrent starts
 * are serialised). URL forms:
 *   sqlite://PATH             PATH is everything after "sqlite://": sqlite://data/x.db is
 *                             relative, sqlite:///var/lib/x.db absolute; the parent
 *                             directory is created. sqlite://:memory: works (one connection).
 *   postgres://... / postgresql://...   passed to libpq as is.
 * Bad or unknown URL -> VB_ERR_INVALID; unreachable server -> VB_ERR_DB_DOWN; unopenable
 * file -> VB_ERR_DB.
 * On success *out is set; caller frees with db_close. */
VB_WUR enum vb_err db_open(const char *url, struct db_store **out);
/* Closes every connection and frees the store. NULL is fine. No call may be in flight. */
void db_close(struct db_store *store);
/* "sqlite" or "postgresql"; static storage. */
const char *db_backend_name(const struct db_store *store);
/* Runs a trivial query (SELECT 1) on a pooled connection: VB_OK, VB_ERR_DB_DOWN or
 * VB_ERR_DB. */
VB_WUR enum vb_err db_ping(struct db_store *store);
/* Highest applied migration version (for diagnostics and tests). */
VB_WUR enum vb_err db_schema_version(struct db_store *store, int *version_out);
/* Version of the newest migration built in (migrations are numbered 1, 2, ... in order). */
int db_schema_latest(void);

/* ---- users ---------------------------------------------------------------------------- */

struct db_user {
    int64_t id;
    char *username;              /* owned */
    char *email;                 /* owned; NULL when not given */
    char *password_hash;         /* owned, secret: wiped by db_user_release */
    int64_t password_changed_at; /* unix s; tokens with iat < this are stale */
    int64_t created_at;          /* unix s */
};
/* Frees the strings (password_hash wiped first) and zeroes u. NULL is fine. */
void db_user_release(struct db_user *u);

/* Creates a user. `email` may be NULL. Duplicate username -> VB_ERR_CONFLICT.
 * On success fills *out (caller releases with db_user_release). `out` may be NULL. */
VB_WUR enum vb_err db_user_create(struct db_store *store, const char *username, const char *email,
                                  const char *password_hash, struct db_user *out);
VB_WUR enum vb_err db_user_get_by_name(struct db_store *store, const char *username,
                                       struct db_user *out);
VB_WUR enum vb_err db_user_get(struct db_store *store, int64_t user_id, struct db_user *out);
/* Replaces the password hash and sets password_changed_at = now; the new value is written
 * to *changed_at_out when not NULL. Unknown user -> VB_ERR_NOT_FOUND. */
VB_WUR enum vb_err db_user_set_password(struct db_store *store, int64_t user_id,
                                        const char *password_hash, int64_t *changed_at_out);
/* For the ADMIN_USERNAME/ADMIN_PASSWORD start-up account: creates the user, or when it
 * exists replaces its password hash (and password_changed_at). Callers that do not want to
 * invalidate existing tokens on every restart should first check whether the configured
 * password already verifies against the stored hash and skip this call then.
 * *created_out (may be NULL) says which happened; *out (may be NULL) gets the row. */
VB_WUR enum vb_err db_user_upsert(struct db_store *store, const char *username,
                                  const char *password_hash, bool *created_out,
                                  struct db_user *out);

/* ---- voices --------------------------------------------------------------------------- */

struct db_voice {
    int64_t id;
    int64_t user_id;
    char *name;        /* owned; unique per user */
    char *file_name;   /* owned; unique overall; a bare name inside VOICES_DIR */
    double duration_s; /* seconds */
    int sample_rate;   /* Hz */
    int channels;
    char *format;       /* owned, e.g. "wav" */
    int64_t size_bytes; /* file size */
    int64_t created_at; /* unix s */
};
void db_voice_release(struct db_voice *v);

struct db_voice_list {
    struct db_voice *items; /* owned array of n records */
    size_t n;
};
void db_voice_list_release(struct db_voice_list *l);

/* Inserts `v` (id and created_at ignored; strings borrowed). Duplicate (user_id, name) or
 * file_name -> VB_ERR_CONFLICT; unknown user -> VB_ERR_NOT_FOUND. On success *id_out (may
 * be NULL) and *created_at_out (may be NULL) are set. */
VB_WUR enum vb_err db_voice_insert(struct db_store *store, const struct db_voice *v,
                                   int64_t *id_out, int64_t *created_at_out);
/* All of the user's voices, newest first. Caller releases *out with db_voice_list_release. */
VB_WUR enum vb_err db_voice_list(struct db_store *store, int64_t user_id,
                                 struct db_voice_list *out);
VB_WUR enum vb_err db_voice_get(struct db_store *store, int64_t user_id, int64_t voice_id,
                                struct db_voice *out);
/* Deletes the row; *file_name_out (caller frees with vb_free; may be NULL to not ask) gets
 * the file name so the caller can unlink the file. Generations that used the voice keep
 * their rows with voice_id set to none. */
VB_WUR enum vb_err db_voice_delete(struct db_store *store, int64_t user_id, int64_t voice_id,
                                   char **file_name_out);
/* Finds a voice by its file name, scoped to user_id (DB_ANY_USER: any owner; only for
 * callers that authorised the file otherwise, e.g. by a signed URL). */
VB_WUR enum vb_err db_voice_find_by_file(struct db_store *store, int64_t user_id,
                                         const char *file_name, struct db_voice *out);

#define DB_ANY_USER ((int64_t)0)

/* ---- generations ---------------------------------------------------------------------- */

struct db_generation {
    int64_t id;
    int64_t user_id;
    char *text;         /* owned; the input text */
    int64_t voice_id;   /* 0 = none (no voice, or the voice was deleted) */
    char *engine;       /* owned, e.g. "espeak-ng" */
    char *parameters;   /* owned JSON object text; never NULL ("{}" when none given) */
    char *file_name;    /* owned; unique overall; a bare name inside STORAGE_DIR */
    double duration_s;  /* seconds */
    int sample_rate;    /* Hz */
    char *format;       /* owned, e.g. "wav" */
    int64_t size_bytes; /* file size */
    int64_t created_at; /* unix s */
};
void db_generation_release(struct db_generation *g);

struct db_generation_page {
    struct db_generation *items; /* owned array of n records, newest first */
    size_t n;
    int64_t next_cursor; /* pass to the next call; 0 = no more pages */
};
void db_generation_page_release(struct db_generation_page *p);

#define DB_PAGE_LIMIT_MAX 100

/* Inserts `g` (id and created_at ignored; strings borrowed; parameters NULL -> "{}").
 * A voice_id that is not one of the user's voices -> VB_ERR_NOT_FOUND; duplicate
 * file_name -> VB_ERR_CONFLICT. */
VB_WUR enum vb_err db_generation_insert(struct db_store *store, const struct db_generation *g,
                                        int64_t *id_out, int64_t *created_at_out);
/* One page of the user's generations, newest first: those with id < cursor (cursor 0 = from
 * the newest), at most `limit` (1..DB_PAGE_LIMIT_MAX, else VB_ERR_INVALID). The cursor is an
 * id; encoding it opaquely for clients is the API layer's business. */
VB_WUR enum vb_err db_generation_list(struct db_store *store, int64_t user_id, int64_t cursor,
                                      int limit, struct db_generation_page *out);
VB_WUR enum vb_err db_generation_get(struct db_store *store, int64_t user_id, int64_t gen_id,
                                     struct db_generation *out);
/* Deletes the row; *file_name_out as in db_voice_delete. */
VB_WUR enum vb_err db_generation_delete(struct db_store *store, int64_t user_id, int64_t gen_id,
                                        char **file_name_out);
/* By file name, scoped to user_id (DB_ANY_USER as for db_voice_find_by_file). */
VB_WUR enum vb_err db_generation_get_by_file(struct db_store *store, int64_t user_id,
                                             const char *file_name, struct db_generation *out);

/* ---- chat ----------------------------------------------------------------------------- */

struct db_chat_thread {
    int64_t id;
    int64_t user_id;
    char *title;         /* owned */
    char *system_prompt; /* owned; NULL when none */
    int64_t created_at;  /* unix s */
    int64_t updated_at;  /* unix s; bumped by rename and by each new message */
};
void db_chat_thread_release(struct db_chat_thread *t);

struct db_chat_thread_list {
    struct db_chat_thread *items; /* owned; most recently updated first */
    size_t n;
    bool more; /* another page follows the last item */
};

/* A position in a user's thread list (most recently updated first): the last thread seen. */
struct db_chat_thread_cursor {
    int64_t updated_at;
    int64_t id;
};
void db_chat_thread_list_release(struct db_chat_thread_list *l);

struct db_chat_message {
    int64_t id;
    int64_t thread_id;
    char *role;    /* owned: "system", "user", "assistant" (not checked here) */
    char *content; /* owned */
    int prompt_tokens;
    int completion_tokens;
    int64_t duration_ms;   /* generation time; 0 when not applicable */
    int64_t generation_id; /* 0 = none; a spoken rendition of the message */
    int64_t created_at;    /* unix s */
    bool incomplete;       /* cut off: the client went away while it was generated */
};
void db_chat_message_release(struct db_chat_message *m);

struct db_chat_message_list {
    struct db_chat_message *items; /* owned; oldest first */
    size_t n;
};
void db_chat_message_list_release(struct db_chat_message_list *l);

/* `system_prompt` may be NULL. Fills *out (may be NULL). */
VB_WUR enum vb_err db_chat_thread_create(struct db_store *store, int64_t user_id, const char *title,
                                         const char *system_prompt, struct db_chat_thread *out);
/* One page of the user's threads, most recently updated first: those after `after` (NULL =
 * from the start), at most `limit` (1..DB_PAGE_LIMIT_MAX, else VB_ERR_INVALID). */
VB_WUR enum vb_err db_chat_thread_list(struct db_store *store, int64_t user_id,
                                       const struct db_chat_thread_cursor *after, int limit,
                                       struct db_chat_thread_list *out);
VB_WUR enum vb_err db_chat_thread_get(struct db_store *store, int64_t user_id, int64_t thread_id,
                                      struct db_chat_thread *out);
VB_WUR enum vb_err db_chat_thread_rename(struct db_store *store, int64_t user_id, int64_t thread_id,
                                         const char *title);
/* Deletes the thread and its messages. */
VB_WUR enum vb_err db_chat_thread_delete(struct db_store *store, int64_t user_id,
                                         int64_t thread_id);
/* Appends `m` (id, created_at ignored; thread_id used) to one of the user's threads and
 * bumps the thread's updated_at. *out (may be NULL; released with db_chat_message_release)
 * receives the stored row as the database returned it. Another user's thread, or a
 * generation_id that is not one of the user's generations -> VB_ERR_NOT_FOUND. */
VB_WUR enum vb_err db_chat_message_add(struct db_store *store, int64_t user_id,
                                       const struct db_chat_message *m,
                                       struct db_chat_message *out);
/* Messages of one of the user's threads, oldest first. */
VB_WUR enum vb_err db_chat_message_list(struct db_store *store, int64_t user_id, int64_t thread_id,
                                        struct db_chat_message_list *out);

/* ---- idempotency keys ------------------------------------------------------------------- */

/* How a stored reply body is kept. */
enum db_idem_body {
    DB_IDEM_BODY_TEXT = 0,   /* the body itself (JSON) */
    DB_IDEM_BODY_BASE64 = 1, /* binary bytes, base64 */
    DB_IDEM_BODY_FILE = 2,   /* the name of a file in STORAGE_DIR holding the body */
};

/* A key seen before: status 0 while its first request still runs. */
struct db_idem_entry {
    char *request_hash; /* owned: fingerprint of the first request */
    int status;         /* HTTP status of the stored reply; 0 = still running */
    char *content_type; /* owned; NULL while running */
    enum db_idem_body body_kind;
    char *body; /* owned; NULL while running */
};
void db_idem_entry_release(struct db_idem_entry *e);

/* Claims (user_id, key) for a request whose fingerprint is request_hash, first dropping
 * every row whose expires_at has passed. *claimed true: the key was new and is now held
 * (running) until expires_at; finish it with db_idem_finish or db_idem_drop. *claimed
 * false: the key exists and *existing describes it (release it). */
VB_WUR enum vb_err db_idem_claim(struct db_store *store, int64_t user_id, const char *key,
                                 const char *request_hash, int64_t expires_at, bool *claimed,
                                 struct db_idem_entry *existing);
/* Stores the reply of a claimed key and keeps it until expires_at. */
VB_WUR enum vb_err db_idem_finish(struct db_store *store, int64_t user_id, const char *key,
                                  int status, const char *content_type, enum db_idem_body body_kind,
                                  const char *body, int64_t expires_at);
/* Forgets a claimed key (its request failed: a retry runs again). */
VB_WUR enum vb_err db_idem_drop(struct db_store *store, int64_t user_id, const char *key);

/* ---- usage (per-user quotas) ---------------------------------------------------------- */

enum db_usage_kind {
    DB_USAGE_CHAT_THREADS, /* chat threads */
    DB_USAGE_VOICES,       /* voices */
    DB_USAGE_STORED_BYTES, /* size_bytes of the user's voices plus generations */
};

/* One usage figure of the user into *out (0 for an unknown user). */
VB_WUR enum vb_err db_user_usage(struct db_store *store, int64_t user_id, enum db_usage_kind kind,
                                 int64_t *out);
/* How far back db_user_generations_since sees: older events are dropped. */
#define DB_GENERATION_EVENTS_S 3600

/* Generations the user made at or after `since` (unix s, at most DB_GENERATION_EVENTS_S
 * ago), counting those deleted since, into *count_out, and the time of the oldest of them
 * into *oldest_out (0 when none; may be NULL). */
VB_WUR enum vb_err db_user_generations_since(struct db_store *store, int64_t user_id, int64_t since,
                                             int64_t *count_out, int64_t *oldest_out);

/* ---- files ---------------------------------------------------------------------------- */

enum db_file_kind {
    DB_FILE_VOICE,      /* voices.file_name (VOICES_DIR) */
    DB_FILE_GENERATION, /* generations.file_name (STORAGE_DIR) */
};

/* Called once per file name; `file_name` is borrowed for the call. Returning anything but
 * VB_OK stops the walk and db_referenced_files returns that value. The store holds no
 * connection during the callbacks, so the callback may call the store. */
typedef enum vb_err (*db_file_fn)(const char *file_name, void *user_data);

/* Every file name referenced by rows of `kind` (all users), for the start-up orphan sweep. */
VB_WUR enum vb_err db_referenced_files(struct db_store *store, enum db_file_kind kind,
                                       db_file_fn fn, void *user_data);

#endif
