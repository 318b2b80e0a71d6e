/* test_voice_encoder.c: VoiceEncoder against the reference vectors (chatterbox-ref/
 * voice_encoder, real-size random weights): trim bounds, mel, per-partial embeddings and the
 * utterance embedding for a 1-partial and a 4-partial clip; partial counting; load errors. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "nn/safetensors.h"
#include "tts/chatterbox/frontend.h"
#include "tts/chatterbox/voice_encoder.h"
#include "unit/refdata.h"
#include "unit/test.h"

#include <math.h>
#include <stdlib.h>

static struct nn_safetensors *io, *wst;
static struct cb_frontend *fe;
static struct cb_ve *ve;
static struct nn_pool *pool;

static const char *refdir(void)
{
    const char *d = getenv("VOCERO_REFDATA");
    return d && *d ? d : "../shared/testdata";
}

static float *load(const char *name, int64_t *numel)
{
    const struct nn_st_tensor *t = nn_st_find(io, name);
    CHECK_MSG(t != NULL, "missing %s", name);
    if (!t)
        return NULL;
    *numel = nn_st_numel(t);
    float *p = vb_xmalloc((size_t)*numel * sizeof *p);
    CHECK(nn_st_to_f32(t, p, (size_t)*numel) == VB_OK);
    return p;
}

static double max_abs(const float *a, const float *b, int64_t n)
{
    double e = 0;
    for (int64_t i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i] - b[i]));
    return e;
}

static void run_case(const char *c)
{
    char name[64];
    int64_t n_wav, n_mel, n_part, n_emb, n_spk;
    snprintf(name, sizeof name, "%s.wav_16k", c);
    float *wav = load(name, &n_wav);
    snprintf(name, sizeof name, "%s.mel", c);
    float *mel_ref = load(name, &n_mel);
    snprintf(name, sizeof name, "%s.partial_embeds", c);
    float *part_ref = load(name, &n_part);
    snprintf(name, sizeof name, "%s.embed", c);
    float *emb_ref = load(name, &n_emb);
    snprintf(name, sizeof name, "%s.speaker_emb", c);
    float *spk_ref = load(name, &n_spk);
    snprintf(name, sizeof name, "%s.trim_start_end", c);
    const struct nn_st_tensor *tt = nn_st_find(io, name);
    int64_t se[2] = {-1, -1};
    CHECK(tt && nn_st_to_i64(tt, se, 2) == VB_OK);
    if (!wav || !mel_ref || !part_ref || !emb_ref || !spk_ref)
        goto out;

    int64_t a, b;
    cb_ve_trim(wav, n_wav, 20, &a, &b);
    CHECK_MSG(a == se[0] && b == se[1], "%s: trim [%lld, %lld) vs [%lld, %lld)", c, (long long)a,
              (long long)b, (long long)se[0], (long long)se[1]);

    /* mel: ours (40, T) vs reference (T, 40) */
    int64_t T = cb_fe_ve_mel_frames(b - a);
    CHECK_EQ_INT(T * 40, n_mel);
    if (T * 40 != n_mel)
        goto out;
    float *mel = vb_xmalloc((size_t)n_mel * sizeof *mel), *tm = vb_xmalloc((size_t)n_mel * 4);
    CHECK(cb_fe_ve_mel(fe, wav + a, b - a, mel) == VB_OK);
    double rel = 0;
    for (int m = 0; m < 40; m++)
        for (int64_t t = 0; t < T; t++) {
            float g = mel[m * T + t], w = mel_ref[t * 40 + m];
            tm[t * 40 + m] = g;
            rel = fmax(rel, fabs((double)g - w) / fmax(fabs((double)w), 1e-6));
        }
    fprintf(stderr, "  %s.mel: max rel err %.3g\n", c, rel);
    CHECK(rel < 5e-5); /* measured 9.9e-6 at every ISA level */

    int P = cb_ve_num_partials(ve, T, NULL);
    CHECK_EQ_INT(P * 256, n_part);
    float emb[256];
    float *parts = vb_xmalloc((size_t)P * 256 * sizeof *parts);
    /* from the reference mel: isolates the network */
    CHECK(cb_ve_embed_mel(ve, pool, mel_ref, T, emb, parts) == VB_OK);
    double ep = P * 256 == n_part ? max_abs(parts, part_ref, n_part) : 1;
    double ee = max_abs(emb, emb_ref, 256);
    fprintf(stderr, "  %s (ref mel): partial_embeds max abs err %.3g, embed %.3g\n", c, ep, ee);
    CHECK(ep < 1e-6 && ee < 1e-6); /* measured <= 1.4e-7, 5.6e-8 */
    /* whole path from audio */
    CHECK(cb_ve_embed_wav(ve, fe, pool, wav, n_wav, emb) == VB_OK);
    double es = max_abs(emb, spk_ref, 256);
    fprintf(stderr, "  %s (wav): speaker_emb max abs err %.3g\n", c, es);
    CHECK(es < 5e-7); /* measured <= 6.7e-8 */
    vb_free(parts);
    vb_free(mel);
    vb_free(tm);
out:
    vb_free(wav);
    vb_free(mel_ref);
    vb_free(part_ref);
    vb_free(emb_ref);
    vb_free(spk_ref);
}

TEST(short_clip)
{
    run_case("short");
}

TEST(long_clip)
{
    run_case("long");
}

TEST(partial_counts)
{
    int64_t target;
    CHECK_EQ_INT(cb_ve_num_partials(ve, 151, &target), 1);
    CHECK_EQ_INT(target, 160);
    CHECK_EQ_INT(cb_ve_num_partials(ve, 401, &target), 4);
    CHECK_EQ_INT(target, 391);
    CHECK_EQ_INT(cb_ve_num_partials(ve, 1, &target), 1);
    /* 160 + 77*k frames exactly: k+1 partials */
    CHECK_EQ_INT(cb_ve_num_partials(ve, 160 + 77 * 5, &target), 6);
    /* (rem + 83)/160 >= 0.8 adds one: rem = 45 -> 128/160 = 0.8 */
    CHECK_EQ_INT(cb_ve_num_partials(ve, 160 + 77 * 2 + 45, &target), 4);
    CHECK_EQ_INT(cb_ve_num_partials(ve, 160 + 77 * 2 + 44, &target), 3);
}

TEST(trim_and_errors)
{
    float z[4000] = {0};
    int64_t a = 7, b = 7;
    cb_ve_trim(z, 4000, 20, &a, &b);
    CHECK(a == 0 && b == 4000); /* librosa keeps all of an all-zero clip */
    float emb[256];
    CHECK(cb_ve_embed_wav(ve, fe, pool, z, 4000, emb) == VB_OK && isfinite(emb[0]));
    CHECK(cb_ve_embed_wav(ve, fe, pool, z, 150, emb) == VB_ERR_INVALID);
    CHECK(cb_ve_embed_mel(ve, pool, z, 0, emb, NULL) == VB_ERR_INVALID);
    /* a burst in silence: kept region covers it */
    static float x[16000];
    for (int i = 6000; i < 9000; i++)
        x[i] = sinf((float)i * 0.1f) * 0.5f;
    cb_ve_trim(x, 16000, 20, &a, &b);
    CHECK(a <= 6000 && b >= 9000 && a > 0 && b < 16000);
}

TEST(load_errors)
{
    char why[256] = "";
    struct cb_ve *bad = NULL;
    CHECK(cb_ve_load(wst, "nope.", NULL, &bad, why, sizeof why) == VB_ERR_FORMAT && !bad &&
          strstr(why, "nope.lstm"));
    struct cb_ve_config cfg = cb_ve_default_config();
    cfg.rate = 0;
    CHECK(cb_ve_load(wst, "", &cfg, &bad, why, sizeof why) == VB_ERR_INVALID && !bad);
}

TEST(random_checkpoint)
{
    struct nn_st_writer *w = NULL;
    CHECK(nn_st_writer_new(&w) == VB_OK);
    CHECK(cb_ve_add_random(w, "", 40, 256, 3, 256, 5) == VB_OK);
    CHECK_EQ_INT(nn_st_writer_count(w), 16); /* as in ve.safetensors */
    struct vb_buf b;
    vb_buf_init(&b, (size_t)1 << 28);
    CHECK(nn_st_writer_to_buf(w, &b) == VB_OK);
    nn_st_writer_free(w);
    struct nn_safetensors *st = NULL;
    struct cb_ve *m = NULL;
    char why[256] = "";
    CHECK(nn_st_open_memory(b.data, b.len, &st, why, sizeof why) == VB_OK);
    CHECK_MSG(cb_ve_load(st, "", NULL, &m, why, sizeof why) == VB_OK, "%s", why);
    struct cb_frontend *f = NULL;
    CHECK(cb_frontend_new(&f) == VB_OK);
    if (m && f) {
        static float wav[32000];
        for (int i = 0; i < 32000; i++)
            wav[i] = 0.4f * sinf((float)i * 0.03f + 1e-6f * (float)i * (float)i);
        float e[256];
        CHECK(cb_ve_embed_wav(m, f, pool, wav, 32000, e) == VB_OK);
        double n2 = 0;
        for (int i = 0; i < 256; i++)
            n2 += (double)e[i] * e[i];
        CHECK_NEAR(n2, 1.0, 1e-5); /* L2-normalised */
        /* a long mel runs its 35 partials in groups; each partial equals the partial alone */
        const int T = 160 + 77 * 34;
        float *mel = vb_xmalloc((size_t)T * 40 * sizeof *mel);
        float *parts = vb_xmalloc(35 * 256 * sizeof *parts), one[256], emb[256];
        for (int i = 0; i < T * 40; i++)
            mel[i] = 0.5f + 0.5f * sinf((float)i * 0.013f) * sinf((float)i * 0.0007f);
        CHECK_EQ_INT(cb_ve_num_partials(m, T, NULL), 35);
        CHECK(cb_ve_embed_mel(m, pool, mel, T, emb, parts) == VB_OK);
        static const int check[] = {0, 31, 32, 34};
        for (size_t k = 0; k < VB_ARRAY_LEN(check); k++) {
            CHECK(cb_ve_embed_mel(m, NULL, mel + check[k] * 77 * 40, 160, one, NULL) == VB_OK);
            double d = 0;
            for (int i = 0; i < 256; i++)
                d = fmax(d, fabs((double)one[i] - parts[check[k] * 256 + i]));
            CHECK_MSG(d < 1e-5, "partial %d: %g", check[k], d);
        }
        double mean[256] = {0}, mn = 0, d = 0;
        for (int q = 0; q < 35; q++)
            for (int i = 0; i < 256; i++)
                mean[i] += parts[q * 256 + i];
        for (int i = 0; i < 256; i++)
            mn += mean[i] * mean[i];
        for (int i = 0; i < 256; i++)
            d = fmax(d, fabs(mean[i] / sqrt(mn) - emb[i]));
        CHECK_MSG(d < 1e-6, "embed vs mean of partials: %g", d);
        vb_free(mel);
        vb_free(parts);
    }
    cb_frontend_free(f);
    cb_ve_free(m);
    nn_st_close(st);
    vb_buf_release(&b);
    CHECK(nn_st_writer_new(&w) == VB_OK);
    CHECK(cb_ve_add_random(w, "", 40, 0, 3, 256, 5) == VB_ERR_INVALID);
    nn_st_writer_free(w);
}

int main(void)
{
    char path[512], why[256];
    snprintf(path, sizeof path, "%s/chatterbox-ref/voice_encoder/weights.safetensors", refdir());
    CHECK(nn_pool_new(2, &pool) == VB_OK);
    RUN(random_checkpoint);
    wst = refdata_open_st("voice_encoder_reference", path);
    if (!wst) {
        nn_pool_free(pool);
        return test_summary();
    }
    snprintf(path, sizeof path, "%s/chatterbox-ref/voice_encoder/io.safetensors", refdir());
    io = refdata_open_st("voice_encoder_reference", path);
    CHECK(cb_frontend_new(&fe) == VB_OK);
    CHECK_MSG(cb_ve_load(wst, "", NULL, &ve, why, sizeof why) == VB_OK, "%s", why);
    if (io && ve) {
        CHECK(cb_ve_embed_dim(ve) == 256 && cb_ve_n_mels(ve) == 40);
        RUN(partial_counts);
        RUN(short_clip);
        RUN(long_clip);
        RUN(trim_and_errors);
        RUN(load_errors);
    }
    cb_ve_free(ve);
    nn_pool_free(pool);
    cb_frontend_free(fe);
    nn_st_close(io);
    nn_st_close(wst);
    return test_summary();
}
