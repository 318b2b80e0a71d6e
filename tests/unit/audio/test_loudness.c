/* test_loudness.c: R128 measurement of known signals and normalisation to the target within
 * 0.5 LU under the true-peak ceiling. */
#include "core/vb.h"
#include "audio/loudness.h"
#include "audio/pcm.h"
#include "unit/test.h"
#include "signal.h"

TEST(reference_sine)
{
    /* ITU-R BS.1770 on one channel: a 1 kHz sine with -20 dBFS peak has a mean square of
     * -23.0 dB; K-weighting adds ~+0.69 dB at 1 kHz, cancelled by the -0.691 constant:
     * -23.0 LUFS. */
    struct audio_pcm p;
    CHECK_EQ_INT(audio_pcm_alloc(&p, 48000 * 5, 1, 48000), VB_OK);
    sig_sine(p.samples, p.frames, 48000, 1000, audio_db_to_gain(-20));
    struct audio_loudness m;
    CHECK_EQ_INT(audio_loudness_measure(&p, &m), VB_OK);
    CHECK_NEAR(m.integrated_lufs, -23.0, 0.1);
    CHECK_NEAR(m.sample_peak_dbfs, -20.0, 0.01);
    CHECK_NEAR(m.true_peak_dbtp, -20.0, 0.1);
    double lufs;
    CHECK_EQ_INT(audio_loudness_integrated(&p, &lufs), VB_OK);
    CHECK_NEAR(lufs, m.integrated_lufs, 1e-9);
    audio_pcm_release(&p);
}

static void speechlike(struct audio_pcm *p, int rate, double seconds, double level)
{
    CHECK_EQ_INT(audio_pcm_alloc(p, (size_t)(rate * seconds), 1, rate), VB_OK);
    uint32_t st = 7;
    for (size_t i = 0; i < p->frames; i++) {
        double t = (double)i / rate;
        double env = 0.5 + 0.5 * sin(2 * M_PI * 3.0 * t); /* syllable-rate envelope */
        double v = 0.6 * sin(2 * M_PI * 140 * t) + 0.3 * sin(2 * M_PI * 280 * t) +
                   0.2 * sin(2 * M_PI * 1200 * t) + 0.05 * sig_noise(&st);
        p->samples[i] = (float)(level * env * v);
    }
}

TEST(normalize_to_target)
{
    const double levels[] = {0.01, 0.1, 0.5};
    const int rates[] = {16000, 24000, 44100};
    for (size_t k = 0; k < 3; k++) {
        struct audio_pcm p;
        speechlike(&p, rates[k], 4.0, levels[k]);
        struct audio_loudness before, after, check;
        double g;
        struct audio_normalize_params np = audio_normalize_default_params();
        np.max_gain_db = 60;
        CHECK_EQ_INT(audio_loudness_normalize(&p, &np, &before, &after, &g), VB_OK);
        CHECK_EQ_INT(audio_loudness_measure(&p, &check), VB_OK);
        CHECK_MSG(fabs(check.integrated_lufs - -16.0) <= 0.5, "level %g: %g LUFS", levels[k],
                  check.integrated_lufs);
        CHECK(check.true_peak_dbtp <= -1.0 + 0.05);
        CHECK_NEAR(after.integrated_lufs, check.integrated_lufs, 0.05);
        CHECK_NEAR(g, check.integrated_lufs - before.integrated_lufs, 0.05);
        audio_pcm_release(&p);
    }
}

TEST(gain_cap)
{
    /* Very quiet input: the default 30 dB cap stops short of the target. */
    struct audio_pcm p;
    speechlike(&p, 16000, 3.0, 0.003);
    double g;
    struct audio_loudness before;
    CHECK_EQ_INT(audio_loudness_normalize(&p, NULL, &before, NULL, &g), VB_OK);
    CHECK(before.integrated_lufs < -55);
    CHECK_NEAR(g, 30.0, 1e-9);
    audio_pcm_release(&p);
}

TEST(peak_limits_gain)
{
    /* Spiky signal: clicks at full scale over a quiet bed. Reaching -16 LUFS would clip, so the
     * gain stops at the -1 dBTP ceiling. */
    struct audio_pcm p;
    CHECK_EQ_INT(audio_pcm_alloc(&p, 48000 * 3, 1, 48000), VB_OK);
    sig_sine(p.samples, p.frames, 48000, 500, 0.01);
    for (size_t i = 0; i < p.frames; i += 4800)
        p.samples[i] = 0.9f;
    struct audio_normalize_params np = audio_normalize_default_params();
    struct audio_loudness m;
    CHECK_EQ_INT(audio_loudness_normalize(&p, &np, NULL, NULL, NULL), VB_OK);
    CHECK_EQ_INT(audio_loudness_measure(&p, &m), VB_OK);
    CHECK_NEAR(m.true_peak_dbtp, -1.0, 0.1);
    CHECK(m.integrated_lufs < -16.5);
    audio_pcm_release(&p);
}

TEST(silence_and_short)
{
    struct audio_pcm p;
    CHECK_EQ_INT(audio_pcm_alloc(&p, 48000, 1, 48000), VB_OK);
    double g = 1;
    struct audio_loudness m;
    CHECK_EQ_INT(audio_loudness_normalize(&p, NULL, &m, NULL, &g), VB_OK);
    CHECK(isinf(m.integrated_lufs));
    CHECK_NEAR(g, 0, 0);
    CHECK_NEAR(audio_peak(p.samples, p.frames), 0, 0);
    audio_pcm_release(&p);
    /* 100 ms: no integrated loudness, but the ceiling still holds. */
    CHECK_EQ_INT(audio_pcm_alloc(&p, 4800, 1, 48000), VB_OK);
    for (size_t i = 0; i < p.frames; i++)
        p.samples[i] = (i & 1) ? 1.0f : -1.0f;
    CHECK_EQ_INT(audio_loudness_normalize(&p, NULL, NULL, NULL, NULL), VB_OK);
    CHECK_EQ_INT(audio_loudness_measure(&p, &m), VB_OK);
    CHECK(m.true_peak_dbtp <= -0.95);
    audio_pcm_release(&p);
    struct audio_pcm bad = {0};
    CHECK_EQ_INT(audio_loudness_measure(&bad, &m), VB_ERR_INVALID);
}

int main(void)
{
    RUN(reference_sine);
    RUN(normalize_to_target);
    RUN(gain_cap);
    RUN(peak_limits_gain);
    RUN(silence_and_short);
    return test_summary();
}
