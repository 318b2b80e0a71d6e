/* test_stretch.c: WSOLA keeps the pitch (fundamental measured by autocorrelation), scales
 * the duration by 1/speed, keeps the level of a steady tone, and refuses bad speeds. */
#include "core/vb.h"
#include "audio/stretch.h"
#include "audio/pcm.h"
#include "unit/test.h"
#include "signal.h"

/* Voiced-speech-like tone: fundamental f0 with decaying harmonics. */
static void harmonic(float *x, size_t n, int rate, double f0)
{
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate, v = 0;
        for (int h = 1; h <= 6; h++)
            v += sin(2 * M_PI * f0 * h * t + h) / h;
        x[i] = (float)(0.3 * v);
    }
}

TEST(keeps_pitch_scales_duration)
{
    const double speeds[] = {0.5, 0.75, 1.25, 1.5, 2.0};
    const double f0s[] = {110, 220};
    const int rate = 24000;
    for (size_t fi = 0; fi < 2; fi++) {
        struct audio_pcm in;
        CHECK_EQ_INT(audio_pcm_alloc(&in, (size_t)rate * 2, 1, rate), VB_OK);
        harmonic(in.samples, in.frames, rate, f0s[fi]);
        for (size_t si = 0; si < VB_ARRAY_LEN(speeds); si++) {
            struct audio_pcm out;
            CHECK_EQ_INT(audio_stretch(&in, speeds[si], &out), VB_OK);
            double want = (double)in.frames / speeds[si];
            CHECK_MSG(fabs((double)out.frames - want) < 0.02 * want, "speed %g: %zu frames",
                      speeds[si], out.frames);
            size_t mid = out.frames / 2, len = (size_t)rate / 5;
            double hz = sig_autocorr_hz(out.samples, mid - len / 2, len, rate, 60, 400);
            CHECK_MSG(fabs(hz - f0s[fi]) < 0.01 * f0s[fi], "speed %g f0 %g: measured %g Hz",
                      speeds[si], f0s[fi], hz);
            /* Aligned segments add in phase: the level stays that of the input. */
            double r_in = sig_rms(in.samples, in.frames / 4, in.frames * 3 / 4);
            double r_out = sig_rms(out.samples, out.frames / 4, out.frames * 3 / 4);
            CHECK_MSG(fabs(audio_gain_to_db(r_out / r_in)) < 0.5, "speed %g: level %+.2f dB",
                      speeds[si], audio_gain_to_db(r_out / r_in));
            audio_pcm_release(&out);
        }
        audio_pcm_release(&in);
    }
}

TEST(steady_sine_envelope)
{
    /* A plain OLA would beat; WSOLA keeps a steady sine's short-term level within 1 dB. */
    const int rate = 16000;
    struct audio_pcm in, out;
    CHECK_EQ_INT(audio_pcm_alloc(&in, (size_t)rate, 1, rate), VB_OK);
    sig_sine(in.samples, in.frames, rate, 233, 0.5);
    CHECK_EQ_INT(audio_stretch(&in, 1.37, &out), VB_OK);
    size_t w = (size_t)rate / 50;
    for (size_t s = w; s + 2 * w < out.frames; s += w) {
        double r = sig_rms(out.samples, s, s + w) * sqrt(2);
        CHECK_MSG(fabs(audio_gain_to_db(r / 0.5)) < 1.0, "at %zu: %g", s, r);
    }
    audio_pcm_release(&in);
    audio_pcm_release(&out);
}

TEST(stereo_and_short)
{
    struct audio_pcm in, out;
    CHECK_EQ_INT(audio_pcm_alloc(&in, 24000, 2, 24000), VB_OK);
    for (size_t i = 0; i < in.frames; i++) {
        float v = (float)sin(2 * M_PI * 150 * (double)i / 24000);
        in.samples[2 * i] = 0.5f * v;
        in.samples[2 * i + 1] = -0.25f * v;
    }
    CHECK_EQ_INT(audio_stretch(&in, 0.8, &out), VB_OK);
    CHECK_EQ_INT(out.channels, 2);
    CHECK_NEAR((double)out.frames, 30000, 1);
    for (size_t i = 1000; i < out.frames - 1000; i += 97)
        CHECK_NEAR(out.samples[2 * i + 1], -0.5 * out.samples[2 * i], 1e-5);
    audio_pcm_release(&in);
    audio_pcm_release(&out);
    /* Shorter than a window; one sample; empty. */
    size_t lens[] = {100, 1, 0};
    for (size_t k = 0; k < 3; k++) {
        CHECK_EQ_INT(audio_pcm_alloc(&in, lens[k], 1, 24000), VB_OK);
        for (size_t i = 0; i < lens[k]; i++)
            in.samples[i] = 0.5f;
        CHECK_EQ_INT(audio_stretch(&in, 2.0, &out), VB_OK);
        CHECK(out.frames <= lens[k] / 2 + 1);
        for (size_t i = 0; i < out.frames; i++)
            CHECK(isfinite(out.samples[i]) && fabsf(out.samples[i]) <= 0.5001f);
        audio_pcm_release(&out);
        audio_pcm_release(&in);
    }
}

TEST(bad_speed)
{
    struct audio_pcm in, out;
    CHECK_EQ_INT(audio_pcm_alloc(&in, 1000, 1, 16000), VB_OK);
    CHECK_EQ_INT(audio_stretch(&in, 0.49, &out), VB_ERR_INVALID);
    CHECK_EQ_INT(audio_stretch(&in, 2.01, &out), VB_ERR_INVALID);
    CHECK_EQ_INT(audio_stretch(&in, NAN, &out), VB_ERR_INVALID);
    CHECK(out.samples == NULL);
    CHECK_EQ_INT(audio_stretch(&in, 1.0, &out), VB_OK);
    CHECK_EQ_INT(out.frames, 1000);
    audio_pcm_release(&out);
    audio_pcm_release(&in);
}

int main(void)
{
    RUN(keeps_pitch_scales_duration);
    RUN(steady_sine_envelope);
    RUN(stereo_and_short);
    RUN(bad_speed);
    return test_summary();
}
