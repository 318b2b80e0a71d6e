/* test_resample.c: libsoxr resampling keeps a sine's frequency and amplitude, one-shot and
 * streaming agree, bad arguments are refused. */
#include "core/vb.h"
#include "audio/resample.h"
#include "unit/test.h"
#include "signal.h"

static void check_sine(int in_rate, int out_rate, double hz)
{
    struct audio_pcm in, out;
    CHECK_EQ_INT(audio_pcm_alloc(&in, (size_t)in_rate, 1, in_rate), VB_OK);
    sig_sine(in.samples, in.frames, in_rate, hz, 0.5);
    CHECK_EQ_INT(audio_resample(&in, out_rate, &out), VB_OK);
    CHECK_EQ_INT(out.sample_rate, out_rate);
    CHECK_NEAR((double)out.frames, (double)out_rate, 2);
    size_t a = out.frames / 10, b = out.frames - out.frames / 10;
    double f = sig_zero_cross_hz(out.samples, a, b, out_rate);
    CHECK_MSG(fabs(f - hz) < hz * 1e-4, "%d->%d: %g Hz vs %g", in_rate, out_rate, f, hz);
    double amp = sig_rms(out.samples, a, b) * sqrt(2.0);
    CHECK_MSG(fabs(amp - 0.5) < 0.005, "%d->%d: amplitude %g", in_rate, out_rate, amp);
    audio_pcm_release(&in);
    audio_pcm_release(&out);
}

TEST(sine_keeps_frequency_and_amplitude)
{
    check_sine(44100, 24000, 1000);
    check_sine(24000, 48000, 440);
    check_sine(16000, 22050, 3000);
    check_sine(48000, 16000, 250);
    check_sine(22050, 22050, 500); /* copy */
}

TEST(stopband_removed)
{
    /* 10 kHz at 48 kHz cannot exist at 16 kHz: it must be filtered, not aliased. */
    struct audio_pcm in, out;
    CHECK_EQ_INT(audio_pcm_alloc(&in, 48000, 1, 48000), VB_OK);
    sig_sine(in.samples, in.frames, 48000, 10000, 0.5);
    CHECK_EQ_INT(audio_resample(&in, 16000, &out), VB_OK);
    CHECK(sig_rms(out.samples, 1000, out.frames - 1000) < 0.5 * 1e-3);
    audio_pcm_release(&in);
    audio_pcm_release(&out);
}

TEST(streaming_matches_oneshot)
{
    struct audio_pcm in, one, st = {0};
    CHECK_EQ_INT(audio_pcm_alloc(&in, 24000, 1, 24000), VB_OK);
    sig_sine(in.samples, in.frames, 24000, 700, 0.4);
    CHECK_EQ_INT(audio_resample(&in, 48000, &one), VB_OK);
    struct audio_resampler *rs = audio_resampler_new(24000, 48000, 1);
    CHECK(rs != NULL);
    for (size_t off = 0; off < in.frames; off += 1234) {
        size_t n = VB_MIN((size_t)1234, in.frames - off);
        CHECK_EQ_INT(audio_resampler_feed(rs, in.samples + off, n, &st), VB_OK);
    }
    CHECK_EQ_INT(audio_resampler_feed(rs, NULL, 0, &st), VB_OK);
    audio_resampler_free(rs);
    CHECK_NEAR((double)st.frames, (double)one.frames, 4);
    double f = sig_zero_cross_hz(st.samples, 2000, st.frames - 2000, 48000);
    CHECK_NEAR(f, 700, 0.1);
    double maxd = 0;
    for (size_t i = 2000; i < VB_MIN(st.frames, one.frames) - 2000; i++)
        maxd = fmax(maxd, fabs(st.samples[i] - one.samples[i]));
    CHECK_MSG(maxd < 1e-3, "max diff %g", maxd);
    audio_pcm_release(&in);
    audio_pcm_release(&one);
    audio_pcm_release(&st);
}

TEST(bad_arguments)
{
    struct audio_pcm in, out;
    CHECK_EQ_INT(audio_pcm_alloc(&in, 100, 1, 16000), VB_OK);
    CHECK_EQ_INT(audio_resample(&in, 0, &out), VB_ERR_INVALID);
    CHECK_EQ_INT(audio_resample(&in, 10000000, &out), VB_ERR_INVALID);
    CHECK(out.samples == NULL);
    in.channels = 0;
    CHECK_EQ_INT(audio_resample(&in, 8000, &out), VB_ERR_INVALID);
    in.channels = 1;
    in.frames = 0;
    CHECK_EQ_INT(audio_resample(&in, 8000, &out), VB_OK);
    CHECK(out.frames <= 1);
    audio_pcm_release(&out);
    CHECK(audio_resampler_new(0, 8000, 1) == NULL);
    CHECK(audio_resampler_new(8000, 8000, 99) == NULL);
    audio_resampler_free(NULL);
    audio_pcm_release(&in);
}

int main(void)
{
    RUN(sine_keeps_frequency_and_amplitude);
    RUN(stopband_removed);
    RUN(streaming_matches_oneshot);
    RUN(bad_arguments);
    return test_summary();
}
