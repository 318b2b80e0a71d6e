/* test_mix.c: ambience under speech: layout (lead-in, tail), level relative to the speech,
 * ducking while speech is present versus pauses, seamless loops, fades, refusals. */
#include "core/vb.h"
#include "audio/mix.h"
#include "audio/ambience.h"
#include "audio/loudness.h"
#include "audio/pcm.h"
#include "unit/test.h"
#include "signal.h"

/* Speech stand-in: `on` seconds of harmonic tone with a syllable envelope, `off` seconds of
 * silence, repeated `reps` times. */
static void speech_bursts(struct audio_pcm *p, int rate, double on, double off, int reps)
{
    size_t on_n = (size_t)(on * rate), off_n = (size_t)(off * rate);
    CHECK_EQ_INT(audio_pcm_alloc(p, (on_n + off_n) * (size_t)reps, 1, rate), VB_OK);
    for (int r = 0; r < reps; r++)
        for (size_t i = 0; i < on_n; i++) {
            double t = (double)i / rate;
            double env = 0.6 + 0.4 * sin(2 * M_PI * 4 * t);
            p->samples[(size_t)r * (on_n + off_n) + i] =
                (float)(0.3 * env * (sin(2 * M_PI * 150 * t) + 0.5 * sin(2 * M_PI * 300 * t)));
        }
}

static void noise(struct audio_pcm *p, size_t n, int rate, uint32_t seed)
{
    CHECK_EQ_INT(audio_pcm_alloc(p, n, 1, rate), VB_OK);
    for (size_t i = 0; i < n; i++)
        p->samples[i] = 0.1f * sig_noise(&seed);
}

/* The ambience part of a mix: out minus the speech placed at lead. */
static float *ambience_part(const struct audio_pcm *out, const struct audio_pcm *speech,
                            size_t lead)
{
    float *a = malloc(sizeof(float) * out->frames);
    memcpy(a, out->samples, sizeof(float) * out->frames);
    for (size_t i = 0; i < speech->frames; i++)
        a[lead + i] -= speech->samples[i];
    return a;
}

TEST(layout)
{
    const int rate = 16000;
    struct audio_pcm sp, amb, out;
    speech_bursts(&sp, rate, 1.0, 0.5, 2);
    noise(&amb, (size_t)rate * 10, rate, 3);
    struct audio_mix_params p = audio_mix_default_params();
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, &p, &out), VB_OK);
    size_t lead = (size_t)(0.5 * rate), tail = (size_t)(1.0 * rate);
    CHECK_EQ_INT(out.frames, lead + sp.frames + tail);
    CHECK_EQ_INT(out.sample_rate, rate);
    CHECK_EQ_INT(out.channels, 1);
    /* Faded at both ends. */
    CHECK(fabsf(out.samples[0]) < 1e-6f);
    CHECK(fabsf(out.samples[out.frames - 1]) < 1e-6f);
    CHECK(sig_rms(out.samples, 0, (size_t)rate / 20) < 0.2 * sig_rms(out.samples, lead / 2, lead));
    /* Speech sits at lead: with the ambience at -120 dB the output is the shifted speech. */
    p.volume_db = AUDIO_AMBIENCE_VOLUME_DB_MIN;
    audio_pcm_release(&out);
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, &p, &out), VB_OK);
    double maxd = 0;
    for (size_t i = 0; i < sp.frames; i++)
        maxd = fmax(maxd, fabs(out.samples[lead + i] - sp.samples[i]));
    /* Ambience at -60 dB under the speech: the output is the shifted speech plus a trace. */
    CHECK(maxd < 0.002);
    CHECK(audio_peak(out.samples, lead) < 0.002f);
    /* The speech starts exactly at lead: correlation peaks at lag 0. */
    double c0 = 0, c1 = 0;
    for (size_t i = 0; i + 1 < sp.frames; i++) {
        c0 += (double)out.samples[lead + i] * sp.samples[i];
        c1 += (double)out.samples[lead + i + 1] * sp.samples[i];
    }
    CHECK(c0 > c1);
    audio_pcm_release(&out);
    audio_pcm_release(&sp);
    audio_pcm_release(&amb);
}

TEST(ducking)
{
    const int rate = 16000;
    struct audio_pcm sp, amb, out;
    speech_bursts(&sp, rate, 1.0, 1.0, 4);
    noise(&amb, (size_t)rate * 12, rate, 9);
    struct audio_mix_params p = audio_mix_default_params();
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, &p, &out), VB_OK);
    size_t lead = (size_t)(p.lead_in_s * rate);
    float *a = ambience_part(&out, &sp, lead);
    double during = 0, pauses = 0;
    for (int r = 0; r < 4; r++) {
        size_t s = lead + (size_t)r * 2 * (size_t)rate;
        /* Skip attack (50 ms) and release (400 ms x ~3 for the glide) margins. */
        during += sig_rms(a, s + (size_t)rate / 5, s + (size_t)rate - (size_t)rate / 20);
        if (r < 3)
            pauses += sig_rms(a, s + (size_t)rate + (size_t)(0.8 * rate),
                              s + 2 * (size_t)rate - (size_t)rate / 10);
    }
    during /= 4;
    pauses /= 3;
    double dip = audio_gain_to_db(during / pauses);
    CHECK_MSG(dip < -6.0 && dip > -9.5, "ambience dips by %.2f dB while speaking", dip);
    /* No ducking asked: no dip. */
    p.duck_db = 0;
    audio_pcm_release(&out);
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, &p, &out), VB_OK);
    free(a);
    a = ambience_part(&out, &sp, lead);
    double flat_during = sig_rms(a, lead + (size_t)rate / 5, lead + (size_t)rate);
    double flat_pause = sig_rms(a, lead + (size_t)(1.8 * rate), lead + 2 * (size_t)rate);
    CHECK(fabs(audio_gain_to_db(flat_during / flat_pause)) < 1.0);
    free(a);
    audio_pcm_release(&out);
    audio_pcm_release(&sp);
    audio_pcm_release(&amb);
}

TEST(relative_level)
{
    const int rate = 24000;
    struct audio_pcm sp, amb, out;
    speech_bursts(&sp, rate, 4.0, 0.0, 1);
    CHECK_EQ_INT(audio_ambience_render("rain", 1, rate, (size_t)rate * 20, &amb), VB_OK);
    const double vols[] = {-20, -10, -30};
    for (size_t k = 0; k < 3; k++) {
        struct audio_mix_params p = audio_mix_default_params();
        p.duck_db = 0;
        p.volume_db = vols[k];
        CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, &p, &out), VB_OK);
        size_t lead = (size_t)(p.lead_in_s * rate);
        float *a = ambience_part(&out, &sp, lead);
        struct audio_pcm part = {
            .samples = a + lead, .frames = sp.frames, .channels = 1, .sample_rate = rate};
        struct audio_loudness la, ls;
        CHECK_EQ_INT(audio_loudness_measure(&part, &la), VB_OK);
        CHECK_EQ_INT(audio_loudness_measure(&sp, &ls), VB_OK);
        CHECK_MSG(fabs(la.integrated_lufs - (ls.integrated_lufs + vols[k])) < 1.0,
                  "volume %g: ambience %.2f LUFS, speech %.2f LUFS", vols[k], la.integrated_lufs,
                  ls.integrated_lufs);
        free(a);
        audio_pcm_release(&out);
    }
    audio_pcm_release(&sp);
    audio_pcm_release(&amb);
}

TEST(short_ambience_loops)
{
    /* A 0.7 s stereo recording at another rate loops under 5 s of speech without gaps or
     * bumps at the seams. */
    const int rate = 16000;
    struct audio_pcm sp, amb, out;
    speech_bursts(&sp, rate, 5.0, 0.0, 1);
    CHECK_EQ_INT(audio_pcm_alloc(&amb, 30870, 2, 44100), VB_OK);
    uint32_t seed = 5;
    for (size_t i = 0; i < amb.frames * 2; i++)
        amb.samples[i] = 0.2f * sig_noise(&seed);
    struct audio_mix_params p = audio_mix_default_params();
    p.duck_db = 0;
    p.fade_in_s = p.fade_out_s = 0;
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, &p, &out), VB_OK);
    size_t lead = (size_t)(p.lead_in_s * rate);
    float *a = ambience_part(&out, &sp, lead);
    size_t w = (size_t)rate / 20;
    double lo = 1e9, hi = 0;
    for (size_t s = w; s + 2 * w < out.frames; s += w) {
        double r = sig_rms(a, s, s + w);
        lo = fmin(lo, r);
        hi = fmax(hi, r);
    }
    CHECK_MSG(audio_gain_to_db(hi / lo) < 3.0, "loop level varies %.2f dB",
              audio_gain_to_db(hi / lo));
    free(a);
    audio_pcm_release(&out);
    audio_pcm_release(&sp);
    audio_pcm_release(&amb);

    /* audio_loop_fill: a constant never dips at a seam (equal-power: 1..1.42). */
    float src[100], dst[1000];
    for (size_t i = 0; i < 100; i++)
        src[i] = 1.0f;
    audio_loop_fill(dst, 1000, src, 100, 20);
    for (size_t i = 0; i < 1000; i++)
        CHECK(dst[i] >= 0.999f && dst[i] <= 1.415f);
    audio_loop_fill(dst, 50, src, 100, 20); /* long enough: plain copy */
    CHECK(dst[49] == 1.0f);
    audio_loop_fill(dst, 10, src, 0, 20);
    CHECK(dst[9] == 0.0f);
}

TEST(refusals)
{
    struct audio_pcm sp, amb, out, empty = {0};
    speech_bursts(&sp, 16000, 0.5, 0, 1);
    noise(&amb, 16000, 16000, 1);
    struct audio_mix_params p = audio_mix_default_params();
    CHECK_EQ_INT(audio_mix_ambience(&sp, &empty, &p, &out), VB_ERR_INVALID);
    p.volume_db = NAN;
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, &p, &out), VB_ERR_INVALID);
    p.volume_db = AUDIO_AMBIENCE_VOLUME_DB_MAX + 1;
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, &p, &out), VB_ERR_INVALID);
    p.volume_db = AUDIO_AMBIENCE_VOLUME_DB_MIN - 1;
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, &p, &out), VB_ERR_INVALID);
    p = audio_mix_default_params();
    p.duck_db = 3;
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, &p, &out), VB_ERR_INVALID);
    sp.channels = 2;
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, NULL, &out), VB_ERR_INVALID);
    CHECK(out.samples == NULL);
    sp.channels = 1;
    /* Silent speech: the ambience still plays, nothing ducks, nothing is NaN. */
    memset(sp.samples, 0, sizeof(float) * sp.frames);
    CHECK_EQ_INT(audio_mix_ambience(&sp, &amb, NULL, &out), VB_OK);
    bool finite = true;
    for (size_t i = 0; i < out.frames; i++)
        finite = finite && isfinite(out.samples[i]);
    CHECK(finite);
    CHECK(audio_rms(out.samples, out.frames) > 0.001);
    audio_pcm_release(&out);
    audio_pcm_release(&sp);
    audio_pcm_release(&amb);
}

int main(void)
{
    RUN(layout);
    RUN(ducking);
    RUN(relative_level);
    RUN(short_ambience_loops);
    RUN(refusals);
    return test_summary();
}
