/* test_cb_engine.c: Chatterbox-Turbo end to end on a tiny random checkpoint written by
 * make-random and read by the real loader: synthesis lengths, seeded determinism, streamed
 * chunks equal to their concatenation, the engine's voice-conditionals cache (memory, disk,
 * invalidation) and errors for missing/corrupt files. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/config.h"
#include "tts/chatterbox/cb_engine.h"
#include "tools/make_random_chatterbox.h"
#include "tts/chatterbox/model.h"
#include "tts/chatterbox/synth.h"
#include "tts/engine.h"
#include "tts/registry.h"

#include "unit/test.h"

#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_root[256]; /* temp MODELS_DIR */
static char g_dir[300];  /* g_root/chatterbox-turbo */
static struct cb_model *g_model;

static void rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", path);
}

static void copy_dir(const char *from, const char *to)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", to, from, to);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot copy %s\n", from);
}

/* A 6 s voiced clip (harmonics + a little noise) at `rate`. */
static float *make_clip(int rate, double seconds, double f0, size_t *n)
{
    *n = (size_t)(rate * seconds);
    float *x = vb_xmalloc(*n * sizeof *x);
    uint32_t s = 12345;
    for (size_t i = 0; i < *n; i++) {
        double t = (double)i / rate, v = 0;
        for (int h = 1; h <= 5; h++)
            v += sin(2 * M_PI * f0 * h * t * (1 + 0.05 * sin(2 * M_PI * 3 * t))) / h;
        s = s * 1664525u + 1013904223u;
        v = 0.2 * v * (0.6 + 0.4 * sin(2 * M_PI * 1.5 * t)) +
            0.01 * ((double)(s >> 8) / 16777216.0 - 0.5);
        x[i] = (float)v;
    }
    return x;
}

TEST(make_random_and_load)
{
    char why[512] = "";
    CHECK(cb_make_random(g_dir, true, 7, why, sizeof why) == VB_OK);
    if (why[0])
        fprintf(stderr, "make_random: %s\n", why);
    struct cb_model_options o = cb_model_default_options();
    o.t3_wtype = NN_TYPE_F32;
    CHECK(cb_model_load(g_dir, &o, &g_model, why, sizeof why) == VB_OK);
    if (!g_model) {
        fprintf(stderr, "load: %s\n", why);
        return;
    }
    CHECK(g_model->has_default_voice);
    CHECK_EQ_STR(g_model->default_voice_file, CB_FILE_CONDS_ST);
    CHECK_EQ_INT(cb_t3_model_config(g_model->t3)->n_layer, 2);
    CHECK_EQ_INT(cb_t3_model_config(g_model->t3)->n_embd, 128);
}

struct chunks {
    float *pcm;
    size_t n, cap;
    int count;
    size_t sizes[256];
};

static enum vb_err on_audio(void *user, const float *pcm, size_t n)
{
    struct chunks *c = user;
    if (c->n + n > c->cap) {
        c->cap = (c->n + n) * 2;
        c->pcm = vb_xrealloc(c->pcm, c->cap * sizeof *c->pcm);
    }
    memcpy(c->pcm + c->n, pcm, n * sizeof *pcm);
    c->n += n;
    if (c->count < 256)
        c->sizes[c->count] = n;
    c->count++;
    return VB_OK;
}

TEST(synth_lengths_and_determinism)
{
    if (!g_model)
        return;
    struct cb_synth *s = NULL;
    CHECK(cb_synth_new(g_model, 2, &s) == VB_OK);
    struct cb_synth_params p = cb_synth_default_params();
    p.seed = 42;
    float *a = NULL, *b = NULL, *c = NULL;
    size_t na = 0, nb = 0, nc = 0;
    struct cb_synth_stats st;
    char why[256] = "";
    const char *text = "hello there, how are you [laugh]";
    CHECK(cb_synth_run(s, &g_model->default_voice, text, strlen(text), &p, NULL, &a, &na, &st, why,
                       sizeof why) == VB_OK);
    fprintf(stderr, "synth: %s n_text %d n_speech %d samples %zu t3 %.3f flow %.3f hift %.3f\n",
            why, st.n_text, st.n_speech, na, st.t3_s, st.flow_s, st.hift_s);
    CHECK(st.n_text > 0);
    CHECK(st.n_speech > 0 && st.n_speech <= cb_t3_max_gen_for_text(st.n_text) + 1);
    /* 960 samples per token plus 3 silence tokens, prompt-frame parity aside */
    int64_t expect = (int64_t)960 * (st.n_speech + 3);
    int64_t odd =
        g_model->default_voice.n_prompt_frames - 2 * g_model->default_voice.n_prompt_tokens;
    CHECK_EQ_INT((int64_t)na, expect - 480 * odd);
    bool finite = true, fade = true;
    double energy = 0;
    for (size_t i = 0; i < na; i++) {
        finite = finite && isfinite(a[i]) && fabsf(a[i]) <= 0.99f;
        energy += (double)a[i] * a[i];
    }
    for (size_t i = 0; i < 480 && i < na; i++)
        fade = fade && a[i] == 0.0f;
    CHECK(finite);
    CHECK(fade);       /* trim fade zeroes the first 20 ms */
    CHECK(energy > 0); /* noise, but not silence */
    /* same seed: same audio; another seed: other audio */
    CHECK(cb_synth_run(s, &g_model->default_voice, text, strlen(text), &p, NULL, &b, &nb, NULL, why,
                       sizeof why) == VB_OK);
    CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0);
    p.seed = 43;
    CHECK(cb_synth_run(s, &g_model->default_voice, text, strlen(text), &p, NULL, &c, &nc, NULL, why,
                       sizeof why) == VB_OK);
    CHECK(nc != na || memcmp(a, c, na * sizeof *a) != 0);
    /* streaming: pieces arrive while T3 runs, joined they equal the returned audio */
    p.seed = 42;
    p.chunk_tokens = 10;
    struct chunks ch = {0};
    struct cb_synth_hooks hooks = {.on_audio = on_audio, .user = &ch};
    float *d = NULL;
    size_t nd = 0;
    CHECK(cb_synth_run(s, &g_model->default_voice, text, strlen(text), &p, &hooks, &d, &nd, &st,
                       why, sizeof why) == VB_OK);
    fprintf(stderr, "stream: %d pieces, %zu samples (one-shot %zu), first after %.3f s of %.3f\n",
            ch.count, ch.n, na, st.first_audio_s, st.total_s);
    CHECK(ch.count >= 2);
    CHECK_EQ_INT((int64_t)ch.n, (int64_t)nd);
    CHECK_EQ_INT((int64_t)nd, (int64_t)na); /* same tokens (same seed), same length */
    CHECK(ch.pcm && memcmp(ch.pcm, d, nd * sizeof *d) == 0);
    bool frames = true;
    for (int i = 0; i < ch.count && i < 256; i++)
        frames = frames && ch.sizes[i] % 480 == 0;
    CHECK(frames); /* pieces end on mel-frame boundaries */
    /* streamed audio stays close to the one-shot audio away from the piece joins */
    double diff = 0, ref = 0;
    for (size_t i = 0; i < nd; i++) {
        diff += ((double)d[i] - a[i]) * ((double)d[i] - a[i]);
        ref += (double)a[i] * a[i];
    }
    fprintf(stderr, "stream vs one-shot: relative rms difference %.3f\n", sqrt(diff / ref));
    vb_free(ch.pcm);
    vb_free(a);
    vb_free(b);
    vb_free(c);
    vb_free(d);
    cb_synth_free(s);
}

/* Seeded runs give the same audio whatever voice ran before, also with quantised T3 weights
 * (where a fresh and a cached prefill of the conditioning rows differ slightly). */
TEST(seed_determinism_across_voices_q8)
{
    if (!g_model)
        return;
    struct cb_model_options o = cb_model_default_options();
    o.t3_wtype = NN_TYPE_Q8_0;
    struct cb_model *m = NULL;
    char why[512] = "";
    CHECK(cb_model_load(g_dir, &o, &m, why, sizeof why) == VB_OK);
    if (!m)
        return;
    struct cb_voice_cond other = m->default_voice; /* borrowed arrays, one changed */
    float spk[256];
    memcpy(spk, m->default_voice.speaker_emb, sizeof spk);
    spk[0] += 0.5f;
    other.speaker_emb = spk;
    struct cb_synth *s = NULL;
    CHECK(cb_synth_new(m, 2, &s) == VB_OK);
    struct cb_synth_params p = cb_synth_default_params();
    p.seed = 5;
    p.max_gen = 40;
    /* fresh prefill, cached rows, another voice, back (fresh again) */
    const struct cb_voice_cond *order[4] = {&m->default_voice, &m->default_voice, &other,
                                            &m->default_voice};
    float *pcm[4] = {0};
    size_t n[4] = {0};
    for (int i = 0; i < 4; i++)
        CHECK(cb_synth_run(s, order[i], "Hi.", 3, &p, NULL, &pcm[i], &n[i], NULL, why,
                           sizeof why) == VB_OK);
    CHECK(n[0] > 0 && n[0] == n[1] && memcmp(pcm[0], pcm[1], n[0] * sizeof(float)) == 0);
    CHECK(n[0] == n[3] && memcmp(pcm[0], pcm[3], n[0] * sizeof(float)) == 0);
    CHECK(n[0] != n[2] || memcmp(pcm[0], pcm[2], n[0] * sizeof(float)) != 0);
    for (int i = 0; i < 4; i++)
        vb_free(pcm[i]);
    cb_synth_free(s);
    cb_model_free(m);
}

static struct tts_engine *engine_in(struct tts_registry *reg, char *why, size_t cap)
{
    tts_registry_set_models_dir(reg, g_root);
    struct tts_engine_settings set = tts_engine_default_settings();
    snprintf(set.cb_t3_weights, sizeof set.cb_t3_weights, "f32");
    tts_registry_set_settings(reg, &set);
    struct tts_engine *e = tts_registry_find(reg, TTS_ENGINE_CHATTERBOX);
    /* its files are installed under g_root, so TTS_ENGINE=auto picks it */
    CHECK(e && tts_engine_installed(e) && tts_registry_default(reg, TTS_ENGINE_AUTO) == e);
    if (!e || tts_engine_load(e, why, cap) != VB_OK)
        return NULL;
    return e;
}

TEST(engine_voice_cache)
{
    if (!g_model)
        return;
    struct tts_registry *reg = tts_registry_new();
    char why[512] = "";
    struct tts_engine *e = engine_in(reg, why, sizeof why);
    CHECK(e != NULL);
    if (!e) {
        fprintf(stderr, "engine: %s\n", why);
        tts_registry_free(reg);
        return;
    }
    unsigned caps = tts_engine_caps(e);
    CHECK(caps & TTS_CAP_CLONING);
    CHECK(caps & TTS_CAP_TAGS);
    CHECK(caps & TTS_CAP_SEED);
    CHECK_EQ_INT(tts_engine_sample_rate(e), 24000);
    /* language other than English -> 422 on "language" */
    struct tts_params p = tts_default_params();
    const char *field = NULL;
    p.language = "de";
    CHECK(tts_engine_check(e, &p, &field, why, sizeof why) == VB_ERR_UNPROCESSABLE);
    CHECK(field && strcmp(field, "language") == 0);
    p.language = "en";
    CHECK(tts_engine_check(e, &p, &field, why, sizeof why) == VB_OK);
    /* cloning: computed once, then memory, then the disk cache, a new clip recomputes */
    size_t n;
    float *clip = make_clip(22050, 6.0, 140, &n);
    struct audio_pcm prompt = {.samples = clip, .frames = n, .channels = 1, .sample_rate = 22050};
    p.prompt = &prompt;
    p.seed = 5;
    struct audio_pcm o1 = {0}, o2 = {0}, o3 = {0};
    const char *text = "Hi there. Good day!";
    CHECK(tts_engine_synthesize(e, text, strlen(text), &p, &o1, NULL) == VB_OK);
    struct cb_engine_cache_stats cs;
    cb_engine_cache_stats(e, &cs);
    CHECK_EQ_INT((int64_t)cs.computed, 1);
    struct audio_pcm o0 = {0};
    CHECK(tts_engine_synthesize(e, text, strlen(text), &p, &o0, NULL) == VB_OK);
    cb_engine_cache_stats(e, &cs);
    CHECK_EQ_INT((int64_t)cs.computed, 1);
    CHECK(cs.mem_hits >= 1);
    audio_pcm_release(&o0);
    cb_engine_cache_clear_memory(e);
    CHECK(tts_engine_synthesize(e, text, strlen(text), &p, &o2, NULL) == VB_OK);
    cb_engine_cache_stats(e, &cs);
    CHECK_EQ_INT((int64_t)cs.computed, 1);
    CHECK_EQ_INT((int64_t)cs.disk_hits, 1);
    CHECK(o1.frames > 0 && o1.frames == o2.frames &&
          memcmp(o1.samples, o2.samples, o1.frames * sizeof(float)) == 0);
    /* the voice changes: another key, computed again */
    clip[100] += 0.25f;
    CHECK(tts_engine_synthesize(e, text, strlen(text), &p, &o3, NULL) == VB_OK);
    cb_engine_cache_stats(e, &cs);
    CHECK_EQ_INT((int64_t)cs.computed, 2);
    /* a corrupt cache file is recomputed, not trusted */
    char cmd[700];
    snprintf(cmd, sizeof cmd,
             "for f in '%s'/voice-cache/*.safetensors; do printf garbage > \"$f\"; done", g_dir);
    CHECK(system(cmd) == 0);
    cb_engine_cache_clear_memory(e);
    audio_pcm_release(&o3);
    CHECK(tts_engine_synthesize(e, text, strlen(text), &p, &o3, NULL) == VB_OK);
    cb_engine_cache_stats(e, &cs);
    CHECK_EQ_INT((int64_t)cs.computed, 3);
    /* too short a clip: 422 */
    struct audio_pcm shorty = {
        .samples = clip, .frames = 22050, .channels = 1, .sample_rate = 22050};
    p.prompt = &shorty;
    struct audio_pcm o4 = {0};
    CHECK(tts_engine_synthesize(e, text, strlen(text), &p, &o4, NULL) == VB_ERR_UNPROCESSABLE);
    audio_pcm_release(&o1);
    audio_pcm_release(&o2);
    audio_pcm_release(&o3);
    vb_free(clip);
    tts_registry_free(reg);
}

TEST(missing_and_corrupt_files)
{
    if (!g_model)
        return;
    char bad[400], why[512] = "";
    snprintf(bad, sizeof bad, "%s/bad", g_root);
    struct cb_model *m = NULL;
    /* a missing file is named */
    copy_dir(g_dir, bad);
    char path[500];
    snprintf(path, sizeof path, "%s/%s", bad, CB_FILE_VE);
    unlink(path);
    CHECK(cb_model_load(bad, NULL, &m, why, sizeof why) == VB_ERR_NOT_FOUND);
    CHECK(strstr(why, CB_FILE_VE) != NULL);
    fprintf(stderr, "missing: %s\n", why);
    /* a truncated file is named */
    copy_dir(g_dir, bad);
    snprintf(path, sizeof path, "%s/%s", bad, CB_FILE_S3GEN);
    CHECK(truncate(path, 1000) == 0);
    CHECK(cb_model_load(bad, NULL, &m, why, sizeof why) != VB_OK);
    CHECK(strstr(why, CB_FILE_S3GEN) != NULL);
    fprintf(stderr, "truncated: %s\n", why);
    /* a T3 file from another model (a tensor missing) names the tensor */
    copy_dir(g_dir, bad);
    snprintf(path, sizeof path, "%s/%s", bad, CB_FILE_T3);
    snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "%s", "");
    char src[500];
    snprintf(src, sizeof src, "%s/%s", bad, CB_FILE_VE);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, path);
    CHECK(system(cmd) == 0);
    CHECK(cb_model_load(bad, NULL, &m, why, sizeof why) == VB_ERR_FORMAT);
    CHECK(strstr(why, CB_FILE_T3) != NULL && strstr(why, "tfmr.wpe.weight") != NULL);
    fprintf(stderr, "wrong T3: %s\n", why);
    /* no built-in voice: loads, and the engine asks for a voice */
    copy_dir(g_dir, bad);
    snprintf(path, sizeof path, "%s/%s", bad, CB_FILE_CONDS_ST);
    unlink(path);
    CHECK(cb_model_load(bad, NULL, &m, why, sizeof why) == VB_OK);
    CHECK(m && !m->has_default_voice);
    cb_model_free(m);
    /* the engine reports a missing model as unavailable with the reason */
    struct tts_registry *reg = tts_registry_new();
    tts_registry_set_models_dir(reg, "/nonexistent-models-dir");
    struct tts_engine *e = tts_registry_find(reg, TTS_ENGINE_CHATTERBOX);
    CHECK(e && tts_engine_load(e, why, sizeof why) == VB_ERR_UNAVAILABLE);
    CHECK(strstr(why, CB_FILE_T3) != NULL);
    tts_registry_free(reg);
    /* settings the engine cannot use: a load error naming the setting, before any file */
    const struct {
        const char *t3, *s3gen;
        int first, threads;
        const char *named;
    } bad_set[] = {
        {"q3_k", "bf16", 10, 0, "CHATTERBOX_T3_WEIGHTS"},
        {"q8_0", "q8_0", 10, 0, "CHATTERBOX_S3GEN_WEIGHTS"},
        {"q8_0", "bf16", 0, 0, "CHATTERBOX_STREAM_FIRST_TOKENS"},
        {"q8_0", "bf16", 10, -1, "TTS_THREADS"},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(bad_set); i++) {
        reg = tts_registry_new();
        tts_registry_set_models_dir(reg, g_root);
        struct tts_engine_settings set = tts_engine_default_settings();
        snprintf(set.cb_t3_weights, sizeof set.cb_t3_weights, "%s", bad_set[i].t3);
        snprintf(set.cb_s3gen_weights, sizeof set.cb_s3gen_weights, "%s", bad_set[i].s3gen);
        set.cb_stream_first_tokens = bad_set[i].first;
        set.threads = bad_set[i].threads;
        tts_registry_set_settings(reg, &set);
        e = tts_registry_find(reg, TTS_ENGINE_CHATTERBOX);
        why[0] = 0;
        CHECK(e && tts_engine_load(e, why, sizeof why) == VB_ERR_UNAVAILABLE);
        CHECK_MSG(strstr(why, bad_set[i].named) != NULL, "%s", why);
        tts_registry_free(reg);
    }
    snprintf(bad, sizeof bad, "%s/bad", g_root);
    rm_rf(bad);
}

/* The built-in voice from a real torch.save conds.pt (fixture of the zip-pickle reader) is
 * preferred over conds.safetensors and drives a synthesis. */
/* The engine settings come from the configuration (.env and environment), and what the
 * configuration names reaches a loaded engine: a q4_0 T3 from CHATTERBOX_T3_WEIGHTS. */
TEST(settings_from_config)
{
    if (!g_model)
        return;
    setenv("CHATTERBOX_T3_WEIGHTS", "q4_0", 1);
    setenv("CHATTERBOX_STREAM_PROMPT_TOKENS", "0", 1);
    setenv("TTS_THREADS", "1", 1);
    struct vb_config c;
    char why[512] = "";
    CHECK(vb_config_load(&c, NULL, why, sizeof why) == VB_OK);
    unsetenv("CHATTERBOX_T3_WEIGHTS");
    unsetenv("CHATTERBOX_STREAM_PROMPT_TOKENS");
    unsetenv("TTS_THREADS");
    struct tts_engine_settings set = tts_engine_settings_from_config(&c);
    vb_config_release(&c);
    CHECK_EQ_STR(set.cb_t3_weights, "q4_0");
    CHECK_EQ_STR(set.cb_s3gen_weights, "bf16");
    CHECK_EQ_INT(set.cb_stream_prompt_tokens, 0);
    CHECK_EQ_INT(set.cb_stream_first_tokens, 10);
    CHECK_EQ_INT(set.threads, 1);
    CHECK(!set.cb_keep_encoders);
    struct tts_registry *reg = tts_registry_new();
    tts_registry_set_models_dir(reg, g_root);
    tts_registry_set_settings(reg, &set);
    struct tts_engine *e = tts_registry_find(reg, TTS_ENGINE_CHATTERBOX);
    CHECK(e && tts_engine_load(e, why, sizeof why) == VB_OK);
    if (e && e->state) {
        const struct cb_model *m = cb_engine_model(e);
        CHECK(m && m->opts.t3_wtype == NN_TYPE_Q4_0);
    }
    tts_registry_free(reg);
}

TEST(builtin_voice_from_conds_pt)
{
    if (!g_model)
        return;
    const char *fx = "tests/unit/nn/fixtures/conds_full.pt";
    if (access(fx, R_OK) != 0) {
        SKIP_MISSING_DATA(builtin_voice_from_conds_pt,
                          "tests/unit/nn/fixtures/conds_full.pt not found");
        return;
    }
    char dir[400], cmd[1200], why[512] = "";
    snprintf(dir, sizeof dir, "%s/pt", g_root);
    copy_dir(g_dir, dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/conds.pt'", fx, dir);
    CHECK(system(cmd) == 0);
    struct cb_model_options o = cb_model_default_options();
    o.t3_wtype = NN_TYPE_F32;
    struct cb_model *m = NULL;
    CHECK(cb_model_load(dir, &o, &m, why, sizeof why) == VB_OK);
    if (!m) {
        fprintf(stderr, "load: %s\n", why);
        return;
    }
    CHECK(m->has_default_voice);
    CHECK_EQ_STR(m->default_voice_file, CB_FILE_CONDS);
    fprintf(stderr, "conds.pt: %d T3 prompt tokens, %d S3Gen prompt tokens, %d prompt frames\n",
            m->default_voice.n_t3_tokens, m->default_voice.n_prompt_tokens,
            m->default_voice.n_prompt_frames);
    struct cb_synth *s = NULL;
    CHECK(cb_synth_new(m, 2, &s) == VB_OK);
    struct cb_synth_params p = cb_synth_default_params();
    p.seed = 1;
    p.max_gen = 20;
    float *pcm = NULL;
    size_t n = 0;
    CHECK(cb_synth_run(s, &m->default_voice, "Hi.", 3, &p, NULL, &pcm, &n, NULL, why, sizeof why) ==
          VB_OK);
    CHECK(n > 0);
    vb_free(pcm);
    cb_synth_free(s);
    cb_model_free(m);
    rm_rf(dir);
}

int main(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/vocero-cb-test-%d", (int)getpid());
    mkdir(g_root, 0755);
    snprintf(g_dir, sizeof g_dir, "%s/chatterbox-turbo", g_root);
    RUN(make_random_and_load);
    RUN(synth_lengths_and_determinism);
    RUN(seed_determinism_across_voices_q8);
    RUN(engine_voice_cache);
    RUN(missing_and_corrupt_files);
    RUN(settings_from_config);
    RUN(builtin_voice_from_conds_pt);
    cb_model_free(g_model);
    rm_rf(g_root);
    return test_summary();
}
