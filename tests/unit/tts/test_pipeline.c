/* test_pipeline.c: the generation pipeline end to end on espeak-ng: every output format
 * decodes back to speech of the same length at the target loudness, streaming delivers a
 * WAV stream whose audio matches, validation errors name their field, cancel works. */
#include "core/vb.h"
#include "audio/ambience.h"
#include "audio/decode.h"
#include "audio/encode.h"
#include "audio/loudness.h"
#include "audio/pcm.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "tts/pipeline.h"
#include "tts/registry.h"
#include "unit/test.h"

static struct tts_registry *reg;
static struct tts_engine *eng;

static const char *TEXT = "The quick brown fox jumps over the lazy dog. It was not amused, "
                          "but it stayed calm. [sigh] Then everyone went home.";

TEST(every_format)
{
    double wav_s = 0;
    for (size_t i = 0; i < audio_format_count(); i++) {
        const struct audio_format_desc *f = audio_format_at(i);
        if (!audio_format_supported(f->name))
            continue;
        struct tts_request r = tts_request_default();
        r.text = TEXT;
        r.text_len = strlen(TEXT);
        r.format = f->name;
        struct tts_output out;
        struct tts_diag d;
        enum vb_err err = tts_pipeline_run(eng, &r, NULL, &out, &d);
        CHECK_MSG(err == VB_OK, "%s: %s", f->name, d.message);
        if (err)
            continue;
        CHECK_EQ_STR(out.format, f->name);
        CHECK(out.len > 1000);
        CHECK(out.duration_s > 3.0 && out.duration_s < 12.0);
        CHECK_NEAR(out.loudness_lufs, -16.0, 0.6);
        CHECK(out.true_peak_dbtp <= -0.9);
        CHECK(out.timings.total_ms > 0 && out.timings.stage_ms[TTS_STAGE_SYNTH] > 0);
        struct audio_pcm pcm = {0};
        struct audio_info info;
        struct audio_decode_params dp = audio_decode_default_params();
        dp.mono = true;
        CHECK_MSG(audio_decode(out.data, out.len, &dp, &pcm, &info, NULL) == VB_OK, "%s", f->name);
        CHECK_NEAR(info.duration_s, out.duration_s, 0.15);
        CHECK(audio_rms(pcm.samples, pcm.frames) > 0.03);
        if (strcmp(f->name, "wav") == 0) {
            wav_s = out.duration_s;
            CHECK_EQ_INT(info.sample_rate, 22050);
            CHECK(memcmp(out.data, "RIFF", 4) == 0);
        }
        audio_pcm_release(&pcm);
        tts_output_release(&out);
    }
    CHECK(wav_s > 0);
}

TEST(pcm_and_rate)
{
    struct tts_request r = tts_request_default();
    r.text = "Raw samples please.";
    r.text_len = strlen(r.text);
    r.format = TTS_FORMAT_PCM;
    r.sample_rate = 24000;
    struct tts_output out;
    CHECK(tts_pipeline_run(eng, &r, NULL, &out, NULL) == VB_OK);
    CHECK_EQ_INT(out.sample_rate, 24000);
    CHECK_EQ_INT(out.len, (size_t)lround(out.duration_s * 24000) * 2);
    CHECK_EQ_STR(out.format, "pcm");
    tts_output_release(&out);
}

struct sink {
    struct vb_buf b;
    int calls;
};

static enum vb_err sink_audio(const void *bytes, size_t n, void *user)
{
    struct sink *s = user;
    s->calls++;
    return vb_buf_append(&s->b, bytes, n);
}

TEST(streaming)
{
    struct sink s = {0};
    vb_buf_init(&s.b, 64 << 20);
    struct tts_pipeline_callbacks cb = {.on_audio = sink_audio, .user = &s};
    struct tts_request r = tts_request_default();
    r.text = TEXT;
    r.text_len = strlen(TEXT);
    struct tts_output out;
    struct tts_diag d;
    CHECK_MSG(tts_pipeline_run(eng, &r, &cb, &out, &d) == VB_OK, "%s", d.message);
    CHECK(s.calls >= 3); /* header + one per (merged) sentence chunk */
    CHECK(s.b.len > 44 && memcmp(s.b.data, "RIFF\xff\xff\xff\xff", 8) == 0);
    CHECK(memcmp(s.b.data + 40, "\xff\xff\xff\xff", 4) == 0);
    double streamed_s = (double)(s.b.len - 44) / 2 / 22050;
    /* the stored file is the same speech, trimmed at the ends */
    CHECK_MSG(fabs(streamed_s - out.duration_s) < 0.6, "streamed %.2f s, stored %.2f s", streamed_s,
              out.duration_s);
    CHECK(out.timings.first_audio_ms > 0 && out.timings.first_audio_ms <= out.timings.total_ms);
    /* the streamed audio is loud enough and within the ceiling */
    struct audio_pcm pcm = {0};
    CHECK(audio_pcm_alloc(&pcm, (s.b.len - 44) / 2, 1, 22050) == VB_OK);
    const unsigned char *p = (const unsigned char *)s.b.data + 44;
    for (size_t i = 0; i < pcm.frames; i++)
        pcm.samples[i] = (float)(int16_t)(p[2 * i] | p[2 * i + 1] << 8) / 32768.0f;
    struct audio_loudness l;
    CHECK(audio_loudness_measure(&pcm, &l) == VB_OK);
    CHECK_MSG(l.integrated_lufs > -18 && l.integrated_lufs < -14, "%g LUFS", l.integrated_lufs);
    CHECK(l.sample_peak_dbfs <= -0.9);
    audio_pcm_release(&pcm);
    tts_output_release(&out);
    vb_buf_release(&s.b);

    /* raw PCM at another rate, streamed through the resampler piece by piece: about as long
     * as the stored file, no header */
    struct sink q = {0};
    vb_buf_init(&q.b, 64 << 20);
    cb.user = &q;
    r.format = TTS_FORMAT_PCM;
    r.sample_rate = 16000;
    CHECK_MSG(tts_pipeline_run(eng, &r, &cb, &out, &d) == VB_OK, "%s", d.message);
    CHECK(q.calls >= 3 && q.b.len % 2 == 0 && memcmp(q.b.data, "RIFF", 4) != 0);
    CHECK_EQ_INT(out.sample_rate, 16000);
    CHECK_MSG(fabs((double)q.b.len / 2 / 16000 - out.duration_s) < 0.6,
              "streamed %.2f s, stored %.2f s", (double)q.b.len / 2 / 16000, out.duration_s);
    tts_output_release(&out);
    vb_buf_release(&q.b);
    cb.user = &s;
    r.sample_rate = 0;

    /* streaming refuses formats it cannot stream */
    r.format = "flac";
    CHECK(tts_pipeline_run(eng, &r, &cb, &out, &d) == VB_ERR_UNPROCESSABLE);
    CHECK_EQ_STR(d.field, "stream");
}

TEST(errors)
{
    static const struct {
        const char *text, *format, *voice, *ambience;
        double speed, volume;
        const char *field;
        enum vb_err err;
    } t[] = {
        {"", NULL, NULL, NULL, 1.0, -20, "text", VB_ERR_UNPROCESSABLE},
        {"... !?", NULL, NULL, NULL, 1.0, -20, "text", VB_ERR_UNPROCESSABLE},
        {"[laugh]", NULL, NULL, NULL, 1.0, -20, "text", VB_ERR_UNPROCESSABLE},
        {"Hi", "aac", NULL, NULL, 1.0, -20, "format", VB_ERR_UNPROCESSABLE},
        {"Hi", NULL, "nobody", NULL, 1.0, -20, "voice_id", VB_ERR_UNPROCESSABLE},
        {"Hi", NULL, NULL, NULL, 3.0, -20, "speed", VB_ERR_UNPROCESSABLE},
        {"Hi", NULL, NULL, "nowhere", 1.0, -20, "ambience_id", VB_ERR_UNPROCESSABLE},
        {"Hi", NULL, NULL, NULL, 1.0, 5, "ambience_volume", VB_ERR_UNPROCESSABLE},
        {"\xff\xfe", NULL, NULL, NULL, 1.0, -20, "text", VB_ERR_UNPROCESSABLE},
    };
    for (size_t i = 0; i < VB_ARRAY_LEN(t); i++) {
        struct tts_request r = tts_request_default();
        r.text = t[i].text;
        r.text_len = strlen(t[i].text);
        r.format = t[i].format;
        r.params.voice = t[i].voice;
        r.params.speed = t[i].speed;
        r.ambience_id = t[i].ambience;
        r.ambience_volume_db = t[i].volume;
        struct tts_output out;
        struct tts_diag d;
        CHECK_MSG(tts_pipeline_run(eng, &r, NULL, &out, &d) == t[i].err, "case %zu", i);
        CHECK_MSG(d.field && strcmp(d.field, t[i].field) == 0, "case %zu: field %s (%s)", i,
                  d.field ? d.field : "(null)", d.message);
        CHECK(d.message[0] && out.data == NULL);
        if (t[i].format)
            CHECK(strstr(d.message, "wav") != NULL); /* lists the supported formats */
    }
    /* 5001 characters */
    char *big = vb_xmalloc(5002);
    memset(big, 'a', 5001);
    big[5001] = '\0';
    struct tts_request r = tts_request_default();
    r.text = big;
    r.text_len = 5001;
    struct tts_output out;
    struct tts_diag d;
    CHECK(tts_pipeline_run(eng, &r, NULL, &out, &d) == VB_ERR_UNPROCESSABLE);
    CHECK_EQ_STR(d.field, "text");
    vb_free(big);
}

static bool cancel_now(void *user)
{
    int *n = user;
    return ++*n > 3;
}

TEST(cancel)
{
    int polls = 0;
    struct tts_pipeline_callbacks cb = {.cancelled = cancel_now, .user = &polls};
    struct tts_request r = tts_request_default();
    r.text = TEXT;
    r.text_len = strlen(TEXT);
    struct tts_output out;
    CHECK(tts_pipeline_run(eng, &r, &cb, &out, NULL) == VB_ERR_CANCELLED);
    CHECK(out.data == NULL);
}

/* RMS of seconds [a, b) of a decoded WAV output. */
static double span_rms(const struct tts_output *o, double a, double b)
{
    struct audio_pcm pcm = {0};
    double r = -1;
    if (audio_decode(o->data, o->len, NULL, &pcm, NULL, NULL) == VB_OK) {
        size_t i = (size_t)(a * pcm.sample_rate), j = (size_t)(b * pcm.sample_rate);
        if (j > pcm.frames)
            j = pcm.frames;
        r = i < j ? audio_rms(pcm.samples + i, j - i) : 0;
    }
    audio_pcm_release(&pcm);
    return r;
}

TEST(ambience)
{
    struct tts_request r = tts_request_default();
    r.text = TEXT;
    r.text_len = strlen(TEXT);
    struct tts_output dry, wet, quiet;
    CHECK(tts_pipeline_run(eng, &r, NULL, &dry, NULL) == VB_OK);
    r.ambience_id = "rain";
    r.params.seed = 7;
    struct tts_diag d;
    CHECK_MSG(tts_pipeline_run(eng, &r, NULL, &wet, &d) == VB_OK, "%s", d.message);
    r.ambience_volume_db = -40;
    CHECK(tts_pipeline_run(eng, &r, NULL, &quiet, NULL) == VB_OK);
    /* lead-in and tail of ambience around the speech */
    CHECK_MSG(wet.duration_s > dry.duration_s + 1.0 && wet.duration_s < dry.duration_s + 2.0,
              "%.2f vs %.2f", wet.duration_s, dry.duration_s);
    CHECK_NEAR(wet.loudness_lufs, -16.0, 0.6);
    /* before the speech: silence without ambience, rain with it, less rain at -40 dB */
    double dry_start = span_rms(&dry, 0.0, 0.01), wet_start = span_rms(&wet, 0.1, 0.4),
           quiet_start = span_rms(&quiet, 0.1, 0.4);
    CHECK_MSG(dry_start < 0.01 && wet_start > 0.01 && quiet_start < wet_start / 5,
              "dry %g wet %g quiet %g", dry_start, wet_start, quiet_start);
    struct tts_output again;
    r.ambience_volume_db = TTS_AMBIENCE_VOLUME_DB;
    /* every built-in ambience works */
    for (size_t i = 0; i < audio_ambience_count(); i++) {
        struct tts_output o;
        r.text = "Short.";
        r.text_len = 6;
        r.ambience_id = audio_ambience_at(i)->id;
        CHECK_MSG(tts_pipeline_run(eng, &r, NULL, &o, &d) == VB_OK, "%s: %s", r.ambience_id,
                  d.message);
        tts_output_release(&o);
    }
    /* streamed: lead-in of ambience, speech over the bed, tail; about as long as stored */
    struct sink s = {0};
    vb_buf_init(&s.b, 64 << 20);
    struct tts_pipeline_callbacks cb = {.on_audio = sink_audio, .user = &s};
    r.text = TEXT;
    r.text_len = strlen(TEXT);
    r.ambience_id = "cafe";
    CHECK_MSG(tts_pipeline_run(eng, &r, &cb, &again, &d) == VB_OK, "%s", d.message);
    double streamed_s = s.b.len > 44 ? (double)(s.b.len - 44) / 2 / 22050 : 0;
    CHECK_MSG(fabs(streamed_s - again.duration_s) < 0.7, "streamed %.2f s, stored %.2f s",
              streamed_s, again.duration_s);
    const unsigned char *p = (const unsigned char *)s.b.data + 44;
    double acc = 0;
    size_t n0 = (size_t)(0.1 * 22050), n1 = (size_t)(0.4 * 22050);
    for (size_t i = n0; i < n1 && 44 + 2 * i + 1 < s.b.len; i++) {
        double v = (int16_t)(p[2 * i] | p[2 * i + 1] << 8) / 32768.0;
        acc += v * v;
    }
    CHECK_MSG(sqrt(acc / (double)(n1 - n0)) > 0.003, "lead-in rms %g",
              sqrt(acc / (double)(n1 - n0)));
    vb_buf_release(&s.b);
    tts_output_release(&again);
    tts_output_release(&dry);
    tts_output_release(&wet);
    tts_output_release(&quiet);
}

/* A 5000-character text: many chunks, long audio, still well-formed. */
TEST(long_text)
{
    struct vb_buf b;
    vb_buf_init(&b, 1 << 20);
    while (b.len < 4900)
        CHECK(vb_buf_puts(&b, "Numbers like 42 and words, in sentences. ") == VB_OK);
    struct tts_request r = tts_request_default();
    r.text = b.data;
    r.text_len = b.len;
    r.params.speed = 2.0;
    struct tts_output out;
    struct tts_diag d;
    CHECK_MSG(tts_pipeline_run(eng, &r, NULL, &out, &d) == VB_OK, "%s", d.message);
    CHECK_MSG(out.duration_s > 60 && out.duration_s < 400, "%.1f s", out.duration_s);
    tts_output_release(&out);
    vb_buf_release(&b);
}

int main(void)
{
    reg = tts_registry_new();
    eng = reg ? tts_registry_find(reg, "espeak-ng") : NULL;
    if (!eng)
        return 1;
    RUN(every_format);
    RUN(pcm_and_rate);
    RUN(streaming);
    RUN(errors);
    RUN(cancel);
    RUN(ambience);
    RUN(long_text);
    tts_registry_free(reg);
    return test_summary();
}
