/* basic_cache.c: the verified-credential cache (set-associative, keyed by HMAC-SHA256 under a
 * per-process random key) and its flights: one verification per credential at a time. */
#include "core/vb.h"
#include "auth/basic_cache.h"

#include "core/crypto.h"
#include "core/alloc.h"

#include <pthread.h>

#define WAYS          4  /* entries per bucket */
#define STAMP_LEN     16 /* bytes of HMAC(k, "pwd\0" password hash) kept per entry */
#define CLOCK_SLACK_S 2

struct cache_entry {
    uint8_t key[VB_SHA256_LEN]; /* HMAC(hkey, user "\0" pass) */
    uint8_t stamp[STAMP_LEN];   /* of the password hash the credentials verified against */
    int64_t user_id;
    int64_t inserted;   /* unix seconds */
    int64_t refresh_at; /* a hit from here on claims the refresh */
    int64_t expires;    /* valid while now < expires */
    bool used;
};

struct auth_basic_flight {
    struct auth_basic_flight *next; /* in the cache's list while not done */
    uint8_t key[VB_SHA256_LEN];
    uint64_t generation; /* the cache's when the flight began */
    bool refresh;        /* nobody waits for a refresh */
    bool done;
    enum auth_basic_outcome outcome; /* for waiters: VERIFIED only if it was cached */
    int64_t user_id;                 /* when VERIFIED */
    int refs;                        /* the owner's until finish, plus one per waiter */
};

struct auth_basic_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv_done; /* a flight finished */
    uint8_t hkey[VB_SHA256_LEN];
    struct cache_entry *entries; /* (nbuckets, WAYS) */
    size_t nbuckets;
    int ttl_s;
    int refresh_s;       /* the refresh window before expiry */
    uint64_t generation; /* bumped by every invalidation */
    struct auth_basic_flight *flights;
};

struct auth_basic_cache_params auth_basic_cache_default_params(void)
{
    return (struct auth_basic_cache_params){.capacity = 1024, .ttl_s = 60};
}

struct auth_basic_cache *auth_basic_cache_new(const struct auth_basic_cache_params *p)
{
    struct auth_basic_cache_params d = auth_basic_cache_default_params();
    size_t capacity = p && p->capacity ? p->capacity : d.capacity;
    int ttl_s = p && p->ttl_s > 0 ? p->ttl_s : d.ttl_s;

    if (capacity > (1u << 24))
        return NULL;
    struct auth_basic_cache *c = vb_xcalloc(1, sizeof *c);
    if (vb_random_bytes(c->hkey, sizeof c->hkey) != VB_OK) {
        vb_free(c);
        return NULL;
    }
    c->nbuckets = (capacity + WAYS - 1) / WAYS;
    c->entries = vb_xcalloc(c->nbuckets * WAYS, sizeof *c->entries);
    c->ttl_s = ttl_s;
    c->refresh_s = VB_MAX(1, ttl_s / 4);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv_done, NULL);
    return c;
}

void auth_basic_cache_free(struct auth_basic_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv_done);
    vb_free_secure(c->entries, c->nbuckets * WAYS * sizeof *c->entries);
    vb_free_secure(c, sizeof *c);
}

/* key = HMAC(hkey, user "\0" pass); false when cred was not made by auth_basic_parse. */
static bool cred_key(const struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                     uint8_t key[VB_SHA256_LEN])
{
    /* The parser leaves "user\0pass" contiguous in cred->buf. */
    if (!cred || !cred->buf || cred->username != cred->buf ||
        cred->password != cred->buf + cred->username_len + 1)
        return false;
    vb_hmac_sha256(c->hkey, sizeof c->hkey, cred->buf, cred->username_len + 1 + cred->password_len,
                   key);
    return true;
}

static void hash_stamp(const struct auth_basic_cache *c, const char *password_hash,
                       uint8_t stamp[STAMP_LEN])
{
    uint8_t mac[VB_SHA256_LEN];
    struct {
        char tag[4];
        char hash[128];
    } msg = {.tag = "pwd"};
    size_t n = password_hash ? strnlen(password_hash, sizeof msg.hash) : 0;
    memcpy(msg.hash, password_hash ? password_hash : "", n);
    vb_hmac_sha256(c->hkey, sizeof c->hkey, &msg, sizeof msg.tag + n, mac);
    memcpy(stamp, mac, STAMP_LEN);
    explicit_bzero(mac, sizeof mac);
}

static struct cache_entry *bucket_of(struct auth_basic_cache *c, const uint8_t key[VB_SHA256_LEN])
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return &c->entries[(h % c->nbuckets) * WAYS];
}

/* The entry of key, dropping it when it is expired at now, or was inserted more than
 * CLOCK_SLACK_S after now (the clock went back). A thread that read the clock just before
 * another inserted sees an entry a second "from the future": still valid. Under mu. */
static struct cache_entry *entry_find(struct auth_basic_cache *c, const uint8_t key[VB_SHA256_LEN],
                                      int64_t now)
{
    struct cache_entry *bucket = bucket_of(c, key);
    for (int i = 0; i < WAYS; i++) {
        struct cache_entry *e = &bucket[i];
        if (!e->used || !vb_ct_equal(e->key, key, VB_SHA256_LEN))
            continue;
        if (now < e->expires && now >= e->inserted - CLOCK_SLACK_S)
            return e;
        explicit_bzero(e, sizeof *e);
        return NULL;
    }
    return NULL;
}

/* Under mu. */
static void entry_put(struct auth_basic_cache *c, const uint8_t key[VB_SHA256_LEN],
                      const uint8_t stamp[STAMP_LEN], int64_t user_id, int64_t now)
{
    struct cache_entry *bucket = bucket_of(c, key);
    /* Same key, else a free or expired slot, else the oldest insertion. */
    struct cache_entry *slot = NULL;
    for (int i = 0; i < WAYS && !slot; i++)
        if (bucket[i].used && vb_ct_equal(bucket[i].key, key, VB_SHA256_LEN))
            slot = &bucket[i];
    for (int i = 0; i < WAYS && !slot; i++)
        if (!bucket[i].used || now >= bucket[i].expires)
            slot = &bucket[i];
    if (!slot) {
        slot = &bucket[0];
        for (int i = 1; i < WAYS; i++)
            if (bucket[i].inserted < slot->inserted)
                slot = &bucket[i];
    }
    memcpy(slot->key, key, VB_SHA256_LEN);
    memcpy(slot->stamp, stamp, STAMP_LEN);
    slot->user_id = user_id;
    slot->inserted = now;
    slot->expires = now + c->ttl_s;
    slot->refresh_at = slot->expires - c->refresh_s;
    slot->used = true;
}

/* Under mu. */
static void entry_drop(struct auth_basic_cache *c, const uint8_t key[VB_SHA256_LEN])
{
    struct cache_entry *bucket = bucket_of(c, key);
    for (int i = 0; i < WAYS; i++)
        if (bucket[i].used && vb_ct_equal(bucket[i].key, key, VB_SHA256_LEN))
            explicit_bzero(&bucket[i], sizeof bucket[i]);
}

/* The unfinished flight of key (a VERIFY one first), or NULL. Under mu. */
static struct auth_basic_flight *flight_find(struct auth_basic_cache *c,
                                             const uint8_t key[VB_SHA256_LEN])
{
    struct auth_basic_flight *refresh = NULL;
    for (struct auth_basic_flight *f = c->flights; f; f = f->next) {
        if (!vb_ct_equal(f->key, key, VB_SHA256_LEN))
            continue;
        if (!f->refresh)
            return f;
        refresh = f;
    }
    return refresh;
}

/* Under mu. */
static struct auth_basic_flight *flight_new(struct auth_basic_cache *c,
                                            const uint8_t key[VB_SHA256_LEN], bool refresh)
{
    struct auth_basic_flight *f = vb_xcalloc(1, sizeof *f);
    memcpy(f->key, key, VB_SHA256_LEN);
    f->generation = c->generation;
    f->refresh = refresh;
    f->refs = 1;
    f->next = c->flights;
    c->flights = f;
    return f;
}

/* Under mu. */
static void flight_unref(struct auth_basic_flight *f)
{
    if (--f->refs == 0)
        vb_free_secure(f, sizeof *f);
}

enum auth_basic_state auth_basic_cache_begin(struct auth_basic_cache *c,
                                             const struct auth_basic_cred *cred, int64_t now,
                                             bool may_wait, int64_t *user_id,
                                             struct auth_basic_flight **flight)
{
    uint8_t key[VB_SHA256_LEN];
    enum auth_basic_state state;

    *user_id = 0;
    *flight = NULL;
    if (!c || !cred_key(c, cred, key))
        return may_wait ? AUTH_BASIC_VERIFY : AUTH_BASIC_BUSY;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        struct cache_entry *e = entry_find(c, key, now);
        struct auth_basic_flight *f = flight_find(c, key);
        if (e) {
            *user_id = e->user_id;
            state = AUTH_BASIC_HIT;
            if (now >= e->refresh_at && !f) {
                *flight = flight_new(c, key, true);
                state = AUTH_BASIC_REFRESH;
            }
            break;
        }
        if (!f || f->refresh) {
            /* Nobody is checking these credentials now (a queued refresh may never run in
             * time): the caller does, if it may block. */
            state = may_wait ? AUTH_BASIC_VERIFY : AUTH_BASIC_BUSY;
            if (may_wait)
                *flight = flight_new(c, key, false);
            break;
        }
        if (!may_wait) {
            state = AUTH_BASIC_BUSY;
            break;
        }
        f->refs++;
        while (!f->done)
            pthread_cond_wait(&c->cv_done, &c->mu);
        enum auth_basic_outcome outcome = f->outcome;
        *user_id = f->user_id;
        flight_unref(f);
        if (outcome == AUTH_BASIC_VERIFIED) {
            state = AUTH_BASIC_HIT; /* the owner's answer, whatever the clock says now */
            break;
        }
        if (outcome == AUTH_BASIC_WRONG) {
            *user_id = 0;
            state = AUTH_BASIC_REJECTED;
            break;
        }
        *user_id = 0; /* UNDECIDED: the caller may have to check itself; look again */
    }
    pthread_mutex_unlock(&c->mu);
    explicit_bzero(key, sizeof key);
    return state;
}

void auth_basic_cache_finish(struct auth_basic_cache *c, struct auth_basic_flight *f,
                             enum auth_basic_outcome outcome, int64_t user_id,
                             const char *password_hash, int64_t now)
{
    uint8_t stamp[STAMP_LEN];

    if (!c || !f)
        return;
    hash_stamp(c, password_hash, stamp);
    pthread_mutex_lock(&c->mu);
    if (outcome == AUTH_BASIC_VERIFIED) {
        if (user_id > 0 && now <= INT64_MAX - c->ttl_s && f->generation == c->generation) {
            entry_put(c, f->key, stamp, user_id, now);
            f->user_id = user_id;
        } else {
            outcome = AUTH_BASIC_UNDECIDED; /* invalidated meanwhile: waiters check again */
        }
    } else if (outcome == AUTH_BASIC_WRONG) {
        entry_drop(c, f->key);
    }
    for (struct auth_basic_flight **p = &c->flights; *p; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    f->done = true;
    f->outcome = outcome;
    pthread_cond_broadcast(&c->cv_done);
    flight_unref(f);
    pthread_mutex_unlock(&c->mu);
    explicit_bzero(stamp, sizeof stamp);
}

/* Under mu. */
static void drop_user(struct auth_basic_cache *c, int64_t user_id)
{
    c->generation++;
    for (size_t i = 0; i < c->nbuckets * WAYS; i++)
        if (c->entries[i].used && c->entries[i].user_id == user_id)
            explicit_bzero(&c->entries[i], sizeof c->entries[i]);
}

bool auth_basic_cache_confirm(struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                              int64_t user_id, const char *password_hash)
{
    uint8_t key[VB_SHA256_LEN], stamp[STAMP_LEN];
    bool found = false, ok = false;

    if (!c || !cred_key(c, cred, key))
        return false;
    hash_stamp(c, password_hash, stamp);
    pthread_mutex_lock(&c->mu);
    struct cache_entry *bucket = bucket_of(c, key);
    for (int i = 0; i < WAYS && !found; i++) {
        struct cache_entry *e = &bucket[i];
        if (e->used && vb_ct_equal(e->key, key, sizeof key)) {
            found = true;
            ok = password_hash && e->user_id == user_id &&
                 vb_ct_equal(e->stamp, stamp, sizeof stamp);
        }
    }
    /* The account is gone or its password changed: nothing cached for it holds any more. */
    if (!password_hash || (found && !ok))
        drop_user(c, user_id);
    pthread_mutex_unlock(&c->mu);
    explicit_bzero(key, sizeof key);
    explicit_bzero(stamp, sizeof stamp);
    return ok;
}

bool auth_basic_cache_lookup(struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                             int64_t now, int64_t *user_id)
{
    uint8_t key[VB_SHA256_LEN];

    *user_id = 0;
    if (!c || !cred_key(c, cred, key))
        return false;
    pthread_mutex_lock(&c->mu);
    struct cache_entry *e = entry_find(c, key, now);
    if (e)
        *user_id = e->user_id;
    pthread_mutex_unlock(&c->mu);
    explicit_bzero(key, sizeof key);
    return e != NULL;
}

uint64_t auth_basic_cache_generation(struct auth_basic_cache *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    uint64_t g = c->generation;
    pthread_mutex_unlock(&c->mu);
    return g;
}

void auth_basic_cache_insert(struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                             int64_t user_id, const char *password_hash, int64_t now,
                             uint64_t generation)
{
    uint8_t key[VB_SHA256_LEN], stamp[STAMP_LEN];

    if (!c || user_id <= 0 || now > INT64_MAX - c->ttl_s || !cred_key(c, cred, key))
        return;
    hash_stamp(c, password_hash, stamp);
    pthread_mutex_lock(&c->mu);
    if (generation == c->generation)
        entry_put(c, key, stamp, user_id, now);
    pthread_mutex_unlock(&c->mu);
    explicit_bzero(key, sizeof key);
    explicit_bzero(stamp, sizeof stamp);
}

void auth_basic_cache_invalidate_user(struct auth_basic_cache *c, int64_t user_id)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    drop_user(c, user_id);
    pthread_mutex_unlock(&c->mu);
}

void auth_basic_cache_clear(struct auth_basic_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->generation++;
    explicit_bzero(c->entries, c->nbuckets * WAYS * sizeof *c->entries);
    pthread_mutex_unlock(&c->mu);
}
