/* service.c: one shared chat model, serialised generation with a bounded wait, and an LRU
 * of sessions so a conversation's KV cache survives between its turns. */
#include "core/vb.h"
#include "llm/service.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>

#define QUEUE_MAX_DEFAULT      4
#define CACHE_SESSIONS_DEFAULT 2
#define CACHE_SESSIONS_MAX     16
#define REPLY_MAX_BYTES        ((size_t)1 << 20)
#define GENERATING             1 /* requests the model serves at once */

struct slot {
    int64_t key;        /* conversation; 0 = free */
    uint64_t last_used; /* LRU clock */
    struct llm_session *session;
};

struct llm_service {
    char *model_path, *model_name, *install_hint;
    int n_ctx, n_threads, queue_max, n_slots;
    pthread_mutex_t lock;      /* held while generating: one request at a time */
    pthread_mutex_t wait_lock; /* protects admitted */
    int admitted;              /* requests between admit and the end of their chat */
    struct llm_model *model;   /* NULL until first use; written and used under lock */
    atomic_bool loaded;        /* model is set: llm_service_check reads it without lock */
    struct slot slots[CACHE_SESSIONS_MAX];
    uint64_t clock;
};

enum vb_err llm_service_new(const struct llm_service_params *p, struct llm_service **out)
{
    struct llm_service *s = vb_xcalloc(1, sizeof *s);
    s->model_path = vb_xstrdup(p->model_path ? p->model_path : "");
    const char *slash = strrchr(s->model_path, '/');
    s->model_name = vb_xstrdup(slash ? slash + 1 : s->model_path);
    s->install_hint = vb_xstrdup(p->install_hint ? p->install_hint : "");
    s->n_ctx = p->n_ctx;
    s->n_threads = p->n_threads;
    s->queue_max = p->queue_max > 0 ? p->queue_max : QUEUE_MAX_DEFAULT;
    s->n_slots = p->cache_sessions > 0 ? VB_MIN(p->cache_sessions, CACHE_SESSIONS_MAX)
                                       : CACHE_SESSIONS_DEFAULT;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->wait_lock, NULL);
    *out = s;
    return VB_OK;
}

void llm_service_free(struct llm_service *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_slots; i++)
        llm_session_free(s->slots[i].session);
    llm_model_free(s->model);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->wait_lock);
    vb_free(s->model_path);
    vb_free(s->model_name);
    vb_free(s->install_hint);
    vb_free(s);
}

const char *llm_service_model_name(const struct llm_service *s)
{
    return s->model_name;
}

/* Messages for clients name the model's file, never the folder it is looked for in. */
static enum vb_err missing(const struct llm_service *s, char *why, size_t cap)
{
    if (*s->install_hint)
        snprintf(why, cap, "the chat model is not installed: %s is missing; install it with `%s`",
                 s->model_name, s->install_hint);
    else
        snprintf(why, cap, "the chat model is not installed: %s is missing", s->model_name);
    return VB_ERR_UNAVAILABLE;
}

enum vb_err llm_service_check(struct llm_service *s, char *why, size_t cap)
{
    struct stat st;
    if (atomic_load(&s->loaded) || (stat(s->model_path, &st) == 0 && S_ISREG(st.st_mode)))
        return VB_OK;
    return missing(s, why, cap);
}

/* Loads the model on first use; called with s->lock held. */
static enum vb_err ensure_loaded(struct llm_service *s, char *why, size_t cap)
{
    if (s->model)
        return VB_OK;
    enum vb_err err = llm_service_check(s, why, cap);
    if (err)
        return err;
    char reason[256] = "";
    err = llm_model_load(s->model_path, &s->model, reason, sizeof reason);
    atomic_store(&s->loaded, s->model != NULL);
    if (err) {
        vb_error("llm: cannot load %s: %s", s->model_path, reason);
        snprintf(why, cap, "the chat model %s cannot be loaded; the server log says why",
                 s->model_name);
        return err == VB_ERR_NOMEM ? VB_ERR_NOMEM : VB_ERR_UNAVAILABLE;
    }
    vb_info("llm: loaded %s", s->model_path);
    return VB_OK;
}

/* The session for `key`: its own if cached, else the least recently used slot (whose KV
 * cache still serves any common prefix, e.g. the system prompt). */
static enum vb_err session_for(struct llm_service *s, int64_t key, struct llm_session **out)
{
    struct slot *pick = NULL;
    for (int i = 0; i < s->n_slots && !pick; i++)
        if (key && s->slots[i].key == key && s->slots[i].session)
            pick = &s->slots[i];
    for (int i = 0; i < s->n_slots && !pick; i++)
        if (!s->slots[i].session)
            pick = &s->slots[i];
    if (!pick) {
        pick = &s->slots[0];
        for (int i = 1; i < s->n_slots; i++)
            if (s->slots[i].last_used < pick->last_used)
                pick = &s->slots[i];
    }
    if (!pick->session) {
        enum vb_err err = llm_session_new(s->model, s->n_ctx, s->n_threads, &pick->session);
        if (err)
            return err;
    }
    pick->key = key;
    pick->last_used = ++s->clock;
    *out = pick->session;
    return VB_OK;
}

struct collect {
    struct vb_buf text;
    const struct llm_chat_request *r;
    bool failed;
};

static bool on_piece(void *ud, int32_t id, const char *text, size_t len)
{
    struct collect *c = ud;
    if (vb_buf_append(&c->text, text, len) != VB_OK) {
        c->failed = true;
        return false;
    }
    if (c->r->cancelled && c->r->cancelled(c->r->ud))
        return false;
    return !c->r->on_text || c->r->on_text(c->r->ud, id, text, len);
}

static enum vb_err generate(struct llm_service *s, const struct llm_chat_request *r,
                            struct llm_chat_reply *out, char *why, size_t cap)
{
    struct llm_session *session = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, ids_cap = 0;
    struct llm_gen_result res = {0};
    struct collect c = {.r = r};
    vb_buf_init(&c.text, REPLY_MAX_BYTES);
    enum vb_err err = session_for(s, r->session_key, &session);
    if (err)
        goto out;
    int n_ctx = llm_session_n_ctx(session);
    int budget = n_ctx - r->gen.max_tokens;
    if (budget < 16) {
        snprintf(why, cap, "max_tokens %d leaves no room for the prompt in the %d-token context",
                 r->gen.max_tokens, n_ctx);
        err = VB_ERR_UNPROCESSABLE;
        goto out;
    }
    err = llm_chat_prompt(s->model, r->msgs, r->n_msgs, r->default_system, (size_t)budget, &ids,
                          &n_ids, &ids_cap, &out->n_dropped);
    if (err == VB_ERR_TOO_LARGE)
        snprintf(why, cap, "the message does not fit the model's %d-token context", n_ctx);
    if (err)
        goto out;
    err = llm_session_generate(session, ids, n_ids, &r->gen, on_piece, &c, &res);
    if (!err && c.failed)
        err = VB_ERR_TOO_LARGE;
    if (err)
        goto out;
    out->n_prompt = res.n_prompt;
    out->n_prompt_eval = res.n_prompt_eval;
    out->n_gen = res.n_gen;
    out->prompt_ms = res.prompt_ms;
    out->gen_ms = res.gen_ms;
    out->stop = res.stop;
    out->text = vb_buf_take(&c.text);
out:
    vb_free(res.ids);
    vb_free(ids);
    vb_buf_release(&c.text);
    return err;
}

enum vb_err llm_service_admit(struct llm_service *s, char *why, size_t cap)
{
    enum vb_err err = llm_service_check(s, why, cap);
    if (err)
        return err;
    pthread_mutex_lock(&s->wait_lock);
    /* One request generates; queue_max more may wait for it. */
    bool full = s->admitted >= GENERATING + s->queue_max;
    if (!full)
        s->admitted++;
    pthread_mutex_unlock(&s->wait_lock);
    if (full) {
        snprintf(why, cap, "the chat model is busy (%d requests waiting); retry shortly",
                 s->queue_max);
        return VB_ERR_UNAVAILABLE;
    }
    return VB_OK;
}

void llm_service_leave(struct llm_service *s)
{
    pthread_mutex_lock(&s->wait_lock);
    s->admitted--;
    pthread_mutex_unlock(&s->wait_lock);
}

enum vb_err llm_service_chat(struct llm_service *s, const struct llm_chat_request *r,
                             struct llm_chat_reply *out, char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->lock);
    enum vb_err err = r->cancelled && r->cancelled(r->ud) ? VB_ERR_CANCELLED : VB_OK;
    if (!err)
        err = ensure_loaded(s, why, cap);
    if (!err)
        err = generate(s, r, out, why, cap);
    pthread_mutex_unlock(&s->lock);
    llm_service_leave(s);
    return err;
}

void llm_chat_reply_release(struct llm_chat_reply *r)
{
    vb_free(r->text);
    memset(r, 0, sizeof *r);
}
