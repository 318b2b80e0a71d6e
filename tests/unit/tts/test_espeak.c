/* test_espeak.c: the engine interface over espeak-ng: real speech of plausible duration at
 * 22050 Hz, languages and voices, validation, speed, streaming chunks, cancel, threads. */
#include "core/vb.h"
#include "core/alloc.h"
#include "tts/engine.h"
#include "tts/registry.h"
#include "unit/test.h"

#include <pthread.h>

static struct tts_registry *reg;
static struct tts_engine *eng;

static double rms(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0;
}

static double seconds(const struct audio_pcm *p)
{
    return p->sample_rate ? (double)p->frames / p->sample_rate : 0;
}

TEST(registry)
{
    CHECK(tts_registry_count(reg) >= 1);
    CHECK(eng != NULL);
    CHECK(tts_registry_find(reg, "nope") == NULL);
    CHECK(tts_registry_find(reg, NULL) == NULL);
    CHECK(strstr(tts_registry_names(reg), "espeak-ng") != NULL);
    /* the registry knows the back ends through their vtables: without model files "auto"
     * is the engine that needs none, and the model engine is listed but not installed */
    struct tts_registry *bare = tts_registry_new();
    CHECK(bare != NULL);
    if (bare) {
        tts_registry_set_models_dir(bare, "/nonexistent/models");
        struct tts_engine *def = tts_registry_default(bare, TTS_ENGINE_AUTO);
        CHECK(def && strcmp(tts_engine_name(def), "espeak-ng") == 0 && tts_engine_installed(def));
        CHECK(tts_registry_default(bare, "nope") == NULL);
        struct tts_engine *cloner = tts_registry_cloner(bare);
        CHECK(cloner && strcmp(tts_engine_name(cloner), "chatterbox-turbo") == 0);
        CHECK(cloner && !tts_engine_installed(cloner));
        tts_registry_free(bare);
    }
    CHECK(!(tts_engine_caps(eng) & TTS_CAP_CLONING));
    char why[200];
    CHECK(tts_engine_load(eng, why, sizeof why) == VB_OK);
    CHECK(tts_engine_is_loaded(eng));
    CHECK_EQ_INT(tts_engine_sample_rate(eng), 22050);
}

TEST(languages_and_voices)
{
    const char *const *langs;
    size_t n = eng->ops->languages(eng, &langs);
    CHECK(n > 50);
    bool en_us = false, de = false;
    for (size_t i = 0; i < n; i++) {
        en_us |= strcmp(langs[i], "en-us") == 0;
        de |= strcmp(langs[i], "de") == 0;
    }
    CHECK(en_us && de);
    const struct tts_voice_desc *v;
    size_t nv = eng->ops->voices(eng, &v);
    bool variant = false;
    for (size_t i = 0; i < nv; i++)
        variant |= v[i].language == NULL && strcmp(v[i].id, "f3") == 0;
    CHECK(variant);
}

TEST(speech)
{
    const char *text = "Hello world. This is a test of the speech synthesizer.";
    struct tts_params p = tts_default_params();
    struct audio_pcm pcm;
    CHECK(tts_engine_synthesize(eng, text, strlen(text), &p, &pcm, NULL) == VB_OK);
    CHECK_EQ_INT(pcm.sample_rate, 22050);
    CHECK_EQ_INT(pcm.channels, 1);
    /* 9 words at 175 wpm is about 3 s; allow generous bounds */
    CHECK_MSG(seconds(&pcm) > 1.5 && seconds(&pcm) < 6.0, "%.2f s", seconds(&pcm));
    CHECK_MSG(rms(pcm.samples, pcm.frames) > 0.02, "rms %g", rms(pcm.samples, pcm.frames));
    float peak = 0;
    for (size_t i = 0; i < pcm.frames; i++)
        peak = fmaxf(peak, fabsf(pcm.samples[i]));
    CHECK(peak <= 1.0f && peak > 0.1f);
    double normal = seconds(&pcm);
    audio_pcm_release(&pcm);

    p.speed = 2.0;
    CHECK(tts_engine_synthesize(eng, text, strlen(text), &p, &pcm, NULL) == VB_OK);
    CHECK_MSG(seconds(&pcm) < normal * 0.7, "fast %.2f vs %.2f", seconds(&pcm), normal);
    audio_pcm_release(&pcm);
    p.speed = 0.5;
    CHECK(tts_engine_synthesize(eng, text, strlen(text), &p, &pcm, NULL) == VB_OK);
    CHECK_MSG(seconds(&pcm) > normal * 1.5, "slow %.2f vs %.2f", seconds(&pcm), normal);
    audio_pcm_release(&pcm);
}

TEST(voices_and_languages_synthesise)
{
    const char *voices[] = {"en-us", "en+f3", "en-gb+m3", "f3", "de"};
    for (size_t i = 0; i < VB_ARRAY_LEN(voices); i++) {
        struct tts_params p = tts_default_params();
        p.voice = voices[i];
        const char *field;
        char why[200];
        CHECK_MSG(tts_engine_check(eng, &p, &field, why, sizeof why) == VB_OK, "%s", voices[i]);
        struct audio_pcm pcm;
        CHECK(tts_engine_synthesize(eng, "Good morning.", 13, &p, &pcm, NULL) == VB_OK);
        CHECK(pcm.frames > 5000 && rms(pcm.samples, pcm.frames) > 0.01);
        audio_pcm_release(&pcm);
    }
    struct tts_params p = tts_default_params();
    p.language = "fr";
    struct audio_pcm pcm;
    CHECK(tts_engine_synthesize(eng, "Bonjour à tous.", strlen("Bonjour à tous."), &p, &pcm,
                                NULL) == VB_OK);
    CHECK(pcm.frames > 5000);
    audio_pcm_release(&pcm);
}

TEST(validation)
{
    static const struct {
        const char *language, *voice;
        double speed, temperature;
        bool prompt;
        const char *field;
    } t[] = {
        {"xx-nope", NULL, 1.0, 0, false, "language"},
        {NULL, "nobody", 1.0, 0, false, "voice_id"},
        {NULL, "en-us+nobody", 1.0, 0, false, "voice_id"},
        {NULL, "zz+f3", 1.0, 0, false, "voice_id"},
        {NULL, NULL, 0.49, 0, false, "speed"},
        {NULL, NULL, 2.01, 0, false, "speed"},
        {NULL, NULL, NAN, 0, false, "speed"},
        {NULL, NULL, 1.0, 2.5, false, "temperature"},
        {NULL, NULL, 1.0, 0.01, false, "temperature"},
        {NULL, NULL, 1.0, 0, true, "voice_id"},
        {"EN-US", "+f3", 1.0, 0.7, false, NULL},
    };
    struct audio_pcm prompt = {0};
    for (size_t i = 0; i < VB_ARRAY_LEN(t); i++) {
        struct tts_params p = tts_default_params();
        p.language = t[i].language;
        p.voice = t[i].voice;
        p.speed = t[i].speed;
        p.temperature = t[i].temperature;
        p.prompt = t[i].prompt ? &prompt : NULL;
        const char *field = "unset";
        char why[300] = "";
        enum vb_err err = tts_engine_check(eng, &p, &field, why, sizeof why);
        if (t[i].field) {
            CHECK_MSG(err == VB_ERR_UNPROCESSABLE, "case %zu", i);
            CHECK_MSG(field && strcmp(field, t[i].field) == 0, "case %zu: %s", i, field);
            CHECK(why[0]);
        } else {
            CHECK_MSG(err == VB_OK, "case %zu: %s", i, why);
        }
        if (t[i].prompt)
            CHECK(strstr(why, "vocero models pull chatterbox-turbo") != NULL);
    }
}

struct stream_state {
    size_t chunks, samples, pieces;
    int cancel_after; /* chunks; 0 = never */
    double last_progress;
    bool progress_monotonic;
    bool order_ok;       /* piece indexes count up within a chunk, the last one marked */
    unsigned next_index; /* expected index of the next piece */
    float *pcm;          /* everything received, when collecting */
    size_t cap;
};

static enum vb_err on_chunk(const float *pcm, size_t n, const struct tts_piece *p, void *user)
{
    struct stream_state *s = user;
    CHECK(p && p->chunk && p->chunk->len > 0);
    if (p->index != s->next_index)
        s->order_ok = false;
    s->next_index = p->last ? 0 : p->index + 1;
    s->chunks += p->last;
    s->pieces++;
    if (s->pcm) {
        if (s->samples + n > s->cap) {
            s->cap = 2 * (s->samples + n);
            s->pcm = vb_xrealloc(s->pcm, s->cap * sizeof *s->pcm);
        }
        memcpy(s->pcm + s->samples, pcm, n * sizeof *pcm);
    }
    s->samples += n;
    return VB_OK;
}

static void on_progress(double f, void *user)
{
    struct stream_state *s = user;
    if (f < s->last_progress || f > 1.0)
        s->progress_monotonic = false;
    s->last_progress = f;
}

static bool on_cancel(void *user)
{
    struct stream_state *s = user;
    return s->cancel_after && (int)s->chunks >= s->cancel_after;
}

TEST(streaming_and_cancel)
{
    const char *text = "First sentence is here and it is long enough. Second sentence follows it "
                       "closely behind. Third one ends the paragraph now.";
    struct stream_state s = {.progress_monotonic = true, .order_ok = true};
    s.pcm = vb_xmalloc(sizeof(float));
    struct tts_callbacks cb = {
        .progress = on_progress, .cancelled = on_cancel, .on_chunk = on_chunk, .user = &s};
    struct tts_params p = tts_default_params();
    CHECK(tts_engine_stream(eng, text, strlen(text), &p, &cb) == VB_OK);
    CHECK_EQ_INT(s.chunks, 3);
    CHECK_EQ_INT(s.pieces, 3); /* without `pieces`: one call per chunk */
    CHECK(s.order_ok);
    CHECK(s.samples > 22050);
    CHECK(s.progress_monotonic && s.last_progress == 1.0);

    /* pieces: several per sentence, in order, the same samples in total */
    struct stream_state q = {.progress_monotonic = true, .order_ok = true};
    q.pcm = vb_xmalloc(sizeof(float));
    cb.user = &q;
    cb.pieces = true;
    CHECK(tts_engine_stream(eng, text, strlen(text), &p, &cb) == VB_OK);
    CHECK_EQ_INT(q.chunks, 3);
    CHECK(q.pieces >= 6);
    CHECK(q.order_ok);
    /* libespeak-ng carries state from one synthesis to the next (the same text can come out
     * up to ~20 ms longer or shorter): same length within 50 ms, the same sound */
    CHECK(q.samples + 1100 > s.samples && s.samples + 1100 > q.samples);
    double e_s = 0, e_q = 0;
    for (size_t i = 0; i < s.samples; i++)
        e_s += (double)s.pcm[i] * s.pcm[i];
    for (size_t i = 0; i < q.samples; i++)
        e_q += (double)q.pcm[i] * q.pcm[i];
    CHECK(e_s > 0 && fabs(e_q / e_s - 1.0) < 0.05);
    fprintf(stderr, "espeak: %zu pieces for 3 sentences, %zu samples (%zu in chunks)\n", q.pieces,
            q.samples, s.samples);
    vb_free(s.pcm);
    vb_free(q.pcm);
    cb.pieces = false;

    struct stream_state c = {.cancel_after = 1, .progress_monotonic = true};
    cb.user = &c;
    struct audio_pcm pcm;
    CHECK(tts_engine_synthesize(eng, text, strlen(text), &p, &pcm, &cb) == VB_ERR_CANCELLED);
    CHECK(pcm.samples == NULL && pcm.frames == 0);
    CHECK_EQ_INT(c.chunks, 1);

    /* nothing to say */
    CHECK(tts_engine_synthesize(eng, " [laugh] ... ", 13, &p, &pcm, NULL) == VB_ERR_UNPROCESSABLE);
}

static void *worker(void *arg)
{
    double *dur = arg;
    struct tts_params p = tts_default_params();
    struct audio_pcm pcm;
    if (tts_engine_synthesize(eng, "Threads take turns here.", 24, &p, &pcm, NULL) == VB_OK)
        *dur = seconds(&pcm);
    audio_pcm_release(&pcm);
    return NULL;
}

TEST(threads)
{
    pthread_t th[4];
    double d[4] = {0};
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, &d[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 1; i < 4; i++)
        CHECK(d[i] > 0.5 && fabs(d[i] - d[0]) < 1e-3); /* same text, same audio length (to
                                                          the few samples that libespeak-ng's
                                                          carried-over state changes) */
}

/* A second registry after the first was freed still speaks (espeak-ng stays initialised:
 * re-initialising it after espeak_ng_Terminate hangs in version 1.51). */
TEST(reload)
{
    struct tts_registry *r2 = tts_registry_new();
    struct tts_engine *e2 = r2 ? tts_registry_find(r2, "espeak-ng") : NULL;
    struct tts_params p = tts_default_params();
    struct audio_pcm pcm;
    CHECK(e2 && tts_engine_synthesize(e2, "Again.", 6, &p, &pcm, NULL) == VB_OK);
    CHECK(e2 && pcm.frames > 5000);
    audio_pcm_release(&pcm);
    tts_registry_free(r2);
}

int main(void)
{
    reg = tts_registry_new();
    eng = reg ? tts_registry_find(reg, "espeak-ng") : NULL;
    if (!eng) {
        fprintf(stderr, "no espeak-ng engine\n");
        return 1;
    }
    RUN(registry);
    RUN(languages_and_voices);
    RUN(speech);
    RUN(voices_and_languages_synthesise);
    RUN(validation);
    RUN(streaming_and_cancel);
    RUN(threads);
    tts_registry_free(reg);
    RUN(reload);
    return test_summary();
}
