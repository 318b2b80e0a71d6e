/* throttle.c: sliding-window failed-login limiter over a fixed, set-associative table. Keys are
 * stored as HMAC-SHA256 under a per-process random key, so their length does not matter and nobody
 * can aim many keys at one bucket to evict a victim's entry. */
#include "core/vb.h"
#include "auth/throttle.h"

#include "core/crypto.h"
#include "core/alloc.h"

#include <pthread.h>

#define WAYS 4 /* entries per bucket */

struct entry {
    uint8_t key[VB_SHA256_LEN];
    int64_t last; /* time of the newest failure, unix seconds */
    int n;        /* failures stored (<= max_failures) */
    int head;     /* ring index of the next write == the oldest when n == max_failures
                   */
    bool used;
};

struct auth_throttle {
    pthread_mutex_t mu;
    uint8_t hkey[VB_SHA256_LEN];
    int max_failures;
    int window_s;
    size_t nbuckets;
    struct entry *entries; /* (nbuckets, WAYS) */
    int64_t *times;        /* (nbuckets * WAYS, max_failures) failure times, rings */
};

struct auth_throttle_params auth_throttle_default_params(void)
{
    return (struct auth_throttle_params){.max_failures = 5, .window_s = 900, .capacity = 4096};
}

struct auth_throttle *auth_throttle_new(const struct auth_throttle_params *p)
{
    struct auth_throttle_params d = auth_throttle_default_params();
    int max_failures = p && p->max_failures ? p->max_failures : d.max_failures;
    int window_s = p && p->window_s ? p->window_s : d.window_s;
    size_t capacity = p && p->capacity ? p->capacity : d.capacity;

    if (max_failures < 1 || max_failures > AUTH_THROTTLE_FAILURES_MAX || window_s < 1 ||
        capacity > (1u << 20))
        return NULL;
    struct auth_throttle *t = vb_xcalloc(1, sizeof *t);
    if (vb_random_bytes(t->hkey, sizeof t->hkey) != VB_OK) {
        vb_free(t);
        return NULL;
    }
    t->max_failures = max_failures;
    t->window_s = window_s;
    t->nbuckets = (capacity + WAYS - 1) / WAYS;
    t->entries = vb_xcalloc(t->nbuckets * WAYS, sizeof *t->entries);
    t->times = vb_xcalloc(t->nbuckets * WAYS * (size_t)max_failures, sizeof *t->times);
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void auth_throttle_free(struct auth_throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    vb_free(t->times);
    vb_free_secure(t->entries, t->nbuckets * WAYS * sizeof *t->entries);
    vb_free_secure(t, sizeof *t);
}

/* Hashes key; returns the first entry of its bucket, or NULL if hashing failed. */
static struct entry *bucket_of(struct auth_throttle *t, const char *key, uint8_t hk[VB_SHA256_LEN])
{
    if (!key)
        key = "";
    vb_hmac_sha256(t->hkey, sizeof t->hkey, key, strlen(key), hk);
    uint64_t h;
    memcpy(&h, hk, sizeof h);
    return &t->entries[(h % t->nbuckets) * WAYS];
}

static struct entry *find(struct entry *bucket, const uint8_t hk[VB_SHA256_LEN])
{
    for (int i = 0; i < WAYS; i++)
        if (bucket[i].used && memcmp(bucket[i].key, hk, VB_SHA256_LEN) == 0)
            return &bucket[i];
    return NULL;
}

static int64_t *ring_of(struct auth_throttle *t, const struct entry *e)
{
    return &t->times[(size_t)(e - t->entries) * (size_t)t->max_failures];
}

enum vb_err auth_throttle_check(struct auth_throttle *t, const char *key, int64_t now,
                                int *retry_after_s)
{
    uint8_t hk[VB_SHA256_LEN];
    enum vb_err err = VB_OK;
    int retry = 0;

    if (!t)
        goto out;
    struct entry *bucket = bucket_of(t, key, hk);
    if (!bucket)
        goto out;
    pthread_mutex_lock(&t->mu);
    struct entry *e = find(bucket, hk);
    if (e && e->n == t->max_failures) {
        /* The ring is full: the oldest of the last max_failures failures decides. */
        int64_t oldest = ring_of(t, e)[e->head];
        if (oldest > now - t->window_s) {
            int64_t wait = oldest + t->window_s - now;
            retry = wait < 1 ? 1 : wait > INT32_MAX ? INT32_MAX : (int)wait;
            err = VB_ERR_RATE_LIMITED;
        }
    }
    pthread_mutex_unlock(&t->mu);
out:
    if (retry_after_s)
        *retry_after_s = retry;
    return err;
}

int auth_throttle_failures(struct auth_throttle *t, const char *key, int64_t now)
{
    uint8_t hk[VB_SHA256_LEN];
    int n = 0;

    if (!t)
        return 0;
    struct entry *bucket = bucket_of(t, key, hk);
    if (!bucket)
        return 0;
    pthread_mutex_lock(&t->mu);
    struct entry *e = find(bucket, hk);
    for (int i = 0; e && i < e->n; i++)
        n += ring_of(t, e)[i] > now - t->window_s;
    pthread_mutex_unlock(&t->mu);
    return n;
}

void auth_throttle_fail(struct auth_throttle *t, const char *key, int64_t now)
{
    uint8_t hk[VB_SHA256_LEN];

    if (!t)
        return;
    struct entry *bucket = bucket_of(t, key, hk);
    if (!bucket)
        return;
    pthread_mutex_lock(&t->mu);
    struct entry *e = find(bucket, hk);
    if (!e) {
        /* A free slot, else one whose failures all left the window, else the entry with the oldest
         * last failure. */
        for (int i = 0; i < WAYS && !e; i++)
            if (!bucket[i].used || bucket[i].last <= now - t->window_s)
                e = &bucket[i];
        if (!e) {
            e = &bucket[0];
            for (int i = 1; i < WAYS; i++)
                if (bucket[i].last < e->last)
                    e = &bucket[i];
        }
        memcpy(e->key, hk, sizeof hk);
        e->n = 0;
        e->head = 0;
        e->used = true;
    }
    ring_of(t, e)[e->head] = now;
    e->head = (e->head + 1) % t->max_failures;
    if (e->n < t->max_failures)
        e->n++;
    if (now > e->last || e->n == 1)
        e->last = now;
    pthread_mutex_unlock(&t->mu);
}

void auth_throttle_reset(struct auth_throttle *t, const char *key)
{
    uint8_t hk[VB_SHA256_LEN];

    if (!t)
        return;
    struct entry *bucket = bucket_of(t, key, hk);
    if (!bucket)
        return;
    pthread_mutex_lock(&t->mu);
    struct entry *e = find(bucket, hk);
    if (e)
        memset(e, 0, sizeof *e);
    pthread_mutex_unlock(&t->mu);
}
