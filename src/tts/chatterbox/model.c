/* model.c: loads and validates the whole Chatterbox-Turbo checkpoint directory (T3, S3Gen
 * parts, VoiceEncoder, tokenizer, built-in voice) into one immutable struct cb_model. */
#include "core/vb.h"
#include "core/err.h"
#include "tts/chatterbox/model.h"
#include "core/alloc.h"
#include "core/log.h"
#include "nn/safetensors.h"

#include <errno.h>
#include <sys/stat.h>

#define PATH_CAP 4096

struct cb_model_options cb_model_default_options(void)
{
    return (struct cb_model_options){
        .t3_wtype = NN_TYPE_Q8_0, .s3gen_wtype = NN_TYPE_BF16, .lazy_encoders = false};
}

/* "<file>: <reason>" unless the component already named its file. */
static enum vb_err prefixed(enum vb_err err, const char *file, const char *inner, char *why,
                            size_t cap)
{
    if (strncmp(inner, file, strlen(file)) == 0)
        return vb_failf(why, cap, err, "%s", inner);
    return vb_failf(why, cap, err, "%s: %s", file, inner);
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static enum vb_err join(char *out, size_t cap, const char *dir, const char *file, char *why,
                        size_t why_cap)
{
    int k = snprintf(out, cap, "%s/%s", dir, file);
    if (k < 0 || (size_t)k >= cap)
        return vb_failf(why, why_cap, VB_ERR_INVALID, "model directory path too long");
    return VB_OK;
}

static enum vb_err need_file(const char *path, const char *file, char *why, size_t why_cap)
{
    if (!file_exists(path))
        return vb_failf(why, why_cap, VB_ERR_NOT_FOUND, "%s: missing (%s)", file, path);
    return VB_OK;
}

static const struct nn_st_tensor *find2(const struct nn_safetensors *st, const char *name,
                                        int n_dims, const char *file, char *why, size_t cap)
{
    const struct nn_st_tensor *t = nn_st_find(st, name);
    if (!t) {
        vb_failf(why, cap, VB_ERR_FORMAT, "%s: tensor %s missing", file, name);
        return NULL;
    }
    if (t->n_dims != n_dims || t->dtype != NN_ST_F32) {
        vb_failf(why, cap, VB_ERR_FORMAT,
                 "%s: tensor %s: expected F32 with %d dims, got %s with %d", file, name, n_dims,
                 nn_st_dtype_name(t->dtype), t->n_dims);
        return NULL;
    }
    return t;
}

enum vb_err cb_model_t3_config(const char *path, enum nn_type wtype, struct cb_t3_config *cfg,
                               char *why, size_t why_cap)
{
    struct nn_safetensors *st = NULL;
    char inner[400];
    enum vb_err err = nn_st_open(path, &st, inner, sizeof inner);
    if (err)
        return prefixed(err, CB_FILE_T3, inner, why, why_cap);
    *cfg = cb_t3_default_config();
    cfg->wtype = wtype;
    const struct nn_st_tensor *wpe, *temb, *semb, *spk;
    if (!(wpe = find2(st, "tfmr.wpe.weight", 2, CB_FILE_T3, why, why_cap)) ||
        !(temb = find2(st, "text_emb.weight", 2, CB_FILE_T3, why, why_cap)) ||
        !(semb = find2(st, "speech_emb.weight", 2, CB_FILE_T3, why, why_cap)) ||
        !(spk = find2(st, "cond_enc.spkr_enc.weight", 2, CB_FILE_T3, why, why_cap))) {
        err = VB_ERR_FORMAT;
        goto out;
    }
    int64_t E = wpe->shape[1];
    if (E < CB_T3_HEAD_DIM || E % CB_T3_HEAD_DIM || E > 16384 || wpe->shape[0] < 16 ||
        wpe->shape[0] > 65536 || temb->shape[0] < 1 || temb->shape[0] > 1000000 ||
        semb->shape[0] != CB_T3_SPEECH_STOP + 1 || spk->shape[1] < 1 || spk->shape[1] > 4096) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT,
                       "%s: implausible shapes (wpe [%lld,%lld], speech_emb rows %lld, must be %d)",
                       CB_FILE_T3, (long long)wpe->shape[0], (long long)E,
                       (long long)semb->shape[0], CB_T3_SPEECH_STOP + 1);
        goto out;
    }
    int n_layer = 0;
    for (size_t i = 0; i < nn_st_count(st); i++) {
        const char *nm = nn_st_at(st, i)->name;
        if (strncmp(nm, "tfmr.h.", 7) == 0) {
            char *end = NULL;
            long l = strtol(nm + 7, &end, 10);
            if (end != nm + 7 && *end == '.' && l >= 0 && l < 1024 && l + 1 > n_layer)
                n_layer = (int)l + 1;
        }
    }
    if (n_layer < 1) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT, "%s: no tfmr.h.* layers", CB_FILE_T3);
        goto out;
    }
    cfg->n_layer = n_layer;
    cfg->n_embd = (int)E;
    cfg->n_head = (int)(E / CB_T3_HEAD_DIM);
    cfg->n_positions = (int)wpe->shape[0];
    cfg->text_vocab = (int)temb->shape[0];
    cfg->speech_vocab = (int)semb->shape[0];
    cfg->spk_dim = (int)spk->shape[1];
out:
    nn_st_close(st);
    return err;
}

/* Estimator attention heads from the width of the first to_q (64 per head, as the real
 * model); 0 when absent (the flow loader then names the missing tensor). */
static int flow_heads(const struct nn_safetensors *st)
{
    const struct nn_st_tensor *q =
        nn_st_find(st, "flow.decoder.estimator.down_blocks.0.1.0.attn1.to_q.weight");
    if (!q || q->n_dims != 2 || q->shape[0] < 64 || q->shape[0] % 64)
        return 8;
    return (int)(q->shape[0] / 64);
}

static enum vb_err load_default_voice(struct cb_model *m, const char *dir)
{
    char path[PATH_CAP], why[400] = "";
    if (join(path, sizeof path, dir, CB_FILE_CONDS, why, sizeof why))
        return VB_OK;
    enum vb_err err = VB_ERR_NOT_FOUND;
    if (file_exists(path)) {
        err = cb_voice_cond_load_pt(path, &m->default_voice, why, sizeof why);
        if (!err)
            snprintf(m->default_voice_file, sizeof m->default_voice_file, "%s", CB_FILE_CONDS);
        else
            vb_warn("chatterbox: %s: %s; trying %s", CB_FILE_CONDS, why, CB_FILE_CONDS_ST);
    }
    if (err && !join(path, sizeof path, dir, CB_FILE_CONDS_ST, why, sizeof why) &&
        file_exists(path)) {
        err = cb_voice_cond_load(path, &m->default_voice, why, sizeof why);
        if (!err)
            snprintf(m->default_voice_file, sizeof m->default_voice_file, "%s", CB_FILE_CONDS_ST);
        else
            vb_warn("chatterbox: %s: %s", CB_FILE_CONDS_ST, why);
    }
    if (err) {
        vb_warn("chatterbox: no built-in voice (%s or %s) in %s: requests need a voice",
                CB_FILE_CONDS, CB_FILE_CONDS_ST, dir);
        return VB_OK;
    }
    m->has_default_voice = true;
    return VB_OK;
}

/* S3Tokenizer + CAMPPlus from the open S3Gen file. */
static enum vb_err load_encoders_st(struct cb_model *m, const struct nn_safetensors *st, char *why,
                                    size_t why_cap)
{
    char inner[400] = "";
    struct cb_s3tok_config tc;
    cb_s3tok_default_config(&tc);
    tc.weights_f16 = m->opts.s3gen_wtype == NN_TYPE_F16;
    tc.weights_bf16 = m->opts.s3gen_wtype == NN_TYPE_BF16;
    enum vb_err err;
    if ((err = cb_s3tok_load(st, "tokenizer.", &tc, &m->s3tok, inner, sizeof inner)) ||
        (err = cb_campplus_load(st, "speaker_encoder.", NULL, &m->campplus, inner, sizeof inner)))
        return prefixed(err, CB_FILE_S3GEN, inner, why, why_cap);
    if (cb_campplus_embed_dim(m->campplus) != CB_FLOW_SPK_DIM)
        return vb_failf(why, why_cap, VB_ERR_FORMAT,
                        "%s: speaker_encoder embedding %d, flow wants %d", CB_FILE_S3GEN,
                        cb_campplus_embed_dim(m->campplus), CB_FLOW_SPK_DIM);
    return VB_OK;
}

enum vb_err cb_model_encoders_acquire(struct cb_model *m, char *why, size_t why_cap)
{
    if (m->s3tok && m->campplus)
        return VB_OK;
    cb_model_encoders_release(m);
    char path[PATH_CAP], inner[400] = "";
    enum vb_err err = join(path, sizeof path, m->dir, CB_FILE_S3GEN, why, why_cap);
    if (err)
        return err;
    struct nn_safetensors *st = NULL;
    if ((err = nn_st_open(path, &st, inner, sizeof inner)))
        return prefixed(err, CB_FILE_S3GEN, inner, why, why_cap);
    err = load_encoders_st(m, st, why, why_cap);
    nn_st_close(st);
    if (err) {
        cb_s3tok_free(m->s3tok);
        cb_campplus_free(m->campplus);
        m->s3tok = NULL;
        m->campplus = NULL;
    }
    return err;
}

void cb_model_encoders_release(struct cb_model *m)
{
    if (!m->opts.lazy_encoders)
        return;
    cb_s3tok_free(m->s3tok);
    cb_campplus_free(m->campplus);
    m->s3tok = NULL;
    m->campplus = NULL;
}

enum vb_err cb_model_load(const char *dir, const struct cb_model_options *o, struct cb_model **out,
                          char *why, size_t why_cap)
{
    *out = NULL;
    struct cb_model_options dop = cb_model_default_options();
    if (!o)
        o = &dop;
    char path[PATH_CAP], inner[400] = "";
    struct nn_safetensors *st = NULL;
    enum vb_err err;
    struct cb_model *m = vb_try_calloc(1, sizeof *m);
    if (!m)
        return vb_failf(why, why_cap, VB_ERR_NOMEM, "out of memory");
    m->opts = *o;
    if (snprintf(m->dir, sizeof m->dir, "%s", dir) >= (int)sizeof m->dir) {
        vb_free(m);
        return vb_failf(why, why_cap, VB_ERR_INVALID, "model directory path too long");
    }
    /* every required file first, so a missing one is reported before minutes of loading */
    static const char *const required[] = {CB_FILE_T3,   CB_FILE_S3GEN, CB_FILE_VE,
                                           "vocab.json", "merges.txt",  "added_tokens.json"};
    for (size_t i = 0; i < VB_ARRAY_LEN(required); i++)
        if ((err = join(path, sizeof path, dir, required[i], why, why_cap)) ||
            (err = need_file(path, required[i], why, why_cap)))
            goto out;
    if ((err = cb_frontend_new(&m->fe))) {
        vb_failf(why, why_cap, err, "front end: out of memory");
        goto out;
    }
    /* text tokenizer */
    if ((err = cb_text_tokenizer_load(dir, &m->tok, why, why_cap)))
        goto out;
    /* T3 */
    struct cb_t3_config t3c;
    if ((err = join(path, sizeof path, dir, CB_FILE_T3, why, why_cap)) ||
        (err = cb_model_t3_config(path, o->t3_wtype, &t3c, why, why_cap)))
        goto out;
    if (cb_text_tokenizer_n_vocab(m->tok) > t3c.text_vocab) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT,
                       "vocab.json/added_tokens.json have %d ids but %s text_emb has %d rows",
                       (int)cb_text_tokenizer_n_vocab(m->tok), CB_FILE_T3, t3c.text_vocab);
        goto out;
    }
    if ((err = cb_t3_load(path, &t3c, &m->t3, inner, sizeof inner))) {
        prefixed(err, CB_FILE_T3, inner, why, why_cap);
        goto out;
    }
    /* VoiceEncoder */
    if ((err = join(path, sizeof path, dir, CB_FILE_VE, why, why_cap)))
        goto out;
    if ((err = nn_st_open(path, &st, inner, sizeof inner)) ||
        (err = cb_ve_load(st, "", NULL, &m->ve, inner, sizeof inner))) {
        prefixed(err, CB_FILE_VE, inner, why, why_cap);
        goto out;
    }
    nn_st_close(st);
    st = NULL;
    if (cb_ve_embed_dim(m->ve) != t3c.spk_dim) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT,
                       "%s: embedding size %d does not match %s cond_enc.spkr_enc input %d",
                       CB_FILE_VE, cb_ve_embed_dim(m->ve), CB_FILE_T3, t3c.spk_dim);
        goto out;
    }
    /* S3Gen: tokenizer, speaker encoder, flow, vocoder */
    if ((err = join(path, sizeof path, dir, CB_FILE_S3GEN, why, why_cap)))
        goto out;
    if ((err = nn_st_open(path, &st, inner, sizeof inner))) {
        prefixed(err, CB_FILE_S3GEN, inner, why, why_cap);
        goto out;
    }
    struct cb_flow_config fc;
    cb_flow_default_config(&fc);
    fc.weights_f16 = o->s3gen_wtype == NN_TYPE_F16;
    fc.weights_bf16 = o->s3gen_wtype == NN_TYPE_BF16;
    fc.est_heads = flow_heads(st);
    if ((err = load_encoders_st(m, st, why, why_cap)))
        goto out;
    struct cb_hift_params hp = cb_hift_default_params();
    hp.bf16 = o->s3gen_wtype == NN_TYPE_BF16;
    if ((err = cb_flow_load(st, "flow.", &fc, &m->flow, inner, sizeof inner)) ||
        (err = cb_hift_load(st, "mel2wav.", &hp, &m->hift, inner, sizeof inner))) {
        prefixed(err, CB_FILE_S3GEN, inner, why, why_cap);
        goto out;
    }
    nn_st_close(st);
    st = NULL;
    cb_model_encoders_release(m); /* validated; loaded again when a voice needs them */
    if ((err = load_default_voice(m, dir)))
        goto out;
    if (m->has_default_voice &&
        (m->default_voice.spk_dim != t3c.spk_dim || m->default_voice.xvec_dim != CB_FLOW_SPK_DIM)) {
        vb_warn("chatterbox: built-in voice %s has sizes %d/%d, model wants %d/%d: ignored",
                m->default_voice_file, m->default_voice.spk_dim, m->default_voice.xvec_dim,
                t3c.spk_dim, CB_FLOW_SPK_DIM);
        cb_voice_cond_release(&m->default_voice);
        m->has_default_voice = false;
        m->default_voice_file[0] = '\0';
    }
    *out = m;
    m = NULL;
out:
    nn_st_close(st);
    cb_model_free(m);
    return err;
}

void cb_model_free(struct cb_model *m)
{
    if (!m)
        return;
    cb_frontend_free(m->fe);
    cb_text_tokenizer_free(m->tok);
    cb_t3_free(m->t3);
    cb_ve_free(m->ve);
    cb_campplus_free(m->campplus);
    cb_s3tok_free(m->s3tok);
    cb_flow_free(m->flow);
    cb_hift_free(m->hift);
    if (m->has_default_voice)
        cb_voice_cond_release(&m->default_voice);
    vb_free(m);
}

struct cb_voice_encoders cb_model_encoders(const struct cb_model *m)
{
    return (struct cb_voice_encoders){
        .fe = m->fe, .ve = m->ve, .campplus = m->campplus, .tok = m->s3tok};
}
