/* s3gen_flow_load.c: the S3Gen flow's weights from a safetensors file: sizes read off a few
 * tensor shapes, then one table of rows per module (conformer layer, causal block, ResBlock,
 * transformer block) loaded by nn_lt_load. */
#include "core/vb.h"
#include "tts/chatterbox/s3gen_flow.h"

#include "core/alloc.h"
#include "tts/chatterbox/s3gen_flow_internal.h"

/* Sizes the tables refer to (NN_LT_DIM). */
enum { SZ_D, SZ_FF, SZ_H, SZ_DH, SZ_C, SZ_CIN, SZ_A, SZ_E, SZ_E2, SZ_TFF, SZ_COUNT };
#define S(i) NN_LT_DIM(SZ_##i)

static const struct nn_lt_row conformer_rows[] = {
    S3_VEC(struct conformer, norm_mha_w, "norm_mha.weight", S(D)),
    S3_VEC(struct conformer, norm_mha_b, "norm_mha.bias", S(D)),
    S3_VEC(struct conformer, norm_ff_w, "norm_ff.weight", S(D)),
    S3_VEC(struct conformer, norm_ff_b, "norm_ff.bias", S(D)),
    S3_LIN(struct conformer, q, "self_attn.linear_q", S(D), S(D), true),
    S3_LIN(struct conformer, k, "self_attn.linear_k", S(D), S(D), true),
    S3_LIN(struct conformer, v, "self_attn.linear_v", S(D), S(D), true),
    S3_LIN(struct conformer, out, "self_attn.linear_out", S(D), S(D), true),
    S3_LIN(struct conformer, pos, "self_attn.linear_pos", S(D), S(D), false),
    S3_MAT(struct conformer, bias_u, "self_attn.pos_bias_u", S(H), S(DH)),
    S3_MAT(struct conformer, bias_v, "self_attn.pos_bias_v", S(H), S(DH)),
    S3_LIN(struct conformer, w1, "feed_forward.w_1", S(FF), S(D), true),
    S3_LIN(struct conformer, w2, "feed_forward.w_2", S(D), S(FF), true),
};

static const struct nn_lt_row encoder_rows[] = {
    S3_LIN(struct cb_flow, embed_lin, "encoder.embed.out.0", S(D), S(D), true),
    S3_VEC(struct cb_flow, embed_ln_w, "encoder.embed.out.1.weight", S(D)),
    S3_VEC(struct cb_flow, embed_ln_b, "encoder.embed.out.1.bias", S(D)),
    S3_CONV(struct cb_flow, look1, "encoder.pre_lookahead_layer.conv1", S(D), S(D),
            CB_FLOW_LOOKAHEAD + 1, 1),
    S3_CONV(struct cb_flow, look2, "encoder.pre_lookahead_layer.conv2", S(D), S(D), 3, 1),
    S3_CONV(struct cb_flow, up_conv, "encoder.up_layer.conv", S(D), S(D), 2 * CB_FLOW_TOKEN_MEL + 1,
            1),
    S3_LIN(struct cb_flow, up_embed_lin, "encoder.up_embed.out.0", S(D), S(D), true),
    S3_VEC(struct cb_flow, up_embed_ln_w, "encoder.up_embed.out.1.weight", S(D)),
    S3_VEC(struct cb_flow, up_embed_ln_b, "encoder.up_embed.out.1.bias", S(D)),
    S3_VEC(struct cb_flow, after_w, "encoder.after_norm.weight", S(D)),
    S3_VEC(struct cb_flow, after_b, "encoder.after_norm.bias", S(D)),
    S3_LIN(struct cb_flow, proj, "encoder_proj", CB_FLOW_N_MELS, S(D), true),
};

static const struct nn_lt_row time_rows[] = {
    S3_LIN(struct cb_flow, t_lin1, "decoder.estimator.time_mlp.linear_1", S(E), TIME_SIN_DIM, true),
    S3_LIN(struct cb_flow, t_lin2, "decoder.estimator.time_mlp.linear_2", S(E), S(E), true),
};
static const struct nn_lt_row mixer_rows[] = {
    S3_LIN(struct cb_flow, t_mix, "decoder.estimator.time_embed_mixer", S(E), S(E2), false),
};

/* CausalBlock1D: causal conv k 3 (CIN -> C) then LayerNorm. */
static const struct nn_lt_row causal_rows[] = {
    S3_CONV(struct causal_block, conv, "block.0", S(C), S(CIN), 3, 1),
    S3_VEC(struct causal_block, ln_w, "block.2.weight", S(C)),
    S3_VEC(struct causal_block, ln_b, "block.2.bias", S(C)),
};

/* The rest of a stage's ResBlock (its blocks go through causal_rows first). */
static const struct nn_lt_row resblock_rows[] = {
    S3_LIN(struct stage, res.mlp, "0.mlp.1", S(C), S(E), true),
    S3_CONV(struct stage, res.res, "0.res_conv", S(C), S(CIN), 1, 1),
};

static const struct nn_lt_row tblock_rows[] = {
    S3_VEC(struct tblock, norm1_w, "norm1.weight", S(C)),
    S3_VEC(struct tblock, norm1_b, "norm1.bias", S(C)),
    S3_VEC(struct tblock, norm3_w, "norm3.weight", S(C)),
    S3_VEC(struct tblock, norm3_b, "norm3.bias", S(C)),
    S3_LIN(struct tblock, to_q, "attn1.to_q", S(A), S(C), false),
    S3_LIN(struct tblock, to_k, "attn1.to_k", S(A), S(C), false),
    S3_LIN(struct tblock, to_v, "attn1.to_v", S(A), S(C), false),
    S3_LIN(struct tblock, to_out, "attn1.to_out.0", S(C), S(A), true),
    S3_LIN(struct tblock, ff1, "ff.net.0.proj", S(TFF), S(C), true), /* binds the FFN width */
    S3_LIN(struct tblock, ff2, "ff.net.2", S(C), S(TFF), true),
};

static const struct nn_lt_row post_rows[] = {
    S3_CONV(struct stage, post, "2", S(C), S(C), 3, 1),
};

static const struct nn_lt_row final_rows[] = {
    S3_CONV(struct cb_flow, final_proj, "decoder.estimator.final_proj", CB_FLOW_N_MELS, S(C), 1, 1),
};

#define LOAD(L, rows, base, sz, group, i)                                                          \
    nn_lt_load(&(L)->lt, rows, VB_ARRAY_LEN(rows), base, sz, group, i)

/* A stage "decoder.estimator.<name>.": ResBlock (c_in -> C), transformer blocks, and the
 * down/up conv when post. false on out of memory (load errors stay in L). */
static bool load_stage(struct s3_loader *L, struct stage *st, const char *name, int c_in, bool post,
                       const struct cb_flow_info *in, const int64_t *sizes)
{
    int64_t sz[NN_LT_MAX_SIZES];
    char g[128];
    memcpy(sz, sizes, sizeof sz);
    sz[SZ_CIN] = c_in;
    snprintf(g, sizeof g, "decoder.estimator.%s.0.block1.", name);
    LOAD(L, causal_rows, &st->res.b1, sz, g, 0);
    snprintf(g, sizeof g, "decoder.estimator.%s.0.block2.", name);
    sz[SZ_CIN] = in->est_ch;
    LOAD(L, causal_rows, &st->res.b2, sz, g, 0);
    sz[SZ_CIN] = c_in;
    snprintf(g, sizeof g, "decoder.estimator.%s.", name);
    LOAD(L, resblock_rows, st, sz, g, 0);
    st->tb = vb_try_calloc((size_t)in->est_blocks, sizeof *st->tb);
    if (!st->tb)
        return false;
    snprintf(g, sizeof g, "decoder.estimator.%s.1.%%d.", name);
    for (int i = 0; i < in->est_blocks; i++) {
        sz[SZ_TFF] = -1; /* each block's FFN width comes from its ff.net.0.proj */
        LOAD(L, tblock_rows, &st->tb[i], sz, g, i);
    }
    snprintf(g, sizeof g, "decoder.estimator.%s.", name);
    if (post)
        LOAD(L, post_rows, st, sz, g, 0);
    return true;
}

void cb_flow_default_config(struct cb_flow_config *cfg)
{
    cfg->est_heads = 8;
    cfg->weights_f16 = false;
    cfg->weights_bf16 = false;
}

void cb_flow_free(struct cb_flow *f)
{
    if (!f)
        return;
    s3_wstore_release(&f->ws);
    vb_free(f->enc);
    vb_free(f->down.tb);
    vb_free(f->up.tb);
    if (f->mid)
        for (int i = 0; i < f->info.est_mid; i++)
            vb_free(f->mid[i].tb);
    vb_free(f->mid);
    vb_free(f);
}

void cb_flow_get_info(const struct cb_flow *f, struct cb_flow_info *info)
{
    *info = f->info;
}

/* Encoder sizes: width from the embedding (loaded here), heads from pos_bias_u, FFN from w_1,
 * layer counts. */
static enum vb_err read_encoder_sizes(struct s3_loader *L, struct cb_flow *f)
{
    struct cb_flow_info *in = &f->info;
    int64_t es[2] = {CB_FLOW_VOCAB, -1};
    f->embedding = s3_load(L, 2, es, "input_embedding.weight");
    if (!f->embedding)
        return L->lt.err;
    const int D = in->d_model = (int)es[1];
    int64_t pb[2] = {-1, -1};
    if (!s3_shape(L, 2, pb, "encoder.encoders.0.self_attn.pos_bias_u"))
        return L->lt.err;
    in->enc_heads = (int)pb[0];
    if (in->enc_heads <= 0 || D % in->enc_heads || pb[1] != D / in->enc_heads)
        return vb_failf(L->lt.why, L->lt.why_cap, VB_ERR_FORMAT,
                        "%sencoder.encoders.0.self_attn.pos_bias_u: bad shape", L->lt.prefix);
    in->n_enc = s3_count_indexed(L, "encoder.encoders.", MAX_LAYERS);
    in->n_up = s3_count_indexed(L, "encoder.up_encoders.", MAX_LAYERS);
    int64_t w1s[2] = {-1, D};
    if (!s3_shape(L, 2, w1s, "encoder.encoders.0.feed_forward.w_1.weight"))
        return L->lt.err;
    in->enc_ffn = (int)w1s[0];
    return VB_OK;
}

/* Estimator sizes: time width, channels, attention width (heads from the config), one U-Net
 * level, block counts. */
static enum vb_err read_estimator_sizes(struct s3_loader *L, struct cb_flow_info *in, int est_heads)
{
    char *why = L->lt.why;
    size_t why_cap = L->lt.why_cap;
    int64_t tl[2] = {-1, TIME_SIN_DIM};
    if (!s3_shape(L, 2, tl, "decoder.estimator.time_mlp.linear_1.weight"))
        return L->lt.err;
    in->time_dim = (int)tl[0];
    int64_t b0[3] = {-1, EST_IN, 3};
    if (!s3_shape(L, 3, b0, "decoder.estimator.down_blocks.0.0.block1.block.0.weight"))
        return L->lt.err;
    in->est_ch = (int)b0[0];
    int64_t qs[2] = {-1, in->est_ch};
    if (!s3_shape(L, 2, qs, "decoder.estimator.down_blocks.0.1.0.attn1.to_q.weight"))
        return L->lt.err;
    in->est_inner = (int)qs[0];
    in->est_heads = est_heads;
    if (in->est_heads <= 0 || in->est_inner % in->est_heads)
        return vb_failf(why, why_cap, VB_ERR_FORMAT,
                        "estimator attention width %d not divisible by %d heads", in->est_inner,
                        in->est_heads);
    if (s3_find(L, "decoder.estimator.down_blocks.1.0.mlp.1.weight"))
        return vb_failf(why, why_cap, VB_ERR_FORMAT,
                        "estimator with more than one U-Net level is not supported");
    in->est_blocks = s3_count_indexed(L, "decoder.estimator.down_blocks.0.1.", MAX_LAYERS);
    in->est_mid = s3_count_indexed(L, "decoder.estimator.mid_blocks.", MAX_LAYERS);
    if (in->n_enc + in->n_up > MAX_LAYERS || in->est_blocks > MAX_LAYERS ||
        in->est_mid > MAX_LAYERS || in->est_blocks == 0)
        return vb_failf(why, why_cap, VB_ERR_FORMAT,
                        "%s: bad layer counts (%d+%d conformer, %d blocks, %d mid)", L->lt.prefix,
                        in->n_enc, in->n_up, in->est_blocks, in->est_mid);
    return VB_OK;
}

/* Time MLP (+ mixer), down, up and mid stages, final block and projection. */
static enum vb_err load_estimator(struct s3_loader *L, struct cb_flow *f, int64_t *sz)
{
    struct cb_flow_info *in = &f->info;
    const int C = in->est_ch;
    LOAD(L, time_rows, f, sz, NULL, 0);
    in->meanflow = s3_find(L, "decoder.estimator.time_embed_mixer.weight") != NULL;
    if (in->meanflow)
        LOAD(L, mixer_rows, f, sz, NULL, 0);
    if (!load_stage(L, &f->down, "down_blocks.0", EST_IN, true, in, sz) ||
        !load_stage(L, &f->up, "up_blocks.0", 2 * C, true, in, sz))
        return VB_ERR_NOMEM;
    f->mid = vb_try_calloc((size_t)VB_MAX(in->est_mid, 1), sizeof *f->mid);
    if (!f->mid)
        return VB_ERR_NOMEM;
    for (int i = 0; i < in->est_mid; i++) {
        char n[64];
        snprintf(n, sizeof n, "mid_blocks.%d", i);
        if (!load_stage(L, &f->mid[i], n, C, false, in, sz))
            return VB_ERR_NOMEM;
    }
    f->est_ff_max = 4 * C;
    for (int i = 0; i < in->est_blocks; i++) {
        f->est_ff_max = VB_MAX(f->est_ff_max, f->down.tb[i].ff1.n_out);
        f->est_ff_max = VB_MAX(f->est_ff_max, f->up.tb[i].ff1.n_out);
        for (int m = 0; m < in->est_mid; m++)
            f->est_ff_max = VB_MAX(f->est_ff_max, f->mid[m].tb[i].ff1.n_out);
    }
    sz[SZ_CIN] = C;
    LOAD(L, causal_rows, &f->final_block, sz, "decoder.estimator.final_block.", 0);
    LOAD(L, final_rows, f, sz, NULL, 0);
    return L->lt.err;
}

enum vb_err cb_flow_load(const struct nn_safetensors *st, const char *prefix,
                         const struct cb_flow_config *cfg, struct cb_flow **out, char *why,
                         size_t why_cap)
{
    struct cb_flow_config dcfg;
    *out = NULL;
    if (why && why_cap)
        why[0] = '\0';
    if (!cfg) {
        cb_flow_default_config(&dcfg);
        cfg = &dcfg;
    }
    struct cb_flow *f = vb_try_calloc(1, sizeof *f);
    if (!f)
        return VB_ERR_NOMEM;
    struct s3_loader L;
    s3_loader_init(&L, st, prefix, &f->ws, why, why_cap);
    struct cb_flow_info *in = &f->info;
    f->attn_bf16 = cfg->weights_bf16;
    enum vb_err err = read_encoder_sizes(&L, f);
    if (err)
        goto out;
    const int D = in->d_model;
    int64_t sz[NN_LT_MAX_SIZES] = {
        [SZ_D] = D, [SZ_FF] = in->enc_ffn, [SZ_H] = in->enc_heads, [SZ_DH] = D / in->enc_heads};

    /* The speaker affine is tiny and runs on one row: always F32. */
    s3_linear_load(&L, &f->spk, CB_FLOW_SPK_DIM, CB_FLOW_N_MELS, true, "spk_embed_affine_layer");
    L.f16 = cfg->weights_f16;
    L.bf16 = cfg->weights_bf16;
    if (!LOAD(&L, encoder_rows, f, sz, NULL, 0)) {
        err = L.lt.err;
        goto out;
    }
    f->enc = vb_try_calloc((size_t)(in->n_enc + in->n_up), sizeof *f->enc);
    if (!f->enc) {
        err = VB_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < in->n_enc; i++)
        LOAD(&L, conformer_rows, &f->enc[i], sz, "encoder.encoders.%d.", i);
    for (int i = 0; i < in->n_up; i++)
        LOAD(&L, conformer_rows, &f->enc[in->n_enc + i], sz, "encoder.up_encoders.%d.", i);
    err = L.lt.err;
    if (!err)
        err = read_estimator_sizes(&L, in, cfg->est_heads);
    if (err)
        goto out;
    sz[SZ_C] = in->est_ch;
    sz[SZ_A] = in->est_inner;
    sz[SZ_E] = in->time_dim;
    sz[SZ_E2] = 2 * (int64_t)in->time_dim;
    err = load_estimator(&L, f, sz);
    if (!err) {
        *out = f;
        return VB_OK;
    }
out:
    cb_flow_free(f);
    return err ? err : VB_ERR_FORMAT;
}
