/* basic.c: HTTP Basic credential decoding (strict base64) and the verified-credential cache keyed
 * by HMAC-SHA256 under a per-process random key. */
#include "core/vb.h"
#include "auth/basic.h"

#include "core/crypto.h"
#include "core/alloc.h"

#include <pthread.h>

#define B64_ENCODED_MAX VB_BASE64_LEN(AUTH_BASIC_DECODED_MAX)
#define CACHE_WAYS      4 /* entries per bucket */

/* ===== Parsing ===== */

#define REJECT(reason)                                                                             \
    do {                                                                                           \
        err = VB_ERR_UNAUTHORIZED;                                                                 \
        *why = (reason);                                                                           \
        goto out;                                                                                  \
    } while (0)

enum vb_err auth_basic_parse(const char *b64, size_t b64_len, struct auth_basic_cred *out,
                             const char **why)
{
    enum vb_err err = VB_OK;
    const char *why_dummy;

    if (!why)
        why = &why_dummy;
    *why = NULL;
    memset(out, 0, sizeof *out);
    if (!b64 || b64_len == 0)
        REJECT("empty credentials");
    if (b64_len > B64_ENCODED_MAX)
        REJECT("credentials too long");

    /* One buffer holds "user\0pass\0": the decoded bytes with the colon replaced. */
    out->buf_len = VB_BASE64_DECODED_MAX(b64_len) + 1;
    out->buf = vb_try_malloc(out->buf_len);
    if (!out->buf) {
        out->buf_len = 0;
        err = VB_ERR_NOMEM;
        goto out;
    }
    size_t n = 0;
    if (vb_base64_decode(b64, b64_len, (uint8_t *)out->buf, out->buf_len - 1, &n) != VB_OK)
        REJECT("bad base64");
    if (n == 0 || n > AUTH_BASIC_DECODED_MAX)
        REJECT("decoded credentials empty or too long");
    out->buf[n] = '\0';
    if (memchr(out->buf, '\0', n))
        REJECT("NUL in credentials");
    char *colon = memchr(out->buf, ':', n);
    if (!colon)
        REJECT("no ':' in credentials");
    if (colon == out->buf)
        REJECT("empty username");
    for (const char *p = out->buf; p < colon; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            REJECT("control character in username");
    }
    *colon = '\0';
    out->username = out->buf;
    out->username_len = (size_t)(colon - out->buf);
    out->password = colon + 1;
    out->password_len = n - out->username_len - 1;
out:
    if (err)
        auth_basic_cred_release(out);
    return err;
}

void auth_basic_cred_release(struct auth_basic_cred *c)
{
    if (!c)
        return;
    vb_free_secure(c->buf, c->buf_len);
    memset(c, 0, sizeof *c);
}

/* ===== Cache ===== */

struct cache_entry {
    uint8_t key[VB_SHA256_LEN]; /* HMAC(hkey, user "\0" pass) */
    int64_t user_id;
    int64_t inserted; /* unix seconds */
    int64_t expires;  /* unix seconds; valid while now < expires */
    bool used;
};

struct auth_basic_cache {
    pthread_mutex_t mu;
    uint8_t hkey[VB_SHA256_LEN]; /* random, per process */
    struct cache_entry *entries; /* (nbuckets, CACHE_WAYS) */
    size_t nbuckets;
    int ttl_s;
    uint64_t generation; /* bumped by every invalidation */
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
    c->nbuckets = (capacity + CACHE_WAYS - 1) / CACHE_WAYS;
    c->entries = vb_xcalloc(c->nbuckets * CACHE_WAYS, sizeof *c->entries);
    c->ttl_s = ttl_s;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void auth_basic_cache_free(struct auth_basic_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    vb_free_secure(c->entries, c->nbuckets * CACHE_WAYS * sizeof *c->entries);
    vb_free_secure(c, sizeof *c);
}

/* key = HMAC(hkey, user "\0" pass); returns its bucket's first entry. */
static struct cache_entry *cache_key(struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                                     uint8_t key[VB_SHA256_LEN])
{
    /* The parser leaves "user\0pass" contiguous in cred->buf. */
    if (!cred || !cred->buf || cred->username != cred->buf ||
        cred->password != cred->buf + cred->username_len + 1)
        return NULL;
    vb_hmac_sha256(c->hkey, sizeof c->hkey, cred->buf, cred->username_len + 1 + cred->password_len,
                   key);
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return &c->entries[(h % c->nbuckets) * CACHE_WAYS];
}

bool auth_basic_cache_lookup(struct auth_basic_cache *c, const struct auth_basic_cred *cred,
                             int64_t now, int64_t *user_id)
{
    uint8_t key[VB_SHA256_LEN];
    bool hit = false;

    *user_id = 0;
    if (!c)
        return false;
    struct cache_entry *bucket = cache_key(c, cred, key);
    if (!bucket)
        return false;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < CACHE_WAYS; i++) {
        struct cache_entry *e = &bucket[i];
        if (!e->used || !vb_ct_equal(e->key, key, sizeof key))
            continue;
        if (now < e->expires && now >= e->inserted) {
            *user_id = e->user_id;
            hit = true;
        } else {
            explicit_bzero(e, sizeof *e);
        }
        break;
    }
    pthread_mutex_unlock(&c->mu);
    explicit_bzero(key, sizeof key);
    return hit;
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
                             int64_t user_id, int64_t now, uint64_t generation)
{
    uint8_t key[VB_SHA256_LEN];

    if (!c || user_id <= 0 || now > INT64_MAX - c->ttl_s)
        return;
    struct cache_entry *bucket = cache_key(c, cred, key);
    if (!bucket)
        return;
    pthread_mutex_lock(&c->mu);
    if (generation == c->generation) {
        /* Same key, else a free or expired slot, else the oldest insertion. */
        struct cache_entry *slot = NULL;
        for (int i = 0; i < CACHE_WAYS && !slot; i++)
            if (bucket[i].used && vb_ct_equal(bucket[i].key, key, sizeof key))
                slot = &bucket[i];
        for (int i = 0; i < CACHE_WAYS && !slot; i++)
            if (!bucket[i].used || now >= bucket[i].expires)
                slot = &bucket[i];
        if (!slot) {
            slot = &bucket[0];
            for (int i = 1; i < CACHE_WAYS; i++)
                if (bucket[i].inserted < slot->inserted)
                    slot = &bucket[i];
        }
        memcpy(slot->key, key, sizeof key);
        slot->user_id = user_id;
        slot->inserted = now;
        slot->expires = now + c->ttl_s;
        slot->used = true;
    }
    pthread_mutex_unlock(&c->mu);
    explicit_bzero(key, sizeof key);
}

void auth_basic_cache_invalidate_user(struct auth_basic_cache *c, int64_t user_id)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->generation++;
    for (size_t i = 0; i < c->nbuckets * CACHE_WAYS; i++)
        if (c->entries[i].used && c->entries[i].user_id == user_id)
            explicit_bzero(&c->entries[i], sizeof c->entries[i]);
    pthread_mutex_unlock(&c->mu);
}

void auth_basic_cache_clear(struct auth_basic_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->generation++;
    explicit_bzero(c->entries, c->nbuckets * CACHE_WAYS * sizeof *c->entries);
    pthread_mutex_unlock(&c->mu);
}
