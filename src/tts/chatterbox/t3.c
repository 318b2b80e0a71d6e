/* t3.c: Chatterbox-Turbo T3 (GPT-2 backbone + speech head): the prefix embeddings, the
 * KV-cached forward pass and the turbo sampling loop (spec §3). Weights: t3_load.c;
 * conditioning cache: t3_cond.c; kernels: nn/attn_cache.c, nn/wmat.c. */
#include "core/vb.h"
#include "tts/chatterbox/t3_internal.h"
#include "core/alloc.h"
#include "nn/attention.h"
#include "nn/attn_cache.h"
#include "nn/kernels.h"
#include "nn/ops.h"
#include "nn/sampler.h"
#include "nn/threadpool.h"

#include <math.h>

/* ===== prefix ===== */

/* Row `row` of a float embedding table into out (n_embd floats). */
static bool gather_row(const struct nn_st_tensor *t, int64_t row, float *out)
{
    if (row < 0 || row >= t->shape[0])
        return false;
    struct nn_st_tensor r = *t;
    size_t es = nn_st_dtype_size(t->dtype);
    r.n_dims = 1;
    r.shape[0] = t->shape[1];
    r.nbytes = (size_t)t->shape[1] * es;
    r.data = (const uint8_t *)t->data + (size_t)row * r.nbytes;
    return nn_st_to_f32(&r, out, (size_t)t->shape[1]) == VB_OK;
}

int cb_t3_prefix_len(int n_prompt, int n_text)
{
    return n_prompt + n_text + 2;
}

enum vb_err cb_t3_embed_prefix(const struct cb_t3_model *m, const float *spk_emb,
                               const int32_t *prompt, int n_prompt, const int32_t *text, int n_text,
                               float *out)
{
    const int64_t E = m->cfg.n_embd, S = m->cfg.spk_dim;
    if (n_prompt < 0 || n_text < 0)
        return VB_ERR_INVALID;
    /* 1. speaker row: spkr_enc(spk_emb) */
    for (int64_t e = 0; e < E; e++) {
        const float *w = m->spk_w + e * S;
        float s = 0;
        for (int64_t i = 0; i < S; i++)
            s += w[i] * spk_emb[i];
        out[e] = s + m->spk_b[e];
    }
    float *row = out + E;
    /* 2. prompt speech tokens, 3. text tokens, 4. START */
    for (int i = 0; i < n_prompt; i++, row += E)
        if (prompt[i] < 0 || !gather_row(m->speech_emb, prompt[i], row))
            return VB_ERR_INVALID;
    for (int i = 0; i < n_text; i++, row += E)
        if (text[i] < 0 || !gather_row(m->text_emb, text[i], row))
            return VB_ERR_INVALID;
    if (!gather_row(m->speech_emb, CB_T3_SPEECH_START, row))
        return VB_ERR_INVALID;
    return VB_OK;
}

enum vb_err cb_t3_embed_speech(const struct cb_t3_model *m, int32_t token, float *out)
{
    return token >= 0 && gather_row(m->speech_emb, token, out) ? VB_OK : VB_ERR_INVALID;
}

/* ===== context and forward pass ===== */

struct cb_t3_ctx_params cb_t3_ctx_default_params(void)
{
    return (struct cb_t3_ctx_params){
        .n_ctx = 0, .n_batch = 0, .n_threads = 0, .kv_f16 = true, .pool = NULL};
}

enum vb_err cb_t3_ctx_new(const struct cb_t3_model *m, const struct cb_t3_ctx_params *p,
                          struct cb_t3_ctx **out)
{
    *out = NULL;
    const struct cb_t3_config *cfg = &m->cfg;
    struct cb_t3_ctx *c = vb_xcalloc(1, sizeof *c);
    c->m = m;
    c->n_ctx = p && p->n_ctx > 0 ? p->n_ctx : 2560;
    c->n_ctx = VB_MIN(c->n_ctx, cfg->n_positions);
    c->n_batch = p && p->n_batch > 0 ? p->n_batch : 512;
    c->n_batch = VB_MIN(c->n_batch, c->n_ctx);
    c->n_threads = nn_threads_default(p ? p->n_threads : 0);
    enum vb_err err = VB_OK;
    if (p && p->pool) {
        c->pool = p->pool;
        c->n_threads = nn_pool_threads(p->pool);
    } else {
        err = nn_pool_new(c->n_threads, &c->pool);
        if (err != VB_OK)
            goto out;
        c->own_pool = true;
    }
    err = VB_ERR_NOMEM;
    const size_t E = (size_t)cfg->n_embd, B = (size_t)c->n_batch, V = (size_t)cfg->speech_vocab;
    const size_t kv = (size_t)cfg->n_layer * (size_t)c->n_ctx * E;
    c->kv_f16 = p ? p->kv_f16 : true;
    c->kf16 = nn_kernel_for(NN_TYPE_F16);
    if (!c->kf16 || !c->kf16->from_float)
        c->kv_f16 = false;
    if (c->kv_f16) {
        c->k16 = vb_try_calloc(kv, sizeof(uint16_t));
        c->v16 = vb_try_calloc(kv, sizeof(uint16_t));
        if (!c->k16 || !c->v16)
            goto out;
    } else {
        c->k_cache = vb_try_calloc(kv, sizeof(float));
        c->v_cache = vb_try_calloc(kv, sizeof(float));
        if (!c->k_cache || !c->v_cache)
            goto out;
    }
    c->x = vb_try_malloc(B * E * sizeof(float));
    c->xb = vb_try_malloc(B * E * sizeof(float));
    c->xb2 = vb_try_malloc(B * E * sizeof(float));
    c->qkv = vb_try_malloc(B * 3 * E * sizeof(float));
    c->att = vb_try_malloc(B * E * sizeof(float));
    c->hb = vb_try_malloc(B * 4 * E * sizeof(float));
    c->pos = vb_try_malloc(E * sizeof(float));
    c->work = vb_try_malloc((size_t)c->n_threads * (size_t)cfg->n_head * (size_t)c->n_ctx *
                            sizeof(float));
    c->logits = vb_try_malloc(V * sizeof(float));
    c->emb = vb_try_malloc((size_t)c->n_ctx * E * sizeof(float));
    if (nn_wmat_work_wanted(cfg->wtype) &&
        nn_wmat_work_init(&c->qwork, 4 * (int64_t)E, c->n_threads) != VB_OK)
        goto out;
    c->cond_spk = vb_try_malloc((size_t)cfg->spk_dim * sizeof(float));
    c->cond_prompt = vb_try_malloc((size_t)c->n_ctx * sizeof(int32_t));
    if (!c->x || !c->xb || !c->xb2 || !c->qkv || !c->att || !c->hb || !c->pos || !c->work ||
        !c->logits || !c->emb || !c->cond_spk || !c->cond_prompt)
        goto out;
    err = VB_OK;
    *out = c;
out:
    if (err != VB_OK)
        cb_t3_ctx_free(c);
    return err;
}

void cb_t3_ctx_free(struct cb_t3_ctx *c)
{
    if (!c)
        return;
    if (c->own_pool)
        nn_pool_free(c->pool);
    vb_free(c->k_cache);
    vb_free(c->v_cache);
    vb_free(c->k16);
    vb_free(c->v16);
    vb_free(c->x);
    vb_free(c->xb);
    vb_free(c->xb2);
    vb_free(c->qkv);
    vb_free(c->att);
    vb_free(c->hb);
    vb_free(c->pos);
    vb_free(c->work);
    vb_free(c->logits);
    vb_free(c->emb);
    vb_free(c->kv32);
    vb_free(c->mha_work);
    nn_wmat_work_release(&c->qwork);
    vb_free(c->cond_spk);
    vb_free(c->cond_prompt);
    nn_scratch_release(&c->scratch);
    vb_free(c);
}

int cb_t3_ctx_n_ctx(const struct cb_t3_ctx *c)
{
    return c->n_ctx;
}

int cb_t3_ctx_n_past(const struct cb_t3_ctx *c)
{
    return c->n_past;
}

void cb_t3_ctx_reset(struct cb_t3_ctx *c)
{
    c->n_past = 0;
}

int cb_t3_ctx_cond_cached(const struct cb_t3_ctx *c)
{
    return c->cond_rows;
}

/* y (n rows, stride ldy) = x (n rows of n_in) W^T + b. false on OOM. */
static bool mm(struct cb_t3_ctx *c, const struct nn_wmat *w, const float *x, int n, const float *b,
               float *y, int64_t ldy)
{
    return nn_wmat_mul(c->pool, &c->scratch, c->qwork.pk ? &c->qwork : NULL, w, x, n, b, y, ldy);
}

/* Causal attention of a batch over the f16 cache of one layer (rows 0..pos0+n-1, this batch's
 * K/V already stored) through nn_mha. false on OOM. */
static bool attention_mha(struct cb_t3_ctx *c, const uint16_t *k16, const uint16_t *v16, int n,
                          int64_t pos0)
{
    const struct cb_t3_config *cfg = &c->m->cfg;
    const int64_t E = cfg->n_embd, rows = pos0 + n;
    if (rows > c->kv32_rows) {
        float *p = vb_try_malloc((size_t)2 * (size_t)rows * (size_t)E * sizeof *p);
        if (!p)
            return false;
        vb_free(c->kv32);
        c->kv32 = p;
        c->kv32_rows = (int)rows;
    }
    float *k = c->kv32, *v = c->kv32 + rows * E;
    nn_f16_to_f32_row(k, k16, rows * E);
    nn_f16_to_f32_row(v, v16, rows * E);
    struct nn_mha a = {
        .q = c->qkv,
        .ldq = 3 * E,
        .k = k,
        .ldk = E,
        .v = v,
        .ldv = E,
        .out = c->att,
        .ldo = E,
        .n_q = n,
        .n_kv = (int)rows,
        .n_head = cfg->n_head,
        .head_dim = (int)(E / cfg->n_head),
        .scale = 1.0f / sqrtf((float)(E / cfg->n_head)),
        .causal = true,
        .q_pos0 = pos0,
        /* quantised weights are approximate already: bf16 products on AMX */
        .bf16 = cfg->wtype != NN_TYPE_F32 && cfg->wtype != NN_TYPE_F16,
    };
    const size_t need = nn_mha_work_floats(&a, nn_pool_threads(c->pool));
    if (need > c->mha_work_n) {
        float *p = vb_try_malloc(need * sizeof *p);
        if (!p)
            return false;
        vb_free(c->mha_work);
        c->mha_work = p;
        c->mha_work_n = need;
    }
    nn_mha(c->pool, &a, c->mha_work);
    return true;
}

/* One batch of n <= n_batch rows at positions n_past.. (spec §3.3). */
static enum vb_err forward_batch(struct cb_t3_ctx *c, const float *emb, int n, float *hidden,
                                 float *logits)
{
    const struct cb_t3_model *m = c->m;
    const struct cb_t3_config *cfg = &m->cfg;
    const int64_t E = cfg->n_embd, F = 4 * E, pos0 = c->n_past;
    const int H = cfg->n_head, D = cfg->n_embd / cfg->n_head;
    struct nn_pool *pool = c->pool;

    /* 1. input rows + learned absolute positions wpe[pos0 + t] */
    for (int t = 0; t < n; t++) {
        if (!gather_row(m->wpe, pos0 + t, c->pos))
            return VB_ERR_INVALID;
        for (int64_t i = 0; i < E; i++)
            c->x[t * E + i] = emb[t * E + i] + c->pos[i];
    }
    for (int l = 0; l < cfg->n_layer; l++) {
        const struct cb_t3_layer *L = &m->layers[l];
        /* 2. ln_1 */
        for (int t = 0; t < n; t++)
            nn_layer_norm(c->xb + t * E, c->x + t * E, L->ln1_w, L->ln1_b, E, cfg->ln_eps);
        /* 3. fused c_attn: columns 0..E-1 = Q, E..2E-1 = K, 2E..3E-1 = V; K and V rows go
         *    to the cache */
        if (!mm(c, &L->qkv, c->xb, n, L->qkv_b, c->qkv, 3 * E))
            return VB_ERR_NOMEM;
        const size_t lo = (size_t)l * (size_t)c->n_ctx * (size_t)E; /* the layer's cache */
        struct nn_attn_cache a = {
            .q = c->qkv,
            .ldq = 3 * E,
            .out = c->att,
            .work = c->work,
            .work_stride = c->n_ctx,
            .pos0 = pos0,
            .n = n,
            .n_head = H,
            .head_dim = D,
        };
        if (c->kv_f16) {
            uint16_t *k16 = c->k16 + lo, *v16 = c->v16 + lo;
            for (int t = 0; t < n; t++) {
                const float *r = c->qkv + (int64_t)t * 3 * E;
                c->kf16->from_float(r + E, k16 + (pos0 + t) * E, E);
                c->kf16->from_float(r + 2 * E, v16 + (pos0 + t) * E, E);
            }
            a.k = k16;
            a.v = v16;
        } else {
            float *kc = c->k_cache + lo, *vc = c->v_cache + lo;
            for (int t = 0; t < n; t++) {
                const float *r = c->qkv + (int64_t)t * 3 * E;
                memcpy(kc + (pos0 + t) * E, r + E, (size_t)E * sizeof(float));
                memcpy(vc + (pos0 + t) * E, r + 2 * E, (size_t)E * sizeof(float));
            }
            a.k = kc;
            a.v = vc;
        }
        /* 4. causal attention over the cache, scale 1/sqrt(head_dim): f16 batches through
         *    nn_mha's GEMMs, else per (row, head) */
        if (c->kv_f16 && n >= NN_WMAT_GEMM_MIN_ROWS) {
            if (!attention_mha(c, a.k, a.v, n, pos0))
                return VB_ERR_NOMEM;
        } else if (c->kv_f16) {
            nn_attn_cache_f16(pool, &a);
        } else {
            nn_attn_cache_f32(pool, &a);
        }
        /* 5. attn.c_proj and residual */
        if (!mm(c, &L->proj, c->att, n, L->proj_b, c->xb2, E))
            return VB_ERR_NOMEM;
        for (int t = 0; t < n; t++)
            nn_add(c->x + t * E, c->xb2 + t * E, E);
        /* 6. ln_2, MLP: c_proj(gelu_tanh(c_fc(.))) and residual */
        for (int t = 0; t < n; t++)
            nn_layer_norm(c->xb + t * E, c->x + t * E, L->ln2_w, L->ln2_b, E, cfg->ln_eps);
        if (!mm(c, &L->fc, c->xb, n, L->fc_b, c->hb, F))
            return VB_ERR_NOMEM;
        for (int t = 0; t < n; t++)
            nn_gelu(c->hb + t * F, F);
        if (!mm(c, &L->fc_proj, c->hb, n, L->fc_proj_b, c->xb2, E))
            return VB_ERR_NOMEM;
        for (int t = 0; t < n; t++)
            nn_add(c->x + t * E, c->xb2 + t * E, E);
    }
    c->n_past += n;
    /* 7. ln_f (all rows when the hidden states are wanted, else only the last) */
    int first = hidden ? 0 : n - 1;
    for (int t = first; t < n; t++)
        nn_layer_norm(c->xb + t * E, c->x + t * E, m->lnf_w, m->lnf_b, E, cfg->ln_eps);
    if (hidden)
        memcpy(hidden, c->xb, (size_t)n * (size_t)E * sizeof(float));
    /* 8. speech_head on the last row */
    if (logits) {
        if (!mm(c, &m->head, c->xb + (int64_t)(n - 1) * E, 1, m->head_b, logits, cfg->speech_vocab))
            return VB_ERR_NOMEM;
    }
    return VB_OK;
}

enum vb_err cb_t3_forward(struct cb_t3_ctx *c, const float *embeds, int n, float *hidden,
                          float *logits)
{
    if (n <= 0)
        return VB_ERR_INVALID;
    if (n > c->n_ctx - c->n_past)
        return VB_ERR_TOO_LARGE;
    if (c->n_past < c->cond_rows)
        c->cond_rows = 0; /* overwriting the cached conditioning rows */
    const int64_t E = c->m->cfg.n_embd;
    for (int done = 0; done < n;) {
        int b = VB_MIN(c->n_batch, n - done);
        bool last = done + b == n;
        enum vb_err err =
            forward_batch(c, embeds + (int64_t)done * E, b,
                          hidden ? hidden + (int64_t)done * E : NULL, last ? logits : NULL);
        if (err != VB_OK)
            return err;
        done += b;
    }
    return VB_OK;
}

/* ===== sampling ===== */

struct cb_t3_gen_params cb_t3_gen_default_params(void)
{
    return (struct cb_t3_gen_params){
        .temperature = 0.8f,
        .top_k = 1000,
        .top_p = 0.95f,
        .repetition_penalty = 1.2f,
        .max_gen_len = CB_T3_DEFAULT_MAX_GEN,
        .seed = 0,
    };
}

/* The TURBO chain of nn_sampler with these settings; every accepted token counts. */
static struct nn_sampler_params sampler_params(const struct cb_t3_gen_params *gp)
{
    return (struct nn_sampler_params){
        .temperature = gp->temperature,
        .top_k = gp->top_k,
        .top_p = gp->top_p,
        .repeat_penalty = gp->repetition_penalty,
        .penalty_last_n = -1,
        .seed = gp->seed,
        .chain = NN_SAMPLER_TURBO,
    };
}

void cb_t3_process_logits(float *l, int n, const struct cb_t3_gen_params *gp, const int32_t *hist,
                          int n_hist, float *work)
{
    const struct nn_sampler_params p = sampler_params(gp);
    nn_sampler_turbo_process(l, n, &p, hist, n_hist, work);
}

enum vb_err cb_t3_generate(struct cb_t3_ctx *c, const float *spk_emb, const int32_t *prompt,
                           int n_prompt, const int32_t *text, int n_text,
                           const struct cb_t3_gen_params *gp, const struct cb_t3_gen_hooks *hooks,
                           int32_t *tokens, int cap, int *n_tokens)
{
    *n_tokens = 0;
    const struct cb_t3_config *cfg = &c->m->cfg;
    const int V = cfg->speech_vocab;
    struct cb_t3_gen_params def = cb_t3_gen_default_params();
    if (!gp)
        gp = &def;
    if (n_prompt < 0 || n_text < 0 || gp->max_gen_len < 0 || cap < gp->max_gen_len + 1)
        return VB_ERR_INVALID;
    const int L0 = cb_t3_prefix_len(n_prompt, n_text);
    if (L0 + gp->max_gen_len > c->n_ctx)
        return VB_ERR_TOO_LARGE;

    /* 1. prefill: [spk | prompt | text | START] + wpe[0..L0-1]; the [spk | prompt] rows are
     *    reused from the cache when the last generation had the same conditioning (rows
     *    depend only on earlier rows, so the result is identical) */
    enum vb_err err = cb_t3_embed_prefix(c->m, spk_emb, prompt, n_prompt, text, n_text, c->emb);
    if (err != VB_OK)
        return err;
    const int n_cond = 1 + n_prompt;
    const bool reuse =
        c->cond_rows == n_cond &&
        memcmp(c->cond_spk, spk_emb, (size_t)cfg->spk_dim * sizeof(float)) == 0 &&
        (n_prompt == 0 || memcmp(c->cond_prompt, prompt, (size_t)n_prompt * sizeof(int32_t)) == 0);
    if (reuse) {
        c->n_past = n_cond;
        err =
            cb_t3_forward(c, c->emb + (int64_t)n_cond * cfg->n_embd, L0 - n_cond, NULL, c->logits);
    } else {
        c->cond_rows = 0;
        cb_t3_ctx_reset(c);
        err = cb_t3_forward(c, c->emb, L0, NULL, c->logits);
        if (err == VB_OK) {
            memcpy(c->cond_spk, spk_emb, (size_t)cfg->spk_dim * sizeof(float));
            if (n_prompt > 0)
                memcpy(c->cond_prompt, prompt, (size_t)n_prompt * sizeof(int32_t));
            c->cond_rows = n_cond;
        }
    }
    if (err != VB_OK) {
        c->cond_rows = 0;
        return err;
    }
    const struct nn_sampler_params sp = sampler_params(gp);
    struct nn_sampler *smp = nn_sampler_new(&sp, V);
    if (!smp)
        return VB_ERR_NOMEM;
    nn_sampler_accept(smp, CB_T3_SPEECH_START); /* the penalty history of the first draw only */
    int n = 0;
    for (int step = 0;; step++) {
        if (hooks && hooks->on_logits)
            hooks->on_logits(hooks->user, step, c->logits, V);
        /* 2. process and draw */
        int32_t tok = nn_sampler_sample(smp, c->logits);
        if (tok < 0)
            break; /* every logit removed: stop without a token */
        if (step == 0)
            nn_sampler_forget(smp);
        nn_sampler_accept(smp, tok);
        tokens[n++] = tok;
        if (hooks && hooks->on_token && !hooks->on_token(hooks->user, tok)) {
            err = VB_ERR_CANCELLED;
            break;
        }
        if (tok == CB_T3_SPEECH_STOP || step == gp->max_gen_len)
            break;
        /* 3. next step: speech_emb(tok) at position L0 + step */
        if (!gather_row(c->m->speech_emb, tok, c->emb)) {
            err = VB_ERR_INTERNAL;
            break;
        }
        err = cb_t3_forward(c, c->emb, 1, NULL, c->logits);
        if (err != VB_OK)
            break;
    }
    nn_sampler_free(smp);
    if (err != VB_OK)
        return err;
    if (n > 0 && tokens[n - 1] == CB_T3_SPEECH_STOP)
        n--;
    *n_tokens = n;
    return VB_OK;
}

int cb_t3_max_gen_for_text(int n_text)
{
    if (n_text < 0)
        n_text = 0;
    int64_t lim = 20 * (int64_t)n_text + 75;
    return (int)VB_MIN(lim, (int64_t)CB_T3_DEFAULT_MAX_GEN);
}

int cb_t3_tokens_for_s3gen(const int32_t *tokens, int n, int32_t *out, int cap)
{
    int k = 0;
    for (int i = 0; i < n && k < cap; i++)
        if (tokens[i] >= 0 && tokens[i] < CB_T3_SPEECH_CODES)
            out[k++] = tokens[i];
    for (int i = 0; i < 3 && k < cap; i++)
        out[k++] = CB_T3_SILENCE_TOKEN;
    return k;
}
