/* test_pcm.c: downmix, peak/RMS, fades, silence trimming, append, sanitize. */
#include "core/vb.h"
#include "audio/pcm.h"
#include "unit/test.h"
#include "signal.h"

TEST(db_and_levels)
{
    CHECK_NEAR(audio_db_to_gain(-6.0206), 0.5, 1e-4);
    CHECK_NEAR(audio_gain_to_db(0.1), -20.0, 1e-9);
    CHECK(isinf(audio_gain_to_db(0.0)));
    float x[4] = {0.1f, -0.7f, 0.3f, 0.0f};
    CHECK_NEAR(audio_peak(x, 4), 0.7, 1e-7);
    CHECK_NEAR(audio_peak(x, 0), 0.0, 0);
    CHECK_NEAR(audio_rms(x, 4), sqrt((0.01 + 0.49 + 0.09) / 4), 1e-6);
    CHECK_NEAR(audio_rms(NULL, 0), 0.0, 0);
    audio_apply_gain(x, 4, 2.0f);
    CHECK_NEAR(x[1], -1.4, 1e-6);
}

TEST(to_mono)
{
    struct audio_pcm p;
    CHECK_EQ_INT(audio_pcm_alloc(&p, 3, 2, 16000), VB_OK);
    float v[6] = {1, 0, 0.5f, 0.5f, -1, 1};
    memcpy(p.samples, v, sizeof v);
    audio_pcm_to_mono(&p);
    CHECK_EQ_INT(p.channels, 1);
    CHECK_EQ_INT(p.frames, 3);
    CHECK_NEAR(p.samples[0], 0.5, 1e-7);
    CHECK_NEAR(p.samples[1], 0.5, 1e-7);
    CHECK_NEAR(p.samples[2], 0.0, 1e-7);
    audio_pcm_to_mono(&p); /* mono: no-op */
    CHECK_NEAR(p.samples[0], 0.5, 1e-7);
    audio_pcm_release(&p);
}

TEST(fades)
{
    struct audio_pcm p;
    CHECK_EQ_INT(audio_pcm_alloc(&p, 1000, 1, 1000), VB_OK);
    for (size_t i = 0; i < 1000; i++)
        p.samples[i] = 1.0f;
    audio_pcm_fade(&p, 10, 20); /* 10 and 20 frames */
    CHECK_NEAR(p.samples[0], 0.0, 1e-7);
    CHECK(p.samples[5] > 0.3f && p.samples[5] < 0.7f);
    CHECK_NEAR(p.samples[10], 1.0, 1e-7);
    CHECK_NEAR(p.samples[999], 0.0, 1e-7);
    CHECK(p.samples[985] > 0.0f && p.samples[985] < 1.0f);
    CHECK_NEAR(p.samples[979], 1.0, 1e-7);
    for (size_t i = 1; i < 10; i++)
        CHECK(p.samples[i] >= p.samples[i - 1]);
    /* Fade longer than the signal: clamped, no overflow. */
    audio_fade_in(p.samples, 5, 1, 100);
    audio_fade_out(p.samples, 0, 1, 100);
    audio_pcm_release(&p);
    audio_pcm_fade(&p, 10, 10); /* empty: no-op */
}

TEST(trim_silence)
{
    const int rate = 16000;
    struct audio_pcm p;
    CHECK_EQ_INT(audio_pcm_alloc(&p, 3 * rate, 1, rate), VB_OK);
    /* 1 s silence (with -70 dB noise), 1 s tone, 1 s silence. */
    uint32_t st = 1;
    for (size_t i = 0; i < p.frames; i++)
        p.samples[i] = 0.0003f * sig_noise(&st);
    sig_sine(p.samples + rate, (size_t)rate, rate, 440, 0.5);
    size_t rs = 0, re = 0;
    struct audio_trim_params tp = audio_trim_default_params();
    audio_pcm_trim_silence(&p, &tp, &rs, &re);
    double pad = tp.pad_ms * rate / 1000.0;
    CHECK_NEAR((double)rs, rate - pad, rate * 0.01);
    CHECK_NEAR((double)re, rate - pad, rate * 0.01);
    CHECK_NEAR((double)p.frames, rate + 2 * pad, rate * 0.02);
    /* The tone starts about pad_ms into the result. */
    size_t onset = 0;
    while (onset < p.frames && fabsf(p.samples[onset]) < 0.05f)
        onset++;
    CHECK_NEAR((double)onset, pad, rate * 0.01);
    audio_pcm_release(&p);

    /* All silent: unchanged. */
    CHECK_EQ_INT(audio_pcm_alloc(&p, 1000, 1, rate), VB_OK);
    audio_pcm_trim_silence(&p, NULL, &rs, &re);
    CHECK_EQ_INT(p.frames, 1000);
    CHECK_EQ_INT(rs + re, 0);
    audio_pcm_release(&p);
    audio_pcm_trim_silence(&p, NULL, NULL, NULL); /* empty */
}

TEST(append)
{
    struct audio_pcm a = {0}, b;
    CHECK_EQ_INT(audio_pcm_alloc(&b, 10, 1, 8000), VB_OK);
    for (size_t i = 0; i < 10; i++)
        b.samples[i] = 1.0f;
    CHECK_EQ_INT(audio_pcm_append(&a, &b, 0, 0), VB_OK);
    CHECK_EQ_INT(audio_pcm_append(&a, &b, 5, 0), VB_OK);
    CHECK_EQ_INT(a.frames, 25);
    CHECK_NEAR(a.samples[12], 0.0, 0);
    CHECK_NEAR(a.samples[24], 1.0, 0);
    CHECK_EQ_INT(audio_pcm_append(&a, &b, 0, 30), VB_ERR_TOO_LARGE);
    CHECK_EQ_INT(a.frames, 25);
    b.sample_rate = 16000;
    CHECK_EQ_INT(audio_pcm_append(&a, &b, 0, 0), VB_ERR_INVALID);
    audio_pcm_release(&a);
    audio_pcm_release(&b);
}

TEST(sanitize)
{
    float x[5] = {NAN, INFINITY, 3.0f, -3.0f, 0.5f};
    CHECK_EQ_INT(audio_sanitize(x, 5, 1.0f), 2);
    CHECK_NEAR(x[0], 0, 0);
    CHECK_NEAR(x[1], 0, 0);
    CHECK_NEAR(x[2], 1, 0);
    CHECK_NEAR(x[3], -1, 0);
    CHECK_NEAR(x[4], 0.5, 0);
}

int main(void)
{
    RUN(db_and_levels);
    RUN(to_mono);
    RUN(fades);
    RUN(trim_silence);
    RUN(append);
    RUN(sanitize);
    return test_summary();
}
