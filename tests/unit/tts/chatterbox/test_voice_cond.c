/* test_voice_cond.c: reference-voice conditionals with random VoiceEncoder/CAMPPlus weights and
 * the reference S3Tokenizer weights: sizes for a 6 s clip, each piece equal to its component
 * computed directly, loudness normalisation, the 5 s minimum, other input rates, and the
 * save/load round trip with corrupt files refused. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "nn/safetensors.h"
#include "nn/safetensors_write.h"
#include "tts/chatterbox/voice_cond.h"
#include "unit/refdata.h"
#include "unit/test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static struct cb_voice_encoders enc;
static struct nn_pool *pool;

static const char *refdir(void)
{
    const char *d = getenv("VOCERO_REFDATA");
    return d && *d ? d : "../shared/testdata";
}

/* speech-ish test clip: gliding harmonic tone with a syllable envelope and noise */
static float *clip(int rate, double seconds, double gain, int64_t *n)
{
    *n = (int64_t)(seconds * rate);
    float *w = vb_xmalloc((size_t)*n * sizeof *w);
    uint64_t r = 99;
    for (int64_t i = 0; i < *n; i++) {
        double t = (double)i / rate;
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        double env = 0.55 + 0.45 * sin(2 * M_PI * 3.1 * t);
        double f0 = 140 + 30 * sin(2 * M_PI * 0.7 * t);
        double v = sin(2 * M_PI * f0 * t) + 0.5 * sin(4 * M_PI * f0 * t) +
                   0.05 * ((double)(r >> 40) / 16777216.0 - 0.5);
        w[i] = (float)(gain * env * v);
    }
    return w;
}

static double max_diff(const float *a, const float *b, int64_t n)
{
    double e = 0;
    for (int64_t i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i] - b[i]));
    return e;
}

TEST(sizes_and_components)
{
    int64_t n;
    float *w = clip(24000, 6.0, 0.3, &n);
    struct cb_voice_cond c;
    char why[256] = "";
    struct cb_voice_cond_params p = cb_voice_cond_default_params();
    p.norm_loudness = false; /* so the pieces can be recomputed from w directly */
    CHECK_MSG(cb_voice_cond_compute(&enc, pool, &p, w, n, 24000, &c, why, sizeof why) == VB_OK,
              "%s", why);
    CHECK_EQ_INT(c.n_prompt_frames, 300);
    CHECK_EQ_INT(c.n_prompt_tokens, 150);
    CHECK_EQ_INT(c.n_t3_tokens, 150);
    CHECK_EQ_INT(c.spk_dim, 256);
    CHECK_EQ_INT(c.xvec_dim, cb_campplus_embed_dim(enc.campplus));
    double n2 = 0;
    for (int i = 0; i < c.spk_dim; i++)
        n2 += (double)c.speaker_emb[i] * c.speaker_emb[i];
    CHECK_NEAR(n2, 1.0, 1e-5);
    for (int i = 0; i < c.n_t3_tokens; i++)
        CHECK(c.t3_tokens[i] >= 0 && c.t3_tokens[i] < 6561);
    /* prompt mel = S3Gen mel of the clip, transposed */
    float *mel = vb_xmalloc(80 * 300 * sizeof *mel);
    CHECK(cb_fe_s3gen_mel(enc.fe, w, n, mel) == VB_OK);
    double e = 0;
    for (int t = 0; t < 300; t++)
        for (int m = 0; m < 80; m++)
            e = fmax(e, fabs((double)c.prompt_feat[t * 80 + m] - mel[m * 300 + t]));
    CHECK(e == 0);
    /* x-vector and prompt tokens = CAMPPlus / tokenizer on the sinc-resampled clip */
    int64_t n16 = cb_fe_resample_len(n, 24000, 16000);
    float *w16 = vb_xmalloc((size_t)n16 * sizeof *w16), xv[192];
    CHECK(cb_fe_resample(w, n, 24000, 16000, w16) == VB_OK);
    CHECK(cb_campplus_embed_wav(enc.campplus, enc.fe, pool, w16, n16, xv) == VB_OK);
    CHECK(max_diff(xv, c.xvector, c.xvec_dim) == 0);
    int64_t T = cb_fe_s3tok_frames(n16);
    float *lm = vb_xmalloc((size_t)(128 * T) * sizeof *lm);
    CHECK(cb_fe_s3tok_log_mel(enc.fe, w16, n16, lm) == VB_OK);
    int64_t toks[200];
    int nt = 0;
    CHECK(cb_s3tok_encode(enc.tok, pool, lm, (int)T, 0, toks, 200, &nt, NULL) == VB_OK);
    CHECK(nt >= c.n_prompt_tokens);
    CHECK(memcmp(toks, c.prompt_tokens, (size_t)c.n_prompt_tokens * sizeof *toks) == 0);
    vb_free(lm);
    vb_free(w16);
    vb_free(mel);
    cb_voice_cond_release(&c);
    cb_voice_cond_release(&c); /* idempotent */
    vb_free(w);
}

TEST(loudness_normalisation)
{
    int64_t n;
    float *a = clip(24000, 5.5, 0.3, &n), *b = clip(24000, 5.5, 0.03, &n);
    struct cb_voice_cond ca, cb;
    char why[256] = "";
    CHECK(cb_voice_cond_compute(&enc, pool, NULL, a, n, 24000, &ca, why, sizeof why) == VB_OK);
    CHECK(cb_voice_cond_compute(&enc, pool, NULL, b, n, 24000, &cb, why, sizeof why) == VB_OK);
    /* 20 dB apart before, the same after normalisation (up to float rounding) */
    double e = max_diff(ca.prompt_feat, cb.prompt_feat, (int64_t)ca.n_prompt_frames * 80);
    double es = max_diff(ca.speaker_emb, cb.speaker_emb, ca.spk_dim);
    fprintf(stderr, "  gain-normalised: prompt mel diff %.3g, speaker_emb diff %.3g\n", e, es);
    CHECK(e < 1e-3 && es < 1e-4);
    cb_voice_cond_release(&ca);
    cb_voice_cond_release(&cb);
    vb_free(a);
    vb_free(b);
}

TEST(lengths_and_rates)
{
    int64_t n;
    float *w = clip(24000, 4.0, 0.3, &n);
    struct cb_voice_cond c;
    char why[256] = "";
    CHECK(cb_voice_cond_compute(&enc, pool, NULL, w, n, 24000, &c, why, sizeof why) ==
              VB_ERR_UNPROCESSABLE &&
          strstr(why, "longer than 5.0 s") && c.speaker_emb == NULL);
    struct cb_voice_cond_params p = cb_voice_cond_default_params();
    p.min_seconds = 0;
    CHECK(cb_voice_cond_compute(&enc, pool, &p, w, n, 24000, &c, why, sizeof why) == VB_OK);
    CHECK_EQ_INT(c.n_prompt_frames, 200);
    cb_voice_cond_release(&c);
    vb_free(w);
    /* 16 kHz and 44.1 kHz inputs are brought to 24 kHz first; 12 s: prompt capped at 10 s */
    w = clip(16000, 12.0, 0.3, &n);
    CHECK_MSG(cb_voice_cond_compute(&enc, pool, NULL, w, n, 16000, &c, why, sizeof why) == VB_OK,
              "%s", why);
    CHECK_EQ_INT(c.n_prompt_frames, 500);
    CHECK_EQ_INT(c.n_prompt_tokens, 250);
    CHECK_EQ_INT(c.n_t3_tokens, 300);
    cb_voice_cond_release(&c);
    vb_free(w);
    w = clip(44100, 5.2, 0.3, &n);
    CHECK(cb_voice_cond_compute(&enc, pool, NULL, w, n, 44100, &c, why, sizeof why) == VB_OK);
    CHECK_EQ_INT(c.n_prompt_frames, 260);
    cb_voice_cond_release(&c);
    CHECK(cb_voice_cond_compute(&enc, pool, NULL, w, 0, 44100, &c, why, sizeof why) ==
          VB_ERR_INVALID);
    vb_free(w);
}

TEST(save_load)
{
    int64_t n;
    float *w = clip(24000, 5.5, 0.3, &n);
    struct cb_voice_cond c, d;
    char why[256] = "";
    CHECK(cb_voice_cond_compute(&enc, pool, NULL, w, n, 24000, &c, why, sizeof why) == VB_OK);
    char path[] = "/tmp/vocero_conds_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_MSG(cb_voice_cond_save(&c, path, why, sizeof why) == VB_OK, "%s", why);
    CHECK_MSG(cb_voice_cond_load(path, &d, why, sizeof why) == VB_OK, "%s", why);
    CHECK(d.spk_dim == c.spk_dim && d.n_t3_tokens == c.n_t3_tokens && d.xvec_dim == c.xvec_dim &&
          d.n_prompt_tokens == c.n_prompt_tokens && d.n_prompt_frames == c.n_prompt_frames);
    if (d.spk_dim == c.spk_dim && d.n_prompt_frames == c.n_prompt_frames) {
        CHECK(memcmp(d.speaker_emb, c.speaker_emb, (size_t)c.spk_dim * 4) == 0);
        CHECK(memcmp(d.t3_tokens, c.t3_tokens, (size_t)c.n_t3_tokens * 8) == 0);
        CHECK(memcmp(d.xvector, c.xvector, (size_t)c.xvec_dim * 4) == 0);
        CHECK(memcmp(d.prompt_tokens, c.prompt_tokens, (size_t)c.n_prompt_tokens * 8) == 0);
        CHECK(memcmp(d.prompt_feat, c.prompt_feat, (size_t)c.n_prompt_frames * 80 * 4) == 0);
    }
    cb_voice_cond_release(&d);
    /* corrupt files */
    c.t3_tokens[0] = 7000;
    CHECK(cb_voice_cond_save(&c, path, why, sizeof why) == VB_OK);
    CHECK(cb_voice_cond_load(path, &d, why, sizeof why) == VB_ERR_FORMAT && strstr(why, "range") &&
          d.speaker_emb == NULL);
    struct nn_st_writer *sw = NULL;
    CHECK(nn_st_writer_new(&sw) == VB_OK);
    CHECK(nn_st_writer_add(sw, "speaker_emb", NN_ST_F32, 1, (int64_t[]){4}, c.speaker_emb) ==
          VB_OK);
    CHECK(nn_st_writer_write(sw, path, why, sizeof why) == VB_OK);
    nn_st_writer_free(sw);
    CHECK(cb_voice_cond_load(path, &d, why, sizeof why) == VB_ERR_FORMAT && strstr(why, "format"));
    unlink(path);
    CHECK(cb_voice_cond_load(path, &d, why, sizeof why) == VB_ERR_NOT_FOUND);
    cb_voice_cond_release(&c);
    vb_free(w);
}

/* random weights for a model into a kept buffer, opened */
static struct nn_safetensors *random_st(struct vb_buf *b, bool campplus)
{
    struct nn_st_writer *w = NULL;
    CHECK(nn_st_writer_new(&w) == VB_OK);
    struct cb_campplus_shape s = cb_campplus_real_shape();
    s.init_channels = 32;
    s.growth_rate = 8;
    s.layers[0] = 2, s.layers[1] = 2, s.layers[2] = 2;
    CHECK((campplus ? cb_campplus_add_random(w, "speaker_encoder.", &s, 3)
                    : cb_ve_add_random(w, "", 40, 256, 3, 256, 4)) == VB_OK);
    vb_buf_init(b, (size_t)1 << 28);
    CHECK(nn_st_writer_to_buf(w, b) == VB_OK);
    nn_st_writer_free(w);
    struct nn_safetensors *st = NULL;
    char why[256];
    CHECK(nn_st_open_memory(b->data, b->len, &st, why, sizeof why) == VB_OK);
    return st;
}

int main(void)
{
    char path[512], why[256] = "";
    snprintf(path, sizeof path, "%s/chatterbox-ref/s3tokenizer/weights.safetensors", refdir());
    struct nn_safetensors *tst = refdata_open_st("voice_cond", path);
    if (!tst)
        return test_summary();
    struct vb_buf bve, bcp;
    struct nn_safetensors *sve = random_st(&bve, false), *scp = random_st(&bcp, true);
    struct cb_frontend *fe = NULL;
    struct cb_ve *ve = NULL;
    struct cb_campplus *cp = NULL;
    struct cb_s3tok *tok = NULL;
    CHECK(cb_frontend_new(&fe) == VB_OK);
    CHECK(nn_pool_new(2, &pool) == VB_OK);
    CHECK_MSG(cb_s3tok_load(tst, "tokenizer.", NULL, &tok, why, sizeof why) == VB_OK, "%s", why);
    CHECK(sve && cb_ve_load(sve, "", NULL, &ve, why, sizeof why) == VB_OK);
    CHECK(scp && cb_campplus_load(scp, "speaker_encoder.", NULL, &cp, why, sizeof why) == VB_OK);
    enc = (struct cb_voice_encoders){.fe = fe, .ve = ve, .campplus = cp, .tok = tok};
    if (fe && ve && cp && tok) {
        RUN(sizes_and_components);
        RUN(loudness_normalisation);
        RUN(lengths_and_rates);
        RUN(save_load);
    }
    cb_s3tok_free(tok);
    cb_campplus_free(cp);
    cb_ve_free(ve);
    cb_frontend_free(fe);
    nn_pool_free(pool);
    nn_st_close(sve);
    nn_st_close(scp);
    nn_st_close(tst);
    vb_buf_release(&bve);
    vb_buf_release(&bcp);
    return test_summary();
}
