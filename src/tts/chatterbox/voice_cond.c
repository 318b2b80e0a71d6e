/* voice_cond.c: reference-voice conditionals, step by step as tts_turbo.py prepare_conditionals
 * and s3gen.py embed_ref compute them; safetensors persistence. */
#include "core/vb.h"
#include "core/err.h"
#include "tts/chatterbox/voice_cond.h"
#include "audio/loudness.h"
#include "audio/resample.h"
#include "core/alloc.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"
#include "nn/torch_zip.h"

#include <math.h>

struct cb_voice_cond_params cb_voice_cond_default_params(void)
{
    return (struct cb_voice_cond_params){
        .norm_loudness = true, .target_lufs = -27.0, .min_seconds = 5.0};
}

void cb_voice_cond_release(struct cb_voice_cond *c)
{
    if (!c)
        return;
    vb_free(c->speaker_emb);
    vb_free(c->t3_tokens);
    vb_free(c->xvector);
    vb_free(c->prompt_tokens);
    vb_free(c->prompt_feat);
    memset(c, 0, sizeof *c);
}

/* S3Tokenizer codes of 16 kHz audio; max_tokens > 0 cuts the mel first */
static enum vb_err tokens_of(const struct cb_voice_encoders *enc, struct nn_pool *pool,
                             const float *wav16, int64_t n, int max_tokens, int64_t **out,
                             int *n_out, char *why, size_t cap)
{
    *out = NULL;
    *n_out = 0;
    int64_t T = cb_fe_s3tok_frames(n);
    if (T < 1 || n <= CB_ENC_N_FFT / 2)
        return vb_failf(why, cap, VB_ERR_UNPROCESSABLE, "reference audio too short for tokens");
    if (max_tokens <= 0 && T > CB_S3TOK_MAX_FRAMES)
        return vb_failf(why, cap, VB_ERR_TOO_LARGE, "reference audio too long for the tokenizer");
    float *mel = vb_try_malloc((size_t)T * CB_S3TOK_N_MELS * sizeof *mel);
    int cap_tok = cb_s3tok_n_tokens((int)VB_MIN(T, (int64_t)CB_S3TOK_MAX_FRAMES)) + 1;
    int64_t *tok = vb_try_malloc((size_t)cap_tok * sizeof *tok);
    enum vb_err err = VB_ERR_NOMEM;
    if (!mel || !tok)
        goto out;
    err = cb_fe_s3tok_log_mel(enc->fe, wav16, n, mel);
    if (err == VB_OK) {
        /* the encoder reads the first min(T, 4*max_tokens) frames of the (n_mels, T) mel */
        int use = (int)(max_tokens > 0 ? VB_MIN(T, (int64_t)4 * max_tokens) : T);
        if (use < T) {
            for (int m = 1; m < CB_S3TOK_N_MELS; m++)
                memmove(mel + (int64_t)m * use, mel + (int64_t)m * T, (size_t)use * sizeof *mel);
        }
        err = cb_s3tok_encode(enc->tok, pool, mel, use, 0, tok, cap_tok, n_out, NULL);
        if (err != VB_OK)
            vb_failf(why, cap, err, "speech tokenizer failed");
    }
out:
    vb_free(mel);
    if (err != VB_OK) {
        vb_free(tok);
        *n_out = 0;
        return err == VB_ERR_NOMEM ? vb_failf(why, cap, err, "out of memory") : err;
    }
    *out = tok;
    return VB_OK;
}

enum vb_err cb_voice_cond_compute(const struct cb_voice_encoders *enc, struct nn_pool *pool,
                                  const struct cb_voice_cond_params *p, const float *wav, int64_t n,
                                  int sample_rate, struct cb_voice_cond *out, char *why,
                                  size_t why_cap)
{
    memset(out, 0, sizeof *out);
    struct cb_voice_cond_params prm = p ? *p : cb_voice_cond_default_params();
    if (!enc || !enc->fe || !enc->ve || !enc->campplus || !enc->tok || !wav || n <= 0 ||
        sample_rate <= 0)
        return vb_failf(why, why_cap, VB_ERR_INVALID, "voice conditioning: bad arguments");
    struct audio_pcm in = {
        .samples = (float *)wav, .frames = (size_t)n, .channels = 1, .sample_rate = sample_rate};
    struct audio_pcm a24 = {0}, a16 = {0};
    float *r16b = NULL, *mel = NULL;
    enum vb_err err;
    /* 1. mono float at 24 kHz (libsoxr HQ, as librosa.load's soxr_hq) */
    if (sample_rate == CB_S3GEN_SR) {
        a24 = in;
        a24.samples = vb_try_malloc((size_t)n * sizeof *a24.samples);
        if (!a24.samples) {
            err = vb_failf(why, why_cap, VB_ERR_NOMEM, "out of memory");
            goto out;
        }
        memcpy(a24.samples, wav, (size_t)n * sizeof *wav);
    } else if ((err = audio_resample(&in, CB_S3GEN_SR, &a24)) != VB_OK) {
        vb_failf(why, why_cap, err, "resampling the reference to 24 kHz failed");
        goto out;
    }
    int64_t n24 = (int64_t)a24.frames;
    /* 2. the reference asserts a clip longer than 5 s */
    if ((double)n24 / CB_S3GEN_SR <= prm.min_seconds) {
        err = vb_failf(why, why_cap, VB_ERR_UNPROCESSABLE,
                       "reference audio is %.2f s; it must be longer than %.1f s",
                       (double)n24 / CB_S3GEN_SR, prm.min_seconds);
        goto out;
    }
    /* 3. loudness to -27 LUFS (skipped when the gain is not finite and positive) */
    if (prm.norm_loudness) {
        double lufs;
        if ((err = audio_loudness_integrated(&a24, &lufs)) != VB_OK) {
            vb_failf(why, why_cap, err, "loudness measurement failed");
            goto out;
        }
        double g = pow(10.0, (prm.target_lufs - lufs) / 20.0);
        if (isfinite(g) && g > 0)
            for (int64_t i = 0; i < n24; i++)
                a24.samples[i] = (float)(a24.samples[i] * g);
    }
    /* 4. ref16: the whole clip at 16 kHz (soxr) */
    if ((err = audio_resample(&a24, CB_ENC_SR, &a16)) != VB_OK) {
        vb_failf(why, why_cap, err, "resampling the reference to 16 kHz failed");
        goto out;
    }
    /* 5.-6. S3Gen: ref24 = first 10 s; prompt mel; sinc-resampled 16 kHz copy for CAMPPlus and
     * the prompt tokens */
    int64_t l24 = VB_MIN(n24, (int64_t)CB_VC_DEC_COND_LEN);
    int64_t T_p = cb_fe_s3gen_mel_frames(l24);
    int64_t l16 = cb_fe_resample_len(l24, CB_S3GEN_SR, CB_ENC_SR);
    mel = vb_try_malloc((size_t)(T_p * CB_S3GEN_N_MELS) * sizeof *mel);
    r16b = vb_try_malloc((size_t)l16 * sizeof *r16b);
    out->prompt_feat = vb_try_malloc((size_t)(T_p * CB_S3GEN_N_MELS) * sizeof *out->prompt_feat);
    out->xvec_dim = cb_campplus_embed_dim(enc->campplus);
    out->xvector = vb_try_malloc((size_t)out->xvec_dim * sizeof *out->xvector);
    out->spk_dim = cb_ve_embed_dim(enc->ve);
    out->speaker_emb = vb_try_malloc((size_t)out->spk_dim * sizeof *out->speaker_emb);
    if (!mel || !r16b || !out->prompt_feat || !out->xvector || !out->speaker_emb) {
        err = vb_failf(why, why_cap, VB_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((err = cb_fe_s3gen_mel(enc->fe, a24.samples, l24, mel)) != VB_OK) {
        vb_failf(why, why_cap, err, "prompt mel failed");
        goto out;
    }
    for (int64_t t = 0; t < T_p; t++)
        for (int m = 0; m < CB_S3GEN_N_MELS; m++)
            out->prompt_feat[t * CB_S3GEN_N_MELS + m] = mel[(int64_t)m * T_p + t];
    out->n_prompt_frames = (int)T_p;
    if ((err = cb_fe_resample(a24.samples, l24, CB_S3GEN_SR, CB_ENC_SR, r16b)) != VB_OK ||
        (err = cb_campplus_embed_wav(enc->campplus, enc->fe, pool, r16b, l16, out->xvector)) !=
            VB_OK) {
        vb_failf(why, why_cap, err, "speaker x-vector failed");
        goto out;
    }
    err = tokens_of(enc, pool, r16b, l16, 0, &out->prompt_tokens, &out->n_prompt_tokens, why,
                    why_cap);
    if (err != VB_OK)
        goto out;
    /* token/mel alignment: keep at most floor(T_p / 2) tokens */
    if (out->n_prompt_tokens > T_p / 2)
        out->n_prompt_tokens = (int)(T_p / 2);
    /* 7. T3: prompt tokens of ref16[:15 s] (at most 375), VE embedding of the whole ref16 */
    int64_t n16 = (int64_t)a16.frames;
    err = tokens_of(enc, pool, a16.samples, VB_MIN(n16, (int64_t)CB_VC_ENC_COND_LEN),
                    CB_VC_T3_PROMPT_MAX, &out->t3_tokens, &out->n_t3_tokens, why, why_cap);
    if (err != VB_OK)
        goto out;
    if ((err = cb_ve_embed_wav(enc->ve, enc->fe, pool, a16.samples, n16, out->speaker_emb)) !=
        VB_OK) {
        vb_failf(why, why_cap, err, "speaker embedding failed");
        goto out;
    }
out:
    audio_pcm_release(&a24);
    audio_pcm_release(&a16);
    vb_free(r16b);
    vb_free(mel);
    if (err != VB_OK)
        cb_voice_cond_release(out);
    return err;
}

enum vb_err cb_voice_cond_save(const struct cb_voice_cond *c, const char *path, char *why,
                               size_t why_cap)
{
    struct nn_st_writer *w = NULL;
    enum vb_err err = nn_st_writer_new(&w);
    if (err == VB_OK)
        err = nn_st_writer_metadata(w, "format", CB_VC_FORMAT);
    if (err == VB_OK)
        err = nn_st_writer_add(w, "speaker_emb", NN_ST_F32, 1, (int64_t[]){c->spk_dim},
                               c->speaker_emb);
    if (err == VB_OK)
        err = nn_st_writer_add(w, "t3_tokens", NN_ST_I64, 1, (int64_t[]){c->n_t3_tokens},
                               c->t3_tokens);
    if (err == VB_OK)
        err = nn_st_writer_add(w, "xvector", NN_ST_F32, 1, (int64_t[]){c->xvec_dim}, c->xvector);
    if (err == VB_OK)
        err = nn_st_writer_add(w, "prompt_tokens", NN_ST_I64, 1, (int64_t[]){c->n_prompt_tokens},
                               c->prompt_tokens);
    if (err == VB_OK)
        err = nn_st_writer_add(w, "prompt_feat", NN_ST_F32, 2,
                               (int64_t[]){c->n_prompt_frames, CB_S3GEN_N_MELS}, c->prompt_feat);
    if (err == VB_OK)
        err = nn_st_writer_write(w, path, why, why_cap);
    else
        vb_failf(why, why_cap, err, "voice conditionals: cannot serialise");
    nn_st_writer_free(w);
    return err;
}

/* 1-D tensor `name` of dtype, 0 <= length <= max_len, copied into a new array */
static enum vb_err load_vec(const struct nn_safetensors *st, const char *name,
                            enum nn_st_dtype dtype, int64_t min_len, int64_t max_len, void **out,
                            int *len, char *why, size_t cap)
{
    const struct nn_st_tensor *t = nn_st_find(st, name);
    if (!t || t->dtype != dtype || t->n_dims != 1 || t->shape[0] < min_len || t->shape[0] > max_len)
        return vb_failf(why, cap, VB_ERR_FORMAT, "conditionals: '%s' missing or malformed", name);
    size_t es = nn_st_dtype_size(dtype);
    void *p = vb_try_malloc((size_t)(t->shape[0] ? t->shape[0] : 1) * es);
    if (!p)
        return vb_failf(why, cap, VB_ERR_NOMEM, "out of memory");
    if (t->nbytes)
        memcpy(p, t->data, t->nbytes);
    *out = p;
    *len = (int)t->shape[0];
    return VB_OK;
}

enum vb_err cb_voice_cond_load(const char *path, struct cb_voice_cond *out, char *why,
                               size_t why_cap)
{
    memset(out, 0, sizeof *out);
    struct nn_safetensors *st = NULL;
    enum vb_err err = nn_st_open(path, &st, why, why_cap);
    if (err != VB_OK)
        return err;
    const char *fmt = nn_st_metadata(st, "format");
    if (!fmt || strcmp(fmt, CB_VC_FORMAT) != 0) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT, "%s: not a conditionals file (format %s)", path,
                       fmt ? fmt : "missing");
        goto out;
    }
    if ((err = load_vec(st, "speaker_emb", NN_ST_F32, 1, 65536, (void **)&out->speaker_emb,
                        &out->spk_dim, why, why_cap)) != VB_OK ||
        (err = load_vec(st, "t3_tokens", NN_ST_I64, 0, CB_VC_T3_PROMPT_MAX,
                        (void **)&out->t3_tokens, &out->n_t3_tokens, why, why_cap)) != VB_OK ||
        (err = load_vec(st, "xvector", NN_ST_F32, 1, 65536, (void **)&out->xvector, &out->xvec_dim,
                        why, why_cap)) != VB_OK ||
        (err = load_vec(st, "prompt_tokens", NN_ST_I64, 0, CB_S3TOK_MAX_TOKENS,
                        (void **)&out->prompt_tokens, &out->n_prompt_tokens, why, why_cap)) !=
            VB_OK)
        goto out;
    for (int i = 0; i < out->n_t3_tokens; i++)
        if (out->t3_tokens[i] < 0 || out->t3_tokens[i] >= CB_S3TOK_CODEBOOK) {
            err = vb_failf(why, why_cap, VB_ERR_FORMAT, "conditionals: t3 token out of range");
            goto out;
        }
    for (int i = 0; i < out->n_prompt_tokens; i++)
        if (out->prompt_tokens[i] < 0 || out->prompt_tokens[i] >= CB_S3TOK_CODEBOOK) {
            err = vb_failf(why, why_cap, VB_ERR_FORMAT, "conditionals: prompt token out of range");
            goto out;
        }
    const struct nn_st_tensor *pf = nn_st_find(st, "prompt_feat");
    if (!pf || pf->dtype != NN_ST_F32 || pf->n_dims != 2 || pf->shape[1] != CB_S3GEN_N_MELS ||
        pf->shape[0] < 2 * (int64_t)out->n_prompt_tokens || pf->shape[0] > 100000) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT,
                       "conditionals: 'prompt_feat' missing or malformed");
        goto out;
    }
    out->n_prompt_frames = (int)pf->shape[0];
    out->prompt_feat = vb_try_malloc(pf->nbytes ? pf->nbytes : 1);
    if (!out->prompt_feat) {
        err = vb_failf(why, why_cap, VB_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(out->prompt_feat, pf->data, pf->nbytes);
out:
    nn_st_close(st);
    if (err != VB_OK)
        cb_voice_cond_release(out);
    return err;
}

/* tensor `t` (any numeric dtype) with last dim `inner` (0: any) and all leading dims 1 except
 * one, converted into a new array of f32 (f) or i64 (!f); *count receives the element count */
static enum vb_err pt_tensor(const struct nn_pk *t, const char *name, bool f, int64_t max_numel,
                             void **out, int *count, char *why, size_t cap)
{
    *out = NULL;
    *count = 0;
    if (!t || t->type == NN_PK_NONE) {
        if (f)
            return vb_failf(why, cap, VB_ERR_FORMAT, "conds.pt: '%s' missing", name);
        *out = vb_try_malloc(sizeof(int64_t)); /* no tokens */
        return *out ? VB_OK : VB_ERR_NOMEM;
    }
    if (t->type != NN_PK_TENSOR)
        return vb_failf(why, cap, VB_ERR_FORMAT, "conds.pt: '%s' is not a tensor", name);
    int64_t n = nn_pk_numel(t);
    if (n > max_numel)
        return vb_failf(why, cap, VB_ERR_FORMAT, "conds.pt: '%s' has %lld elements (at most %lld)",
                        name, (long long)n, (long long)max_numel);
    struct nn_st_tensor v = {
        .name = name, .dtype = t->dtype, .n_dims = t->n_dims, .data = t->data, .nbytes = t->nbytes};
    memcpy(v.shape, t->shape, sizeof v.shape);
    void *p = vb_try_malloc((size_t)(n ? n : 1) * (f ? sizeof(float) : sizeof(int64_t)));
    if (!p)
        return VB_ERR_NOMEM;
    enum vb_err err = f ? nn_st_to_f32(&v, p, (size_t)n) : nn_st_to_i64(&v, p, (size_t)n);
    if (err != VB_OK) {
        vb_free(p);
        return vb_failf(why, cap, VB_ERR_FORMAT, "conds.pt: '%s' has dtype %s", name,
                        nn_st_dtype_name(t->dtype));
    }
    *out = p;
    *count = (int)n;
    return VB_OK;
}

enum vb_err cb_voice_cond_load_pt(const char *path, struct cb_voice_cond *out, char *why,
                                  size_t why_cap)
{
    memset(out, 0, sizeof *out);
    struct nn_tz *tz = NULL;
    enum vb_err err = nn_tz_open(path, &tz, why, why_cap);
    if (err != VB_OK)
        return err;
    const struct nn_pk *root = nn_tz_root(tz), *t3 = nn_pk_get(root, "t3"),
                       *gen = nn_pk_get(root, "gen");
    if (!t3 || !gen) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT, "conds.pt: expected a dict with t3 and gen");
        goto out;
    }
    const struct nn_pk *feat = nn_pk_get(gen, "prompt_feat");
    if (!feat || feat->type != NN_PK_TENSOR || feat->n_dims < 2 ||
        feat->shape[feat->n_dims - 1] != CB_S3GEN_N_MELS) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT, "conds.pt: gen.prompt_feat is not (1, T, 80)");
        goto out;
    }
    int nf = 0;
    if ((err = pt_tensor(nn_pk_get(t3, "speaker_emb"), "t3.speaker_emb", true, 65536,
                         (void **)&out->speaker_emb, &out->spk_dim, why, why_cap)) != VB_OK ||
        (err = pt_tensor(nn_pk_get(t3, "cond_prompt_speech_tokens"), "t3.cond_prompt_speech_tokens",
                         false, CB_VC_T3_PROMPT_MAX, (void **)&out->t3_tokens, &out->n_t3_tokens,
                         why, why_cap)) != VB_OK ||
        (err = pt_tensor(nn_pk_get(gen, "embedding"), "gen.embedding", true, 65536,
                         (void **)&out->xvector, &out->xvec_dim, why, why_cap)) != VB_OK ||
        (err = pt_tensor(nn_pk_get(gen, "prompt_token"), "gen.prompt_token", false,
                         CB_S3TOK_MAX_TOKENS, (void **)&out->prompt_tokens, &out->n_prompt_tokens,
                         why, why_cap)) != VB_OK ||
        (err = pt_tensor(feat, "gen.prompt_feat", true, (int64_t)100000 * CB_S3GEN_N_MELS,
                         (void **)&out->prompt_feat, &nf, why, why_cap)) != VB_OK)
        goto out;
    out->n_prompt_frames = nf / CB_S3GEN_N_MELS;
    if (out->spk_dim < 1 || out->xvec_dim < 1) {
        err = vb_failf(why, why_cap, VB_ERR_FORMAT, "conds.pt: empty speaker embedding");
        goto out;
    }
    for (int i = 0; i < out->n_t3_tokens; i++)
        if (out->t3_tokens[i] < 0 || out->t3_tokens[i] >= CB_S3TOK_CODEBOOK)
            err = vb_failf(why, why_cap, VB_ERR_FORMAT, "conds.pt: t3 token out of range");
    for (int i = 0; i < out->n_prompt_tokens; i++)
        if (out->prompt_tokens[i] < 0 || out->prompt_tokens[i] >= CB_S3TOK_CODEBOOK)
            err = vb_failf(why, why_cap, VB_ERR_FORMAT, "conds.pt: prompt token out of range");
    /* the same alignment rule as embed_ref: at most floor(frames / 2) tokens */
    if (out->n_prompt_tokens > out->n_prompt_frames / 2)
        out->n_prompt_tokens = out->n_prompt_frames / 2;
out:
    nn_tz_close(tz);
    if (err != VB_OK)
        cb_voice_cond_release(out);
    return err;
}
