/* s3gen_flow.c: S3Gen flow (CausalMaskedDiffWithXvec, meanflow) forward pass on time-major
 * activations: token embedding -> UpsampleConformerEncoder -> encoder_proj (mu) -> Euler
 * steps over the ConditionalDecoder estimator. */
#include "core/vb.h"
#include "tts/chatterbox/s3gen_flow.h"

#include <math.h>

#include "audio/dsp.h"
#include "core/alloc.h"
#include "nn/attention.h"
#include "nn/gemm.h"
#include "nn/ops.h"
#include "tts/chatterbox/s3_ops.h"
#include "tts/chatterbox/s3gen_flow_internal.h"

/* ---- per-request state ---- */

struct arena {
    float *p;
    size_t cap, used;
};

struct cb_flow_state {
    const struct cb_flow *f;
    struct s3_ctx ctx;
    struct arena enc, est, inf;
    float *work; /* attention scratch */
    size_t work_cap;
};

enum vb_err cb_flow_state_new(const struct cb_flow *f, struct nn_pool *pool,
                              struct cb_flow_state **out)
{
    struct cb_flow_state *s = vb_try_calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return VB_ERR_NOMEM;
    s->f = f;
    s->ctx.pool = pool;
    *out = s;
    return VB_OK;
}

void cb_flow_state_free(struct cb_flow_state *s)
{
    if (!s)
        return;
    s3_ctx_release(&s->ctx);
    vb_free(s->enc.p);
    vb_free(s->est.p);
    vb_free(s->inf.p);
    vb_free(s->work);
    vb_free(s);
}

static bool arena_reserve(struct arena *a, size_t n)
{
    a->used = 0;
    if (n <= a->cap)
        return true;
    float *p = vb_try_malloc(n * sizeof *p);
    if (!p)
        return false;
    vb_free(a->p);
    a->p = p;
    a->cap = n;
    return true;
}

static float *arena_take(struct arena *a, size_t n)
{
    float *p = a->p + a->used;
    a->used += n;
    return p;
}

static bool work_reserve(struct cb_flow_state *s, const struct nn_mha *m)
{
    size_t n = nn_mha_work_floats(m, nn_pool_threads(s->ctx.pool));
    if (n <= s->work_cap)
        return true;
    float *p = vb_try_malloc(n * sizeof *p);
    if (!p)
        return false;
    vb_free(s->work);
    s->work = p;
    s->work_cap = n;
    return true;
}

void cb_flow_speaker(const struct cb_flow *f, const float *xvec, float *spks)
{
    double ss = 0;
    for (int i = 0; i < CB_FLOW_SPK_DIM; i++)
        ss += (double)xvec[i] * xvec[i];
    float nrm = (float)sqrt(ss);
    float inv = 1.0f / (nrm > 1e-12f ? nrm : 1e-12f);
    float xn[CB_FLOW_SPK_DIM];
    for (int i = 0; i < CB_FLOW_SPK_DIM; i++)
        xn[i] = xvec[i] * inv;
    struct s3_ctx ctx = {0};
    if (!s3_linear_fwd(&ctx, &f->spk, xn, 1, spks, CB_FLOW_N_MELS)) /* F32: cannot fail */
        memset(spks, 0, CB_FLOW_N_MELS * sizeof *spks);
}

/* ---- encoder ---- */

/* ESPnet relative table for length L: 2L-1 rows, row r <-> offset m = L-1-r, computed in f32
 * like the reference: PE(m)[2c] = sin(m w_c), PE(m)[2c+1] = cos(m w_c). */
static void rel_pos_table(float *pe, int L, int D)
{
    const float k = (float)(-(log(10000.0) / (double)D));
    for (int r = 0; r < 2 * L - 1; r++) {
        int m = L - 1 - r;
        float pos = (float)(m < 0 ? -m : m);
        float *row = pe + (size_t)r * (size_t)D;
        for (int c = 0; c < D / 2; c++) {
            float w = expf((float)(2 * c) * k);
            float a = pos * w;
            float sn = sinf(a), cs = cosf(a);
            row[2 * c] = m < 0 ? -sn : sn;
            row[2 * c + 1] = cs;
        }
    }
}

struct enc_bufs {
    float *x, *an, *q, *k, *v, *att, *tmp; /* (T, D) */
    float *pe, *p;                         /* (2T-1, D) */
    float *hid;                            /* (T, FF) */
};

static bool conformer_fwd(struct cb_flow_state *s, const struct conformer *c, struct enc_bufs *b,
                          int T)
{
    const struct cb_flow_info *in = &s->f->info;
    const int D = in->d_model, H = in->enc_heads;
    const size_t n = (size_t)T * (size_t)D;
    struct s3_ctx *ctx = &s->ctx;
    s3_layer_norm_par(ctx, b->an, b->x, T, D, D, c->norm_mha_w, c->norm_mha_b, 1e-12f);
    if (!s3_linear_fwd(ctx, &c->q, b->an, T, b->q, D) ||
        !s3_linear_fwd(ctx, &c->k, b->an, T, b->k, D) ||
        !s3_linear_fwd(ctx, &c->v, b->an, T, b->v, D) ||
        !s3_linear_fwd(ctx, &c->pos, b->pe, 2 * T - 1, b->p, D))
        return false;
    struct nn_mha m = {
        .q = b->q,
        .k = b->k,
        .v = b->v,
        .ldq = D,
        .ldk = D,
        .ldv = D,
        .out = b->att,
        .ldo = D,
        .n_q = T,
        .n_kv = T,
        .n_head = H,
        .head_dim = D / H,
        .scale = 1.0f / sqrtf((float)(D / H)),
        .bias_u = c->bias_u,
        .rel = b->p,
        .ld_rel = D,
        .bias_v = c->bias_v,
        .bf16 = s->f->attn_bf16,
    };
    if (!work_reserve(s, &m))
        return false;
    nn_mha(ctx->pool, &m, s->work);
    if (!s3_linear_fwd(ctx, &c->out, b->att, T, b->tmp, D))
        return false;
    nn_add(b->x, b->tmp, (int64_t)n);
    s3_layer_norm_par(ctx, b->an, b->x, T, D, D, c->norm_ff_w, c->norm_ff_b, 1e-12f);
    if (!s3_linear_fwd(ctx, &c->w1, b->an, T, b->hid, in->enc_ffn))
        return false;
    s3_act_rows(ctx, b->hid, T, in->enc_ffn, S3_ACT_SILU);
    if (!s3_linear_fwd(ctx, &c->w2, b->hid, T, b->tmp, D))
        return false;
    nn_add(b->x, b->tmp, (int64_t)n);
    return true;
}

/* Linear -> LayerNorm(1e-5) -> x sqrt(D) (LinearNoSubsampling + EspnetRelPositionalEncoding) */
static bool embed_fwd(struct cb_flow_state *s, const struct s3_linear *lin, const float *ln_w,
                      const float *ln_b, const float *in, int T, float *outp)
{
    const int D = s->f->info.d_model;
    if (!s3_linear_fwd(&s->ctx, lin, in, T, outp, D))
        return false;
    s3_layer_norm_par(&s->ctx, outp, outp, T, D, D, ln_w, ln_b, 1e-5f);
    const float xscale = (float)sqrt((double)D);
    for (size_t i = 0; i < (size_t)T * (size_t)D; i++)
        outp[i] *= xscale;
    return true;
}

/* Encoder over n tokens; leaves (2n, D) after after_norm in b->x. */
static enum vb_err encode_internal(const struct cb_flow *f, struct cb_flow_state *s,
                                   const int64_t *tokens, int n, struct enc_bufs *b)
{
    const struct cb_flow_info *in = &f->info;
    const int D = in->d_model, T = CB_FLOW_TOKEN_MEL * n;
    if (n <= 0 || n > CB_FLOW_MAX_TOKENS)
        return VB_ERR_INVALID;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= CB_FLOW_VOCAB)
            return VB_ERR_INVALID;
    const size_t td = (size_t)T * (size_t)D, pd = (size_t)(2 * T - 1) * (size_t)D;
    const size_t ff = (size_t)T * (size_t)VB_MAX(in->enc_ffn, D);
    if (!arena_reserve(&s->enc, 7 * td + 2 * pd + ff))
        return VB_ERR_NOMEM;
    b->x = arena_take(&s->enc, td);
    b->an = arena_take(&s->enc, td);
    b->q = arena_take(&s->enc, td);
    b->k = arena_take(&s->enc, td);
    b->v = arena_take(&s->enc, td);
    b->att = arena_take(&s->enc, td);
    b->tmp = arena_take(&s->enc, td);
    b->pe = arena_take(&s->enc, pd);
    b->p = arena_take(&s->enc, pd);
    b->hid = arena_take(&s->enc, ff);
    struct s3_ctx *ctx = &s->ctx;

    /* 1. embedding lookup (n, D) into an, input layer into x */
    for (int i = 0; i < n; i++)
        memcpy(b->an + (size_t)i * (size_t)D, f->embedding + (size_t)tokens[i] * (size_t)D,
               (size_t)D * sizeof(float));
    if (!embed_fwd(s, &f->embed_lin, f->embed_ln_w, f->embed_ln_b, b->an, n, b->x))
        return VB_ERR_NOMEM;
    /* 2. pre-lookahead: x += conv2(leaky(conv1(x, right pad 3)), left pad 2) */
    if (!s3_conv_fwd(ctx, &f->look1, b->x, D, n, 0, CB_FLOW_LOOKAHEAD, b->an))
        return VB_ERR_NOMEM;
    s3_leaky_relu(b->an, (int64_t)n * D, 0.01f);
    if (!s3_conv_fwd(ctx, &f->look2, b->an, D, n, 2, 0, b->tmp))
        return VB_ERR_NOMEM;
    nn_add(b->x, b->tmp, (int64_t)n * D);
    /* 3. conformer layers at the token rate */
    rel_pos_table(b->pe, n, D);
    for (int l = 0; l < in->n_enc; l++)
        if (!conformer_fwd(s, &f->enc[l], b, n))
            return VB_ERR_NOMEM;
    /* 4. upsample: nearest x2, left pad 4, conv k5 */
    for (int i = 0; i < T; i++)
        memcpy(b->an + (size_t)i * (size_t)D, b->x + (size_t)(i / CB_FLOW_TOKEN_MEL) * (size_t)D,
               (size_t)D * sizeof(float));
    if (!s3_conv_fwd(ctx, &f->up_conv, b->an, D, T, 2 * CB_FLOW_TOKEN_MEL, 0, b->tmp))
        return VB_ERR_NOMEM;
    /* 5. second input layer, conformer layers at the mel rate */
    if (!embed_fwd(s, &f->up_embed_lin, f->up_embed_ln_w, f->up_embed_ln_b, b->tmp, T, b->x))
        return VB_ERR_NOMEM;
    rel_pos_table(b->pe, T, D);
    for (int l = 0; l < in->n_up; l++)
        if (!conformer_fwd(s, &f->enc[in->n_enc + l], b, T))
            return VB_ERR_NOMEM;
    /* 6. after_norm */
    s3_layer_norm_par(&s->ctx, b->x, b->x, T, D, D, f->after_w, f->after_b, 1e-5f);
    return VB_OK;
}

enum vb_err cb_flow_encode(const struct cb_flow *f, struct cb_flow_state *s, const int64_t *tokens,
                           int n, float *mu, float *encoder_out)
{
    struct enc_bufs b;
    enum vb_err err = encode_internal(f, s, tokens, n, &b);
    if (err)
        return err;
    const int D = f->info.d_model, T = CB_FLOW_TOKEN_MEL * n;
    if (encoder_out)
        memcpy(encoder_out, b.x, (size_t)T * (size_t)D * sizeof(float));
    if (!s3_linear_fwd(&s->ctx, &f->proj, b.x, T, b.tmp, CB_FLOW_N_MELS))
        return VB_ERR_NOMEM;
    s3_transpose(mu, b.tmp, T, CB_FLOW_N_MELS);
    return VB_OK;
}

/* ---- estimator ---- */

struct est_bufs {
    float *z;             /* (T, max(EST_IN, 2C)) */
    float *h, *t1, *t2;   /* (T, C) */
    float *skip;          /* (T, C) */
    float *q, *k, *v, *a; /* (T, A) */
    float *ff;            /* (T, FFmax) */
    float *e, *me, *rb;   /* time embedding (E), mish(E), resblock bias (C) */
    float *tv;            /* time work: 2 * TIME_SIN_DIM + 4 * E */
};

/* Conv k3 left pad 2 -> LayerNorm over channels -> Mish. */
static bool causal_block_fwd(struct cb_flow_state *s, const struct causal_block *cb, const float *x,
                             int64_t ldx, int T, float *y)
{
    const int C = cb->conv.c_out;
    if (!s3_conv_fwd(&s->ctx, &cb->conv, x, ldx, T, 2, 0, y))
        return false;
    s3_layer_norm_par(&s->ctx, y, y, T, C, C, cb->ln_w, cb->ln_b, 1e-5f);
    s3_act_rows(&s->ctx, y, T, C, S3_ACT_MISH);
    return true;
}

/* out (T, C) = block2(block1(x) + mlp(mish(E))) + res_conv(x) */
static bool resblock_fwd(struct cb_flow_state *s, const struct resblock *r, struct est_bufs *b,
                         const float *x, int c_in, int T, float *outp)
{
    const int C = r->b1.conv.c_out;
    if (!causal_block_fwd(s, &r->b1, x, c_in, T, b->t1))
        return false;
    if (!s3_linear_fwd(&s->ctx, &r->mlp, b->me, 1, b->rb, C))
        return false;
    for (int t = 0; t < T; t++)
        nn_add(b->t1 + (size_t)t * (size_t)C, b->rb, C);
    if (!causal_block_fwd(s, &r->b2, b->t1, C, T, b->t2))
        return false;
    if (!s3_conv_fwd(&s->ctx, &r->res, x, c_in, T, 0, 0, outp))
        return false;
    nn_add(outp, b->t2, (int64_t)T * C);
    return true;
}

/* BasicTransformerBlock: h += to_out(MHA(norm1(h))); h += ff(norm3(h)) */
static bool tblock_fwd(struct cb_flow_state *s, const struct tblock *tb, struct est_bufs *b, int T)
{
    const struct cb_flow_info *in = &s->f->info;
    const int C = in->est_ch, A = in->est_inner, H = in->est_heads, FF = tb->ff1.n_out;
    const size_t n = (size_t)T * (size_t)C;
    struct s3_ctx *ctx = &s->ctx;
    s3_layer_norm_par(ctx, b->t1, b->h, T, C, C, tb->norm1_w, tb->norm1_b, 1e-5f);
    if (!s3_linear_fwd(ctx, &tb->to_q, b->t1, T, b->q, A) ||
        !s3_linear_fwd(ctx, &tb->to_k, b->t1, T, b->k, A) ||
        !s3_linear_fwd(ctx, &tb->to_v, b->t1, T, b->v, A))
        return false;
    struct nn_mha m = {
        .q = b->q,
        .k = b->k,
        .v = b->v,
        .ldq = A,
        .ldk = A,
        .ldv = A,
        .out = b->a,
        .ldo = A,
        .n_q = T,
        .n_kv = T,
        .n_head = H,
        .head_dim = A / H,
        .scale = 1.0f / sqrtf((float)(A / H)),
        .bf16 = s->f->attn_bf16,
    };
    if (!work_reserve(s, &m))
        return false;
    nn_mha(ctx->pool, &m, s->work);
    if (!s3_linear_fwd(ctx, &tb->to_out, b->a, T, b->t2, C))
        return false;
    nn_add(b->h, b->t2, (int64_t)n);
    s3_layer_norm_par(ctx, b->t1, b->h, T, C, C, tb->norm3_w, tb->norm3_b, 1e-5f);
    if (!s3_linear_fwd(ctx, &tb->ff1, b->t1, T, b->ff, FF))
        return false;
    s3_act_rows(ctx, b->ff, T, FF, S3_ACT_GELU_ERF);
    if (!s3_linear_fwd(ctx, &tb->ff2, b->ff, T, b->t2, C))
        return false;
    nn_add(b->h, b->t2, (int64_t)n);
    return true;
}

/* temb(tau) = linear_2(silu(linear_1(sinusoid(1000 tau)))) into out (E) */
static bool time_mlp(struct cb_flow_state *s, struct est_bufs *b, float tau, float *outp)
{
    const struct cb_flow *f = s->f;
    const int half = TIME_SIN_DIM / 2, E = f->info.time_dim;
    float *sn = b->tv, *h1 = b->tv + TIME_SIN_DIM;
    const float k = (float)(-(log(10000.0) / (double)(half - 1)));
    const float st = 1000.0f * tau;
    for (int i = 0; i < half; i++) {
        float a = st * expf((float)i * k);
        sn[i] = sinf(a);
        sn[half + i] = cosf(a);
    }
    if (!s3_linear_fwd(&s->ctx, &f->t_lin1, sn, 1, h1, E))
        return false;
    nn_silu(h1, E);
    return s3_linear_fwd(&s->ctx, &f->t_lin2, h1, 1, outp, E);
}

static bool stage_fwd(struct cb_flow_state *s, const struct stage *st, struct est_bufs *b,
                      const float *x, int c_in, int T)
{
    if (!resblock_fwd(s, &st->res, b, x, c_in, T, b->h))
        return false;
    for (int i = 0; i < s->f->info.est_blocks; i++)
        if (!tblock_fwd(s, &st->tb[i], b, T))
            return false;
    return true;
}

enum vb_err cb_flow_estimate(const struct cb_flow *f, struct cb_flow_state *s, const float *x,
                             const float *mu, const float *spks, const float *cond, int T, float t,
                             float r, float *dxdt)
{
    const struct cb_flow_info *in = &f->info;
    const int C = in->est_ch, A = in->est_inner, E = in->time_dim, M = CB_FLOW_N_MELS;
    if (T <= 0 || T > CB_FLOW_TOKEN_MEL * CB_FLOW_MAX_TOKENS)
        return VB_ERR_INVALID;
    const int ffmax = f->est_ff_max;
    const size_t zc = (size_t)VB_MAX(EST_IN, 2 * C), tt = (size_t)T;
    size_t need = tt * zc + 4 * tt * (size_t)C + 4 * tt * (size_t)A + tt * (size_t)ffmax +
                  2 * (size_t)E + (size_t)C + 2 * TIME_SIN_DIM + 4 * (size_t)E;
    if (!arena_reserve(&s->est, need))
        return VB_ERR_NOMEM;
    struct est_bufs b;
    b.z = arena_take(&s->est, tt * zc);
    b.h = arena_take(&s->est, tt * (size_t)C);
    b.t1 = arena_take(&s->est, tt * (size_t)C);
    b.t2 = arena_take(&s->est, tt * (size_t)C);
    b.skip = arena_take(&s->est, tt * (size_t)C);
    b.q = arena_take(&s->est, tt * (size_t)A);
    b.k = arena_take(&s->est, tt * (size_t)A);
    b.v = arena_take(&s->est, tt * (size_t)A);
    b.a = arena_take(&s->est, tt * (size_t)A);
    b.ff = arena_take(&s->est, tt * (size_t)ffmax);
    b.e = arena_take(&s->est, (size_t)E);
    b.me = arena_take(&s->est, (size_t)E);
    b.rb = arena_take(&s->est, (size_t)C);
    b.tv = arena_take(&s->est, 2 * TIME_SIN_DIM + 4 * (size_t)E);

    /* 1. interval embedding E = mixer([temb(t); temb(r)]) (temb(t) without a mixer) */
    float *et = b.tv + TIME_SIN_DIM + E, *er = et + E; /* after time_mlp's own scratch */
    if (!time_mlp(s, &b, t, et))
        return VB_ERR_NOMEM;
    if (in->meanflow) {
        if (!time_mlp(s, &b, r, er) || !s3_linear_fwd(&s->ctx, &f->t_mix, et, 1, b.e, E))
            return VB_ERR_NOMEM;
    } else {
        memcpy(b.e, et, (size_t)E * sizeof *b.e);
    }
    memcpy(b.me, b.e, (size_t)E * sizeof *b.me);
    s3_mish(b.me, E);

    /* 2. z rows = [x; mu; spks; cond] */
    for (int i = 0; i < T; i++) {
        float *zr = b.z + (size_t)i * EST_IN;
        for (int c = 0; c < M; c++) {
            zr[c] = x[(size_t)c * tt + (size_t)i];
            zr[M + c] = mu[(size_t)c * tt + (size_t)i];
            zr[2 * M + c] = spks[c];
            zr[3 * M + c] = cond[(size_t)c * tt + (size_t)i];
        }
    }
    /* 3. down stage, skip, causal conv */
    if (!stage_fwd(s, &f->down, &b, b.z, EST_IN, T))
        return VB_ERR_NOMEM;
    memcpy(b.skip, b.h, tt * (size_t)C * sizeof *b.skip);
    if (!s3_conv_fwd(&s->ctx, &f->down.post, b.skip, C, T, 2, 0, b.h))
        return VB_ERR_NOMEM;
    /* 4. mid stages (resblock input copied out of h first) */
    for (int m = 0; m < in->est_mid; m++) {
        memcpy(b.z, b.h, tt * (size_t)C * sizeof *b.z);
        if (!stage_fwd(s, &f->mid[m], &b, b.z, C, T))
            return VB_ERR_NOMEM;
    }
    /* 5. up stage on [h ; skip], causal conv */
    for (int i = 0; i < T; i++) {
        memcpy(b.z + (size_t)i * 2 * (size_t)C, b.h + (size_t)i * (size_t)C,
               (size_t)C * sizeof(float));
        memcpy(b.z + (size_t)i * 2 * (size_t)C + C, b.skip + (size_t)i * (size_t)C,
               (size_t)C * sizeof(float));
    }
    if (!stage_fwd(s, &f->up, &b, b.z, 2 * C, T))
        return VB_ERR_NOMEM;
    if (!s3_conv_fwd(&s->ctx, &f->up.post, b.h, C, T, 2, 0, b.skip))
        return VB_ERR_NOMEM;
    /* 6. final block and projection */
    if (!causal_block_fwd(s, &f->final_block, b.skip, C, T, b.h) ||
        !s3_conv_fwd(&s->ctx, &f->final_proj, b.h, C, T, 0, 0, b.t1))
        return VB_ERR_NOMEM;
    s3_transpose(dxdt, b.t1, T, M);
    return VB_OK;
}

/* ---- solver ---- */

void cb_flow_noise(float *z, size_t n, uint64_t seed)
{
    struct dsp_rng r;
    dsp_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        z[i] = (float)dsp_rng_gauss(&r);
}

int cb_flow_total_frames(const struct cb_flow_input *in)
{
    int T = CB_FLOW_TOKEN_MEL * (in->n_prompt + in->n_tokens);
    if (!in->finalize)
        T -= CB_FLOW_TOKEN_MEL * CB_FLOW_LOOKAHEAD;
    return T;
}

int cb_flow_out_frames(const struct cb_flow_input *in)
{
    return cb_flow_total_frames(in) - in->n_prompt_feat;
}

enum vb_err cb_flow_inference(const struct cb_flow *f, struct cb_flow_state *s,
                              const struct cb_flow_input *in, float *mel,
                              const struct cb_flow_debug *dbg)
{
    const int M = CB_FLOW_N_MELS, D = f->info.d_model;
    if (!in || !mel || in->n_prompt < 0 || in->n_tokens < 0 || in->n_prompt_feat < 0 ||
        (in->n_prompt && !in->prompt_tokens) || (in->n_tokens && !in->tokens) ||
        (in->n_prompt_feat && !in->prompt_feat) || !in->xvec || !in->noise || in->n_steps < 0)
        return VB_ERR_INVALID;
    const int n = in->n_prompt + in->n_tokens;
    if (n <= 0 || n > CB_FLOW_MAX_TOKENS)
        return VB_ERR_INVALID;
    const int T = cb_flow_total_frames(in), T2 = cb_flow_out_frames(in);
    if (T <= 0 || T2 <= 0)
        return VB_ERR_INVALID;
    const int steps = in->n_steps ? in->n_steps : CB_FLOW_DEFAULT_STEPS;
    const size_t mt = (size_t)M * (size_t)T;
    if (!arena_reserve(&s->inf, (size_t)n + 4 * mt + M))
        return VB_ERR_NOMEM;
    /* token ids as int64 in one contiguous run (prompt first) */
    int64_t *ids = vb_try_malloc((size_t)n * sizeof *ids);
    if (!ids)
        return VB_ERR_NOMEM;
    if (in->n_prompt)
        memcpy(ids, in->prompt_tokens, (size_t)in->n_prompt * sizeof *ids);
    if (in->n_tokens)
        memcpy(ids + in->n_prompt, in->tokens, (size_t)in->n_tokens * sizeof *ids);
    float *mu = arena_take(&s->inf, mt), *cond = arena_take(&s->inf, mt);
    float *x = arena_take(&s->inf, mt), *v = arena_take(&s->inf, mt);
    float *spks = arena_take(&s->inf, M);

    /* speaker + encoder (mu truncated to T frames when not finalizing) */
    cb_flow_speaker(f, in->xvec, spks);
    struct enc_bufs eb;
    enum vb_err err = encode_internal(f, s, ids, n, &eb);
    vb_free(ids);
    if (err)
        return err;
    if (dbg && dbg->encoder_out)
        memcpy(dbg->encoder_out, eb.x, (size_t)T * (size_t)D * sizeof(float));
    if (!s3_linear_fwd(&s->ctx, &f->proj, eb.x, T, eb.tmp, M))
        return VB_ERR_NOMEM;
    s3_transpose(mu, eb.tmp, T, M);
    if (dbg && dbg->spks)
        memcpy(dbg->spks, spks, (size_t)M * sizeof *spks);
    if (dbg && dbg->mu)
        memcpy(dbg->mu, mu, mt * sizeof *mu);

    /* cond: prompt mel in the first n_prompt_feat frames, zeros after */
    memset(cond, 0, mt * sizeof *cond);
    for (int t = 0; t < in->n_prompt_feat; t++)
        for (int c = 0; c < M; c++)
            cond[(size_t)c * (size_t)T + (size_t)t] = in->prompt_feat[(size_t)t * M + (size_t)c];

    /* Euler over t_span = linspace(0, 1, steps + 1): x += (r - t) v(x, t, r) */
    memcpy(x, in->noise, mt * sizeof *x);
    for (int i = 0; i < steps; i++) {
        float t0 = (float)i / (float)steps, t1 = (float)(i + 1) / (float)steps;
        err = cb_flow_estimate(f, s, x, mu, spks, cond, T, t0, t1, v);
        if (err)
            return err;
        if (dbg && i < 2 && dbg->dxdt[i])
            memcpy(dbg->dxdt[i], v, mt * sizeof *v);
        const float dt = t1 - t0;
        for (size_t j = 0; j < mt; j++)
            x[j] += dt * v[j];
    }
    for (int c = 0; c < M; c++)
        memcpy(mel + (size_t)c * (size_t)T2, x + (size_t)c * (size_t)T + in->n_prompt_feat,
               (size_t)T2 * sizeof *mel);
    return VB_OK;
}

/* ---- random checkpoints ---- */

struct cb_flow_shape cb_flow_real_shape(void)
{
    struct cb_flow_shape s = {.d_model = 512,
                              .enc_heads = 8,
                              .enc_ffn = 2048,
                              .n_enc = 6,
                              .n_up = 4,
                              .est_ch = 256,
                              .est_heads = 8,
                              .est_head_dim = 64,
                              .est_blocks = 4,
                              .est_mid = 12};
    return s;
}

static float fan(int64_t n)
{
    return 1.0f / sqrtf((float)n);
}

static void rnd_linear(struct s3_rnd *r, int64_t n_out, int64_t n_in, bool bias, const char *name)
{
    s3_rnd_add(r, 2, (int64_t[]){n_out, n_in}, fan(n_in), "%s.weight", name);
    if (bias)
        s3_rnd_add(r, 1, (int64_t[]){n_out}, fan(n_in), "%s.bias", name);
}

static void rnd_conv(struct s3_rnd *r, int64_t c_out, int64_t c_in, int64_t k, const char *name)
{
    s3_rnd_add(r, 3, (int64_t[]){c_out, c_in, k}, fan(c_in * k), "%s.weight", name);
    s3_rnd_add(r, 1, (int64_t[]){c_out}, fan(c_in * k), "%s.bias", name);
}

static void rnd_ln(struct s3_rnd *r, int64_t n, const char *name)
{
    s3_rnd_add(r, 1, (int64_t[]){n}, S3_RND_ONE, "%s.weight", name);
    s3_rnd_add(r, 1, (int64_t[]){n}, S3_RND_ZERO, "%s.bias", name);
}

static void rnd_stage(struct s3_rnd *r, const struct cb_flow_shape *sh, const char *stage,
                      int64_t c_in, bool post)
{
    const int64_t C = sh->est_ch, E = 4 * C, A = (int64_t)sh->est_heads * sh->est_head_dim;
    char n[160];
    snprintf(n, sizeof n, "decoder.estimator.%s.0.block1.block.0", stage);
    rnd_conv(r, C, c_in, 3, n);
    snprintf(n, sizeof n, "decoder.estimator.%s.0.block1.block.2", stage);
    rnd_ln(r, C, n);
    snprintf(n, sizeof n, "decoder.estimator.%s.0.block2.block.0", stage);
    rnd_conv(r, C, C, 3, n);
    snprintf(n, sizeof n, "decoder.estimator.%s.0.block2.block.2", stage);
    rnd_ln(r, C, n);
    snprintf(n, sizeof n, "decoder.estimator.%s.0.mlp.1", stage);
    rnd_linear(r, C, E, true, n);
    snprintf(n, sizeof n, "decoder.estimator.%s.0.res_conv", stage);
    rnd_conv(r, C, c_in, 1, n);
    for (int i = 0; i < sh->est_blocks; i++) {
        char b[200];
        snprintf(b, sizeof b, "decoder.estimator.%s.1.%d.norm1", stage, i);
        rnd_ln(r, C, b);
        snprintf(b, sizeof b, "decoder.estimator.%s.1.%d.norm3", stage, i);
        rnd_ln(r, C, b);
        static const char *const qkv[] = {"to_q", "to_k", "to_v"};
        for (int q = 0; q < 3; q++) {
            snprintf(b, sizeof b, "decoder.estimator.%s.1.%d.attn1.%s", stage, i, qkv[q]);
            rnd_linear(r, A, C, false, b);
        }
        snprintf(b, sizeof b, "decoder.estimator.%s.1.%d.attn1.to_out.0", stage, i);
        rnd_linear(r, C, A, true, b);
        snprintf(b, sizeof b, "decoder.estimator.%s.1.%d.ff.net.0.proj", stage, i);
        rnd_linear(r, 4 * C, C, true, b);
        snprintf(b, sizeof b, "decoder.estimator.%s.1.%d.ff.net.2", stage, i);
        rnd_linear(r, C, 4 * C, true, b);
    }
    if (post) {
        snprintf(n, sizeof n, "decoder.estimator.%s.2", stage);
        rnd_conv(r, C, C, 3, n);
    }
}

enum vb_err cb_flow_add_random(struct nn_st_writer *w, const char *prefix,
                               const struct cb_flow_shape *sh, uint64_t seed)
{
    if (!w || !sh || sh->d_model < 2 || sh->enc_heads < 1 || sh->d_model % sh->enc_heads ||
        sh->enc_ffn < 1 || sh->n_enc < 0 || sh->n_up < 0 || sh->n_enc + sh->n_up > MAX_LAYERS ||
        sh->est_ch < 1 || sh->est_heads < 1 || sh->est_head_dim < 1 || sh->est_blocks < 1 ||
        sh->est_blocks > MAX_LAYERS || sh->est_mid < 0 || sh->est_mid > MAX_LAYERS)
        return VB_ERR_INVALID;
    struct s3_rnd r = {.w = w, .prefix = prefix ? prefix : "", .seed = seed};
    const int64_t D = sh->d_model, H = sh->enc_heads, C = sh->est_ch, E = 4 * C;
    s3_rnd_add(&r, 2, (int64_t[]){CB_FLOW_VOCAB, D}, 1.0f, "input_embedding.weight");
    rnd_linear(&r, CB_FLOW_N_MELS, CB_FLOW_SPK_DIM, true, "spk_embed_affine_layer");
    rnd_linear(&r, CB_FLOW_N_MELS, D, true, "encoder_proj");
    rnd_linear(&r, D, D, true, "encoder.embed.out.0");
    rnd_ln(&r, D, "encoder.embed.out.1");
    rnd_conv(&r, D, D, CB_FLOW_LOOKAHEAD + 1, "encoder.pre_lookahead_layer.conv1");
    rnd_conv(&r, D, D, 3, "encoder.pre_lookahead_layer.conv2");
    rnd_conv(&r, D, D, 2 * CB_FLOW_TOKEN_MEL + 1, "encoder.up_layer.conv");
    rnd_linear(&r, D, D, true, "encoder.up_embed.out.0");
    rnd_ln(&r, D, "encoder.up_embed.out.1");
    rnd_ln(&r, D, "encoder.after_norm");
    for (int i = 0; i < sh->n_enc + sh->n_up; i++) {
        char g[64], n[128];
        snprintf(g, sizeof g, "encoder.%s.%d", i < sh->n_enc ? "encoders" : "up_encoders",
                 i < sh->n_enc ? i : i - sh->n_enc);
        static const char *const lin[] = {"linear_q", "linear_k", "linear_v", "linear_out"};
        for (int q = 0; q < 4; q++) {
            snprintf(n, sizeof n, "%s.self_attn.%s", g, lin[q]);
            rnd_linear(&r, D, D, true, n);
        }
        snprintf(n, sizeof n, "%s.self_attn.linear_pos", g);
        rnd_linear(&r, D, D, false, n);
        s3_rnd_add(&r, 2, (int64_t[]){H, D / H}, 0.1f, "%s.self_attn.pos_bias_u", g);
        s3_rnd_add(&r, 2, (int64_t[]){H, D / H}, 0.1f, "%s.self_attn.pos_bias_v", g);
        snprintf(n, sizeof n, "%s.feed_forward.w_1", g);
        rnd_linear(&r, sh->enc_ffn, D, true, n);
        snprintf(n, sizeof n, "%s.feed_forward.w_2", g);
        rnd_linear(&r, D, sh->enc_ffn, true, n);
        snprintf(n, sizeof n, "%s.norm_mha", g);
        rnd_ln(&r, D, n);
        snprintf(n, sizeof n, "%s.norm_ff", g);
        rnd_ln(&r, D, n);
    }
    rnd_linear(&r, E, TIME_SIN_DIM, true, "decoder.estimator.time_mlp.linear_1");
    rnd_linear(&r, E, E, true, "decoder.estimator.time_mlp.linear_2");
    rnd_linear(&r, E, 2 * E, false, "decoder.estimator.time_embed_mixer");
    rnd_stage(&r, sh, "down_blocks.0", EST_IN, true);
    for (int m = 0; m < sh->est_mid; m++) {
        char n[32];
        snprintf(n, sizeof n, "mid_blocks.%d", m);
        rnd_stage(&r, sh, n, C, false);
    }
    rnd_stage(&r, sh, "up_blocks.0", 2 * C, true);
    rnd_conv(&r, C, C, 3, "decoder.estimator.final_block.block.0");
    rnd_ln(&r, C, "decoder.estimator.final_block.block.2");
    rnd_conv(&r, CB_FLOW_N_MELS, C, 1, "decoder.estimator.final_proj");
    return r.err;
}
