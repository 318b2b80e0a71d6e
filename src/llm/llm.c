/* llm.c: model = qwen2 weights + tokenizer; sessions with prefix KV-cache reuse, sampling
 * and UTF-8-safe streaming of the generated text. */
#include "core/vb.h"
#include "llm/llm.h"
#include "core/alloc.h"
#include "core/unicode.h"

#include <time.h>

enum vb_err llm_model_load(const char *path, struct llm_model **out, char *why, size_t cap)
{
    *out = NULL;
    struct llm_model *m = vb_xcalloc(1, sizeof *m);
    enum vb_err err = qwen2_load(path, &m->qwen, why, cap);
    if (err == VB_OK)
        err = llm_tokenizer_load(m->qwen->gguf, &m->tok, why, cap);
    if (err == VB_OK && llm_tokenizer_n_vocab(m->tok) > m->qwen->hp.n_vocab) {
        snprintf(why, cap, "vocabulary has %d tokens but the embedding only %lld rows",
                 llm_tokenizer_n_vocab(m->tok), (long long)m->qwen->hp.n_vocab);
        err = VB_ERR_FORMAT;
    }
    if (err == VB_OK) {
        err = nn_pool_new(nn_threads_default(0), &m->pool);
        if (err != VB_OK)
            snprintf(why, cap, "cannot start the thread pool");
    }
    if (err != VB_OK) {
        llm_model_free(m);
        return err;
    }
    *out = m;
    return VB_OK;
}

void llm_model_free(struct llm_model *m)
{
    if (!m)
        return;
    nn_pool_free(m->pool);
    llm_tokenizer_free(m->tok);
    qwen2_free(m->qwen);
    vb_free(m);
}

struct llm_session {
    const struct llm_model *m;
    struct qwen2_ctx *ctx;
    int32_t *cached; /* tokens whose K/V are in the cache, n_ctx entries */
    size_t n_cached;
    float *logits; /* n_vocab */
};

enum vb_err llm_session_new(const struct llm_model *m, int n_ctx, int n_threads,
                            struct llm_session **out)
{
    return llm_session_new_kv(m, n_ctx, n_threads, true, out);
}

enum vb_err llm_session_new_kv(const struct llm_model *m, int n_ctx, int n_threads, bool kv_f16,
                               struct llm_session **out)
{
    *out = NULL;
    struct llm_session *s = vb_xcalloc(1, sizeof *s);
    s->m = m;
    struct qwen2_ctx_params p = qwen2_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = n_threads;
    p.kv_f16 = kv_f16;
    if (n_threads <= 0)
        p.pool = m->pool;
    enum vb_err err = qwen2_ctx_new(m->qwen, &p, &s->ctx);
    if (err == VB_OK) {
        s->cached = vb_try_malloc((size_t)qwen2_ctx_n_ctx(s->ctx) * sizeof *s->cached);
        s->logits = vb_try_malloc((size_t)m->qwen->hp.n_vocab * sizeof *s->logits);
        if (!s->cached || !s->logits)
            err = VB_ERR_NOMEM;
    }
    if (err != VB_OK) {
        llm_session_free(s);
        return err;
    }
    *out = s;
    return VB_OK;
}

void llm_session_free(struct llm_session *s)
{
    if (!s)
        return;
    qwen2_ctx_free(s->ctx);
    vb_free(s->cached);
    vb_free(s->logits);
    vb_free(s);
}

int llm_session_n_ctx(const struct llm_session *s)
{
    return qwen2_ctx_n_ctx(s->ctx);
}

void llm_session_reset(struct llm_session *s)
{
    s->n_cached = 0;
    qwen2_ctx_truncate(s->ctx, 0);
}

struct llm_gen_params llm_gen_default_params(void)
{
    return (struct llm_gen_params){
        .max_tokens = 512, .sampling = nn_sampler_default_params(), .stop_at_eog = true};
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Moves the well-formed UTF-8 text at the front of pend into out (emptied first; bad bytes
 * become U+FFFD); an incomplete sequence at the end stays in pend unless `final`. */
static enum vb_err take_text(struct vb_buf *pend, bool final, struct vb_buf *out)
{
    size_t used = 0;
    vb_buf_reset(out);
    enum vb_err err = vb_utf8_sanitize(vb_buf_str(pend), pend->len, final, out, &used);
    if (err)
        return err;
    size_t rest = pend->len - used;
    if (rest)
        memmove(pend->data, pend->data + used, rest);
    pend->len = rest;
    if (pend->data) /* NULL while only empty pieces (control tokens) were produced */
        pend->data[rest] = 0;
    return VB_OK;
}

enum vb_err llm_session_generate(struct llm_session *s, const int32_t *prompt, size_t n,
                                 const struct llm_gen_params *p, llm_text_fn fn, void *ud,
                                 struct llm_gen_result *res)
{
    memset(res, 0, sizeof *res);
    const int32_t n_vocab = (int32_t)s->m->qwen->hp.n_vocab;
    const size_t n_ctx = (size_t)qwen2_ctx_n_ctx(s->ctx);
    if (n == 0)
        return VB_ERR_INVALID;
    if (n >= n_ctx)
        return VB_ERR_TOO_LARGE;
    res->n_prompt = n;
    struct nn_sampler *smp = nn_sampler_new(&p->sampling, n_vocab);
    size_t ids_cap = (size_t)(p->max_tokens > 0 ? p->max_tokens : 1);
    res->ids = vb_try_malloc(ids_cap * sizeof *res->ids);
    struct vb_buf pend, text; /* the bytes of the tokens so far; the text handed to fn */
    vb_buf_init(&pend, 1 << 16);
    vb_buf_init(&text, 3 << 16);
    enum vb_err err = VB_ERR_NOMEM;
    if (!smp || !res->ids)
        goto out;
    /* reuse the cached prefix; always re-evaluate at least the last prompt token */
    size_t keep = 0;
    while (keep < s->n_cached && keep < n - 1 && s->cached[keep] == prompt[keep])
        keep++;
    qwen2_ctx_truncate(s->ctx, (int)keep);
    s->n_cached = keep;
    for (size_t i = 0; i < n; i++)
        nn_sampler_accept(smp, prompt[i]);
    double t0 = now_ms();
    err = qwen2_eval(s->ctx, prompt + keep, (int)(n - keep), s->logits, false);
    if (err != VB_OK) {
        llm_session_reset(s);
        goto out;
    }
    memcpy(s->cached + keep, prompt + keep, (n - keep) * sizeof *prompt);
    s->n_cached = n;
    res->n_prompt_eval = n - keep;
    double t1 = now_ms();
    res->prompt_ms = t1 - t0;
    res->stop = LLM_STOP_LENGTH;
    for (int k = 0; k < p->max_tokens; k++) {
        int32_t id = nn_sampler_sample(smp, s->logits);
        nn_sampler_accept(smp, id);
        res->ids[res->n_gen++] = id;
        if (p->stop_at_eog && llm_token_is_eog(s->m->tok, id)) {
            res->stop = LLM_STOP_EOG;
            break;
        }
        size_t before = pend.len;
        if ((err = llm_token_piece(s->m->tok, id, false, &pend)))
            goto out;
        bool no_bytes = pend.len == before; /* a control token: fn still hears of it */
        if ((err = take_text(&pend, false, &text)))
            goto out;
        if ((text.len > 0 || no_bytes) && fn && !fn(ud, id, vb_buf_str(&text), text.len)) {
            res->stop = LLM_STOP_CANCELLED;
            break;
        }
        if (k + 1 == p->max_tokens)
            break;
        if (s->n_cached + 1 >= n_ctx) {
            res->stop = LLM_STOP_CONTEXT;
            break;
        }
        err = qwen2_eval(s->ctx, &id, 1, s->logits, false);
        if (err != VB_OK) {
            llm_session_reset(s);
            goto out;
        }
        s->cached[s->n_cached++] = id;
    }
    if (pend.len > 0 && fn && res->stop != LLM_STOP_CANCELLED) {
        if ((err = take_text(&pend, true, &text))) /* an incomplete tail: U+FFFD per byte */
            goto out;
        fn(ud, -1, vb_buf_str(&text), text.len);
    }
    res->gen_ms = now_ms() - t1;
    err = VB_OK;
out:
    vb_buf_release(&pend);
    vb_buf_release(&text);
    nn_sampler_free(smp);
    if (err != VB_OK) {
        vb_free(res->ids);
        res->ids = NULL;
    }
    return err;
}

enum vb_err llm_chat_prompt(const struct llm_model *m, const struct llm_chat_msg *msgs, size_t n,
                            const char *default_system, size_t max_tokens, int32_t **ids,
                            size_t *n_ids, size_t *cap, size_t *dropped)
{
    *dropped = 0;
    bool sys = n > 0 && msgs[0].role && strcmp(msgs[0].role, "system") == 0;
    size_t first = sys ? 1 : 0;
    struct llm_chat_msg *tmp = vb_try_malloc((n + 1) * sizeof *tmp);
    if (!tmp)
        return VB_ERR_NOMEM;
    enum vb_err err = VB_ERR_TOO_LARGE;
    size_t base = *n_ids;
    /* drop from the oldest non-system message until it fits (keep at least the last) */
    for (size_t drop = 0; first + drop < n || (n == first && drop == 0); drop++) {
        size_t k = 0;
        if (sys)
            tmp[k++] = msgs[0];
        for (size_t i = first + drop; i < n; i++)
            tmp[k++] = msgs[i];
        *n_ids = base;
        err = llm_chat_tokenize(m->tok, tmp, k, true, default_system, ids, n_ids, cap);
        if (err != VB_OK)
            break;
        if (*n_ids - base <= max_tokens) {
            *dropped = drop;
            break;
        }
        err = VB_ERR_TOO_LARGE;
        if (first + drop + 1 >= n)
            break;
    }
    if (err != VB_OK)
        *n_ids = base;
    vb_free(tmp);
    return err;
}
