/* test_cb_stream.c: Chatterbox-Turbo streaming on a tiny random checkpoint (make-random, real
 * loader): the first piece holds chunk_tokens tokens of audio, pieces join to the returned
 * audio, pieces rendered on the end of the prompt differ and keep the length, and through
 * the engine and the pipeline a streamed request is handed out in several pieces of one
 * sentence and is as long as the one-shot request. */
#include "core/vb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "tts/chatterbox/cb_engine.h"
#include "tools/make_random_chatterbox.h"
#include "tts/chatterbox/model.h"
#include "tts/chatterbox/synth.h"
#include "tts/pipeline.h"
#include "tts/registry.h"
#include "unit/test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#define SPF 480 /* samples per mel frame */

static char g_root[64], g_dir[128];
static struct cb_model *g_model;
static const char TEXT[] = "well hello there my dear old friend, it is so nice to meet you";

struct pieces {
    float *pcm;
    size_t n, cap;
    int count;
    size_t first;
};

static enum vb_err on_audio(void *user, const float *pcm, size_t n)
{
    struct pieces *c = user;
    if (c->n + n > c->cap) {
        c->cap = 2 * (c->n + n);
        c->pcm = vb_xrealloc(c->pcm, c->cap * sizeof *c->pcm);
    }
    memcpy(c->pcm + c->n, pcm, n * sizeof *pcm);
    c->n += n;
    if (c->count++ == 0)
        c->first = n;
    return VB_OK;
}

static double corr(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

TEST(setup)
{
    char why[512] = "";
    snprintf(g_root, sizeof g_root, "/tmp/vocero-cbs-XXXXXX");
    CHECK(mkdtemp(g_root) != NULL);
    snprintf(g_dir, sizeof g_dir, "%s/%s", g_root, CB_ENGINE_MODEL_SUBDIR);
    CHECK_MSG(cb_make_random(g_dir, true, 11, why, sizeof why) == VB_OK, "%s", why);
    struct cb_model_options o = cb_model_default_options();
    o.t3_wtype = NN_TYPE_F32;
    CHECK_MSG(cb_model_load(g_dir, &o, &g_model, why, sizeof why) == VB_OK, "%s", why);
}

TEST(synth_pieces)
{
    if (!g_model)
        return;
    struct cb_synth *s = NULL;
    CHECK(cb_synth_new(g_model, 2, &s) == VB_OK);
    const struct cb_voice_cond *v = &g_model->default_voice;
    struct cb_synth_params p = cb_synth_default_params();
    p.seed = 42;
    char why[256] = "";
    float *one = NULL, *out = NULL;
    size_t n_one = 0, n_out = 0;
    CHECK(cb_synth_run(s, v, TEXT, strlen(TEXT), &p, NULL, &one, &n_one, NULL, why, sizeof why) ==
          VB_OK);
    /* streamed, whole prompt: the first piece is chunk_tokens tokens of audio (2 frames each,
     * one more when the vocoder's context is odd), the pieces join to the returned audio */
    p.chunk_tokens = 8;
    struct pieces a = {0}, b = {0};
    struct cb_synth_hooks h = {.on_audio = on_audio, .user = &a};
    CHECK(cb_synth_run(s, v, TEXT, strlen(TEXT), &p, &h, &out, &n_out, NULL, why, sizeof why) ==
          VB_OK);
    CHECK(a.count >= 3);
    CHECK_MSG(a.first == 16 * SPF || a.first == 17 * SPF, "first piece %zu samples", a.first);
    CHECK(a.n == n_out && n_out == n_one && memcmp(a.pcm, out, n_out * sizeof *out) == 0);
    double c_full = corr(a.pcm, one, VB_MIN(a.n, n_one));
    /* pieces on the last 10 prompt tokens: same pieces and length, another first piece */
    CHECK(v->n_prompt_tokens > 10);
    p.stream_prompt_tokens = 10;
    h.user = &b;
    CHECK(cb_synth_run(s, v, TEXT, strlen(TEXT), &p, &h, NULL, NULL, NULL, why, sizeof why) ==
          VB_OK);
    CHECK_EQ_INT(b.n, n_one);
    CHECK_EQ_INT(b.count, a.count);
    CHECK_EQ_INT(b.first, a.first);
    CHECK(memcmp(a.pcm, b.pcm, a.first * sizeof(float)) != 0); /* the first piece changed */
    double c_short = corr(b.pcm, one, VB_MIN(b.n, n_one));
    fprintf(stderr,
            "streamed vs one-shot correlation: whole prompt %.3f, pieces on 10 prompt "
            "tokens %.3f (%d pieces)\n",
            c_full, c_short, a.count);
    CHECK(c_full > 0.5 && c_short > 0.5);
    /* vocoded with 6 frames of right context, 2 cross-faded: the same first piece size,
     * pieces that join to the returned audio, the same length, the same speech */
    struct pieces x = {0};
    float *xo = NULL;
    size_t n_xo = 0;
    p.stream_prompt_tokens = 0;
    p.stream_right_frames = 6;
    h.user = &x;
    CHECK(cb_synth_run(s, v, TEXT, strlen(TEXT), &p, &h, &xo, &n_xo, NULL, why, sizeof why) ==
          VB_OK);
    CHECK(x.count >= 3);
    CHECK_EQ_INT(x.first, a.first);
    CHECK(x.n == n_xo && n_xo == n_one && memcmp(x.pcm, xo, n_xo * sizeof *xo) == 0);
    double c_x = corr(x.pcm, one, VB_MIN(x.n, n_one));
    fprintf(stderr, "with 6 frames of right context: correlation %.3f\n", c_x);
    CHECK(c_x > 0.5);
    vb_free(one);
    vb_free(out);
    vb_free(xo);
    vb_free(a.pcm);
    vb_free(b.pcm);
    vb_free(x.pcm);
    cb_synth_free(s);
}

struct sink {
    struct vb_buf b;
    int calls;
};

struct count {
    int early, last; /* pieces with audio before the chunk's last one; last pieces */
    size_t samples;
};

static enum vb_err count_piece(const float *pcm, size_t n, const struct tts_piece *p, void *user)
{
    struct count *c = user;
    (void)pcm;
    c->early += n > 0 && !p->last;
    c->last += p->last;
    c->samples += n;
    return VB_OK;
}

static enum vb_err sink_audio(const void *bytes, size_t n, void *user)
{
    struct sink *s = user;
    s->calls++;
    return vb_buf_append(&s->b, bytes, n);
}

TEST(pipeline_stream)
{
    if (!g_model)
        return;
    struct tts_registry *reg = tts_registry_new();
    tts_registry_set_models_dir(reg, g_root);
    struct tts_engine_settings set = tts_engine_default_settings();
    snprintf(set.cb_t3_weights, sizeof set.cb_t3_weights, "f32");
    set.cb_stream_first_tokens = 6;
    tts_registry_set_settings(reg, &set);
    struct tts_engine *e = tts_registry_find(reg, TTS_ENGINE_CHATTERBOX);
    struct tts_request r = tts_request_default();
    r.text = TEXT;
    r.text_len = strlen(TEXT);
    r.params.seed = 42;
    /* the engine hands out one sentence in several pieces when asked to, the same amount of
     * audio as in one piece */
    struct count whole = {0}, parts = {0};
    struct tts_callbacks ecb = {.on_chunk = count_piece, .user = &whole};
    CHECK(tts_engine_stream(e, TEXT, strlen(TEXT), &r.params, &ecb) == VB_OK);
    ecb.user = &parts;
    ecb.pieces = true;
    CHECK(tts_engine_stream(e, TEXT, strlen(TEXT), &r.params, &ecb) == VB_OK);
    CHECK(whole.early == 0 && whole.last == 1);
    CHECK_MSG(parts.early >= 2 && parts.last == 1, "%d early pieces", parts.early);
    CHECK_EQ_INT(parts.samples, whole.samples);
    struct tts_output one, st;
    struct tts_diag d;
    CHECK_MSG(tts_pipeline_run(e, &r, NULL, &one, &d) == VB_OK, "%s", d.message);
    struct sink s = {0};
    vb_buf_init(&s.b, 64 << 20);
    struct tts_pipeline_callbacks cb = {.on_audio = sink_audio, .user = &s};
    CHECK_MSG(tts_pipeline_run(e, &r, &cb, &st, &d) == VB_OK, "%s", d.message);
    CHECK_MSG(s.calls >= 4, "%d calls", s.calls); /* header + pieces + end */
    CHECK(st.timings.first_audio_ms > 0 && st.timings.first_audio_ms < st.timings.total_ms);
    /* the streamed bytes, the stored streamed file and the one-shot file: same length */
    CHECK_EQ_INT((s.b.len - 44) / 2, lround(one.duration_s * 24000));
    CHECK_EQ_INT(st.len, one.len);
    tts_output_release(&one);
    tts_output_release(&st);
    vb_buf_release(&s.b);
    tts_registry_free(reg);
}

int main(void)
{
    RUN(setup);
    RUN(synth_pieces);
    RUN(pipeline_stream);
    cb_model_free(g_model);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_root);
    return test_summary();
}
