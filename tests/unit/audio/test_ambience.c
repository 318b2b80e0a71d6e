/* test_ambience.c: every built-in ambience renders non-silent, finite, normalised audio at
 * several rates, is deterministic for a seed and differs between seeds; the table is
 * complete; bad arguments are refused. Also the PRNG and filters of dsp.h. */
#include "core/vb.h"
#include "audio/ambience.h"
#include "audio/dsp.h"
#include "audio/pcm.h"
#include "unit/test.h"
#include "signal.h"

static const char *const required[] = {"rain", "office", "cafe",   "street",
                                       "wind", "ocean",  "forest", "fireplace"};

TEST(table)
{
    CHECK(audio_ambience_count() >= VB_ARRAY_LEN(required));
    for (size_t i = 0; i < VB_ARRAY_LEN(required); i++) {
        const struct audio_ambience_desc *d = audio_ambience_find(required[i]);
        CHECK_MSG(d != NULL, "%s missing", required[i]);
        if (d) {
            CHECK(d->name && d->name[0]);
            CHECK(d->description && strlen(d->description) > 20);
        }
    }
    CHECK(audio_ambience_find("jungle") == NULL);
    CHECK(audio_ambience_find(NULL) == NULL);
    CHECK(audio_ambience_at(audio_ambience_count()) == NULL);
}

TEST(render_all)
{
    const int rates[] = {16000, 24000, 48000};
    for (size_t k = 0; k < audio_ambience_count(); k++) {
        const char *id = audio_ambience_at(k)->id;
        for (size_t ri = 0; ri < VB_ARRAY_LEN(rates); ri++) {
            int rate = rates[ri];
            size_t n = (size_t)rate * 4;
            struct audio_pcm a, b, c;
            CHECK_EQ_INT(audio_ambience_render(id, 1234, rate, n, &a), VB_OK);
            CHECK_EQ_INT(a.frames, n);
            CHECK_EQ_INT(a.channels, 1);
            CHECK_EQ_INT(a.sample_rate, rate);
            bool finite = true;
            for (size_t i = 0; i < n; i++)
                finite = finite && isfinite(a.samples[i]);
            CHECK_MSG(finite, "%s@%d: non-finite samples", id, rate);
            double rms_db = audio_gain_to_db(audio_rms(a.samples, n));
            CHECK_MSG(fabs(rms_db - AUDIO_AMBIENCE_RMS_DBFS) < 1.5, "%s@%d: %.1f dBFS", id, rate,
                      rms_db);
            CHECK_MSG(audio_peak(a.samples, n) < 0.9f, "%s@%d: peak %g", id, rate,
                      audio_peak(a.samples, n));
            /* Not silent anywhere for long: every second carries sound. */
            for (size_t s = 0; s + (size_t)rate <= n; s += (size_t)rate)
                CHECK_MSG(sig_rms(a.samples, s, s + (size_t)rate) > 0.01, "%s@%d: quiet second", id,
                          rate);
            /* Deterministic per seed, different across seeds. */
            CHECK_EQ_INT(audio_ambience_render(id, 1234, rate, n, &b), VB_OK);
            CHECK_MSG(memcmp(a.samples, b.samples, n * sizeof(float)) == 0,
                      "%s@%d: not "
                      "deterministic",
                      id, rate);
            CHECK_EQ_INT(audio_ambience_render(id, 1235, rate, n, &c), VB_OK);
            double diff = 0;
            for (size_t i = 0; i < n; i++)
                diff += fabs(a.samples[i] - c.samples[i]);
            CHECK_MSG(diff / (double)n > 0.01, "%s@%d: seeds give the same audio", id, rate);
            audio_pcm_release(&a);
            audio_pcm_release(&b);
            audio_pcm_release(&c);
        }
    }
}

TEST(ambiences_differ)
{
    /* The same seed gives unrelated signals for two ambiences. */
    struct audio_pcm a, b;
    CHECK_EQ_INT(audio_ambience_render("rain", 5, 16000, 16000, &a), VB_OK);
    CHECK_EQ_INT(audio_ambience_render("wind", 5, 16000, 16000, &b), VB_OK);
    double dot = 0;
    for (size_t i = 0; i < 16000; i++)
        dot += (double)a.samples[i] * b.samples[i];
    CHECK(fabs(dot / 16000) < 0.5 * 0.01);
    audio_pcm_release(&a);
    audio_pcm_release(&b);
}

TEST(edge_cases)
{
    struct audio_pcm p;
    CHECK_EQ_INT(audio_ambience_render("nope", 1, 24000, 100, &p), VB_ERR_UNPROCESSABLE);
    CHECK_EQ_INT(audio_ambience_render(NULL, 1, 24000, 100, &p), VB_ERR_UNPROCESSABLE);
    CHECK_EQ_INT(audio_ambience_render("rain", 1, 100, 100, &p), VB_ERR_INVALID);
    CHECK_EQ_INT(audio_ambience_render("rain", 1, 24000, AUDIO_AMBIENCE_MAX_FRAMES + 1, &p),
                 VB_ERR_TOO_LARGE);
    CHECK(p.samples == NULL);
    CHECK_EQ_INT(audio_ambience_render("ocean", 1, 24000, 0, &p), VB_OK);
    CHECK_EQ_INT(p.frames, 0);
    audio_pcm_release(&p);
    CHECK_EQ_INT(audio_ambience_render("fireplace", 1, 8000, 1, &p), VB_OK);
    CHECK(isfinite(p.samples[0]));
    audio_pcm_release(&p);
    /* 96 kHz and 8 kHz: filters are clamped under Nyquist and stay stable. */
    CHECK_EQ_INT(audio_ambience_render("forest", 3, 96000, 96000, &p), VB_OK);
    CHECK(audio_peak(p.samples, p.frames) < 0.9f && audio_rms(p.samples, p.frames) > 0.05);
    audio_pcm_release(&p);
    CHECK_EQ_INT(audio_ambience_render("cafe", 3, 8000, 16000, &p), VB_OK);
    CHECK(audio_peak(p.samples, p.frames) < 0.9f && audio_rms(p.samples, p.frames) > 0.05);
    audio_pcm_release(&p);
}

TEST(dsp_blocks)
{
    struct dsp_rng a, b;
    dsp_rng_seed(&a, 99);
    dsp_rng_seed(&b, 99);
    double sum = 0, sq = 0;
    for (int i = 0; i < 100000; i++) {
        double u = dsp_rng_uniform(&a);
        CHECK(u >= 0 && u < 1);
        sum += u;
        sq += u * u;
        (void)dsp_rng_next(&b);
    }
    CHECK(a.state == b.state);
    CHECK_NEAR(sum / 100000, 0.5, 0.01);
    CHECK_NEAR(sq / 100000 - 0.25, 1.0 / 12, 0.005);
    double e = 0;
    for (int i = 0; i < 100000; i++)
        e += dsp_rng_exp(&a, 3.0);
    CHECK_NEAR(e / 100000, 3.0, 0.1);
    /* Band-pass at 1 kHz passes 1 kHz, rejects 100 Hz. */
    struct dsp_biquad bp;
    float x[16000];
    dsp_biquad_bandpass(&bp, 16000, 1000, 2);
    sig_sine(x, 16000, 16000, 1000, 1);
    for (size_t i = 0; i < 16000; i++)
        x[i] = dsp_biquad_run(&bp, x[i]);
    CHECK_NEAR(sig_rms(x, 8000, 16000), sqrt(0.5), 0.02);
    dsp_biquad_bandpass(&bp, 16000, 1000, 2);
    sig_sine(x, 16000, 16000, 100, 1);
    for (size_t i = 0; i < 16000; i++)
        x[i] = dsp_biquad_run(&bp, x[i]);
    CHECK(sig_rms(x, 8000, 16000) < 0.1);
    /* Drift stays in [0, 1] and moves. */
    struct dsp_drift d;
    dsp_drift_init(&d, 16000, 2, &a);
    float lo = 1, hi = 0;
    for (int i = 0; i < 160000; i++) {
        float v = dsp_drift_run(&d, &a);
        lo = fminf(lo, v);
        hi = fmaxf(hi, v);
    }
    CHECK(lo >= 0 && hi <= 1 && hi - lo > 0.5f);
}

int main(void)
{
    RUN(table);
    RUN(render_all);
    RUN(ambiences_differ);
    RUN(edge_cases);
    RUN(dsp_blocks);
    return test_summary();
}
