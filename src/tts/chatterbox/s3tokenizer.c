/* s3tokenizer.c: S3Tokenizer V2 forward pass (conv front, rotary+FSMN transformer blocks,
 * FSQ codes) on time-major activations. */
#include "core/vb.h"
#include "tts/chatterbox/s3tokenizer.h"

#include <math.h>

#include "core/alloc.h"
#include "nn/attention.h"
#include "nn/ops.h"
#include "tts/chatterbox/s3_ops.h"

#define FSMN_MAX_K   63
#define ROPE_MAX_POS 2048 /* the reference's precomputed table: 1024 * 2 positions */
#define FSQ_DIMS     8
#define MAX_LAYERS   64
#define FSQ_SCALE    0.9990000128746033f

struct s3tok_block {
    const float *attn_ln_w, *attn_ln_b; /* (S) */
    const float *mlp_ln_w, *mlp_ln_b;   /* (S) */
    struct s3_linear q, k, v, o;        /* S -> S; k without bias */
    const float *fsmn;                  /* (S, fsmn_k) depthwise kernel */
    struct s3_linear mlp0, mlp2;        /* S -> 4S -> S */
};

struct cb_s3tok {
    struct s3_wstore ws;
    int n_mels, n_state, n_head, n_layer, n_mlp, fsmn_k;
    struct s3_conv conv1, conv2; /* k 3, stride 2, pad 1 */
    struct s3tok_block *blocks;  /* n_layer */
    struct s3_linear proj;       /* S -> 8 */
    const float *mel_filters;    /* (n_mels, 201) or NULL */
    const float *window;         /* (400) or NULL */
    float *rope_cos, *rope_sin;  /* (ROPE_MAX_POS, 64) */
    bool attn_bf16;              /* attention products in bf16 (weights_bf16) */
};

void cb_s3tok_free(struct cb_s3tok *tok)
{
    if (!tok)
        return;
    s3_wstore_release(&tok->ws);
    vb_free(tok->blocks);
    vb_free(tok->rope_cos);
    vb_free(tok->rope_sin);
    vb_free(tok);
}

static void rope_tables(float *cosv, float *sinv)
{
    /* As the reference: freqs in f32, angle = t * freq in f32, table [cos.., cos..]. */
    const int half = CB_S3TOK_HEAD_DIM / 2;
    float freqs[CB_S3TOK_HEAD_DIM / 2];
    for (int j = 0; j < half; j++)
        freqs[j] = 1.0f / powf(10000.0f, (float)(2 * j) / (float)CB_S3TOK_HEAD_DIM);
    for (int t = 0; t < ROPE_MAX_POS; t++) {
        float *c = cosv + (size_t)t * CB_S3TOK_HEAD_DIM;
        float *s = sinv + (size_t)t * CB_S3TOK_HEAD_DIM;
        for (int j = 0; j < half; j++) {
            float a = (float)t * freqs[j];
            c[j] = c[j + half] = cosf(a);
            s[j] = s[j + half] = sinf(a);
        }
    }
}

void cb_s3tok_default_config(struct cb_s3tok_config *cfg)
{
    cfg->weights_f16 = false;
    cfg->weights_bf16 = false;
}

/* Sizes the tables refer to (NN_LT_DIM); K and MLP are bound by block 0. */
enum { SZ_S, SZ_K, SZ_MLP, SZ_MELS, SZ_COUNT };

static const struct nn_lt_row block_rows[] = {
    S3_VEC(struct s3tok_block, attn_ln_w, "attn_ln.weight", NN_LT_DIM(SZ_S)),
    S3_VEC(struct s3tok_block, attn_ln_b, "attn_ln.bias", NN_LT_DIM(SZ_S)),
    S3_VEC(struct s3tok_block, mlp_ln_w, "mlp_ln.weight", NN_LT_DIM(SZ_S)),
    S3_VEC(struct s3tok_block, mlp_ln_b, "mlp_ln.bias", NN_LT_DIM(SZ_S)),
    S3_LIN(struct s3tok_block, q, "attn.query", NN_LT_DIM(SZ_S), NN_LT_DIM(SZ_S), true),
    S3_LIN(struct s3tok_block, k, "attn.key", NN_LT_DIM(SZ_S), NN_LT_DIM(SZ_S), false),
    S3_LIN(struct s3tok_block, v, "attn.value", NN_LT_DIM(SZ_S), NN_LT_DIM(SZ_S), true),
    S3_LIN(struct s3tok_block, o, "attn.out", NN_LT_DIM(SZ_S), NN_LT_DIM(SZ_S), true),
    NN_LT_ROW(struct s3tok_block, fsmn, "attn.fsmn_block.weight", NN_LT_F32, 0, 3, NN_LT_DIM(SZ_S),
              1, NN_LT_DIM(SZ_K)),
    S3_LIN(struct s3tok_block, mlp0, "mlp.0", NN_LT_DIM(SZ_MLP), NN_LT_DIM(SZ_S), true),
    S3_LIN(struct s3tok_block, mlp2, "mlp.2", NN_LT_DIM(SZ_S), NN_LT_DIM(SZ_MLP), true),
};

static const struct nn_lt_row front_rows[] = {
    S3_CONV(struct cb_s3tok, conv1, "encoder.conv1", NN_LT_FREE, NN_LT_FREE, 3, 2),
};
static const struct nn_lt_row conv2_rows[] = {
    S3_CONV(struct cb_s3tok, conv2, "encoder.conv2", NN_LT_DIM(SZ_S), NN_LT_DIM(SZ_S), 3, 2),
};
static const struct nn_lt_row proj_rows[] = {
    S3_LIN(struct cb_s3tok, proj, "quantizer._codebook.project_down", FSQ_DIMS, NN_LT_DIM(SZ_S),
           true),
};
static const struct nn_lt_row mel_rows[] = {
    S3_MAT(struct cb_s3tok, mel_filters, "_mel_filters", NN_LT_DIM(SZ_MELS),
           CB_S3TOK_N_FFT / 2 + 1),
};
static const struct nn_lt_row window_rows[] = {
    S3_VEC(struct cb_s3tok, window, "window", CB_S3TOK_N_FFT),
};

#define LOAD(L, rows, base, sz, group, i)                                                          \
    nn_lt_load(&(L)->lt, rows, VB_ARRAY_LEN(rows), base, sz, group, i)

enum vb_err cb_s3tok_load(const struct nn_safetensors *st, const char *prefix,
                          const struct cb_s3tok_config *cfg, struct cb_s3tok **out, char *why,
                          size_t why_cap)
{
    enum vb_err err = VB_OK;
    *out = NULL;
    if (why && why_cap)
        why[0] = '\0';
    struct cb_s3tok *tok = vb_try_calloc(1, sizeof *tok);
    if (!tok)
        return VB_ERR_NOMEM;
    struct s3_loader L;
    s3_loader_init(&L, st, prefix, &tok->ws, why, why_cap);
    L.f16 = cfg && cfg->weights_f16;
    L.bf16 = cfg && cfg->weights_bf16;
    int64_t sz[NN_LT_MAX_SIZES] = {[SZ_K] = -1, [SZ_MLP] = -1};

    /* Front convolutions: sizes from conv1 [S, n_mels, 3]. */
    if (!LOAD(&L, front_rows, tok, sz, NULL, 0))
        goto fail;
    tok->n_mels = tok->conv1.c_in;
    tok->n_state = tok->conv1.c_out;
    if (tok->n_state % CB_S3TOK_HEAD_DIM) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT,
                       "%sencoder.conv1: state width %d is not a multiple of %d", L.lt.prefix,
                       tok->n_state, CB_S3TOK_HEAD_DIM);
        goto out;
    }
    tok->n_head = tok->n_state / CB_S3TOK_HEAD_DIM;
    sz[SZ_S] = tok->n_state;
    sz[SZ_MELS] = tok->n_mels;
    if (!LOAD(&L, conv2_rows, tok, sz, NULL, 0))
        goto fail;

    tok->n_layer = s3_count_indexed(&L, "encoder.blocks.", MAX_LAYERS);
    if (tok->n_layer == 0 || tok->n_layer > MAX_LAYERS) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT, "%s%sencoder.blocks.0.attn.query.weight",
                       tok->n_layer ? "too many layers: " : "missing tensor ", L.lt.prefix);
        goto out;
    }
    tok->blocks = vb_try_calloc((size_t)tok->n_layer, sizeof *tok->blocks);
    if (!tok->blocks) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    for (int l = 0; l < tok->n_layer; l++) {
        if (!LOAD(&L, block_rows, &tok->blocks[l], sz, "encoder.blocks.%d.", l))
            goto fail;
        if (l == 0 && (sz[SZ_K] < 1 || sz[SZ_K] > FSMN_MAX_K)) {
            err = vb_failf(why, why_cap, VB_ERR_FORMAT,
                           "%sencoder.blocks.0.attn.fsmn_block.weight: bad kernel %d", L.lt.prefix,
                           (int)sz[SZ_K]);
            goto out;
        }
    }
    tok->fsmn_k = (int)sz[SZ_K];
    tok->n_mlp = (int)sz[SZ_MLP];
    LOAD(&L, proj_rows, tok, sz, NULL, 0);
    if (s3_find(&L, "_mel_filters"))
        LOAD(&L, mel_rows, tok, sz, NULL, 0);
    if (s3_find(&L, "window"))
        LOAD(&L, window_rows, tok, sz, NULL, 0);
    if (L.lt.err)
        goto fail;

    tok->attn_bf16 = cfg && cfg->weights_bf16;
    tok->rope_cos = vb_try_malloc((size_t)ROPE_MAX_POS * CB_S3TOK_HEAD_DIM * sizeof(float));
    tok->rope_sin = vb_try_malloc((size_t)ROPE_MAX_POS * CB_S3TOK_HEAD_DIM * sizeof(float));
    if (!tok->rope_cos || !tok->rope_sin) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    rope_tables(tok->rope_cos, tok->rope_sin);
    *out = tok;
    return VB_OK;
fail:
    err = L.lt.err ? L.lt.err : VB_ERR_FORMAT;
out:
    cb_s3tok_free(tok);
    return err;
}

void cb_s3tok_get_info(const struct cb_s3tok *tok, struct cb_s3tok_info *info)
{
    info->n_mels = tok->n_mels;
    info->n_state = tok->n_state;
    info->n_head = tok->n_head;
    info->n_layer = tok->n_layer;
}

const float *cb_s3tok_mel_filters(const struct cb_s3tok *tok)
{
    return tok->mel_filters;
}

const float *cb_s3tok_window(const struct cb_s3tok *tok)
{
    return tok->window;
}

int cb_s3tok_n_tokens(int n_frames)
{
    if (n_frames <= 0)
        return 0;
    int t1 = (n_frames - 1) / 2 + 1;
    return (t1 - 1) / 2 + 1;
}

/* m = v + depthwise_conv(v) over time, zero padding (k-1)/2 left and the rest right. */
static void fsmn(float *m, const float *v, const float *w, int T, int S, int K)
{
    const int pl = (K - 1) / 2;
    for (int t = 0; t < T; t++) {
        float *mr = m + (size_t)t * (size_t)S;
        memcpy(mr, v + (size_t)t * (size_t)S, (size_t)S * sizeof *mr);
        for (int kk = 0; kk < K; kk++) {
            int s = t + kk - pl;
            if (s < 0 || s >= T)
                continue;
            const float *vr = v + (size_t)s * (size_t)S;
            for (int c = 0; c < S; c++)
                mr[c] += w[(size_t)c * (size_t)K + (size_t)kk] * vr[c];
        }
    }
}

enum vb_err cb_s3tok_encode(const struct cb_s3tok *tok, struct nn_pool *pool, const float *log_mel,
                            int n_frames, int max_tokens, int64_t *tokens, int cap, int *n_out,
                            const struct cb_s3tok_debug *dbg)
{
    enum vb_err err = VB_OK;
    struct s3_ctx ctx = {.pool = pool};
    float *buf = NULL, *work = NULL;
    *n_out = 0;
    if (!log_mel || n_frames <= 0 || max_tokens < 0)
        return VB_ERR_INVALID;
    int T0 = n_frames;
    if (max_tokens > 0 && T0 > 4 * max_tokens)
        T0 = 4 * max_tokens;
    if (T0 > CB_S3TOK_MAX_FRAMES)
        return VB_ERR_TOO_LARGE;
    const int S = tok->n_state, M = tok->n_mels, F = tok->n_mlp;
    const int T1 = s3_conv_out_len(&tok->conv1, T0, 1, 1);
    const int T = s3_conv_out_len(&tok->conv2, T1, 1, 1);
    if (T != cb_s3tok_n_tokens(T0) || T > ROPE_MAX_POS)
        return VB_ERR_INTERNAL;
    if (cap < T)
        return VB_ERR_INVALID;

    /* One allocation for every activation of this call. */
    size_t n_mel = (size_t)T0 * (size_t)M, n_c1 = (size_t)T1 * (size_t)S;
    size_t n_ts = (size_t)T * (size_t)S, n_h = (size_t)T * (size_t)F;
    size_t total = n_mel + n_c1 + 7 * n_ts + n_h + (size_t)T * FSQ_DIMS;
    buf = vb_try_malloc(total * sizeof *buf);
    struct nn_mha a = {.n_q = T,
                       .n_kv = T,
                       .n_head = tok->n_head,
                       .head_dim = CB_S3TOK_HEAD_DIM,
                       .bf16 = tok->attn_bf16};
    work = vb_try_malloc(nn_mha_work_floats(&a, nn_pool_threads(pool)) * sizeof *work);
    if (!buf || !work) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    float *mel = buf;        /* (T0, M) */
    float *c1 = mel + n_mel; /* (T1, S) */
    float *x = c1 + n_c1;    /* (T, S) residual stream */
    float *an = x + n_ts;    /* (T, S) normed input */
    float *q = an + n_ts, *k = q + n_ts, *v = k + n_ts;
    float *att = v + n_ts;   /* (T, S) */
    float *mem = att + n_ts; /* (T, S) fsmn memory, then block output */
    float *hid = mem + n_ts; /* (T, F) */
    float *pd = hid + n_h;   /* (T, 8) */

    /* 1. conv front: (M, T0) -> (T0, M) -> conv1 + GELU -> conv2 + GELU */
    for (int c = 0; c < M; c++)
        for (int t = 0; t < T0; t++)
            mel[(size_t)t * (size_t)M + (size_t)c] =
                log_mel[(size_t)c * (size_t)n_frames + (size_t)t];
    if (!s3_conv_fwd(&ctx, &tok->conv1, mel, M, T0, 1, 1, c1))
        goto oom;
    s3_act_rows(&ctx, c1, T1, S, S3_ACT_GELU_ERF);
    if (!s3_conv_fwd(&ctx, &tok->conv2, c1, S, T1, 1, 1, x))
        goto oom;
    s3_act_rows(&ctx, x, T, S, S3_ACT_GELU_ERF);

    /* 2. transformer blocks */
    for (int l = 0; l < tok->n_layer; l++) {
        const struct s3tok_block *b = &tok->blocks[l];
        s3_layer_norm_par(&ctx, an, x, T, S, S, b->attn_ln_w, b->attn_ln_b, 1e-6f);
        if (!s3_linear_fwd(&ctx, &b->q, an, T, q, S) || !s3_linear_fwd(&ctx, &b->k, an, T, k, S) ||
            !s3_linear_fwd(&ctx, &b->v, an, T, v, S))
            goto oom;
        fsmn(mem, v, b->fsmn, T, S, tok->fsmn_k);
        for (int t = 0; t < T; t++) {
            const float *cs = tok->rope_cos + (size_t)t * CB_S3TOK_HEAD_DIM;
            const float *sn = tok->rope_sin + (size_t)t * CB_S3TOK_HEAD_DIM;
            nn_rotary_half(q + (size_t)t * (size_t)S, tok->n_head, CB_S3TOK_HEAD_DIM, cs, sn);
            nn_rotary_half(k + (size_t)t * (size_t)S, tok->n_head, CB_S3TOK_HEAD_DIM, cs, sn);
        }
        a.q = q, a.k = k, a.v = v, a.out = att;
        a.ldq = a.ldk = a.ldv = a.ldo = S;
        a.scale = 1.0f / sqrtf((float)CB_S3TOK_HEAD_DIM);
        nn_mha(pool, &a, work);
        if (!s3_linear_fwd(&ctx, &b->o, att, T, an, S))
            goto oom;
        for (size_t i = 0; i < n_ts; i++)
            x[i] += an[i] + mem[i];
        s3_layer_norm_par(&ctx, an, x, T, S, S, b->mlp_ln_w, b->mlp_ln_b, 1e-5f);
        if (!s3_linear_fwd(&ctx, &b->mlp0, an, T, hid, F))
            goto oom;
        s3_act_rows(&ctx, hid, T, F, S3_ACT_GELU_ERF);
        if (!s3_linear_fwd(&ctx, &b->mlp2, hid, T, mem, S))
            goto oom;
        nn_add(x, mem, (int64_t)n_ts);
    }
    if (dbg && dbg->encoder_out)
        memcpy(dbg->encoder_out, x, n_ts * sizeof *x);

    /* 3. FSQ: digit i = round_half_even(0.999 * tanh(h_i)) + 1, code = sum digit_i * 3^i */
    if (!s3_linear_fwd(&ctx, &tok->proj, x, T, pd, FSQ_DIMS))
        goto oom;
    if (dbg && dbg->project_down)
        memcpy(dbg->project_down, pd, (size_t)T * FSQ_DIMS * sizeof *pd);
    for (int t = 0; t < T; t++) {
        int64_t code = 0, pw = 1;
        for (int i = 0; i < FSQ_DIMS; i++) {
            float h = tanhf(pd[(size_t)t * FSQ_DIMS + (size_t)i]) * FSQ_SCALE;
            code += ((int64_t)nearbyintf(h) + 1) * pw;
            pw *= 3;
        }
        tokens[t] = code;
    }
    *n_out = T;
    goto out;
oom:
    err = VB_ERR_NOMEM;
out:
    s3_ctx_release(&ctx);
    vb_free(buf);
    vb_free(work);
    return err;
}

struct cb_s3tok_shape cb_s3tok_real_shape(void)
{
    struct cb_s3tok_shape s = {.n_mels = 128, .n_state = 1280, .n_layer = 6, .fsmn_k = 31};
    return s;
}

enum vb_err cb_s3tok_add_random(struct nn_st_writer *w, const char *prefix,
                                const struct cb_s3tok_shape *sh, uint64_t seed)
{
    if (!w || !sh || sh->n_mels < 1 || sh->n_state < CB_S3TOK_HEAD_DIM ||
        sh->n_state % CB_S3TOK_HEAD_DIM || sh->n_layer < 1 || sh->fsmn_k < 1 ||
        sh->fsmn_k > FSMN_MAX_K)
        return VB_ERR_INVALID;
    struct s3_rnd r = {.w = w, .prefix = prefix ? prefix : "", .seed = seed};
    const int64_t S = sh->n_state, M = sh->n_mels, F = 4 * S;
    const float as = 1.0f / sqrtf((float)S), af = 1.0f / sqrtf((float)F);
    s3_rnd_add(&r, 2, (int64_t[]){M, CB_S3TOK_N_FFT / 2 + 1}, 0.01f, "_mel_filters");
    s3_rnd_add(&r, 1, (int64_t[]){CB_S3TOK_N_FFT}, 1.0f, "window");
    s3_rnd_add(&r, 3, (int64_t[]){S, M, 3}, 1.0f / sqrtf((float)(3 * M)), "encoder.conv1.weight");
    s3_rnd_add(&r, 1, (int64_t[]){S}, 0.02f, "encoder.conv1.bias");
    s3_rnd_add(&r, 3, (int64_t[]){S, S, 3}, 1.0f / sqrtf((float)(3 * S)), "encoder.conv2.weight");
    s3_rnd_add(&r, 1, (int64_t[]){S}, 0.02f, "encoder.conv2.bias");
    for (int l = 0; l < sh->n_layer; l++) {
        static const char *const lin[] = {"query", "key", "value", "out"};
        for (int i = 0; i < 4; i++) {
            s3_rnd_add(&r, 2, (int64_t[]){S, S}, as, "encoder.blocks.%d.attn.%s.weight", l, lin[i]);
            if (i != 1) /* key has no bias */
                s3_rnd_add(&r, 1, (int64_t[]){S}, as, "encoder.blocks.%d.attn.%s.bias", l, lin[i]);
        }
        s3_rnd_add(&r, 3, (int64_t[]){S, 1, sh->fsmn_k}, 1.0f / sqrtf((float)sh->fsmn_k),
                   "encoder.blocks.%d.attn.fsmn_block.weight", l);
        s3_rnd_add(&r, 1, (int64_t[]){S}, S3_RND_ONE, "encoder.blocks.%d.attn_ln.weight", l);
        s3_rnd_add(&r, 1, (int64_t[]){S}, S3_RND_ZERO, "encoder.blocks.%d.attn_ln.bias", l);
        s3_rnd_add(&r, 1, (int64_t[]){S}, S3_RND_ONE, "encoder.blocks.%d.mlp_ln.weight", l);
        s3_rnd_add(&r, 1, (int64_t[]){S}, S3_RND_ZERO, "encoder.blocks.%d.mlp_ln.bias", l);
        s3_rnd_add(&r, 2, (int64_t[]){F, S}, as, "encoder.blocks.%d.mlp.0.weight", l);
        s3_rnd_add(&r, 1, (int64_t[]){F}, as, "encoder.blocks.%d.mlp.0.bias", l);
        s3_rnd_add(&r, 2, (int64_t[]){S, F}, af, "encoder.blocks.%d.mlp.2.weight", l);
        s3_rnd_add(&r, 1, (int64_t[]){S}, af, "encoder.blocks.%d.mlp.2.bias", l);
    }
    s3_rnd_add(&r, 2, (int64_t[]){FSQ_DIMS, S}, 4 * as, "quantizer._codebook.project_down.weight");
    s3_rnd_add(&r, 1, (int64_t[]){FSQ_DIMS}, as, "quantizer._codebook.project_down.bias");
    return r.err;
}
