/* qwen2.c: Qwen2 forward pass as llama.cpp builds it (specs/gguf-qwen2.md §3): RMSNorm,
 * q/k/v projections with biases, NEOX RoPE, grouped-query attention over an f32 KV cache,
 * output projection, SwiGLU feed-forward, final norm, tied or untied output matrix. */
#include "core/vb.h"
#include "core/err.h"
#include "llm/qwen2.h"
#include "core/alloc.h"
#include "nn/kernels.h"
#include "nn/matmul.h"
#include "nn/ops.h"
#include "nn/load_table.h"
#include "nn/quant.h"

#define ARCH "qwen2"

static bool req_u32(struct gguf_file *g, const char *key, int64_t *out, char *why, size_t cap)
{
    uint32_t v;
    if (!gguf_get_u32(g, key, &v)) {
        vb_failf(why, cap, VB_ERR_FORMAT, "missing or non-integer metadata key '%s'", key);
        return false;
    }
    *out = v;
    return true;
}

/* Looks a tensor up and checks its shape (ne1 = 0 means 1-D) and that it is usable. */
static const struct nn_tensor *get_tensor(struct gguf_file *g, const char *name, int64_t ne0,
                                          int64_t ne1, bool matrix, bool required, char *why,
                                          size_t cap, bool *ok)
{
    const struct nn_tensor *t = gguf_find_tensor(g, name);
    if (!t) {
        if (required) {
            vb_failf(why, cap, VB_ERR_FORMAT, "missing tensor '%s'", name);
            *ok = false;
        }
        return NULL;
    }
    int64_t want1 = ne1 ? ne1 : 1;
    if (t->ne[0] != ne0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1) {
        vb_failf(why, cap, VB_ERR_FORMAT,
                 "tensor '%s' has shape {%lld, %lld, %lld, %lld}, expected {%lld, %lld}", name,
                 (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                 (long long)ne0, (long long)want1);
        *ok = false;
        return NULL;
    }
    if (matrix ? !nn_kernel_for(t->type) : t->type != NN_TYPE_F32) {
        vb_failf(why, cap, VB_ERR_FORMAT, "unsupported tensor type %s (%d) for tensor '%s'",
                 nn_type_name(t->type), (int)t->type, name);
        *ok = false;
        return NULL;
    }
    return t;
}

/* Load-table rows bind GGUF tensors in place (no copies): kinds, sizes in GGUF order. */
enum { QW_VEC = 1, QW_MAT, QW_OPTIONAL = 1 };
enum { SZ_E, SZ_KV, SZ_F, SZ_V };
#define E_                         NN_LT_DIM(SZ_E)
#define KV_                        NN_LT_DIM(SZ_KV)
#define F_                         NN_LT_DIM(SZ_F)
#define V_                         NN_LT_DIM(SZ_V)
#define VEC(T, f, name, n, opt)    NN_LT_ROW(T, f, name, QW_VEC, opt, 1, n)
#define MAT(T, f, name, a, b, opt) NN_LT_ROW(T, f, name, QW_MAT, opt, 2, a, b)

static const struct nn_lt_row model_rows[] = {
    MAT(struct qwen2_model, tok_embd, "token_embd.weight", E_, V_, 0),
    VEC(struct qwen2_model, output_norm, "output_norm.weight", E_, 0),
    MAT(struct qwen2_model, output, "output.weight", E_, V_, QW_OPTIONAL), /* absent: tied */
};

static const struct nn_lt_row layer_rows[] = {
    VEC(struct qwen2_layer, attn_norm, "attn_norm.weight", E_, 0),
    MAT(struct qwen2_layer, wq, "attn_q.weight", E_, E_, 0),
    VEC(struct qwen2_layer, bq, "attn_q.bias", E_, 0),
    MAT(struct qwen2_layer, wk, "attn_k.weight", E_, KV_, 0),
    VEC(struct qwen2_layer, bk, "attn_k.bias", KV_, 0),
    MAT(struct qwen2_layer, wv, "attn_v.weight", E_, KV_, 0),
    VEC(struct qwen2_layer, bv, "attn_v.bias", KV_, 0),
    MAT(struct qwen2_layer, wo, "attn_output.weight", E_, E_, 0),
    VEC(struct qwen2_layer, ffn_norm, "ffn_norm.weight", E_, 0),
    MAT(struct qwen2_layer, w_gate, "ffn_gate.weight", E_, F_, 0),
    MAT(struct qwen2_layer, w_up, "ffn_up.weight", E_, F_, 0),
    MAT(struct qwen2_layer, w_down, "ffn_down.weight", F_, E_, 0),
};

struct gguf_lt {
    struct nn_lt lt; /* first member: bind casts back */
    struct gguf_file *g;
};

/* The load-table hook: points the row's field at the checked GGUF tensor. */
static bool bind(struct nn_lt *lt, const struct nn_lt_row *row, const char *name, int64_t *shape,
                 void *dst)
{
    bool ok = true;
    *(const struct nn_tensor **)dst =
        get_tensor(((struct gguf_lt *)lt)->g, name, shape[0], row->n_dims > 1 ? shape[1] : 0,
                   row->kind == QW_MAT, row->arg != QW_OPTIONAL, lt->why, lt->why_cap, &ok);
    if (!ok)
        lt->err = VB_ERR_FORMAT;
    return ok;
}

/* The architecture check and hyper-parameters; false with the reason in why. */
static bool read_hparams(struct gguf_file *g, struct qwen2_hparams *hp, char *why, size_t cap)
{
    size_t alen;
    const char *arch = gguf_get_str(g, "general.architecture", &alen);
    if (!arch) {
        vb_failf(why, cap, VB_ERR_FORMAT, "missing metadata key 'general.architecture'");
        return false;
    }
    if (alen != strlen(ARCH) || memcmp(arch, ARCH, alen) != 0) {
        vb_failf(why, cap, VB_ERR_FORMAT, "unsupported architecture '%.*s' (expected qwen2)",
                 (int)VB_MIN(alen, 64), arch);
        return false;
    }
    if (!req_u32(g, ARCH ".context_length", &hp->n_ctx_train, why, cap) ||
        !req_u32(g, ARCH ".embedding_length", &hp->n_embd, why, cap) ||
        !req_u32(g, ARCH ".block_count", &hp->n_layer, why, cap) ||
        !req_u32(g, ARCH ".feed_forward_length", &hp->n_ff, why, cap) ||
        !req_u32(g, ARCH ".attention.head_count", &hp->n_head, why, cap))
        return false;
    uint32_t u;
    hp->n_head_kv = gguf_get_u32(g, ARCH ".attention.head_count_kv", &u) ? u : hp->n_head;
    if (!gguf_get_f32(g, ARCH ".attention.layer_norm_rms_epsilon", &hp->rms_eps)) {
        vb_failf(why, cap, VB_ERR_FORMAT,
                 "missing metadata key '" ARCH ".attention.layer_norm_rms_epsilon'");
        return false;
    }
    if (!gguf_get_f32(g, ARCH ".rope.freq_base", &hp->rope_base)) {
        vb_failf(why, cap, VB_ERR_FORMAT, "missing metadata key '" ARCH ".rope.freq_base'");
        return false;
    }
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 ||
        hp->n_head_kv <= 0 || hp->n_layer > 4096 || hp->n_embd > (1 << 20) ||
        hp->n_ff > (1 << 22) || hp->n_embd % hp->n_head != 0 || hp->n_head % hp->n_head_kv != 0) {
        vb_failf(why, cap, VB_ERR_FORMAT,
                 "bad hyper-parameters: n_embd %lld, n_layer %lld, n_ff %lld, n_head %lld, "
                 "n_head_kv %lld",
                 (long long)hp->n_embd, (long long)hp->n_layer, (long long)hp->n_ff,
                 (long long)hp->n_head, (long long)hp->n_head_kv);
        return false;
    }
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->n_embd_kv = hp->n_head_kv * hp->head_dim;
    if (hp->head_dim % 2 != 0 || hp->head_dim > 1024) {
        vb_failf(why, cap, VB_ERR_FORMAT, "head dimension %lld must be even and at most 1024",
                 (long long)hp->head_dim);
        return false;
    }
    if (gguf_get_u32(g, ARCH ".rope.dimension_count", &u) && (int64_t)u != hp->head_dim) {
        vb_failf(why, cap, VB_ERR_FORMAT, ARCH ".rope.dimension_count %u != head dimension %lld", u,
                 (long long)hp->head_dim);
        return false;
    }
    if ((gguf_get_u32(g, ARCH ".attention.key_length", &u) && (int64_t)u != hp->head_dim) ||
        (gguf_get_u32(g, ARCH ".attention.value_length", &u) && (int64_t)u != hp->head_dim)) {
        vb_failf(why, cap, VB_ERR_FORMAT,
                 "attention key/value length differs from n_embd / n_head");
        return false;
    }
    if (!(hp->rms_eps > 0 && hp->rms_eps < 1) || !(hp->rope_base > 1)) {
        vb_failf(why, cap, VB_ERR_FORMAT, "bad rms epsilon %g or rope base %g", (double)hp->rms_eps,
                 (double)hp->rope_base);
        return false;
    }
    return true;
}

enum vb_err qwen2_load_gguf(struct gguf_file *g, struct qwen2_model **out, char *why, size_t cap)
{
    *out = NULL;
    enum vb_err err = VB_ERR_FORMAT;
    struct qwen2_model *m = vb_xcalloc(1, sizeof *m);
    m->gguf = g;
    struct qwen2_hparams *hp = &m->hp;
    if (!read_hparams(g, hp, why, cap))
        goto out;

    const struct nn_tensor *te = gguf_find_tensor(g, "token_embd.weight");
    if (!te) {
        vb_failf(why, cap, VB_ERR_FORMAT, "missing tensor 'token_embd.weight'");
        goto out;
    }
    hp->n_vocab = te->ne[1];
    if (hp->n_vocab <= 0 || hp->n_vocab > (1 << 24)) {
        vb_failf(why, cap, VB_ERR_FORMAT, "bad vocabulary size %lld", (long long)hp->n_vocab);
        goto out;
    }
    struct gguf_lt G = {.lt = {.put = bind, .why = why, .why_cap = cap}, .g = g};
    int64_t sz[NN_LT_MAX_SIZES] = {
        [SZ_E] = hp->n_embd, [SZ_KV] = hp->n_embd_kv, [SZ_F] = hp->n_ff, [SZ_V] = hp->n_vocab};
    if (!nn_lt_load(&G.lt, model_rows, VB_ARRAY_LEN(model_rows), m, sz, NULL, 0))
        goto out;
    m->tied = m->output == NULL;
    if (m->tied)
        m->output = m->tok_embd;
    m->layers = vb_try_calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    for (int l = 0; l < hp->n_layer && !G.lt.err; l++)
        nn_lt_load(&G.lt, layer_rows, VB_ARRAY_LEN(layer_rows), &m->layers[l], sz, "blk.%d.", l);
    if (G.lt.err)
        goto out;
    err = VB_OK;
    *out = m;
out:
    if (err != VB_OK)
        qwen2_free(m);
    return err;
}

enum vb_err qwen2_load(const char *path, struct qwen2_model **out, char *why, size_t cap)
{
    *out = NULL;
    struct gguf_file *g;
    enum vb_err err = gguf_open(path, &g, why, cap);
    if (err != VB_OK)
        return err;
    return qwen2_load_gguf(g, out, why, cap);
}

void qwen2_free(struct qwen2_model *m)
{
    if (!m)
        return;
    gguf_close(m->gguf);
    vb_free(m->layers);
    vb_free(m);
}

/* ===== context ===== */

struct qwen2_ctx {
    const struct qwen2_model *m;
    struct nn_pool *pool;
    bool own_pool;
    int n_ctx, n_batch, n_past;
    void *k_cache, *v_cache; /* (n_layer, n_ctx, n_embd_kv) of kv_type */
    enum nn_type kv_type;    /* NN_TYPE_F32 or NN_TYPE_F16 */
    size_t kv_esz;           /* bytes per cache element */
    float *x;                /* (n_batch, n_embd) residual stream */
    float *xb, *xb2;         /* (n_batch, n_embd) */
    float *q;                /* (n_batch, n_embd) */
    float *k, *v;            /* (n_batch, n_embd_kv) */
    float *att;              /* (n_batch, n_embd) */
    float *hb, *hb2;         /* (n_batch, n_ff) */
    float *work;             /* (n_threads, n_ctx) attention scores */
    struct nn_scratch scratch;
};

struct qwen2_ctx_params qwen2_ctx_default_params(void)
{
    return (struct qwen2_ctx_params){
        .n_ctx = 0, .n_batch = 0, .n_threads = 0, .kv_f16 = false, .pool = NULL};
}

enum vb_err qwen2_ctx_new(const struct qwen2_model *m, const struct qwen2_ctx_params *p,
                          struct qwen2_ctx **out)
{
    *out = NULL;
    const struct qwen2_hparams *hp = &m->hp;
    struct qwen2_ctx *c = vb_xcalloc(1, sizeof *c);
    c->m = m;
    c->n_ctx = p && p->n_ctx > 0 ? p->n_ctx : (int)VB_MIN(4096, hp->n_ctx_train);
    c->n_batch = p && p->n_batch > 0 ? p->n_batch : 256;
    if (c->n_batch > c->n_ctx)
        c->n_batch = c->n_ctx;
    enum vb_err err = VB_OK;
    if (p && p->pool) {
        c->pool = p->pool;
    } else {
        err = nn_pool_new(nn_threads_default(p ? p->n_threads : 0), &c->pool);
        if (err != VB_OK)
            goto out;
        c->own_pool = true;
    }
    int nt = nn_pool_threads(c->pool);
    err = VB_ERR_NOMEM;
    size_t kv = (size_t)hp->n_layer * (size_t)c->n_ctx * (size_t)hp->n_embd_kv;
    size_t B = (size_t)c->n_batch;
    c->kv_type = p && p->kv_f16 ? NN_TYPE_F16 : NN_TYPE_F32;
    c->kv_esz = c->kv_type == NN_TYPE_F16 ? 2 : 4;
    c->k_cache = vb_try_calloc(kv, c->kv_esz);
    c->v_cache = vb_try_calloc(kv, c->kv_esz);
    c->x = vb_try_malloc(B * (size_t)hp->n_embd * sizeof(float));
    c->xb = vb_try_malloc(B * (size_t)hp->n_embd * sizeof(float));
    c->xb2 = vb_try_malloc(B * (size_t)hp->n_embd * sizeof(float));
    c->q = vb_try_malloc(B * (size_t)hp->n_embd * sizeof(float));
    c->att = vb_try_malloc(B * (size_t)hp->n_embd * sizeof(float));
    c->k = vb_try_malloc(B * (size_t)hp->n_embd_kv * sizeof(float));
    c->v = vb_try_malloc(B * (size_t)hp->n_embd_kv * sizeof(float));
    c->hb = vb_try_malloc(B * (size_t)hp->n_ff * sizeof(float));
    c->hb2 = vb_try_malloc(B * (size_t)hp->n_ff * sizeof(float));
    c->work = vb_try_malloc((size_t)nt * ((size_t)c->n_ctx + (size_t)hp->head_dim) * sizeof(float));
    if (!c->k_cache || !c->v_cache || !c->x || !c->xb || !c->xb2 || !c->q || !c->att || !c->k ||
        !c->v || !c->hb || !c->hb2 || !c->work)
        goto out;
    err = VB_OK;
    *out = c;
out:
    if (err != VB_OK)
        qwen2_ctx_free(c);
    return err;
}

void qwen2_ctx_free(struct qwen2_ctx *c)
{
    if (!c)
        return;
    if (c->own_pool)
        nn_pool_free(c->pool);
    vb_free(c->k_cache);
    vb_free(c->v_cache);
    vb_free(c->x);
    vb_free(c->xb);
    vb_free(c->xb2);
    vb_free(c->q);
    vb_free(c->att);
    vb_free(c->k);
    vb_free(c->v);
    vb_free(c->hb);
    vb_free(c->hb2);
    vb_free(c->work);
    nn_scratch_release(&c->scratch);
    vb_free(c);
}

int qwen2_ctx_n_ctx(const struct qwen2_ctx *c)
{
    return c->n_ctx;
}

int qwen2_ctx_n_past(const struct qwen2_ctx *c)
{
    return c->n_past;
}

void qwen2_ctx_truncate(struct qwen2_ctx *c, int n_past)
{
    if (n_past < 0)
        n_past = 0;
    if (n_past < c->n_past)
        c->n_past = n_past;
}

/* The per-token steps between the matmuls of one layer, split over the pool by tokens. */
enum token_step {
    STEP_ATTN_NORM, /* xb = norm(x) */
    STEP_QKV_POST,  /* biases, RoPE, K/V rows into the f16 cache */
    STEP_ATTN_OUT,  /* x += xb2; xb = norm(x) (feed-forward input) */
    STEP_SWIGLU,    /* hb = silu(hb) * hb2 */
    STEP_FFN_OUT,   /* x += xb2 */
};

struct token_job {
    enum token_step step;
    struct qwen2_ctx *c;
    const struct qwen2_layer *L;
    int n;
    int64_t pos0;
    float *kd, *vd;   /* k, v rows of the batch */
    uint8_t *kc, *vc; /* the layer's caches (f16 unless f32) */
};

static void token_worker(void *ctx, int ith, int nth)
{
    const struct token_job *j = ctx;
    struct qwen2_ctx *c = j->c;
    const struct qwen2_hparams *hp = &c->m->hp;
    const struct qwen2_layer *L = j->L;
    const int64_t E = hp->n_embd, KV = hp->n_embd_kv, F = hp->n_ff;
    for (int t = ith; t < j->n; t += nth) {
        float *x = c->x + t * E, *xb = c->xb + t * E;
        switch (j->step) {
        case STEP_ATTN_NORM:
            nn_rms_norm(xb, x, L->attn_norm->data, E, hp->rms_eps);
            break;
        case STEP_QKV_POST: {
            float *q = c->q + t * E, *k = j->kd + t * KV, *v = j->vd + t * KV;
            nn_add(q, L->bq->data, E);
            nn_add(k, L->bk->data, KV);
            nn_add(v, L->bv->data, KV);
            /* rotary position embedding (NEOX halves) */
            nn_rope(q, (int)hp->n_head, (int)hp->head_dim, (int)hp->head_dim, j->pos0 + t,
                    hp->rope_base, NN_ROPE_NEOX);
            nn_rope(k, (int)hp->n_head_kv, (int)hp->head_dim, (int)hp->head_dim, j->pos0 + t,
                    hp->rope_base, NN_ROPE_NEOX);
            if (c->kv_type != NN_TYPE_F32) {
                nn_quantize_row_f16(k, j->kc + (size_t)(j->pos0 + t) * (size_t)KV * 2, KV);
                nn_quantize_row_f16(v, j->vc + (size_t)(j->pos0 + t) * (size_t)KV * 2, KV);
            }
            break;
        }
        case STEP_ATTN_OUT:
            nn_add(x, c->xb2 + t * E, E);
            nn_rms_norm(xb, x, L->ffn_norm->data, E, hp->rms_eps);
            break;
        case STEP_SWIGLU:
            nn_swiglu(c->hb + t * F, c->hb2 + t * F, F);
            break;
        case STEP_FFN_OUT:
            nn_add(x, c->xb2 + t * E, E);
            break;
        }
    }
}

static void token_step(struct token_job *j, enum token_step step)
{
    j->step = step;
    if (j->n > 1)
        nn_pool_run(j->c->pool, token_worker, j);
    else
        token_worker(j, 0, 1);
}

/* One batch of n <= n_batch tokens at positions n_past.. */
static enum vb_err eval_batch(struct qwen2_ctx *c, const int32_t *tok, int n, float *logits,
                              bool all)
{
    const struct qwen2_model *m = c->m;
    const struct qwen2_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, KV = hp->n_embd_kv, F = hp->n_ff;
    const int64_t pos0 = c->n_past;
    struct nn_pool *pool = c->pool;
    struct nn_scratch *s = &c->scratch;

    /* 1. token embeddings */
    for (int t = 0; t < n; t++)
        if (!nn_get_row(m->tok_embd, tok[t], c->x + t * E))
            return VB_ERR_INVALID;

    for (int64_t l = 0; l < hp->n_layer; l++) {
        const struct qwen2_layer *L = &m->layers[l];
        const size_t layer_bytes = (size_t)c->n_ctx * (size_t)KV * c->kv_esz;
        uint8_t *kc = (uint8_t *)c->k_cache + (size_t)l * layer_bytes;
        uint8_t *vc = (uint8_t *)c->v_cache + (size_t)l * layer_bytes;
        const bool f32 = c->kv_type == NN_TYPE_F32;
        /* k, v rows: straight into an f32 cache, else through scratch and converted */
        float *kd = f32 ? (float *)kc + pos0 * KV : c->k;
        float *vd = f32 ? (float *)vc + pos0 * KV : c->v;
        struct token_job tj = {
            .c = c, .L = L, .n = n, .pos0 = pos0, .kd = kd, .vd = vd, .kc = kc, .vc = vc};
        /* 2. attention norm */
        token_step(&tj, STEP_ATTN_NORM);
        /* 3. q, k, v projections, biases, RoPE */
        if (!nn_matmul(pool, s, L->wq, c->xb, n, c->q, E) ||
            !nn_matmul(pool, s, L->wk, c->xb, n, kd, KV) ||
            !nn_matmul(pool, s, L->wv, c->xb, n, vd, KV))
            return VB_ERR_NOMEM;
        token_step(&tj, STEP_QKV_POST);
        /* 4. causal grouped-query attention */
        nn_attention_kv(pool, s, c->q, n, pos0, kc, vc, c->kv_type, KV, (int)hp->n_head,
                        (int)hp->n_head_kv, (int)hp->head_dim, c->att, c->work);
        /* 5. output projection, residual, feed-forward norm */
        if (!nn_matmul(pool, s, L->wo, c->att, n, c->xb2, E))
            return VB_ERR_NOMEM;
        token_step(&tj, STEP_ATTN_OUT);
        /* 6. feed-forward: down(silu(gate(h)) * up(h)) and residual */
        if (!nn_matmul(pool, s, L->w_gate, c->xb, n, c->hb, F) ||
            !nn_matmul(pool, s, L->w_up, c->xb, n, c->hb2, F))
            return VB_ERR_NOMEM;
        token_step(&tj, STEP_SWIGLU);
        if (!nn_matmul(pool, s, L->w_down, c->hb, n, c->xb2, E))
            return VB_ERR_NOMEM;
        token_step(&tj, STEP_FFN_OUT);
    }
    c->n_past += n;
    if (!logits)
        return VB_OK;
    /* 7. final norm and output matrix (all rows, or only the last token's) */
    int first = all ? 0 : n - 1;
    for (int t = first; t < n; t++)
        nn_rms_norm(c->xb + t * E, c->x + t * E, m->output_norm->data, E, hp->rms_eps);
    if (!nn_matmul(pool, s, m->output, c->xb + first * E, n - first, logits, hp->n_vocab))
        return VB_ERR_NOMEM;
    return VB_OK;
}

enum vb_err qwen2_eval(struct qwen2_ctx *c, const int32_t *tokens, int n, float *logits, bool all)
{
    if (n <= 0)
        return VB_ERR_INVALID;
    if (n > c->n_ctx - c->n_past)
        return VB_ERR_TOO_LARGE;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->m->hp.n_vocab)
            return VB_ERR_INVALID;
    for (int done = 0; done < n;) {
        int b = VB_MIN(c->n_batch, n - done);
        bool last = done + b == n;
        float *lo = NULL;
        if (logits && all)
            lo = logits + (size_t)done * (size_t)c->m->hp.n_vocab;
        else if (logits && last)
            lo = logits;
        enum vb_err err = eval_batch(c, tokens + done, b, lo, all);
        if (err != VB_OK)
            return err;
        done += b;
    }
    return VB_OK;
}
