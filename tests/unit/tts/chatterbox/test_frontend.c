/* test_frontend.c: Chatterbox front ends against the PyTorch/librosa reference vectors
 * (chatterbox-ref/frontend): S3Gen mel, S3Tokenizer log-mel, VoiceEncoder mel, Kaldi fbank
 * (+CMN), torchaudio resampler 24k->16k; plus input validation. */
#include "core/vb.h"
#include "core/alloc.h"
#include "nn/safetensors.h"
#include "tts/chatterbox/frontend.h"
#include "unit/refdata.h"
#include "unit/test.h"

#include <math.h>
#include <stdlib.h>

static struct nn_safetensors *ref;
static struct cb_frontend *fe;

static const char *refdir(void)
{
    const char *d = getenv("VOCERO_REFDATA");
    return d && *d ? d : "../shared/testdata";
}

/* reference tensor as a new float array with numel elements, or NULL (and a failed check) */
static float *load(const char *name, int64_t numel)
{
    const struct nn_st_tensor *t = nn_st_find(ref, name);
    CHECK_MSG(t && nn_st_numel(t) == numel, "%s: missing or %lld elements", name,
              t ? (long long)nn_st_numel(t) : -1LL);
    if (!t || nn_st_numel(t) != numel)
        return NULL;
    float *p = vb_xmalloc((size_t)numel * sizeof *p);
    CHECK(nn_st_to_f32(t, p, (size_t)numel) == VB_OK);
    return p;
}

/* max |a-b| / (|b| + floor) style comparison; returns max abs error, prints both */
static void compare(const char *name, const float *got, const float *want, int64_t n,
                    double abs_tol, double rel_tol)
{
    double max_abs = 0, max_rel = 0;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        double r = d / fmax(fabs((double)want[i]), 1e-30);
        max_abs = fmax(max_abs, d);
        if (d > abs_tol)
            max_rel = fmax(max_rel, r);
        if (d > abs_tol && r > rel_tol)
            bad++;
    }
    fprintf(stderr, "  %-22s max abs err %.3g, max rel err (beyond abs %.0e) %.3g\n", name, max_abs,
            abs_tol, max_rel);
    CHECK_MSG(bad == 0, "%s: %lld values off (abs tol %g, rel tol %g)", name, (long long)bad,
              abs_tol, rel_tol);
}

TEST(s3gen_mel)
{
    float *wav = load("wav_24k", 36000), *want = load("s3gen_mel", 80 * 75);
    if (wav && want) {
        CHECK_EQ_INT(cb_fe_s3gen_mel_frames(36000), 75);
        float *mel = vb_xmalloc(80 * 75 * sizeof *mel);
        CHECK(cb_fe_s3gen_mel(fe, wav, 36000, mel) == VB_OK);
        compare("s3gen_mel (ln)", mel, want, 80 * 75, 3e-5, 0); /* measured 6.2e-6 */
        vb_free(mel);
    }
    vb_free(wav);
    vb_free(want);
}

TEST(s3tok_log_mel)
{
    float *wav = load("wav_16k", 24000), *want = load("s3tok_log_mel", 128 * 150);
    if (wav && want) {
        CHECK_EQ_INT(cb_fe_s3tok_frames(24000), 150);
        float *mel = vb_xmalloc(128 * 150 * sizeof *mel);
        CHECK(cb_fe_s3tok_log_mel(fe, wav, 24000, mel) == VB_OK);
        compare("s3tok_log_mel", mel, want, 128 * 150, 1e-4, 0);
        vb_free(mel);
    }
    vb_free(wav);
    vb_free(want);
}

TEST(ve_mel)
{
    float *wav = load("wav_16k", 24000), *want = load("ve_mel", 40 * 151);
    if (wav && want) {
        CHECK_EQ_INT(cb_fe_ve_mel_frames(24000), 151);
        float *mel = vb_xmalloc(40 * 151 * sizeof *mel);
        CHECK(cb_fe_ve_mel(fe, wav, 24000, mel) == VB_OK);
        compare("ve_mel (power)", mel, want, 40 * 151, 1e-9, 5e-5); /* measured rel 9.4e-6 */
        vb_free(mel);
    }
    vb_free(wav);
    vb_free(want);
}

/* Kaldi fbank against the reference, in two classes by the reference band's energy relative
 * to the frame's strongest band (raw log values). Bands above e^-12 of it: the float32
 * arithmetic of both sides gives ~1e-5. Bands below (the lowest mel bands after pre-emphasis,
 * ~1e-8 of the frame's energy, e.g. -13 against +5): the reference's own float32 FFT rounding
 * shows there, ~eps * the frame's amplitude against an amplitude of ~1e-3 (a 1-ulp change of
 * one window value moves them by up to 1.2e-3; ours runs the FFT in double). */
static void compare_fbank(const char *name, const float *got, const float *raw, const float *want,
                          int64_t frames, double tol_strong, double tol_weak)
{
    double strong = 0, weak = 0;
    for (int64_t t = 0; t < frames; t++) {
        float top = -INFINITY;
        for (int m = 0; m < 80; m++)
            top = fmaxf(top, raw[t * 80 + m]);
        for (int m = 0; m < 80; m++) {
            double d = fabs((double)got[t * 80 + m] - want[t * 80 + m]);
            if (raw[t * 80 + m] >= top - 12)
                strong = fmax(strong, d);
            else
                weak = fmax(weak, d);
        }
    }
    fprintf(stderr,
            "  %-22s max abs err %.3g (bands within e^-12 of the frame's top), %.3g below\n", name,
            strong, weak);
    CHECK_MSG(strong <= tol_strong, "%s: %.3g", name, strong);
    CHECK_MSG(weak <= tol_weak, "%s: %.3g", name, weak);
}

TEST(kaldi_fbank)
{
    float *wav = load("wav_16k", 24000), *raw = load("campplus_fbank_raw", 148 * 80),
          *cmn = load("campplus_fbank_cmn", 148 * 80);
    if (wav && raw && cmn) {
        CHECK_EQ_INT(cb_fe_fbank_frames(24000), 148);
        float *fb = vb_xmalloc(148 * 80 * sizeof *fb);
        /* measured (raw, cmn): strong bands 2.4e-5, 2.6e-5 (1.9e-4 with band edges rounded once
         * from double); weak 9.9e-4, 9.8e-4 */
        CHECK(cb_fe_fbank(fe, wav, 24000, false, fb) == VB_OK);
        compare_fbank("campplus_fbank_raw", fb, raw, raw, 148, 8e-5, 3e-3);
        CHECK(cb_fe_fbank(fe, wav, 24000, true, fb) == VB_OK);
        compare_fbank("campplus_fbank_cmn", fb, raw, cmn, 148, 8e-5, 3e-3);
        vb_free(fb);
    }
    vb_free(wav);
    vb_free(raw);
    vb_free(cmn);
}

TEST(resample_24k_16k)
{
    float *wav = load("wav_24k", 36000), *want = load("resample_24k_to_16k", 24000);
    if (wav && want) {
        CHECK_EQ_INT(cb_fe_resample_len(36000, 24000, 16000), 24000);
        float *y = vb_xmalloc(24000 * sizeof *y);
        CHECK(cb_fe_resample(wav, 36000, 24000, 16000, y) == VB_OK);
        compare("resample_24k_to_16k", y, want, 24000, 1e-6, 0); /* measured 1.8e-7 */
        vb_free(y);
    }
    vb_free(wav);
    vb_free(want);
}

TEST(bad_inputs)
{
    float x[800] = {0};
    float out[128 * 8];
    CHECK(cb_fe_s3gen_mel(fe, x, 720, out) == VB_ERR_INVALID);
    CHECK(cb_fe_s3tok_log_mel(fe, x, 200, out) == VB_ERR_INVALID);
    CHECK(cb_fe_ve_mel(fe, x, 100, out) == VB_ERR_INVALID);
    CHECK(cb_fe_fbank(fe, x, 399, true, out) == VB_ERR_INVALID);
    CHECK_EQ_INT(cb_fe_fbank_frames(400), 1);
    CHECK(cb_fe_resample(x, 10, 0, 16000, out) == VB_ERR_INVALID);
    CHECK_EQ_INT(cb_fe_resample_len(3, 24000, 16000), 2);
    /* silence: the log floors, not NaN */
    CHECK(cb_fe_s3tok_log_mel(fe, x, 800, out) == VB_OK);
    for (int i = 0; i < 128 * 5; i++)
        CHECK(isfinite(out[i]));
    CHECK(cb_fe_fbank(fe, x, 800, false, out) == VB_OK && out[0] == logf(1.1920929e-07f));
}

int main(void)
{
    CHECK(cb_frontend_new(&fe) == VB_OK);
    RUN(bad_inputs);
    char path[512];
    snprintf(path, sizeof path, "%s/chatterbox-ref/frontend/frontend.safetensors", refdir());
    if ((ref = refdata_open_st("frontend_reference", path)) != NULL) {
        RUN(s3gen_mel);
        RUN(s3tok_log_mel);
        RUN(ve_mel);
        RUN(kaldi_fbank);
        RUN(resample_24k_16k);
        nn_st_close(ref);
    }
    cb_frontend_free(fe);
    return test_summary();
}
